// End to end in a real browser: the real kyc-monitor binary (KYC_MONITOR_BIN) on free ports with
// a fresh database, deliveries posted over HTTP, Debian's Chromium driven by playwright-core.
// Screenshots of each view, light and dark, go to e2e/artifacts/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drawn, launchChromium, startMonitor } from './monitor.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
const MARKUP_ID = '<img src=x onerror="window.__pwned=1">';

let monitor;
let webhookUrl;
let uiUrl;
let browser;

async function deliver(body) {
  const response = await fetch(webhookUrl, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  return response.status;
}

function state(externalId, decision, status, subStatus = '', approved = false) {
  return {
    externalId,
    decision,
    status,
    subStatus,
    participantId: approved ? `firms/ISV-Participant-Acme/users/${externalId}` : '',
    account: approved ? `firms/ISV-Acme/accounts/${externalId.replace(/\W/g, '')}0a1b2c` : '',
  };
}

async function openPage(colorScheme, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ colorScheme, viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(uiUrl);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { page, context, problems };
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: false });
}

/** Waits until a column shows `expected` users (counts refresh, throttled, after each change). */
async function expectCount(page, column, expected) {
  const locator = page.locator(`[data-column="${column}"] [data-testid="count"]`);
  await locator.filter({ hasText: new RegExp(`^${expected}$`) }).waitFor({ timeout: 5000 }).catch(async () => {
    assert.equal(await locator.innerText(), expected, `count of ${column}`);
  });
}
// Only for plain ids (the markup one is found by its text).
const card = (page, externalId) => page.locator(`[data-testid="card"][data-external-id="${externalId}"]`);

describe('the live UI in Chromium', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    monitor = await startMonitor();
    ({ webhookUrl, uiUrl } = monitor);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    monitor?.stop();
  });

  it('shows what to do on an empty board, then fills live without a reload', async () => {
    const { page, context, problems } = await openPage('light');
    await page.getByTestId('empty-state').waitFor();
    assert.match(await page.getByTestId('empty-state').innerText(), /kyc-webhook/);
    await shot(page, 'empty-board-light');

    assert.equal(await deliver(state('user_4821', '', 'NOT_STARTED')), 200);
    await card(page, 'user_4821').waitFor();
    assert.equal(await page.locator('[data-column="NOT_STARTED"] [data-testid="card"]').count(), 1);
    await expectCount(page, 'NOT_STARTED', '1');

    // The card moves to its new column as the delivery commits.
    assert.equal(await deliver(state('user_4821', 'REVIEW', 'ON_HOLD', 'Document Request Initiated')), 200);
    await page.locator('[data-column="ON_HOLD"] [data-external-id="user_4821"]').waitFor();
    assert.equal(await page.locator('[data-column="NOT_STARTED"] [data-testid="card"]').count(), 0);
    await expectCount(page, 'ON_HOLD', '1');
    await expectCount(page, 'NOT_STARTED', '0');
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('fills the board, renders payload text as text, and counts exactly', async () => {
    const flows = [
      ['user_5107', 'REJECT', 'CLOSED'],
      ['user_6630', 'ACCEPT', 'CLOSED', '', true],
      ['user_7001', '', 'OPEN', 'pending'],
      ['user_7002', '', 'OPEN', 'pending'],
      ['user_7003', 'REVIEW', 'ON_HOLD', 'Document Request Initiated'],
      ['user_8000', '', 'NOT_STARTED'],
      ['user_9000', 'ESCALATE', 'FROZEN'],
      [MARKUP_ID, 'REVIEW', 'OPEN'],
    ];
    for (const [id, decision, status, sub, approved] of flows) {
      assert.equal(await deliver(state(id, decision, status, sub ?? '', approved)), 200);
    }
    assert.equal(await deliver('[1, 2, 3]'), 400);
    assert.equal(await deliver('{"externalId": null}'), 422);

    for (const scheme of ['light', 'dark']) {
      const { page, context, problems } = await openPage(scheme);
      await card(page, 'user_9000').waitFor();
      await expectCount(page, 'OPEN', '3');
      await expectCount(page, 'CLOSED', '2');
      await expectCount(page, 'OTHER', '1');
      // The markup externalId is shown literally and runs nothing.
      const markup = page.locator('[data-column="OPEN"] .card .id', { hasText: MARKUP_ID });
      assert.equal(await (await drawn(markup)).innerText(), MARKUP_ID);
      assert.equal(await page.evaluate(() => window.__pwned), undefined);
      assert.equal(await page.locator('[data-column="OPEN"] img').count(), 0);
      assert.equal(
        await page.locator('[data-external-id="user_6630"] [data-decision="ACCEPT"]').count(),
        1,
        'decision badge on the card',
      );
      await shot(page, `board-${scheme}`);
      assert.deepEqual(problems, []);
      await context.close();
    }
    const { page, context } = await openPage('light', { width: 1920, height: 1080 });
    await card(page, 'user_9000').waitFor();
    await shot(page, 'board-light-1920x1080');
    await context.close();
  });

  it('finds a user from the keyboard and shows the timeline with raw bodies', async () => {
    assert.equal(await deliver(state('user_6630', 'ACCEPT', 'CLOSED', '', true)), 200); // a duplicate
    for (const scheme of ['light', 'dark']) {
      const { page, context, problems } = await openPage(scheme);
      await page.keyboard.press('/');
      // Enter straight after the last keystroke, as a fast typist does: it must open a match
      // for the whole prefix, not the first result of an earlier one (user_4821 for "user_").
      await page.keyboard.type('user_66');
      await page.keyboard.press('Enter');
      await page.getByTestId('user-page').waitFor();
      assert.equal(await page.locator('.user-page h1').innerText(), 'user_6630');
      assert.equal(await page.getByTestId('user-status').innerText(), 'CLOSED');
      assert.match(await page.locator('.facts').innerText(), /firms\/ISV-Acme\/accounts\/user_66300a1b2c/);
      const entries = page.getByTestId('timeline').locator('li');
      assert.equal(await entries.count(), 2);
      assert.match(await entries.nth(1).innerText(), /duplicate/);
      await entries.nth(0).locator('summary').click();
      assert.match(await entries.nth(0).getByTestId('raw-body').innerText(), /"externalId": "user_6630"/);
      await shot(page, `user-${scheme}`);

      // A delivery for the open user shows up on its page without a reload (last, so that both
      // passes see the same user).
      if (scheme === 'dark') {
        assert.equal(await deliver(state('user_6630', 'REJECT', 'CLOSED')), 200);
        await page.getByTestId('timeline').locator('li').nth(2).waitFor();
      }
      assert.deepEqual(problems, []);
      await context.close();
    }
  });

  it('inspects deliveries, refused ones included, filters them and replays one', async () => {
    for (const scheme of ['light', 'dark']) {
      const { page, context, problems } = await openPage(scheme);
      await page.getByRole('link', { name: 'Deliveries' }).click();
      await page.getByTestId('delivery').first().waitFor();
      assert.ok((await page.getByTestId("delivery").count()) >= 14, "every delivery, refused ones included");
      await shot(page, `deliveries-${scheme}`);
      if (scheme === 'light') {
        await page.getByTestId('outcome-filter').selectOption('rejected');
        await page.waitForFunction(
          () => [...document.querySelectorAll('[data-testid="delivery"]')].every((row) => row.getAttribute('data-outcome') === 'rejected'),
        );
        assert.equal(await page.getByTestId('delivery').count(), 2);
        assert.match(await page.getByTestId('deliveries').innerText(), /externalId is null/);

        await page.getByTestId('outcome-filter').selectOption('accepted');
        await page.waitForFunction(
          () => [...document.querySelectorAll('[data-testid="delivery"]')].every((row) => row.getAttribute('data-outcome') === 'accepted'),
        );
        // Each delivery names its user, and the name leads to the user page.
        assert.equal(await page.locator('[data-testid="delivery"] .user a', { hasText: 'user_6630' }).count() >= 1, true);
        // No --forward-to here: the accepted one says why it went nowhere.
        await page.getByTestId('forwarding').filter({ hasText: /Not forwarded: no backend was set to forward to/ }).waitFor();
        await page.getByTestId('replay').first().click();
        assert.match(await page.getByTestId('replay-result').first().innerText(), /Replayed as #\d+: (accepted|duplicate) \(200\)/);
      }
      assert.deepEqual(problems, []);
      await context.close();
    }
  });

  it('shows stats: totals, rates and the last hour', async () => {
    for (const scheme of ['light', 'dark']) {
      const { page, context, problems } = await openPage(scheme);
      await page.getByRole('link', { name: 'Stats' }).click();
      await page.getByTestId('stats').waitFor();
      await page.getByTestId('stat-users').filter({ hasText: /^\d/ }).waitFor();
      // user_4821, the eight of the board test (the markup id among them): nine users.
      assert.equal(await page.getByTestId('stat-users').innerText(), '9');
      assert.match(await page.getByTestId('stat-approval').innerText(), /^\d+\.\d%$/);
      // Drawn by uPlot on a canvas, described in words for those who cannot see it.
      await page.locator('.chart canvas').first().waitFor();
      assert.match(await page.getByRole('img', { name: /^Deliveries per minute/ }).getAttribute('aria-label'), /^Deliveries per minute over the last hour: \d+ in all, 2 rejected$/);
      assert.match(await page.getByTestId('stat-p90').innerText(), /^\d+ (ms|s)$/);
      await shot(page, `stats-${scheme}`);
      assert.deepEqual(problems, []);
      await context.close();
    }
  });
});
