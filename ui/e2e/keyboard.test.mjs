// The keyboard, in Chromium against the real binary: each list (a board column, the review
// queue, the inspector's list) is one Tab stop with the arrow keys, Home and End inside, so
// "Show more" is one Tab away; opening a user, going back and choosing a delivery put the focus
// on the new content's heading, and Back puts it on the row or card that was left.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seriousViolations } from './axe.mjs';
import { launchChromium, startMonitor } from './monitor.mjs';

let monitor;
let browser;
const QUEUED = 120;
const id = (i) => `k_${String(i).padStart(3, '0')}`;

async function deliver(externalId, decision, status) {
  const body = { externalId, decision, status, subStatus: '', participantId: '', account: '' };
  const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.status, 200);
}

async function openPage(hash) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(`${monitor.uiUrl}${hash}`);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { page, context, problems };
}

/** What has the focus: its test id, externalId (a card, a row's link) or text. */
const focused = (page) =>
  page.evaluate(() => {
    const element = document.activeElement;
    return {
      tag: element?.tagName.toLowerCase(),
      externalId: element?.closest('[data-external-id]')?.dataset.externalId ?? null,
      testId: element?.dataset.testid ?? null,
      text: element?.textContent?.trim().slice(0, 40) ?? '',
    };
  });

/** Elements Tab reaches among `selector`'s matches. */
const tabStops = (page, selector) =>
  page.locator(selector).evaluateAll((elements) => elements.filter((element) => element.tabIndex >= 0).length);

describe('the keyboard and the focus', () => {
  before(async () => {
    monitor = await startMonitor();
    browser = await launchChromium();
    for (let i = 0; i < QUEUED; i += 1) await deliver(id(i), 'REVIEW', 'ON_HOLD');
    for (let i = 0; i < 5; i += 1) await deliver(`o_${i}`, '', 'OPEN');
  });
  after(async () => {
    await browser?.close();
    await monitor?.stop();
  });

  it('makes a board column one Tab stop with arrows, Home and End, and Back returns to the card', async () => {
    const { page, context, problems } = await openPage('#/');
    const open = '[data-column="OPEN"] [data-testid="card"]';
    await page.locator(open).nth(4).waitFor();
    await page.locator('[data-column="ON_HOLD"] [data-testid="card"]').nth(49).waitFor();
    assert.equal(await tabStops(page, open), 1);
    assert.equal(await tabStops(page, '[data-column="ON_HOLD"] [data-testid="card"]'), 1);

    await page.locator(open).first().focus();
    assert.equal((await focused(page)).externalId, 'o_4');
    await page.keyboard.press('ArrowDown');
    assert.equal((await focused(page)).externalId, 'o_3');
    await page.keyboard.press('End');
    assert.equal((await focused(page)).externalId, 'o_0');
    await page.keyboard.press('Home');
    assert.equal((await focused(page)).externalId, 'o_4');
    await page.keyboard.press('ArrowDown');
    // Tab leaves the column at once: the on-hold column's first card, then its "Show more".
    await page.keyboard.press('Tab');
    assert.equal((await focused(page)).externalId, id(QUEUED - 1));
    await page.keyboard.press('Tab');
    assert.equal((await focused(page)).text, 'Show more');
    // Shift+Tab comes back to the card last focused in the column.
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    assert.equal((await focused(page)).externalId, 'o_3');

    // Opening the user puts the focus on its heading; Back, on the card that was opened.
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.dataset.testid === 'user-heading');
    assert.equal(await page.evaluate(() => location.hash), '#/user/o_3');
    await page.goBack();
    await page.waitForFunction(() => document.activeElement?.closest('[data-testid="card"]')?.dataset.externalId === 'o_3');
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('makes the review queue one Tab stop, "Show more" the next, and Back returns to the row', async () => {
    const { page, context, problems } = await openPage('#/review?sort=id');
    await page.getByTestId('queue-row').nth(99).waitFor();
    assert.equal(await tabStops(page, '[data-testid="queue-row"] a'), 1);
    await page.getByTestId('queue-row').first().getByRole('link').focus();
    await page.keyboard.press('End');
    assert.equal((await focused(page)).externalId, id(99));
    await page.keyboard.press('ArrowUp');
    assert.equal((await focused(page)).externalId, id(98));
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    assert.equal((await focused(page)).externalId, id(2));
    await page.keyboard.press('Tab');
    assert.equal((await focused(page)).text, 'Show more');
    await page.keyboard.press('Enter');
    await page.getByTestId('queue-row').nth(QUEUED - 1).waitFor();
    await page.keyboard.press('Shift+Tab');
    assert.equal((await focused(page)).externalId, id(2));
    await page.keyboard.press('End');
    assert.equal((await focused(page)).externalId, id(QUEUED - 1));

    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.dataset.testid === 'user-heading');
    await page.goBack();
    await page.waitForFunction((left) => document.activeElement?.closest('tr')?.dataset.externalId === left, id(QUEUED - 1));
    assert.equal(await tabStops(page, '[data-testid="queue-row"] a'), 1);
    assert.deepEqual(await seriousViolations(page), []);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('makes the inspector list one Tab stop, and a chosen delivery takes the focus on its heading', async () => {
    const { page, context, problems } = await openPage('#/deliveries');
    const rows = page.getByTestId('delivery');
    await rows.nth(99).waitFor();
    assert.equal(await tabStops(page, '[data-testid="delivery"]'), 1);
    await rows.first().focus();
    await page.keyboard.press('End');
    const last = await rows.nth(99).getAttribute('data-id');
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.id), last);
    await page.keyboard.press('Home');
    const first = await rows.first().getAttribute('data-id');
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.id), first);
    assert.equal(await tabStops(page, '[data-testid="delivery"]'), 1);

    await rows.nth(2).click();
    const chosen = await rows.nth(2).getAttribute('data-id');
    await page.waitForFunction(
      (to) => document.activeElement?.matches(`[aria-label="Delivery ${to}"] h2`) === true,
      chosen,
    );
    // Back from the inspector to the board: the board's heading has the focus.
    await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Board' }).click();
    await page.getByTestId('board').waitFor();
    await page.waitForFunction(() => document.activeElement?.tagName === 'H1');
    assert.deepEqual(await seriousViolations(page), []);
    assert.deepEqual(problems, []);
    await context.close();
  });
});
