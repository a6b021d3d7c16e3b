// The user page as support uses it, in Chromium against the real binary: the externalId to
// copy, the time spent in each status on the timeline, words that fit the decision, and a
// breadcrumb and tab title that name the user.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seriousViolations } from './axe.mjs';
import { launchChromium, startMonitor } from './monitor.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let monitor;
let browser;

async function deliver(externalId, decision, status, subStatus = '') {
  const body = { externalId, decision, status, subStatus, participantId: '', account: '' };
  const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.status, 200);
}

describe('the user page', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    monitor = await startMonitor();
    browser = await launchChromium();
    // A user who went through review and was rejected, a second apart at each step.
    await deliver('user_4821', '', 'NOT_STARTED');
    await sleep(1100);
    await deliver('user_4821', '', 'OPEN', 'pending');
    await deliver('user_4821', '', 'OPEN', 'documents received');
    await sleep(1100);
    await deliver('user_4821', 'REVIEW', 'ON_HOLD', 'Document Request Initiated');
    await sleep(1100);
    await deliver('user_4821', 'REJECT', 'CLOSED');
    await deliver('user_4821', 'REJECT', 'CLOSED'); // a duplicate
    await deliver('user_7002', '', 'OPEN', 'pending');
    // The newer API: a rejection with its reason, set by the provider a while before it came.
    const envelope = {
      event_type: 'kyc.rejected',
      event_id: 'evt_e2e_reason',
      event_time: '2026-11-26T14:05:40.017Z',
      data: {
        external_id: 'user_6631',
        status: 'KYC_STATUS_REJECTED',
        status_set_at: '2026-11-26T14:05:39.660Z',
        rejection_reason: 'identity could not be verified',
      },
    };
    const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(envelope) });
    assert.equal(response.status, 200);
  });
  after(async () => {
    await browser?.close();
    monitor?.stop();
  });

  for (const [scheme, width] of [['light', 1280], ['dark', 1280], ['light', 360], ['dark', 360]]) {
    it(`shows why the provider rejected the user and when it set the status, ${scheme} at ${width}px`, async () => {
      const context = await browser.newContext({ colorScheme: scheme, viewport: { width, height: 800 } });
      const page = await context.newPage();
      const problems = [];
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(monitor.uiUrl);
      await page.evaluate(() => (location.hash = '#/user/user_6631'));
      await page.getByTestId('timeline').waitFor();
      assert.equal(await page.getByTestId('rejection-reason').innerText(), 'identity could not be verified');
      assert.match(await page.getByTestId('status-set-at').innerText(), /by the provider; it reached this monitor at /);
      assert.match(await page.getByTestId('timeline-set-at').innerText(), /^set .* by the provider$/);
      assert.equal(await page.getByTestId('timeline-reason').innerText(), 'identity could not be verified');
      assert.deepEqual(await seriousViolations(page), []);
      await page.screenshot({ path: join(artifacts, `user-reason-${scheme}-${width}.png`), fullPage: true });
      assert.deepEqual(problems, []);
      await context.close();
    });
  }

  for (const scheme of ['light', 'dark']) {
    it(`names the user, copies its id and times each status, ${scheme}`, async () => {
      const context = await browser.newContext({ colorScheme: scheme, viewport: { width: 1280, height: 800 } });
      await context.grantPermissions(['clipboard-read', 'clipboard-write']);
      const page = await context.newPage();
      const problems = [];
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(monitor.uiUrl);
      await page.evaluate(() => (location.hash = '#/user/user_4821'));
      await page.getByTestId('timeline').waitFor();

      assert.equal(await page.title(), 'user_4821 · KYC Monitor');
      assert.equal((await page.getByRole('navigation', { name: 'Breadcrumb' }).innerText()).replace(/\s+/g, ' '), 'Board / user_4821');

      await page.getByRole('button', { name: 'Copy externalId' }).click();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'user_4821');

      // A rejected user never gets the ids: the page says so, not "not yet".
      assert.equal(await page.getByTestId('no-participant').innerText(), 'none: the user was rejected');

      // Four statuses, each timed; the subStatus change and the duplicate start none.
      const spans = await page.getByTestId('time-in-status').allInnerTexts();
      assert.equal(spans.length, 4, spans.join(' | '));
      for (const span of spans.slice(0, 3)) assert.match(span, /^for [1-9] s$/);
      assert.match(spans[3], / so far$/);
      assert.deepEqual(await seriousViolations(page), []);
      await page.screenshot({ path: join(artifacts, `user-rejected-${scheme}.png`) });

      // A user still waiting is told the ids come on approval; the title follows the page.
      await page.evaluate(() => (location.hash = '#/user/user_7002'));
      await page.locator('.user-page h1', { hasText: 'user_7002' }).waitFor();
      assert.equal(await page.getByTestId('no-participant').innerText(), 'not yet (set on approval)');
      assert.equal(await page.title(), 'user_7002 · KYC Monitor');
      await page.evaluate(() => (location.hash = '#/'));
      await page.getByTestId('board').waitFor();
      assert.equal(await page.title(), 'Board · KYC Monitor');
      assert.deepEqual(problems, []);
      await context.close();
    });
  }
});
