// Search finds what people type, in Chromium against the real binary: pasted whitespace
// ignored, `-`, `_`, `.` and spaces alike, the exact id first; "Copy for a ticket" on the user
// page; and ids with invisible characters never looking like others (search, user page, board,
// inspector).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, startMonitor } from './monitor.mjs';

let monitor;
let browser;

async function deliver(externalId, decision, status, extra = {}) {
  const body = { externalId, decision, status, subStatus: '', participantId: '', account: '', ...extra };
  const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.status, 200);
}

async function openPage(hash = '') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(`${monitor.uiUrl}${hash}`);
  return { page, context, problems };
}

const options = (page) => page.getByTestId('search-results').getByRole('option').evaluateAll((items) => items.map((item) => item.querySelector('.id')?.textContent));

describe('search finds what people type', () => {
  before(async () => {
    monitor = await startMonitor();
    browser = await launchChromium();
    await deliver('user_48210', '', 'OPEN');
    await deliver('a_user_4821', '', 'OPEN');
    await deliver('user_4821', '', 'OPEN');
    await deliver('user_4821', 'REVIEW', 'ON_HOLD', { subStatus: 'Manual check' });
    await deliver('alice', '', 'OPEN');
    await deliver('alice\t', '', 'OPEN');
    await deliver('bob\u200d', 'REVIEW', 'ON_HOLD');
  });
  after(async () => {
    await browser?.close();
    await monitor?.stop();
  });

  it('trims, takes separators alike and puts the exact id first', async () => {
    const { page, context, problems } = await openPage();
    const search = page.getByTestId('search');
    for (const typed of ['  USER-4821 ', 'user 4821', 'User.4821\t']) {
      await search.fill(typed);
      await page.waitForFunction(
        () => document.querySelector('[data-testid="search-results"] [role="option"] .id')?.textContent === 'user_4821' && document.querySelectorAll('[data-testid="search-results"] [role="option"]').length === 3,
      );
      assert.deepEqual(await options(page), ['user_4821', 'user_48210', 'a_user_4821'], typed);
    }
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash === '#/user/user_4821');

    // Copy for a ticket: state, ids and times as plain text, absolute and in UTC.
    await page.getByTestId('copy-ticket').click();
    await page.getByTestId('copy-ticket').filter({ hasText: 'Copied' }).waitFor();
    const ticket = await page.evaluate(() => navigator.clipboard.readText());
    assert.match(ticket, /^KYC Monitor: user user_4821\n/);
    assert.match(ticket, /^status: ON_HOLD since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/m);
    assert.match(ticket, /^subStatus: Manual check$/m);
    assert.match(ticket, /^timeline \(2 notifications/m);
    assert.equal(ticket.match(/^- \d{4}-\d\d-\d\dT[\d:.]+Z delivery #\d+: status (OPEN|ON_HOLD)/gm)?.length, 2);
    assert.doesNotMatch(ticket, /ago|<|>/);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('shows invisible characters in ids as badges everywhere an id is shown', async () => {
    const { page, context, problems } = await openPage();
    // Search: `alice` and `alice\t` are two results that look different.
    await page.getByTestId('search').fill('alice');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="search-results"] [role="option"]').length === 2);
    assert.deepEqual(await options(page), ['alice', 'alice\\t']);
    await page.getByTestId('search-results').getByTestId('hidden-char').filter({ hasText: '\\t' }).waitFor();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash === '#/user/alice%09');
    // The user page: its heading and breadcrumb.
    assert.equal(await page.getByTestId('user-heading').innerText(), 'alice\\t');
    assert.equal(await page.getByTestId('user-heading').getByTestId('hidden-char').innerText(), '\\t');

    // The board's card.
    await page.goto(`${monitor.uiUrl}#/`);
    const card = page.locator('[data-testid="card"][data-external-id="bob\u200d"]');
    await card.getByTestId('hidden-char').filter({ hasText: '\\u200d' }).waitFor();
    // Read once the board has settled: a live refresh may lay the card in again meanwhile.
    await page.waitForFunction(
      () => document.querySelector('[data-testid="card"][data-external-id="bob\u200d"] .id')?.textContent === 'bob\\u200d',
    );

    // The inspector: the list and the detail.
    await page.goto(`${monitor.uiUrl}#/deliveries`);
    await page.reload();
    const inspector = page.getByTestId('deliveries');
    await inspector.locator('a[href="#/user/bob%E2%80%8D"]').first().getByTestId('hidden-char').filter({ hasText: '\\u200d' }).waitFor();
    assert.ok((await inspector.getByTestId('hidden-char').count()) >= 2);
    assert.deepEqual(problems, []);
    await context.close();
  });
});
