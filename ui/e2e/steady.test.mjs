// Things do not move under the pointer, in Chromium against the real binary: a board column
// under the pointer holds its cards (changes counted in its "n new" marker) until the pointer
// leaves or rests, so a click opens the card aimed at; and the inspector follows its address.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, startMonitor } from './monitor.mjs';

let monitor;
let browser;

async function deliver(externalId, decision, status) {
  const body = { externalId, decision, status, subStatus: '', participantId: '', account: '' };
  const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.status, 200);
}

const openCards = (page) => page.locator('[data-column="OPEN"] [data-testid="card"]').evaluateAll((cards) => cards.map((card) => card.dataset.externalId));

describe('nothing moves under the pointer', () => {
  before(async () => {
    monitor = await startMonitor();
    browser = await launchChromium();
    for (let i = 1; i <= 6; i += 1) await deliver(`s_${i}`, '', 'OPEN');
  });
  after(async () => {
    await browser?.close();
    await monitor?.stop();
  });

  it('holds a hovered column until the pointer leaves, and a click opens the card aimed at', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, reducedMotion: 'reduce' });
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(monitor.uiUrl);
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-column="OPEN"] [data-testid="card"]').length === 6);
    const aimed = page.locator('[data-column="OPEN"] [data-testid="card"][data-external-id="s_3"]');
    await aimed.hover();
    const box = await aimed.boundingBox();

    // A card above it leaves, and new ones arrive on top: the column holds, and says so.
    await deliver('s_5', 'REVIEW', 'ON_HOLD');
    await deliver('n_1', '', 'OPEN');
    await deliver('n_2', '', 'OPEN');
    await page.locator('[data-column="ON_HOLD"] [data-testid="card"][data-external-id="s_5"]').waitFor();
    await page.locator('[data-column="OPEN"]').getByTestId('new-pill').filter({ hasText: '2 new' }).waitFor();
    assert.deepEqual(await aimed.boundingBox(), box);
    assert.deepEqual(await openCards(page), ['s_6', 's_5', 's_4', 's_3', 's_2', 's_1']);

    // The pointer leaves: the column takes in what it held back.
    await page.mouse.move(box.x + 600, 780);
    await page.waitForFunction(() => document.querySelector('[data-column="OPEN"] [data-testid="card"]')?.dataset.externalId === 'n_2');
    assert.deepEqual(await openCards(page), ['n_2', 'n_1', 's_6', 's_4', 's_3', 's_2', 's_1']);
    assert.equal(await page.locator('[data-column="OPEN"]').getByTestId('new-pill').count(), 0);

    // A click lands on the card aimed at, whatever arrives meanwhile.
    await aimed.hover();
    const target = await aimed.boundingBox();
    await deliver('n_3', '', 'OPEN');
    await page.locator('[data-column="OPEN"]').getByTestId('new-pill').filter({ hasText: '1 new' }).waitFor();
    await page.mouse.click(target.x + target.width / 2, target.y + target.height / 2);
    await page.waitForFunction(() => location.hash === '#/user/s_3');
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('lets a column go once the pointer has rested a few seconds', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, reducedMotion: 'reduce' });
    const page = await context.newPage();
    await page.goto(monitor.uiUrl);
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    const first = page.locator('[data-column="OPEN"] [data-testid="card"]').first();
    await first.waitFor();
    await first.hover();
    await deliver('rest_1', '', 'OPEN');
    // Held while the pointer has just moved...
    await page.locator('[data-column="OPEN"]').getByTestId('new-pill').filter({ hasText: '1 new' }).waitFor();
    // ...and let go once it rests, as a presenter's or a reader's does: the new card comes in
    // without the pointer moving.
    await page.waitForFunction(
      () => document.querySelector('[data-column="OPEN"] [data-testid="card"]')?.dataset.externalId === 'rest_1',
      null,
      { timeout: 20_000 },
    );
    await context.close();
  });

  it('the inspector follows its address without a reload', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${monitor.uiUrl}#/deliveries`);
    await page.reload();
    const rows = page.locator('[data-id]');
    await rows.nth(3).waitFor();
    const ids = await rows.evaluateAll((list) => list.map((row) => Number(row.dataset.id)));
    await page.evaluate(() => (window.notReloaded = true));
    for (const id of [ids[3], ids.at(-1)]) {
      await page.evaluate((to) => (location.hash = `#/deliveries?id=${to}`), id);
      await page.getByTestId('delivery-detail').and(page.locator(`[aria-label="Delivery ${id}"]`)).waitFor();
    }
    assert.equal(await page.evaluate(() => window.notReloaded), true);
    await context.close();
  });
});
