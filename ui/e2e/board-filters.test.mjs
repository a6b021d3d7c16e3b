// The board under the review queue's filters, in Chromium against the real binary: decision,
// subStatus and time in status narrow every column and its count, the address keeps them (a
// link or a reload shows the same board), live changes are filtered too, and one click clears.
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

async function deliver(externalId, decision, status, subStatus = '') {
  const body = { externalId, decision, status, subStatus, participantId: '', account: '' };
  const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.status, 200);
}

async function open(colorScheme, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ colorScheme, viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(monitor.uiUrl);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { page, context, problems };
}

const COLUMNS = ['NOT_STARTED', 'OPEN', 'ON_HOLD', 'CLOSED', 'OTHER'];

/** Waits until every column shows `expected` (missing: 0) as its count and as its cards. */
async function expectColumns(page, expected) {
  const want = Object.fromEntries(COLUMNS.map((key) => [key, expected[key] ?? 0]));
  await page
    .waitForFunction(
      (want) =>
        Object.entries(want).every(([key, users]) => {
          const column = document.querySelector(`[data-column="${key}"]`);
          const count = Number(column?.querySelector('[data-testid="count"]')?.textContent?.replace(/\D/g, ''));
          return count === users && column.querySelectorAll('[data-testid="card"]').length === users;
        }),
      want,
      { timeout: 10_000 },
    )
    .catch(async () => {
      const seen = {};
      for (const key of COLUMNS) seen[key] = await page.locator(`[data-column="${key}"] [data-testid="count"]`).innerText();
      assert.deepEqual(seen, Object.fromEntries(Object.entries(want).map(([k, v]) => [k, String(v)])));
    });
}

const shown = (page, key) =>
  page.locator(`[data-column="${key}"] [data-testid="card"]`).evaluateAll((cards) => cards.map((card) => card.dataset.externalId));
const hash = (page) => decodeURIComponent(new URL(page.url()).hash.replace(/\+/g, ' '));

describe('board filters', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    monitor = await startMonitor();
    browser = await launchChromium();
    await deliver('held_docs_1', 'REVIEW', 'ON_HOLD', 'Document Request Initiated');
    await deliver('held_docs_2', 'REVIEW', 'ON_HOLD', 'Document Request Initiated');
    await deliver('held_manual', 'REVIEW', 'ON_HOLD', 'Manual Review');
    await deliver('held_undecided', '', 'ON_HOLD', 'Manual Review');
    await deliver('approved_1', 'ACCEPT', 'CLOSED');
    await deliver('approved_2', 'ACCEPT', 'CLOSED');
    await deliver('rejected_1', 'REJECT', 'CLOSED');
    await deliver('open_1', '', 'OPEN', 'pending');
    await deliver('open_review', 'REVIEW', 'OPEN', 'Documents Received');
    await deliver('new_1', '', 'NOT_STARTED');
  });
  after(async () => {
    await browser?.close();
    monitor?.stop();
  });

  it('narrows every column and its count, keeps the filter in the address, and clears', async () => {
    const { page, context, problems } = await open('light');
    await expectColumns(page, { NOT_STARTED: 1, OPEN: 2, ON_HOLD: 4, CLOSED: 3 });

    await page.getByTestId('filter-decision').selectOption({ label: 'REVIEW' });
    await page.waitForURL(/#\/\?decision=REVIEW$/);
    await expectColumns(page, { OPEN: 1, ON_HOLD: 3 });
    assert.equal(await page.getByTestId('filter-note').innerText(), '4 of 10 users match these filters.');

    await page.getByTestId('filter-substatus').fill('Manual Review');
    await page.waitForURL(/subStatus=Manual\+Review/);
    assert.equal(hash(page), '#/?decision=REVIEW&subStatus=Manual Review');
    await expectColumns(page, { ON_HOLD: 1 });
    assert.deepEqual(await shown(page, 'ON_HOLD'), ['held_manual']);

    // A reload shows the same board; so does the address opened anew (a shared link).
    await page.reload();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    await expectColumns(page, { ON_HOLD: 1 });
    assert.equal(await page.getByTestId('filter-decision').inputValue(), 'REVIEW');
    assert.equal(await page.getByTestId('filter-substatus').inputValue(), 'Manual Review');
    const shared = await context.newPage();
    await shared.goto(page.url());
    await expectColumns(shared, { ON_HOLD: 1 });
    await shared.close();

    // Live changes are filtered as well: one that does not match never shows, one that does
    // shows and is counted.
    await deliver('late_docs', 'REVIEW', 'ON_HOLD', 'Document Request Initiated');
    await deliver('late_manual', 'REVIEW', 'ON_HOLD', 'Manual Review');
    await expectColumns(page, { ON_HOLD: 2 });
    assert.deepEqual(await shown(page, 'ON_HOLD'), ['late_manual', 'held_manual']);
    await page.screenshot({ path: join(artifacts, 'board-filtered-light.png') });
    assert.deepEqual(await seriousViolations(page), []);

    // "No decision" is a filter of its own.
    await page.getByTestId('filter-substatus').fill('');
    await page.getByTestId('filter-decision').selectOption({ label: 'No decision' });
    await page.waitForURL(/#\/\?decision=$/);
    await expectColumns(page, { NOT_STARTED: 1, OPEN: 1, ON_HOLD: 1 });
    assert.deepEqual(await shown(page, 'ON_HOLD'), ['held_undecided']);

    // Nobody has been in a status for an hour yet.
    await page.getByTestId('filter-age').selectOption({ label: 'Over 1 hour' });
    await page.waitForURL(/minAge=60/);
    await expectColumns(page, {});
    assert.equal(await page.getByTestId('filter-note').innerText(), '0 of 12 users match these filters.');

    await page.getByTestId('filter-reset').click();
    await page.waitForURL(/#\/$/);
    await expectColumns(page, { NOT_STARTED: 1, OPEN: 2, ON_HOLD: 6, CLOSED: 3 });
    assert.equal(await page.getByTestId('filter-note').count(), 0);
    assert.equal(await page.getByTestId('filter-decision').inputValue(), '\u0000any');
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('looks right filtered in dark and at 360 px', async () => {
    const path = '#/?decision=REVIEW&subStatus=Document+Request+Initiated';
    for (const [name, colorScheme, viewport] of [
      ['board-filtered-dark', 'dark', { width: 1280, height: 800 }],
      ['board-filtered-360', 'light', { width: 360, height: 740 }],
    ]) {
      const { page, context, problems } = await open(colorScheme, viewport);
      // Opened from the address (a fresh load), as a shared link is.
      await page.goto(new URL(path, page.url()).href);
      await page.reload();
      await expectColumns(page, { OPEN: 0, ON_HOLD: 3 });
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= viewport.width, `no sideways page scroll: ${width}`);
      await page.screenshot({ path: join(artifacts, `${name}.png`) });
      assert.deepEqual(await seriousViolations(page), []);
      assert.deepEqual(problems, []);
      await context.close();
    }
  });
});
