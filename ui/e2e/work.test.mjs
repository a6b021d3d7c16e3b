// Long work started from the UI, in Chromium against the real binary: a backup from the
// Settings view (the one part of Settings a browser has), its progress and outcome shown to
// every open page through the live feed, and its refusals; and the periodic poll of the
// provider's newer API (the beta demo): its progress, when it finished and when the next is.
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

  it('shows the periodic poll running, then when it finished, what it asked and when the next one is', async () => {
    const monitor = await startMonitor([
      '--demo', '--demo-api', 'beta', '--demo-users', '6', '--demo-speed', '100',
      '--poll-every', '5s', '--poll-rate', '2',
    ]);
    try {
      const { page, context, problems } = await open(monitor.uiUrl);
      // Six users at two a second: the poll runs long enough to be seen running.
      const running = page.locator('[data-testid="work"][data-kind="poll"][data-state="running"]');
      await running.waitFor();
      assert.match(await running.innerText(), /Polling the provider/);
      await running.getByTestId('work-progress').filter({ hasText: /^\d+ of \d+ users$/ }).waitFor();
      await page.screenshot({ path: join(artifacts, 'poll-running-light.png') });
      const done = page.locator('[data-testid="work"][data-kind="poll"][data-state="done"]');
      await done.waitFor();
      const finishedAt = await done.getByTestId('work-finished-at').getAttribute('title');
      const next = await done.getByTestId('work-next').locator('time').getAttribute('title');
      // The next poll is --poll-every after this one finished.
      assert.equal(Date.parse(next.replace(' ', 'T')) - Date.parse(finishedAt.replace(' ', 'T')), 5_000);
      assert.match(await done.innerText(), /^Poll finished at \d\d:\d\d:\d\d:\s+\d+ users? asked, \d+ learned\s+Next poll at \d\d:\d\d:\d\d/);
      await page.screenshot({ path: join(artifacts, 'poll-done-light.png') });
      for (const [name, options] of [['dark', { colorScheme: 'dark' }], ['360', { viewport: { width: 360, height: 800 } }]]) {
        const other = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
        const seen = await other.newPage();
        await seen.goto(monitor.uiUrl);
        await seen.locator('[data-testid="work"][data-kind="poll"][data-state="done"]').waitFor();
        await seen.screenshot({ path: join(artifacts, `poll-done-${name}.png`) });
        await other.close();
      }
      // Dismissed, the poll's strip stays away through the next poll (it would move the page
      // under the pointer each time it came back).
      const dismissedAt = Date.now();
      await done.getByRole('button', { name: 'Dismiss' }).click();
      await done.waitFor({ state: 'detached' });
      const pollOf = async () => (await (await fetch(`${monitor.uiUrl.split('/?')[0]}/api/work`, { headers: { authorization: `Bearer ${new URL(monitor.uiUrl).searchParams.get('token')}` } })).json()).find((work) => work.kind === 'poll');
      let later;
      while (!(later = await pollOf()) || !(later.startedAt > dismissedAt && later.state === 'done')) await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(await page.locator('[data-testid="work"][data-kind="poll"]').count(), 0, 'the dismissed poll strip came back');
      assert.deepEqual(problems, []);
      await context.close();
    } finally {
      monitor.stop();
    }
  });
});
