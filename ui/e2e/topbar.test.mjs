// The top bar at its fullest, in Chromium against the real binary: every view's link, the red
// count of cases past the review SLA on the Review link, and (in a team) a long signed-in email.
// At 1280, 1024 and 360 px, light and dark, no two of its items touch or overlap, none is cut
// off, the connection state is always on screen (the README promises it), and no view scrolls
// sideways. Screenshots of the bar go to e2e/artifacts/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, onFreePort, startMonitor } from './monitor.mjs';
import { crowding } from './topbar.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const LONG_EMAIL = 'admin.person.with.a.really.long.name@subsidiary.example-firm.co.uk';
const VIEWS = ['#/', '#/review', '#/deliveries', '#/stats', '#/register', '#/settings', '#/audit'];

let browser;

/** Two cases on hold, past the 1 s review SLA once a second has gone by. */
async function holdTwo(monitor) {
  for (const externalId of ['late_1', 'late_2']) {
    const body = { externalId, decision: 'REVIEW', status: 'ON_HOLD', subStatus: 'Manual check', participantId: '', account: '' };
    const answer = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
    assert.equal(answer.status, 200);
  }
}

/** Waits until the Review link counts the cases past the SLA (the page asks the monitor again on
 * a reload). */
async function overSlaShown(page) {
  const counted = page.getByTestId('attention-over-sla');
  const both = async () => (await counted.isVisible()) && (await counted.textContent()).trim() === '2 over SLA';
  for (let tries = 0; tries < 50 && !(await both()); tries++) {
    await page.waitForTimeout(200);
    await page.reload();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  }
  assert.equal((await counted.textContent()).trim(), '2 over SLA');
}

/** What is wrong with the top bar as laid out now: crowding, the connection state off screen or
 * cut, the page wider than the window. */
async function problemsOf(page) {
  const found = await crowding(page);
  const connection = await page.getByTestId('connection').evaluate((badge) => {
    const box = badge.getBoundingClientRect();
    const seen = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    return { left: box.left, right: box.right, width: box.width, text: badge.textContent.trim(), onTop: badge.contains(seen) };
  });
  const width = page.viewportSize().width;
  if (connection.width === 0 || connection.left < 0 || connection.right > width) found.push(`the connection state is off screen (${connection.left}-${connection.right} of ${width})`);
  if (!connection.onTop) found.push('the connection state is covered');
  if (connection.text !== 'Live') found.push(`the connection state says ${connection.text}`);
  const scrolls = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (scrolls > 0) found.push(`the page scrolls sideways by ${scrolls} px`);
  return found;
}

async function everyWidth(page, name) {
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const width of [1280, 1024, 360]) {
      await page.setViewportSize({ width, height: 800 });
      await page.screenshot({ path: join(artifacts, `topbar-${name}-${width}-${scheme}.png`), clip: { x: 0, y: 0, width, height: width < 700 ? 220 : 110 } });
      assert.deepEqual(await problemsOf(page), [], `${name}, ${width} px, ${scheme}`);
    }
  }
}

describe('the top bar at its fullest', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  it('keeps the connection state in view beside the over-SLA count (single person)', async () => {
    const monitor = await startMonitor(['--review-sla', '1s']);
    try {
      await holdTwo(monitor);
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(monitor.uiUrl);
      await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
      await overSlaShown(page);
      await everyWidth(page, 'single-over-sla');
      assert.deepEqual(errors, []);
      await context.close();
    } finally {
      await monitor.stop();
    }
  });

  it('fits a long signed-in email and the over-SLA count on every view (team)', async () => {
    let uiUrl;
    const monitor = await onFreePort((port) => {
      uiUrl = `http://127.0.0.1:${port}`;
      return startMonitor(
        ['--auth', 'proxy', '--trusted-proxy', '127.0.0.1/32', '--public-ui-url', uiUrl, '--role', 'admin=g-admin', '--review-sla', '1s'],
        { uiListen: `127.0.0.1:${port}` },
      );
    });
    try {
      await holdTwo(monitor);
      const context = await browser.newContext({
        viewport: { width: 1280, height: 800 },
        extraHTTPHeaders: { 'X-Forwarded-Email': LONG_EMAIL, 'X-Forwarded-Groups': 'g-admin' },
      });
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(uiUrl);
      await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
      await overSlaShown(page);
      // The whole email is a hover away, cut short or not.
      assert.equal(await page.getByTestId('signed-in').locator('.name').getAttribute('title'), LONG_EMAIL);
      await everyWidth(page, 'team-long-email');
      for (const view of VIEWS) {
        await page.evaluate((hash) => (location.hash = hash), view);
        await page.locator(`header.topbar nav a.active[href="${view}"]`).waitFor();
        await page.locator('main h1').first().waitFor();
        for (const width of [1280, 360]) {
          await page.setViewportSize({ width, height: 800 });
          // A view still loading may be wider for a moment; what counts is where it settles.
          await page.waitForFunction(() => document.documentElement.scrollWidth <= window.innerWidth, null, { timeout: 2000 }).catch(() => {});
          assert.deepEqual(await problemsOf(page), [], `${view} at ${width} px`);
        }
      }
      assert.deepEqual(errors, []);
      await context.close();
    } finally {
      await monitor.stop();
    }
  });
});
