// The demo as someone giving it sees it, in Chromium against the real binary and its built-in
// emulator: Start demo opens the board with a running summary, cards move between columns
// (and do not move at all for a person who asked for reduced motion), and the demo ends in a
// realistic mix that the board and the review queue show as the summary says.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startMonitor } from './monitor.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');

let monitor;
let browser;

/** Counts, in the page, every movement of a card: animations the page starts on cards (or on
 * the copies that fly between columns), and any card or card slot drawn with a transform. */
function probeMotion() {
  const seen = { animations: 0, transforms: 0 };
  window.__motion = seen;
  const moving = (element) =>
    element instanceof Element && (element.closest('.cards') !== null || element.classList.contains('card-flight'));
  const animate = Element.prototype.animate;
  Element.prototype.animate = function (...args) {
    if (moving(this)) seen.animations += 1;
    return animate.apply(this, args);
  };
  const sample = () => {
    for (const element of document.querySelectorAll('.cards .slot, .cards [data-testid="card"], .card-flight')) {
      const transform = getComputedStyle(element).transform;
      if (transform && transform !== 'none') seen.transforms += 1;
    }
    requestAnimationFrame(sample);
  };
  requestAnimationFrame(sample);
}

async function open(options) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  await context.addInitScript(probeMotion);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(monitor.uiUrl);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { page, context, problems };
}

const number = async (page, testId) => Number(await page.getByTestId('demo-summary').getByTestId(testId).innerText());
const columnCount = async (page, key) => Number((await page.locator(`[data-column="${key}"] [data-testid="count"]`).innerText()).replace(/\D/g, ''));
const cardsWith = (page, key, decision) =>
  page.locator(`[data-column="${key}"] [data-testid="card"]${decision === undefined ? '' : `[data-decision="${decision}"]`}`).count();

describe('the demo', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    // Start demo runs what the --demo-* options say: the default story, three times as fast.
    monitor = await startMonitor(['--demo-speed', '3']);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    monitor?.stop();
  });

  it('opens the board, tells its story as it goes, and ends in a mix the board and queue show', async () => {
    const watcher = await open({ colorScheme: 'light' });
    const still = await open({ colorScheme: 'dark', reducedMotion: 'reduce', viewport: { width: 360, height: 740 } });
    const { page } = watcher;

    await page.getByRole('link', { name: 'Register', exact: true }).click();
    await page.getByTestId('start-demo').click();
    // The pointer leaves the board, as a presenter's does: a column under it holds still.
    await page.mouse.move(0, 0);
    // Starting it opens the board, with the summary above the columns.
    await page.getByTestId('demo-summary').waitFor();
    assert.equal(new URL(page.url()).hash, '#/');
    await page.getByTestId('board').waitFor();
    assert.match((await page.getByTestId('demo-summary').innerText()).replace(/\s*Projector mode$/, ''), /^Demo: \d+ of 40 users · \d+ approved · \d+ rejected · \d+ on hold for review · \d+ abandoned$/);
    // The other window, already open on the board, shows the same story once it begins.
    await still.page.getByTestId('demo-summary').waitFor();

    // Mid-way: some users have begun, some have ended.
    await page.waitForFunction(() => {
      const read = (id) => Number(document.querySelector(`[data-testid="${id}"]`)?.textContent ?? 0);
      return read('demo-users') >= 16 && read('demo-approved') + read('demo-rejected') + read('demo-held') >= 4;
    }, null, { timeout: 120_000 });
    await page.screenshot({ path: join(artifacts, 'demo-midway-light.png') });
    await still.page.screenshot({ path: join(artifacts, 'demo-midway-dark-360.png') });

    const summary = page.getByTestId('demo-summary');
    await summary.filter({ hasText: /^Demo finished:/ }).waitFor({ timeout: 180_000 });
    const told = {
      users: await number(page, 'demo-users'),
      approved: await number(page, 'demo-approved'),
      rejected: await number(page, 'demo-rejected'),
      held: await number(page, 'demo-held'),
      abandoned: await number(page, 'demo-abandoned'),
    };
    assert.equal(told.users, 40);
    assert.equal(told.approved + told.rejected + told.held + told.abandoned, 40, JSON.stringify(told));
    for (const [outcome, users] of Object.entries(told)) assert.ok(users > 0, `some users ${outcome}: ${JSON.stringify(told)}`);

    // The board agrees with the story: its counts, and each card's column and decision.
    await page.waitForFunction(
      ({ closed, held, abandoned }) => {
        const count = (key) => Number(document.querySelector(`[data-column="${key}"] [data-testid="count"]`)?.textContent?.replace(/\D/g, '') ?? -1);
        const cards = (key) => document.querySelectorAll(`[data-column="${key}"] [data-testid="card"]`).length;
        return (
          count('CLOSED') === closed && count('ON_HOLD') === held && count('NOT_STARTED') + count('OPEN') === abandoned &&
          cards('CLOSED') === closed && cards('ON_HOLD') === held && cards('NOT_STARTED') + cards('OPEN') === abandoned
        );
      },
      { closed: told.approved + told.rejected, held: told.held, abandoned: told.abandoned },
      { timeout: 20_000 },
    );
    assert.equal(await cardsWith(page, 'CLOSED', 'ACCEPT'), told.approved);
    assert.equal(await cardsWith(page, 'CLOSED', 'REJECT'), told.rejected);
    assert.equal(await cardsWith(page, 'ON_HOLD', 'REVIEW'), told.held);
    assert.equal(await cardsWith(page, 'OPEN', '') + (await cardsWith(page, 'NOT_STARTED', '')), told.abandoned);
    assert.equal(await columnCount(page, 'ON_HOLD'), told.held);
    await page.screenshot({ path: join(artifacts, 'demo-finished-light.png') });

    // Cards moved for the one watching; for the one who asked for reduced motion, none did.
    const moved = await page.evaluate(() => window.__motion);
    assert.ok(moved.animations > 0 && moved.transforms > 0, `cards moved: ${JSON.stringify(moved)}`);
    const stayed = await still.page.evaluate(() => window.__motion);
    assert.deepEqual(stayed, { animations: 0, transforms: 0 }, 'no card moves under reduced motion');
    assert.equal(await still.page.locator('[data-column="ON_HOLD"] [data-testid="card"]').count(), told.held);

    // Those left on hold wait in the review queue.
    await summary.getByRole('link', { name: `${told.held} waiting in the review queue` }).click();
    await page.getByTestId('queue-row').nth(told.held - 1).waitFor();
    assert.equal(await page.getByTestId('queue-row').count(), told.held);
    assert.match(await page.getByTestId('review-total').innerText(), new RegExp(`^${told.held} waiting`));

    assert.deepEqual(watcher.problems, []);
    assert.deepEqual(still.problems, []);
    await watcher.context.close();
    await still.context.close();
  });
});
