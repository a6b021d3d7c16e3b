// Search anywhere, in Chromium against the real binary: part of an externalId whatever its
// case, a participantId or an account, results as you type, Enter opens the chosen user.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seriousViolations } from './axe.mjs';
import { launchChromium, startMonitor } from './monitor.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');

let monitor;
let browser;

async function deliver(externalId, decision, status, approved = false) {
  const body = {
    externalId,
    decision,
    status,
    subStatus: '',
    participantId: approved ? `firms/ISV-Participant-Acme/users/${externalId}` : '',
    account: approved ? `firms/ISV-Acme/accounts/ACC-${externalId.length}F3C2E1D` : '',
  };
  const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.status, 200);
}

const options = (page) => page.getByTestId('search-results').getByRole('option').evaluateAll((nodes) => nodes.map((node) => node.querySelector('.id')?.firstChild?.textContent));

describe('search anywhere', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    monitor = await startMonitor();
    browser = await launchChromium();
    await deliver('user_4999', 'ACCEPT', 'CLOSED', true);
    await deliver('USER_14999', '', 'OPEN');
    await deliver('user_5000', '', 'OPEN');
  });
  after(async () => {
    await browser?.close();
    monitor?.stop();
  });

  for (const scheme of ['light', 'dark']) {
    it(`finds text in the middle of ids, in any case, and in accounts, ${scheme}`, async () => {
      const context = await browser.newContext({ colorScheme: scheme, viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      const problems = [];
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(monitor.uiUrl);
      await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();

      await page.keyboard.press('/');
      await page.keyboard.type('4999');
      await page.getByTestId('search-results').getByRole('option').nth(1).waitFor();
      assert.deepEqual((await options(page)).sort(), ['USER_14999', 'user_4999']);

      await page.getByTestId('search').fill('');
      await page.keyboard.type('acc-9f3');
      await page.getByTestId('search-results').getByRole('option').first().waitFor();
      assert.deepEqual(await options(page), ['user_4999']);
      assert.match(await page.getByTestId('search-results').getByRole('option').first().locator('.matched').innerText(), /ACC-9F3C2E1D$/);
      assert.deepEqual(await seriousViolations(page), []);
      await page.screenshot({ path: join(artifacts, `search-${scheme}.png`) });
      await page.keyboard.press('Enter');
      await page.locator('.user-page h1', { hasText: 'user_4999' }).waitFor();

      await page.keyboard.press('/');
      await page.keyboard.type('nobody');
      await page.getByText('No externalId, participantId or account holds “nobody”').waitFor();
      assert.deepEqual(problems, []);
      await context.close();
    });
  }
});
