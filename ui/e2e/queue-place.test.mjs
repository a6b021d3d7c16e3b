// The review queue keeps the person's place, in Chromium against the real binary: its order
// (longest wait, latest status change, first seen, externalId; ties told apart by the id) in the
// address, the scroll position and the case opened back after Back, and the user page's
// breadcrumb saying where it was opened from.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, startMonitor } from './monitor.mjs';

let monitor;
let browser;
const COUNT = 150;
const id = (i) => `q_${String(i).padStart(3, '0')}`;
/** The order they arrive in, unlike the ids' order. */
const arrival = Array.from({ length: COUNT }, (_, i) => id((i * 37) % COUNT));

async function deliver(externalId, decision, status) {
  const body = { externalId, decision, status, subStatus: '', participantId: '', account: '' };
  const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.status, 200);
}

async function openPage(hash = '#/review') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(`${monitor.uiUrl}${hash}`);
  return { page, context, problems };
}

const listed = (page) => page.getByTestId('queue-row').evaluateAll((rows) => rows.map((row) => row.dataset.externalId));

describe('the review queue keeps your place', () => {
  before(async () => {
    monitor = await startMonitor();
    browser = await launchChromium();
    for (const externalId of arrival) await deliver(externalId, 'REVIEW', 'ON_HOLD');
    await deliver('done_1', 'ACCEPT', 'CLOSED');
  });
  after(async () => {
    await browser?.close();
    await monitor?.stop();
  });

  /** Shows the rest of the queue: one click, even when a live refresh was on its way (the
   * refresh asks again for every row shown rather than laying the first page over them). */
  async function showAll(page) {
    await page.getByRole('button', { name: 'Show more' }).click();
    await page.getByTestId('queue-row').nth(COUNT - 1).waitFor();
  }

  it('sorts by longest wait, latest change or id, from the address', async () => {
    const { page, context, problems } = await openPage();
    await page.getByTestId('queue-row').nth(99).waitFor();
    const longest = await listed(page);
    assert.deepEqual(longest, arrival.slice(0, 100));

    await page.getByTestId('review-sort').selectOption('id');
    await page.waitForFunction(() => location.hash === '#/review?sort=id');
    await page.waitForFunction(() => document.querySelector('[data-testid="queue-row"]')?.dataset.externalId === 'q_000');
    await showAll(page);
    const byId = await listed(page);
    assert.deepEqual(byId, [...arrival].sort());

    // The latest change first is the longest wait's exact reverse: ties are told apart the
    // same way both ways (by the externalId), and the pages continue without gaps.
    await page.goto(`${monitor.uiUrl}#/review?sort=latestChange`);
    await page.reload();
    await page.getByTestId('queue-row').nth(99).waitFor();
    await showAll(page);
    assert.deepEqual(await listed(page), [...arrival].reverse());
    assert.equal(await page.getByTestId('review-sort').inputValue(), 'latestChange');
    // The CSV follows the order on screen.
    const csv = await page.evaluate(async (href) => (await fetch(href)).text(), await page.getByTestId('review-csv').getAttribute('href'));
    assert.equal(csv.split('\r\n')[1].split(',')[0], arrival.at(-1));
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('brings back the scroll position and the case opened after Back, and the breadcrumb says where from', async () => {
    const { page, context, problems } = await openPage('#/review?sort=id');
    await page.getByTestId('queue-row').nth(99).waitFor();
    await showAll(page);
    const row = page.locator('[data-testid="queue-row"][data-external-id="q_120"]');
    await row.scrollIntoViewIfNeeded();
    const scrolled = await page.evaluate(() => window.scrollY);
    assert.ok(scrolled > 1000, `scrolled ${scrolled}`);
    await row.getByRole('link').click();
    await page.getByTestId('user-page').waitFor();
    const crumb = page.getByTestId('crumb-origin');
    await crumb.filter({ hasText: 'Review queue (by externalId)' }).waitFor();
    assert.equal(await crumb.getAttribute('href'), '#/review?sort=id');

    await page.goBack();
    await page.locator('[data-testid="queue-row"][data-opened]').waitFor();
    assert.equal(await page.locator('[data-testid="queue-row"][data-opened]').getAttribute('data-external-id'), 'q_120');
    await page.waitForFunction((y) => Math.abs(window.scrollY - y) < 5, scrolled);
    assert.equal(await page.evaluate(() => document.activeElement?.closest('tr')?.dataset.externalId), 'q_120');
    // The breadcrumb leads back to the same place.
    await row.getByRole('link').click();
    await crumb.filter({ hasText: 'Review queue' }).click();
    await page.waitForFunction(() => location.hash === '#/review?sort=id');
    await page.waitForFunction((y) => Math.abs(window.scrollY - y) < 5, scrolled);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('names the board, a search and the inspector in the breadcrumb', async () => {
    const { page, context, problems } = await openPage('#/?decision=ACCEPT');
    const crumb = page.getByTestId('crumb-origin');
    await page.locator('[data-testid="card"][data-external-id="done_1"]').click();
    await crumb.filter({ hasText: 'Board (ACCEPT)' }).waitFor();
    assert.equal(await crumb.getAttribute('href'), '#/?decision=ACCEPT');
    // A reload keeps it.
    await page.reload();
    await crumb.filter({ hasText: 'Board (ACCEPT)' }).waitFor();

    await page.getByTestId('search').fill('q_007');
    await page.getByTestId('search-results').getByRole('option', { name: /q_007/ }).waitFor();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash === '#/user/q_007');
    await crumb.filter({ hasText: 'Search “q_007”' }).waitFor();

    await page.goto(`${monitor.uiUrl}#/deliveries`);
    await page.reload();
    const link = page.getByTestId('deliveries').locator('a[href="#/user/done_1"]').first();
    await link.click();
    await page.waitForFunction(() => location.hash === '#/user/done_1');
    await crumb.filter({ hasText: /^Deliveries/ }).waitFor();
    assert.match(await crumb.getAttribute('href'), /^#\/deliveries/);
    assert.deepEqual(problems, []);
    await context.close();
  });
});
