// The compliance stats in Chromium against the real binary: decisions per day, the funnel
// through the statuses and the time in each, shown as figures (a canvas has no text) that match
// a scripted history, unchanged by duplicates and refusals, and following new deliveries.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seriousViolations } from './axe.mjs';
import { launchChromium, startMonitor } from './monitor.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');

let monitor;
let browser;

async function deliver(externalId, decision, status, expected = 200) {
  const body = { externalId, decision, status, subStatus: '', participantId: '', account: '' };
  const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.status, expected);
  return response.json();
}

/** The stats as the monitor's API gives them to the view. */
async function apiStats() {
  const url = new URL(monitor.uiUrl);
  const response = await fetch(new URL('/api/stats', url), { headers: { authorization: `Bearer ${url.searchParams.get('token')}` } });
  assert.equal(response.status, 200);
  return response.json();
}

async function openStats(colorScheme, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ colorScheme, viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(monitor.uiUrl);
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Stats' }).click();
  await page.getByTestId('funnel').waitFor();
  return { page, context, problems };
}

/** A table's body rows as arrays of cell texts (row header first). */
const rows = (page, testId) =>
  page.getByTestId(testId).locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((cell) => cell.textContent.trim())));

/** The decisions of every listed day, summed per column (the history may straddle midnight UTC). */
async function decided(page) {
  const details = page.locator('details', { has: page.getByText('Figures per day') });
  if (!(await details.evaluate((element) => element.open))) await details.locator('summary').click();
  const days = await rows(page, 'decision-days');
  return days.reduce((sum, [, ...counts]) => sum.map((n, i) => n + Number(counts[i])), [0, 0, 0, 0]);
}

/** How the view writes a time in a status: milliseconds below a second. */
const stayPattern = (ms) => (ms === null ? /^—$/ : ms < 1000 ? new RegExp(`^${ms} ms$`) : /^\d+ (s|min|h|d)\b/);

describe('the compliance stats', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    monitor = await startMonitor();
    browser = await launchChromium();
    for (const [user, decision, status] of [
      ['s_full', '', 'NOT_STARTED'],
      ['s_full', '', 'OPEN'],
      ['s_full', 'REVIEW', 'ON_HOLD'],
      ['s_full', 'ACCEPT', 'CLOSED'],
      ['s_reject', '', 'OPEN'],
      ['s_reject', 'REJECT', 'CLOSED'],
      ['s_waiting', '', 'NOT_STARTED'],
      ['s_waiting', '', 'OPEN'],
      ['s_waiting', 'REVIEW', 'ON_HOLD'],
      ['s_back', '', 'OPEN'],
      ['s_back', 'REVIEW', 'ON_HOLD'],
      ['s_back', '', 'OPEN'],
      ['s_back', 'ACCEPT', 'CLOSED'],
    ]) {
      await deliver(user, decision, status);
    }
    // Duplicates and a refusal count nowhere.
    assert.equal((await deliver('s_reject', 'REJECT', 'CLOSED')).duplicate, true);
    assert.equal((await deliver('s_back', 'ACCEPT', 'CLOSED')).duplicate, true);
    const refused = await fetch(monitor.webhookUrl, { method: 'POST', body: '[]' });
    assert.equal(refused.status, 400);
  });
  after(async () => {
    await browser?.close();
    monitor?.stop();
  });

  it('shows the decisions per day, the funnel and the time in each status as figures', async () => {
    const stats = await apiStats();
    for (const scheme of ['light', 'dark']) {
      const { page, context, problems } = await openStats(scheme);
      // s_full, s_back; s_reject; s_full, s_waiting, s_back.
      assert.deepEqual(await decided(page), [2, 1, 3, 0]);
      assert.equal(
        await page.getByRole('img', { name: /^Decisions per day/ }).getAttribute('aria-label'),
        'Decisions per day over the last 30 days: 2 accept, 1 reject, 3 review, 0 other',
      );
      // Each user once a status, s_back's return to OPEN included; four users in all.
      assert.deepEqual(await rows(page, 'funnel'), [
        ['Not started', '2', '50.0%'],
        ['Open', '4', '100.0%'],
        ['On hold', '3', '75.0%'],
        ['Closed', '3', '75.0%'],
      ]);
      assert.equal(
        await page.getByRole('img', { name: /^Users ever in each status/ }).getAttribute('aria-label'),
        'Users ever in each status: Not started 2, Open 4, On hold 3, Closed 3',
      );
      // Ended stays only: s_waiting is still on hold, everyone closed is still closed.
      const times = await rows(page, 'time-in-status');
      assert.deepEqual(
        times.map(([status, stays]) => [status, stays]),
        [
          ['Not started', '2'],
          ['Open', '5'],
          ['On hold', '2'],
          ['Closed', '0'],
        ],
      );
      for (const [i, [, , median, p90]] of times.entries()) {
        assert.match(median, stayPattern(stats.timeInStatus[i].medianMs));
        assert.match(p90, stayPattern(stats.timeInStatus[i].p90Ms));
      }
      assert.deepEqual(await seriousViolations(page), [], `axe, ${scheme}`);
      await page.screenshot({ path: join(artifacts, `stats-compliance-${scheme}.png`), fullPage: true });
      assert.deepEqual(problems, []);
      await context.close();
    }
  });

  it('follows new decisions live', async () => {
    const { page, context, problems } = await openStats('light');
    assert.deepEqual(await decided(page), [2, 1, 3, 0]);
    await deliver('s_waiting', 'REJECT', 'CLOSED');
    await page.getByTestId('funnel').locator('tr[data-status="CLOSED"] td').first().filter({ hasText: /^4$/ }).waitFor();
    assert.deepEqual(await decided(page), [2, 2, 3, 0]);
    const onHold = await page.getByTestId('time-in-status').locator('tr[data-status="ON_HOLD"] td').first().innerText();
    assert.equal(onHold, '3', "s_waiting's stay on hold ended");
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('fits 360 px without sideways scroll', async () => {
    for (const scheme of ['light', 'dark']) {
      const { page, context } = await openStats(scheme, { width: 360, height: 780 });
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(wide <= 360, `the page is ${wide} px wide`);
      await page.screenshot({ path: join(artifacts, `stats-compliance-360-${scheme}.png`), fullPage: true });
      await context.close();
    }
  });
});
