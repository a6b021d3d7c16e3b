// The review queue in Chromium against the real binary: users waiting on a person, the
// longest wait first, narrowed by the filters, late waits marked, its settings kept by the
// monitor, and a CSV of what is listed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seriousViolations } from './axe.mjs';
import { launchChromium, startMonitor } from './monitor.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let monitor;
let browser;

async function deliver(externalId, decision, status, subStatus = '') {
  const body = { externalId, decision, status, subStatus, participantId: '', account: '' };
  const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.status, 200);
}

async function openQueue(colorScheme = 'light') {
  const context = await browser.newContext({ colorScheme, viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.clock.install();
  await page.goto(monitor.uiUrl);
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Review' }).click();
  await page.getByTestId('review').waitFor();
  return { page, context, problems };
}

const listed = (page) => page.getByTestId('queue-row').evaluateAll((rows) => rows.map((row) => row.dataset.externalId));

describe('the review queue', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    monitor = await startMonitor();
    browser = await launchChromium();
    await deliver('rev_old', 'REVIEW', 'ON_HOLD', 'Document Request Initiated');
    await sleep(30);
    await deliver('rev_mid', 'REVIEW', 'ON_HOLD', 'Manual check');
    await sleep(30);
    await deliver('=rev_new', 'REVIEW', 'ON_HOLD', 'Document Request Initiated');
    await deliver('open_1', '', 'OPEN', 'pending');
    await deliver('held_rejected', 'REJECT', 'ON_HOLD');
    await deliver('done_1', 'ACCEPT', 'CLOSED');
  });
  after(async () => {
    await browser?.close();
    monitor?.stop();
  });

  it('lists who waits on a person, the longest wait first, and narrows by the filters', async () => {
    const { page, context, problems } = await openQueue();
    await page.getByTestId('queue-row').nth(2).waitFor();
    assert.deepEqual(await listed(page), ['rev_old', 'rev_mid', '=rev_new']);
    assert.match(await page.getByTestId('review-total').innerText(), /^3 waiting/);
    assert.equal(await page.title(), 'Review queue · KYC Monitor');

    await page.getByTestId('filter-substatus').fill('Manual check');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="queue-row"]').length === 1);
    assert.deepEqual(await listed(page), ['rev_mid']);
    await page.getByTestId('filter-substatus').fill('');
    await page.getByTestId('filter-age').selectOption({ label: 'Over 1 hour' });
    await page.getByText(/Nobody is waiting that matches these filters/).waitFor();
    await page.getByTestId('filter-age').selectOption({ label: 'Any time' });
    await page.getByTestId('queue-row').nth(2).waitFor();

    // A user who enters the queue shows up live, at the end (the shortest wait).
    await deliver('open_1', 'REVIEW', 'ON_HOLD', 'Manual check');
    await page.locator('[data-testid="queue-row"][data-external-id="open_1"]').waitFor();
    assert.equal((await listed(page)).at(-1), 'open_1');

    // The CSV is what is listed, formulas neutralised.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('review-csv').click()]);
    const csv = readFileSync(await download.path(), 'utf8').trim().split('\r\n');
    assert.equal(csv[0], 'externalId,status,decision,subStatus,statusSince,firstSeenAt,participantId,account');
    assert.deepEqual(csv.slice(1).map((line) => line.split(',')[0]), ['rev_old', 'rev_mid', "'=rev_new", 'open_1']);

    assert.deepEqual(await seriousViolations(page), []);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('keeps its settings in the monitor: which users count, and when a wait is late', async () => {
    const { page, context, problems } = await openQueue();
    await page.getByTestId('queue-row').first().waitFor();
    await page.getByText('Queue settings').click();
    const settings = page.getByTestId('review-settings');
    // Rejected users on hold count too, and a wait over a minute is late.
    await settings.getByLabel('REJECT').check();
    await page.getByTestId('warn-after').fill('1');
    await settings.getByRole('button', { name: 'Save' }).click();
    await settings.getByRole('status').waitFor();
    assert.match(await settings.getByRole('status').innerText(), /^Saved/);
    await page.locator('[data-testid="queue-row"][data-external-id="held_rejected"]').waitFor();
    assert.match(await page.getByTestId('review-total').innerText(), /^5 waiting/);

    // Two minutes later every wait is late.
    await page.clock.fastForward('02:00');
    await page.locator('td.late').nth(4).waitFor();
    assert.match(await page.getByTestId('review-total').innerText(), /5 listed over 1 min/);
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      assert.deepEqual(await seriousViolations(page), []);
      await page.screenshot({ path: join(artifacts, `review-${scheme}.png`) });
    }
    assert.deepEqual(problems, []);
    await context.close();

    // Another window (the desktop's tray reads the same) sees the saved settings.
    const again = await openQueue();
    await again.page.getByTestId('queue-row').nth(4).waitFor();
    assert.match(await again.page.getByTestId('review-total').innerText(), /^5 waiting/);
    await again.context.close();
  });
});
