// The board through a burst, in Chromium against the real binary: columns keep to their page,
// a column scrolled away holds still and offers the new users in a pill, and the page never
// holds more cards than it shows. (The time it takes is measured by bench/burst.mjs, not here.)
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startMonitor } from './monitor.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');

let monitor;
let browser;

/** Posts one delivery per id, eight at a time, as fast as the webhook answers. */
async function deliverAll(ids, status, decision = '') {
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const externalId = ids[next++];
      const body = { externalId, decision, status, subStatus: '', participantId: '', account: '' };
      const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
      assert.equal(response.status, 200);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

const range = (prefix, from, to) => Array.from({ length: to - from }, (_, n) => `${prefix}_${String(from + n).padStart(4, '0')}`);
const column = (page, key) => page.locator(`[data-column="${key}"]`);
const shownIds = (locator) => locator.locator('[data-testid="card"]').evaluateAll((cards) => cards.map((card) => card.dataset.externalId));

async function waitForCount(page, key, expected) {
  await column(page, key).getByTestId('count').filter({ hasText: new RegExp(`^${expected.toLocaleString('en-US')}$`) }).waitFor({ timeout: 20_000 });
}

describe('the board through a burst', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    monitor = await startMonitor();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    monitor?.stop();
  });

  it('keeps each column to its page while hundreds of users arrive', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(monitor.uiUrl);
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();

    await deliverAll(range('open', 0, 400), 'OPEN');
    await waitForCount(page, 'OPEN', 400);
    const open = column(page, 'OPEN');
    // The newest fifty, and the rest a click away.
    assert.equal(await open.locator('[data-testid="card"]').count(), 50);
    assert.equal(await page.locator('[data-testid="card"]').count(), 50, 'the page holds only the cards it shows');
    await open.getByRole('button', { name: 'Show more' }).click();
    await open.locator('[data-testid="card"]').nth(99).waitFor();
    assert.equal(await open.locator('[data-testid="card"]').count(), 100);

    // Users leaving a column that has more beyond its cards: it fills up again to its page.
    await deliverAll(range('open', 0, 400).slice(-30), 'CLOSED', 'ACCEPT');
    await waitForCount(page, 'CLOSED', 30);
    await waitForCount(page, 'OPEN', 370);
    await page.waitForFunction(() => document.querySelectorAll('[data-column="OPEN"] [data-testid="card"]').length === 100);
    // The count comes with the change; each card once its user is read.
    await page.waitForFunction(() => document.querySelectorAll('[data-column="CLOSED"] [data-testid="card"]').length === 30);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('holds a column scrolled away from its top still, and offers what arrived in a pill', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(monitor.uiUrl);
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    const open = column(page, 'OPEN');
    await open.locator('[data-testid="card"]').nth(49).waitFor();
    const cards = open.locator('.cards');
    await cards.evaluate((node) => node.scrollTo({ top: 600 }));
    await page.waitForTimeout(100);
    const before = await shownIds(open);

    await deliverAll(range('late', 0, 120), 'OPEN');
    await waitForCount(page, 'OPEN', 490);
    const pill = open.getByTestId('new-pill');
    await pill.filter({ hasText: '120 new' }).waitFor();
    assert.deepEqual(await shownIds(open), before, 'the cards being read do not move');
    assert.ok((await cards.evaluate((node) => node.scrollTop)) >= 590);
    await page.screenshot({ path: join(artifacts, 'board-new-pill-light.png') });

    await pill.click();
    // The newest users at the top again (the eight senders commit in no set order).
    await open.locator('[data-testid="card"]').first().filter({ hasText: /^late_/ }).waitFor();
    assert.equal((await shownIds(open)).slice(0, 50).filter((id) => id.startsWith('late_')).length, 50);
    assert.equal(await pill.count(), 0);
    assert.equal(await cards.evaluate((node) => node.scrollTop), 0);
    assert.equal(await open.locator('[data-testid="card"]').count(), 50);
    assert.deepEqual(problems, []);
    await context.close();
  });
});
