// The provider side in a real browser: the Register view against the real emulator
// (`kyc-monitor emulate`), reconcile, and "Start demo" filling an empty board live.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startEmulator, startMonitor } from './monitor.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
let browser;

async function open(uiUrl, hash = '') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(uiUrl + hash);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { page, context, problems };
}

/** Waits until the Register view has filled its webhook URL field. */
function prefilled(page) {
  return page.waitForFunction(() => document.querySelector('input[name="webhookUrl"]')?.value !== '');
}

describe('the provider side in Chromium', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  it('registers with the emulator from the Register view, shows the answer and the history', async () => {
    const monitor = await startMonitor();
    const emulator = await startEmulator(['--users', '3', '--speed', '100']);
    try {
      const { page, context, problems } = await open(monitor.uiUrl);
      await page.getByRole('link', { name: 'Register', exact: true }).click();
      await page.getByTestId('register-view').waitFor();
      const form = page.getByTestId('register-form');
      // Prefilled with this monitor's webhook URL (once the view has loaded), with the warning
      // that it is local.
      await prefilled(page);
      assert.equal(await form.locator('input[name="webhookUrl"]').inputValue(), monitor.webhookUrl);
      assert.match(await page.getByTestId('url-warning').innerText(), /cannot reach it/);

      await form.locator('select[name="environment"]').selectOption('custom');
      await form.locator('input[name="apiBase"]').fill(emulator.apiBase);
      await form.locator('input[name="tokenUrl"]').fill(emulator.tokenUrl);
      await form.locator('input[name="clientId"]').fill('not-the-client');
      await form.locator('input[name="privateKeyPath"]').fill(emulator.keyFile);
      await form.getByRole('button', { name: 'Register' }).click();
      const answer = page.getByTestId('register-answer');
      await answer.getByText('Not registered').waitFor();
      assert.match(await answer.innerText(), /refused the client credentials \(401/);

      await form.locator('input[name="clientId"]').fill(emulator.clientId);
      await form.getByRole('button', { name: 'Register' }).click();
      await answer.getByText('Validated', { exact: true }).waitFor();
      assert.match(await answer.innerText(), /Webhook URL validated successfully/);

      const history = page.getByTestId('history').locator('tbody tr');
      await history.nth(1).waitFor();
      assert.match(await history.nth(0).innerText(), /Validated/);
      assert.match(await history.nth(1).innerText(), /Not registered/);
      await page.screenshot({ path: join(artifacts, 'register-light.png'), fullPage: true });

      // The flows arrive on the board, live.
      await page.getByRole('link', { name: 'Board' }).click();
      await page.locator('[data-column="CLOSED"] [data-testid="count"]').filter({ hasText: /^3$/ }).waitFor({ timeout: 30_000 });

      await page.getByRole('link', { name: 'Register', exact: true }).click();
      await page.getByTestId('reconcile').click();
      await page.getByTestId('reconcile-report').getByText('Asked about 0 users').waitFor();
      // Its progress and outcome come through the live feed too, to every view.
      assert.match(
        await page.locator('[data-testid="work"][data-kind="reconcile"][data-state="done"]').innerText(),
        /Reconcile finished:\s+0 users asked, 0 learned, 0 unknown to the provider/,
      );
      assert.deepEqual(problems, []);
      await context.close();
    } finally {
      emulator.stop();
      monitor.stop();
    }
  });

  it('starts the demo from the empty board, which then fills live', async () => {
    const monitor = await startMonitor();
    try {
      const { page, context, problems } = await open(monitor.uiUrl);
      await page.getByTestId('empty-state').waitFor();
      await page.getByTestId('start-demo').click();
      // The first simulated users arrive within seconds; cards appear without a reload.
      await page.getByTestId('card').first().waitFor({ timeout: 30_000 });
      await page.getByRole('link', { name: 'Register', exact: true }).click();
      await page.getByTestId('demo').getByText(/Demo running|The last demo/).waitFor();
      const history = page.getByTestId('history').locator('tbody tr');
      assert.match(await history.nth(0).innerText(), /Validated/);
      await page.screenshot({ path: join(artifacts, 'demo-register-light.png'), fullPage: true });
      await page.getByRole('link', { name: 'Board' }).click();
      await page.waitForTimeout(3000);
      await page.screenshot({ path: join(artifacts, 'demo-board-light.png') });
      assert.deepEqual(problems, []);
      await context.close();
    } finally {
      monitor.stop();
    }
  });

  it('shows the tunnel\'s public URL and registers that one', async () => {
    const monitor = await startMonitor(['--tunnel', 'url:https://kyc-monitor.example.com']);
    try {
      const { page, context, problems } = await open(monitor.uiUrl);
      const path = new URL(monitor.webhookUrl).pathname;
      const expected = `https://kyc-monitor.example.com${path}`;
      assert.equal(await page.getByTestId('public-url').innerText(), expected);
      assert.equal(await page.getByTestId('tunnel').innerText(), 'own URL up');
      await page.screenshot({ path: join(artifacts, 'tunnel-public-url.png') });
      await page.getByRole('link', { name: 'Register', exact: true }).click();
      const form = page.getByTestId('register-form');
      await prefilled(page);
      assert.equal(await form.locator('input[name="webhookUrl"]').inputValue(), expected);
      assert.equal(await page.getByTestId('url-warning').count(), 0, 'a public https URL needs no warning');
      assert.deepEqual(problems, []);
      await context.close();
    } finally {
      monitor.stop();
    }
  });
});
