// The demo as the board shows it, in Chromium against the real binary and its emulator: the
// story above the columns counts the cards at every moment (not the emulator's planned
// endings), the "changed" tint lights only the latest few changes, users who gave up are marked
// "abandoned" where they stopped, and projector mode keeps the whole top bar in the window.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drawn, launchChromium, startMonitor } from './monitor.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
let browser;

async function open(monitor, viewport = { width: 1280, height: 800 }, address = monitor.uiUrl) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(address);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { page, context, problems };
}

/** In the page, every animation frame until the summary says the demo is finished: the
 * summary's numbers against the board's cards, and how many cards are tinted as changed. */
function watchDemo() {
  const seen = { frames: 0, disagreements: [], mostFresh: 0 };
  window.__demo = seen;
  return new Promise((resolve) => {
    const frame = () => {
      const summary = document.querySelector('[data-testid="demo-summary"]');
      if (summary) {
        const told = (id) => Number(summary.querySelector(`[data-testid="${id}"]`).textContent);
        const cards = (selector) => document.querySelectorAll(`[data-column] [data-testid="card"]${selector}`).length;
        const said = {
          users: told('demo-users'),
          approved: told('demo-approved'),
          rejected: told('demo-rejected'),
          held: told('demo-held'),
          abandoned: told('demo-abandoned'),
        };
        const shown = {
          users: cards(''),
          approved: document.querySelectorAll('[data-column="CLOSED"] [data-testid="card"][data-decision="ACCEPT"]').length,
          rejected: document.querySelectorAll('[data-column="CLOSED"] [data-testid="card"][data-decision="REJECT"]').length,
          held: document.querySelectorAll('[data-column="ON_HOLD"] [data-testid="card"]').length,
          abandoned: document.querySelectorAll('[data-column] [data-testid="card"] [data-testid="abandoned"]').length,
        };
        seen.frames += 1;
        if (JSON.stringify(said) !== JSON.stringify(shown) && seen.disagreements.length < 5) seen.disagreements.push({ said, shown });
        seen.mostFresh = Math.max(seen.mostFresh, cards('.fresh'));
        if (summary.textContent.startsWith('Demo finished:')) return resolve(seen);
      }
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
}

describe('the demo on the board', () => {
  let monitor;
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    monitor = await startMonitor(['--demo-speed', '3']);
    browser ??= await launchChromium();
  });
  after(() => monitor?.stop());

  it('counts what the board shows at every moment, and marks who abandoned', async () => {
    const { page, context, problems } = await open(monitor);
    await page.getByRole('link', { name: 'Register', exact: true }).click();
    await page.getByTestId('start-demo').click();
    // The pointer leaves the board, as a presenter's does: a column under it holds still.
    await page.mouse.move(0, 0);
    await page.getByTestId('demo-summary').waitFor();
    const seen = await page.evaluate(watchDemo);
    assert.ok(seen.frames > 100, `watched ${seen.frames} frames`);
    assert.deepEqual(seen.disagreements, [], 'the summary says what the board shows, in every frame');
    assert.ok(seen.mostFresh <= 5, `at most 5 cards tinted as changed at once, saw ${seen.mostFresh}`);

    // Finished: those who gave up are marked where they stopped, with a title saying what it means.
    const marks = page.locator('[data-column] [data-testid="card"] [data-testid="abandoned"]');
    const abandoned = Number(await page.getByTestId('demo-abandoned').innerText());
    assert.ok(abandoned > 0, 'some users abandoned');
    assert.equal(await marks.count(), abandoned);
    assert.equal(await page.locator('[data-column="ON_HOLD"], [data-column="CLOSED"]').locator('[data-testid="abandoned"]').count(), 0);
    assert.match(await marks.first().getAttribute('title'), /gave up/);
    assert.equal(await (await drawn(marks.first())).innerText(), 'abandoned');
    await page.screenshot({ path: join(artifacts, 'demo-abandoned-marked.png') });
    assert.deepEqual(problems, []);
    await context.close();
  });
});

describe('the changed tint', () => {
  let monitor;
  before(async () => {
    monitor = await startMonitor();
    browser ??= await launchChromium();
  });
  after(async () => {
    await browser?.close();
    monitor?.stop();
  });

  it('lights only the latest few changes', async () => {
    const { page, context, problems } = await open(monitor);
    await page.mouse.move(0, 0);
    const ids = Array.from({ length: 12 }, (_, n) => `tint_${String(n).padStart(2, '0')}`);
    for (const externalId of ids) {
      const body = { externalId, decision: '', status: 'OPEN', subStatus: 'pending', participantId: '', account: '' };
      const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
      assert.equal(response.status, 200);
    }
    // The last change is lit: the ones just before it are not all lit with it.
    await page.locator(`[data-testid="card"][data-external-id="${ids.at(-1)}"].fresh`).waitFor();
    const lit = await page.locator('[data-testid="card"].fresh').evaluateAll((cards) => cards.map((card) => card.dataset.externalId));
    assert.ok(lit.length >= 1 && lit.length <= 5, `tinted: ${lit}`);
    assert.ok(lit.every((id) => ids.slice(-5).includes(id)), `only the latest five are tinted: ${lit}`);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('keeps every top-bar control inside the window in projector mode at 1280 px', async () => {
    const url = new URL(monitor.uiUrl);
    url.searchParams.set('present', '');
    const { page, context, problems } = await open(monitor, { width: 1280, height: 800 }, url.href);
    const controls = page.locator('header.topbar').locator('a:visible, button:visible, input:visible, summary:visible, code:visible, [data-testid="connection"]');
    const outside = await controls.evaluateAll((elements) =>
      elements
        .map((element) => ({ element, box: element.getBoundingClientRect() }))
        .filter(({ box }) => box.width > 0)
        .filter(({ box }) => box.left < -0.5 || box.right > window.innerWidth + 0.5 || box.top < -0.5 || box.bottom > window.innerHeight + 0.5)
        .map(({ element, box }) => `${element.textContent.trim() || element.outerHTML.slice(0, 60)}: ${Math.round(box.left)}–${Math.round(box.right)}`),
    );
    assert.ok((await controls.count()) >= 8, 'the top bar has its controls');
    assert.deepEqual(outside, [], `inside ${1280} px`);
    await page.screenshot({ path: join(artifacts, 'projector-topbar-1280.png') });
    // Nor is the top bar wider than the window.
    const wide = await page.evaluate(() => document.querySelector('header.topbar').scrollWidth);
    assert.ok(wide <= 1280 / 1.5 + 1, `the top bar is ${wide} px wide`);
    assert.deepEqual(problems, []);
    await context.close();
  });
});
