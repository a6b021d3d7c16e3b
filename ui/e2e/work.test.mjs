// Long work started from the UI, in Chromium against the real binary: a backup from the
// Settings view (the one part of Settings a browser has), its progress and outcome shown to
// every open page through the live feed, and its refusals.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startMonitor } from './monitor.mjs';

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

describe('long work in Chromium', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  it('backs up from Settings, shows the outcome on every open page, and refuses an existing file', async () => {
    const monitor = await startMonitor();
    const folder = mkdtempSync(join(tmpdir(), 'kyc-e2e-backup-'));
    try {
      for (let n = 0; n < 25; n++) {
        const body = JSON.stringify({ externalId: `bk_${n}`, decision: '', status: 'OPEN', subStatus: '', participantId: '', account: '' });
        assert.equal((await fetch(monitor.webhookUrl, { method: 'POST', body })).status, 200);
      }
      const { page, context, problems } = await open(monitor.uiUrl);
      // A second page, on the board: it learns of the backup from the feed alone.
      const watcher = await open(monitor.uiUrl);
      await page.getByRole('link', { name: 'Settings' }).click();
      const form = page.getByTestId('backup');
      const dest = join(folder, 'copy.db');
      await form.locator('input[name="backupPath"]').fill(dest);
      await form.getByRole('button', { name: 'Back up' }).click();
      await page.getByTestId('backup-answer').getByText('Backed up.').waitFor();
      assert.match(await page.getByTestId('backup-answer').innerText(), /25 deliveries, 25 users/);
      assert.ok(existsSync(dest));
      for (const seen of [page, watcher.page]) {
        const work = seen.locator('[data-testid="work"][data-kind="backup"][data-state="done"]');
        await work.waitFor();
        assert.match(await work.innerText(), /Backup finished:\s+\S*copy\.db written: 25 deliveries, 25 users/);
      }
      await page.screenshot({ path: join(artifacts, 'backup-light.png'), fullPage: true });

      // The same file again: refused, said in the form and in the strip, the copy untouched.
      await form.getByRole('button', { name: 'Back up' }).click();
      await form.getByText(/already exists; a backup never replaces a file/).waitFor();
      const failed = watcher.page.locator('[data-testid="work"][data-kind="backup"][data-state="failed"]');
      await failed.waitFor();
      await failed.getByRole('button', { name: 'Dismiss' }).click();
      await failed.waitFor({ state: 'detached' });
      assert.deepEqual(problems, []);
      assert.deepEqual(watcher.problems, []);
      await watcher.context.close();
      await context.close();
    } finally {
      monitor.stop();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
