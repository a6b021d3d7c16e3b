// A page that survives the server, in Chromium against the real binary: the UI's link is kept
// in the database, so an open page reconnects by itself after a restart and a bookmark still
// opens; while the monitor is away a view says so and keeps what it showed, marked as stale;
// a new link makes the old one, and the pages opened with it, stop working.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium, startMonitor } from './monitor.mjs';

let scratch;
let monitor;
let browser;
let uiListen;

async function deliver(externalId, subStatus = 'Document Request Initiated') {
  const body = { externalId, decision: 'REVIEW', status: 'ON_HOLD', subStatus, participantId: '', account: '' };
  const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.status, 200);
}

/** Stops the monitor and starts it again on the same database and UI address. */
async function restart() {
  await monitor.stop();
  monitor = await startMonitor([], { db: join(scratch, 'kept.db'), uiListen });
}

const connection = (page, text) => page.getByTestId('connection').filter({ hasText: text });
const rows = (page) => page.getByTestId('queue-row');

describe('a page that survives the server', () => {
  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'kyc-restart-'));
    monitor = await startMonitor([], { db: join(scratch, 'kept.db') });
    uiListen = new URL(monitor.uiUrl).host;
    browser = await launchChromium();
    await deliver('wait_1');
    await deliver('wait_2');
    await deliver('wait_3', 'Manual check');
  });
  after(async () => {
    await browser?.close();
    await monitor?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('keeps its place through a restart: stale while away, live again by itself', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(error.stack ?? error.message));
    await page.goto(monitor.uiUrl);
    await page.getByTestId('card').nth(2).waitFor();
    await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Review' }).click();
    await rows(page).nth(2).waitFor();
    await connection(page, 'Live').waitFor();
    assert.match(await page.getByTestId('review-total').innerText(), /^3 waiting/);

    const before = monitor.uiUrl;
    await monitor.stop();
    await connection(page, 'Reconnecting').waitFor();
    // A view opened while the monitor is away says so, and shows what it last had, marked.
    await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Board' }).click();
    await page.getByTestId('board-problem').waitFor();
    assert.match(await page.getByTestId('board-problem').innerText(), /could not be loaded.*What shows is what it held at/s);
    assert.equal(await page.getByTestId('card').count(), 3, 'the cards it had, not empty columns');
    await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Review' }).click();
    await page.getByTestId('review-problem').waitFor();
    assert.match(await page.getByTestId('review-problem').innerText(), /could not be loaded.*What shows is what it listed at \d\d:\d\d:\d\d/s);
    assert.equal(await rows(page).count(), 3);
    assert.match(await page.getByTestId('review-total').innerText(), /^3 waiting/);
    await page.getByTestId('review-stale').waitFor();

    await restart();
    assert.equal(monitor.uiUrl, before, 'the same link after a restart');
    // The page finds the monitor again without a reload, and reloads what it shows.
    await connection(page, 'Live').waitFor({ timeout: 30_000 });
    await page.getByTestId('review-stale').waitFor({ state: 'detached' });
    await deliver('wait_4');
    await page.locator('[data-testid="queue-row"][data-external-id="wait_4"]').waitFor();
    assert.match(await page.getByTestId('review-total').innerText(), /^4 waiting/);

    // A reload (or the bookmarked link) opens the UI, not an error.
    await page.reload();
    await rows(page).nth(3).waitFor();
    const bookmark = await browser.newContext();
    const opened = await bookmark.newPage();
    await opened.goto(`${before}#/review`);
    await rows(opened).nth(3).waitFor();
    await bookmark.close();
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('makes a new link: the old one and its pages are refused, the new one outlives a restart', async () => {
    const old = monitor.uiUrl;
    // Someone else opened the old link (a stolen one) and is following along.
    const other = await browser.newContext();
    const thief = await other.newPage();
    await thief.goto(`${old}#/review`);
    await connection(thief, 'Live').waitFor();

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${old}#/settings`);
    await page.getByRole('button', { name: 'Make a new link' }).click();
    const fresh = await page.getByTestId('ui-link-url').innerText();
    assert.notEqual(fresh, old);
    assert.match(fresh, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}$/);

    // The thief's open page is cut off and told why; the old link no longer opens.
    await connection(thief, 'Link no longer valid').waitFor({ timeout: 30_000 });
    await thief.getByTestId('link-replaced').waitFor();
    assert.equal((await fetch(`${old.replace('/?token=', '/api/overview?token=')}`)).status, 401);
    // This page goes on with the new cookie.
    await connection(page, 'Live').waitFor();
    await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Review' }).click();
    await rows(page).nth(3).waitFor();
    await deliver('wait_5');
    await page.locator('[data-testid="queue-row"][data-external-id="wait_5"]').waitFor();

    await restart();
    assert.equal(monitor.uiUrl, fresh, 'the new link is the one kept');
    assert.equal((await fetch(`${old.replace('/?token=', '/api/overview?token=')}`)).status, 401);
    await connection(page, 'Live').waitFor({ timeout: 30_000 });
    await other.close();
    await context.close();
  });
});
