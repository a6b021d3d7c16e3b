// Signing-secret rotation in a real browser: two registrations with a new secret from the
// Register view against the real emulator; the signing-secrets list shows the current secret and
// the previous one with the end of its grace, then, without a reload, that it was rotated out.
// Never a secret on the page.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startEmulator, startMonitor } from './monitor.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
let browser;

describe('signing-secret rotation in Chromium', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  it('lists the current and previous secrets, then the old one as rotated out', async () => {
    const monitor = await startMonitor(['--rotation-grace', '6s']);
    const emulator = await startEmulator();
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
      const page = await context.newPage();
      const problems = [];
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(monitor.uiUrl + '#/register');
      await page.getByTestId('register-view').waitFor();
      await page.waitForFunction(() => document.querySelector('input[name="webhookUrl"]')?.value !== '');
      const secrets = page.getByTestId('signing-secrets');
      assert.match(await secrets.innerText(), /None: this monitor accepts unsigned deliveries/);

      const form = page.getByTestId('register-form');
      await form.locator('select[name="environment"]').selectOption('custom');
      await form.locator('input[name="apiBase"]').fill(emulator.apiBase);
      await form.locator('input[name="tokenUrl"]').fill(emulator.tokenUrl);
      await form.locator('input[name="clientId"]').fill(emulator.clientId);
      await form.locator('input[name="privateKeyPath"]').fill(emulator.keyFile);
      const answer = page.getByTestId('register-answer');
      const history = page.getByTestId('history').locator('tbody tr');
      for (const round of [1, 2]) {
        await form.locator('input[type="radio"][value="new"]').check();
        await form.getByRole('button', { name: 'Register' }).click();
        await history.nth(round - 1).waitFor();
        await answer.getByText('Validated', { exact: true }).waitFor();
      }
      await secrets.getByText(/^Previous, valid until/).waitFor();
      // With a secret stored, the choice says how long the replaced one stays valid: this
      // monitor's --rotation-grace, not a default.
      assert.match(await form.locator('label.choice').filter({ hasText: 'Make a new secret' }).innerText(), /--rotation-grace: 6 s\)/);
      const items = secrets.locator('li');
      assert.equal(await items.count(), 2);
      assert.match(await items.nth(0).innerText(), /^Current \(shared secret\)\s+[0-9a-f]{8}$/);
      assert.match(await items.nth(1).innerText(), /^Previous, valid until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\s+[0-9a-f]{8}$/);

      const stored = readFileSync(`${monitor.db}.signing-secret`, 'utf8');
      const bare = stored.split(/\s+/).filter((word) => word.startsWith('whsec_')).map((s) => s.slice(6));
      assert.equal(bare.length, 2, 'the file holds the current and the previous secret');
      for (const secret of bare) assert.ok(!(await page.content()).includes(secret), 'a secret is on the page');

      await page.screenshot({ path: join(artifacts, 'rotation-light.png'), fullPage: true });
      const dark = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'dark' });
      const darkPage = await dark.newPage();
      await darkPage.goto(monitor.uiUrl + '#/register');
      await darkPage.getByTestId('signing-secrets').getByText(/^Previous, valid until/).waitFor();
      await darkPage.screenshot({ path: join(artifacts, 'rotation-dark.png'), fullPage: true });
      await dark.close();
      const narrow = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'light' });
      const narrowPage = await narrow.newPage();
      await narrowPage.goto(monitor.uiUrl + '#/register');
      await narrowPage.getByTestId('signing-secrets').getByText(/^Previous, valid until/).waitFor();
      await narrowPage.getByTestId('signing-secrets').screenshot({ path: join(artifacts, 'rotation-narrow.png') });
      // However the state wraps, each fingerprint sits beside its own state's first line, in its
      // own row: never under it, where it would read as the next secret's.
      for (const row of await narrowPage.getByTestId('signing-secrets').locator('li').all()) {
        const [state, print] = [await row.locator('span').first().boundingBox(), await row.locator('code').boundingBox()];
        assert.ok(print.x > state.x + state.width - 1 && Math.abs(print.y - state.y) < 6, `${await row.innerText()}: ${JSON.stringify({ state, print })}`);
      }
      await narrow.close();

      // The grace ends: the open page says so by itself.
      await secrets.getByText(/^Rotated out at .*refused, saying so/).waitFor({ timeout: 20_000 });
      await page.screenshot({ path: join(artifacts, 'rotation-retired-light.png'), fullPage: true });
      assert.deepEqual(problems, []);
      await context.close();
    } finally {
      emulator.stop();
      await monitor.stop();
    }
  });
});
