// The case panel on a user's page as compliance staff use it, and the places a case shows in,
// with the inputs a reviewer tried: the page's clocks tick (the SLA clock passes its due time and
// "over SLA" shows without a reload); a pasted note or name over the monitor's limit is refused
// whole, saying how much to cut, never silently cut; a 200-character assignee and a marker never
// widen the queue, a board card or the panel, at 1280 and 360 px; at 360 px a queue row shows its
// wait, case and SLA mark in the window; the search box keeps a 5,000-character query inside its
// list and treats a query of only spaces as none. Screenshots go to e2e/artifacts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drawn, launchChromium, onFreePort, startMonitor } from './monitor.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
const ANN = 'ann@example.com';
/** The review SLA: short, so that a case passes it while its page is open. */
const SLA_S = 4;
const LONG_NAME = 'Maximilianus'.repeat(17).slice(0, 200);

let monitor;
let browser;

async function hold(externalId, subStatus = 'Manual Review') {
  const body = { externalId, decision: 'REVIEW', status: 'ON_HOLD', subStatus, participantId: '', account: '' };
  const answer = await fetch(monitor.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(answer.status, 200);
}

/** Ann's window (compliance), as the proxy presents her. */
async function ann({ colorScheme = 'light', width = 1280, hash = '#/review' } = {}) {
  const context = await browser.newContext({
    colorScheme,
    viewport: { width, height: 800 },
    extraHTTPHeaders: { 'X-Forwarded-Email': ANN, 'X-Forwarded-Groups': 'g-comp' },
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(`${monitor.uiUrl}/${hash}`);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { page, context, problems };
}

/** How far the page scrolls sideways (0: not at all). */
const sideways = (page) => page.evaluate(() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth);

/** Whether `locator` lies whole inside the window, sideways. */
async function inWindow(page, locator) {
  const box = await locator.boundingBox();
  const width = page.viewportSize().width;
  return box !== null && box.x >= 0 && box.x + box.width <= width + 0.5;
}

describe('the case panel, the queue and the board as compliance staff use them', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    monitor = await onFreePort(async (port) => {
      const ui = `http://127.0.0.1:${port}`;
      const started = await startMonitor(
        ['--auth', 'proxy', '--trusted-proxy', '127.0.0.1/32', '--public-ui-url', ui, '--role', 'compliance=g-comp', '--review-sla', `${SLA_S}s`],
        { uiListen: `127.0.0.1:${port}` },
      );
      return { ...started, uiUrl: ui };
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await monitor?.stop();
  });

  it('ticks the page clocks and shows over SLA when the due time passes, without a reload', async () => {
    await hold('tick_1');
    const { page, context, problems } = await ann({ hash: '#/user/tick_1' });
    const panel = page.getByTestId('case-panel');
    const clock = panel.getByTestId('case-clock');
    await clock.waitFor();
    const before = await clock.innerText();
    assert.match(before, /^waiting \d+ s, due /);
    assert.equal(await panel.getByTestId('over-sla').count(), 0);
    const inStatus = await page.getByTestId('in-status').innerText();
    await page.evaluate(() => (window.kept = 'this page'));
    // Time in status ticks by the second.
    await page.waitForFunction((was) => document.querySelector('[data-testid="in-status"]').textContent !== was, inStatus, { timeout: 3000 });
    // The SLA passes: the panel says so, and no longer names a due time.
    await panel.getByTestId('over-sla').waitFor({ timeout: (SLA_S + 3) * 1000 });
    assert.match(await clock.innerText(), /^waiting \d+ s$/);
    assert.notEqual(await clock.innerText(), before);
    assert.equal(await page.evaluate(() => window.kept), 'this page', 'the page was not reloaded');
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('refuses a note or a name over the limit whole, saying how much to cut, and saves nothing', async () => {
    await hold('note_1');
    const { page, context, problems } = await ann({ hash: '#/user/note_1' });
    const box = page.getByTestId('case-note-text');
    await box.waitFor();
    // The refusals' live regions are in the page, empty, before anything is refused (not
    // display: none), so that a screen reader announces a refusal as it comes.
    for (const region of ['case-note-refusal', 'case-assign-refusal']) {
      const shown = await page.getByTestId(region).evaluate((el) => ({ display: getComputedStyle(el).display, role: el.getAttribute('role') }));
      assert.deepEqual(shown, { display: 'block', role: 'status' }, region);
    }
    // Pasted: 10,027 characters, ending mid-word were it cut at 10,000.
    const pasted = `${'evidence '.repeat(1_114)}checked!!!`.slice(0, 10_027);
    assert.equal(pasted.length, 10_027);
    await box.fill(pasted);
    assert.equal((await box.inputValue()).length, 10_027, 'the box keeps all that was pasted');
    await page.getByTestId('case-note-refusal').filter({ hasText: 'Too long to save: the note is 10,027 characters, the most is 10,000. Cut 27 characters.' }).waitFor();
    assert.equal(await page.getByTestId('case-note-counter').innerText(), '10,027 / 10,000');
    assert.equal(await page.getByTestId('case-note-add').isDisabled(), true);
    await page.screenshot({ path: join(artifacts, 'case-note-too-long.png'), fullPage: false });
    // Nothing was saved: after a reload the case has no notes.
    await page.reload();
    await page.getByTestId('case-notes').filter({ hasText: 'No notes yet.' }).waitFor();
    assert.equal(await page.getByTestId('case-note').count(), 0);
    // Cut to the limit, it is saved whole.
    await page.getByTestId('case-note-text').fill(pasted.slice(0, 10_000));
    assert.equal(await page.getByTestId('case-note-refusal').innerText(), '');
    assert.equal(await page.getByTestId('case-note-counter').innerText(), '10,000 / 10,000');
    await page.getByTestId('case-note-add').click();
    await page.getByTestId('case-note').first().waitFor();
    assert.equal((await page.getByTestId('case-note').first().locator('.note-text').innerText()).length, pasted.slice(0, 10_000).trim().length);

    // A name of 201 characters: refused, Assign disabled.
    await page.getByTestId('case-assign-to').fill(`${LONG_NAME}x`);
    await page.getByTestId('case-assign-refusal').filter({ hasText: 'the name is 201 characters, the most is 200. Cut 1 character.' }).waitFor();
    assert.equal(await page.getByTestId('case-assign').isDisabled(), true);
    assert.equal((await page.getByTestId('case-assign-to').inputValue()).length, 201);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('keeps a 200-character assignee and a marker inside the queue, the card and the panel, at 1280 and 360 px', async () => {
    await hold('long_1', 'Document Request Initiated');
    const { page, context, problems } = await ann({ hash: '#/user/long_1' });
    await page.getByTestId('case-assign-to').fill(LONG_NAME);
    await page.getByTestId('case-assign').click();
    // Nobody by that name has worked cases here: asked first.
    await page.getByTestId('case-ask-yes').click();
    const shown = page.getByTestId('case-panel-assignee');
    await shown.filter({ hasText: LONG_NAME }).waitFor();
    await page.getByTestId('case-marker-select').selectOption('escalated');
    await page.getByTestId('case-panel').getByTestId('case-marker').filter({ hasText: 'escalated' }).waitFor();
    await page.getByTestId('case-panel').getByTestId('over-sla').waitFor({ timeout: (SLA_S + 3) * 1000 });
    await context.close();

    for (const width of [1280, 360]) {
      for (const colorScheme of ['light', 'dark']) {
        if (width === 1280 && colorScheme === 'dark') continue;
        const name = `${width}-${colorScheme}`;
        const window = await ann({ width, colorScheme, hash: '#/user/long_1' });
        const { page } = window;
        // The panel: the name ends in an ellipsis, whole in its title.
        const assignee = page.getByTestId('case-panel-assignee');
        await assignee.waitFor();
        assert.equal(await assignee.getAttribute('title'), LONG_NAME);
        assert.equal(await inWindow(page, assignee), true, `panel assignee in the window at ${name}`);
        assert.equal(await sideways(page), 0, `the user page scrolls sideways at ${name}`);
        await page.screenshot({ path: join(artifacts, `case-panel-long-assignee-${name}.png`) });

        // The queue.
        await page.goto(`${monitor.uiUrl}/#/review`);
        const row = page.locator('tr[data-external-id="long_1"]');
        await row.getByTestId('case-assignee').waitFor();
        assert.equal(await row.getByTestId('case-assignee').getAttribute('title'), `assigned to ${LONG_NAME}`);
        assert.equal(await sideways(page), 0, `the queue scrolls sideways at ${name}`);
        for (const part of [row.getByTestId('waiting'), row.getByTestId('case-assignee'), row.getByTestId('case-marker'), row.getByTestId('over-sla')]) {
          assert.equal(await inWindow(page, part), true, `${await part.getAttribute('data-testid')} of the queue row in the window at ${name}`);
        }
        // Not clipped by the table's own sideways scroll either.
        assert.equal(await page.locator('.table-scroll').evaluate((el) => el.scrollWidth - el.clientWidth), 0, `the queue table scrolls sideways at ${name}`);
        await page.screenshot({ path: join(artifacts, `queue-long-assignee-${name}.png`), fullPage: true });

        // The board card: every tag whole, inside the card.
        await page.goto(`${monitor.uiUrl}/#/`);
        const card = page.locator('[data-testid="card"][data-external-id="long_1"]');
        await card.waitFor();
        // Drawn, not only scrolled to: an undrawn card's tags measure 0 wide and read as ''.
        await drawn(card.getByTestId('over-sla'));
        assert.equal(await sideways(page), 0, `the board scrolls sideways at ${name}`);
        const cardBox = await card.boundingBox();
        for (const part of [card.getByTestId('case-assignee'), card.getByTestId('case-marker'), card.getByTestId('over-sla')]) {
          const box = await part.boundingBox();
          assert.ok(box.x >= cardBox.x && box.x + box.width <= cardBox.x + cardBox.width + 0.5, `${await part.getAttribute('data-testid')} inside the card at ${name}`);
        }
        const overSla = await drawn(card.getByTestId('over-sla'));
        assert.equal(await overSla.evaluate((el) => el.scrollWidth <= el.clientWidth), true, `"over SLA" whole at ${name}`);
        assert.equal(await overSla.innerText(), 'over SLA');
        await card.screenshot({ path: join(artifacts, `card-long-assignee-${name}.png`) });
        assert.deepEqual(window.problems, []);
        await window.context.close();
      }
    }
  });

  it('keeps a long query inside the search list, and a query of only spaces is none', async () => {
    for (const width of [1280, 360]) {
      const { page, context, problems } = await ann({ width, hash: '#/' });
      const search = page.getByTestId('search');
      await search.fill('q'.repeat(5_000));
      const none = page.getByTestId('search-none');
      await none.waitFor();
      const list = await page.getByTestId('search-results').boundingBox();
      const box = await none.boundingBox();
      assert.ok(box.x + box.width <= list.x + list.width + 0.5 && box.x + box.width <= width, `the line stays inside the list at ${width}`);
      assert.ok(list.height < 200, `the list stays short (${list.height} px) at ${width}`);
      assert.equal(await none.evaluate((el) => el.scrollWidth <= el.clientWidth), true);
      assert.match(await none.innerText(), /holds “q{60}…”$/);
      assert.equal(await sideways(page), 0);
      await page.screenshot({ path: join(artifacts, `search-long-${width}.png`) });
      // Only spaces: nothing is looked up, nothing says "holds “ ”".
      await search.fill('     ');
      await page.getByTestId('search-results').waitFor({ state: 'hidden' });
      assert.equal(await none.isVisible(), false);
      // A known id with spaces around it finds it.
      await search.fill('  long_1  ');
      await page.getByRole('option').filter({ hasText: 'long_1' }).waitFor();
      assert.deepEqual(problems, []);
      await context.close();
    }
  });
});
