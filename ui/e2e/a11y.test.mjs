// Every view for everyone, in Chromium against the real binary: axe-core finds no serious or
// critical violation in light and dark; at 360 px nothing makes the page scroll sideways; the
// keyboard has a skip link, one level-one heading per view and a search that is a combobox;
// and a browser has no view that only the desktop app can serve. Screenshots of each view at
// 360 px go to e2e/artifacts/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seriousViolations } from './axe.mjs';
import { launchChromium, startMonitor } from './monitor.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const VIEWS = [
  ['board', '#/', 'board'],
  ['review', '#/review', 'review'],
  ['deliveries', '#/deliveries', 'deliveries'],
  ['stats', '#/stats', 'stats'],
  ['register', '#/register', 'history'],
  ['user', '#/user/user_6630', 'timeline'],
  ['settings', '#/settings', 'backup'],
];

let monitor;
let browser;

async function deliver(externalId, decision, status, subStatus = '', approved = false) {
  const body = {
    externalId,
    decision,
    status,
    subStatus,
    participantId: approved ? `firms/ISV-Participant-Acme/users/${externalId}` : '',
    account: approved ? `firms/ISV-Acme/accounts/${externalId}0a1b2c` : '',
  };
  const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.status, 200);
}

async function openPage(colorScheme, width = 1280) {
  const context = await browser.newContext({ colorScheme, viewport: { width, height: 800 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
  await page.goto(monitor.uiUrl);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { page, context, problems };
}

async function show(page, hash, testId) {
  await page.evaluate((to) => (location.hash = to), hash);
  await page.getByTestId(testId).first().waitFor();
  // Let live data and the highlight of fresh cards settle: axe reads colours as painted.
  await page.waitForTimeout(1800);
}

describe('every view, for everyone', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    monitor = await startMonitor();
    browser = await launchChromium();
    await deliver('user_5107', 'REJECT', 'CLOSED');
    await deliver('user_6630', 'ACCEPT', 'CLOSED', '', true);
    await deliver('user_7001', '', 'OPEN', 'pending');
    await deliver('user_7003', 'REVIEW', 'ON_HOLD', 'Document Request Initiated');
    await deliver('user_8000', '', 'NOT_STARTED');
    await deliver('user_9000', 'ESCALATE', 'FROZEN');
    const refused = await fetch(monitor.webhookUrl, { method: 'POST', body: '[1, 2, 3]' });
    assert.equal(refused.status, 400);
  });
  after(async () => {
    await browser?.close();
    monitor?.stop();
  });

  for (const scheme of ['light', 'dark']) {
    it(`has no serious or critical axe violation in any view, ${scheme}`, async () => {
      const { page, context, problems } = await openPage(scheme);
      const found = [];
      for (const [name, hash, testId] of VIEWS) {
        await show(page, hash, testId);
        for (const violation of await seriousViolations(page)) found.push(`${name}: ${violation}`);
        assert.equal(await page.locator('h1').count(), 1, `one level-one heading on ${name}`);
      }
      assert.deepEqual(found, []);
      assert.deepEqual(problems, []);
      await context.close();
    });
  }

  it('fits 360 px without scrolling sideways, light and dark', async () => {
    for (const scheme of ['light', 'dark']) {
      const { page, context, problems } = await openPage(scheme, 360);
      for (const [name, hash, testId] of VIEWS) {
        await show(page, hash, testId);
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.equal(width, 360, `${name} is as wide as the window`);
        await page.screenshot({ path: join(artifacts, `${name}-${scheme}-360.png`) });
      }
      // Every view's link, search and the state of the feed stay within reach, none scrolled away.
      const nav = await page.getByRole('navigation', { name: 'Views' }).evaluate((element) => ({
        overflow: element.scrollWidth - element.clientWidth,
        outside: [...element.querySelectorAll('a')]
          .filter((link) => link.getBoundingClientRect().right > window.innerWidth)
          .map((link) => link.textContent),
      }));
      assert.deepEqual(nav, { overflow: 0, outside: [] }, 'the view links all show at 360 px');
      assert.ok(await page.getByTestId('search').isVisible());
      assert.ok(await page.getByTestId('connection').isVisible());
      assert.deepEqual(problems, []);
      await context.close();
    }
  });

  it('skips to the content, and searches as a combobox, from the keyboard', async () => {
    const { page, context, problems } = await openPage('light');
    await page.keyboard.press('Tab');
    const skip = page.getByRole('link', { name: 'Skip to content' });
    assert.equal(await skip.evaluate((node) => node === document.activeElement), true);
    assert.ok((await skip.boundingBox()).y >= 0, 'the skip link shows when focused');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
    assert.equal(await page.evaluate(() => location.hash), '', 'the route stays where it was');

    const search = page.getByRole('combobox', { name: /find a user/i });
    await page.keyboard.press('/');
    assert.equal(await search.evaluate((node) => node === document.activeElement), true);
    assert.equal(await search.getAttribute('aria-expanded'), 'false');
    // One input event (as a paste or an input method gives): typed key by key, an answer for
    // "use" could come after the one for "user_" and redraw the list under the arrow key.
    await page.keyboard.insertText('user_');
    await page.getByTestId('search-results').getByRole('option').first().waitFor();
    assert.equal(await search.getAttribute('aria-expanded'), 'true');
    const listbox = page.getByRole('listbox');
    assert.equal(await search.getAttribute('aria-controls'), await listbox.getAttribute('id'));
    await page.keyboard.press('ArrowDown');
    const active = await search.getAttribute('aria-activedescendant');
    const option = page.locator(`#${active}`);
    assert.equal(await option.getAttribute('aria-selected'), 'true');
    const chosen = await option.locator('.id').innerText();
    assert.deepEqual(await seriousViolations(page), []);
    await page.keyboard.press('Enter');
    await page.getByTestId('user-page').waitFor();
    assert.equal(await page.locator('h1').innerText(), chosen);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('has no view in a browser that only the desktop app can serve', async () => {
    const { page, context, problems } = await openPage('light');
    await page.getByRole('link', { name: 'Settings' }).click();
    // What a browser can do there (a backup), and no desktop-only part or error.
    await page.getByTestId('backup').waitFor();
    assert.equal(await page.getByTestId('settings-form').count(), 0);
    assert.equal(await page.getByTestId('keychain').count(), 0);
    assert.deepEqual(await seriousViolations(page), []);
    assert.deepEqual(problems, []);
    await context.close();
  });
});
