// The review queue in Chromium against the real binary: users waiting on a person, the
// longest wait first, narrowed by the filters, cases over the review SLA marked (the one
// definition of late, `--review-sla`), its settings kept by the monitor, and a CSV of what is
// listed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seriousViolations } from './axe.mjs';
import { launchChromium, startMonitor } from './monitor.mjs';
import { crowding } from './topbar.mjs';

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
    monitor = await startMonitor(['--review-sla', '10m']);
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

    // The subStatus filter offers the values there are, with how many users have each, and
    // matches part of one whatever the case.
    const offered = await page.getByTestId('substatus-values').locator('option').evaluateAll((options) => options.map((o) => o.textContent));
    assert.deepEqual(offered, ['Document Request Initiated (2)', 'Manual check (1)']);
    await page.getByTestId('filter-substatus').fill('MANUAL ch');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="queue-row"]').length === 1);
    assert.deepEqual(await listed(page), ['rev_mid']);
    // The count honours the filters, and the filters live in the address: a reload keeps them.
    await page.getByTestId('review-total').filter({ hasText: /^1 match/ }).waitFor();
    await page.waitForFunction(() => location.hash === '#/review?subStatus=MANUAL+ch');
    await page.reload();
    await page.getByTestId('review-total').filter({ hasText: /^1 match/ }).waitFor();
    assert.deepEqual(await listed(page), ['rev_mid']);
    assert.equal(await page.getByTestId('filter-substatus').inputValue(), 'MANUAL ch');
    // Back returns to the queue unfiltered.
    await page.goBack();
    await page.getByTestId('queue-row').nth(2).waitFor();
    assert.equal(await page.getByTestId('filter-substatus').inputValue(), '');
    await page.getByTestId('filter-age').selectOption({ label: 'Over 1 hour' });
    await page.getByText(/Nobody is waiting that matches these filters/).waitFor();
    assert.match(await page.getByTestId('review-total').innerText(), /^0 match/, 'not "3 waiting" above nobody');
    await page.getByTestId('filter-age').selectOption({ label: 'Any time' });
    await page.getByTestId('queue-row').nth(2).waitFor();
    // Each row tells its wait to the second.
    const exact = await page.getByTestId('waiting-exact').allInnerTexts();
    assert.ok(exact.every((text) => /^00:00:\d\d$/.test(text)), exact.join());

    // A user who enters the queue shows up live, at the end (the shortest wait).
    await deliver('open_1', 'REVIEW', 'ON_HOLD', 'Manual check');
    await page.locator('[data-testid="queue-row"][data-external-id="open_1"]').waitFor();
    assert.equal((await listed(page)).at(-1), 'open_1');

    // The CSV is every matching user, formulas neutralised.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('review-csv').click()]);
    const csv = readFileSync(await download.path(), 'utf8').trim().split('\r\n');
    assert.equal(csv[0], 'externalId,status,decision,subStatus,statusSince,firstSeenAt,participantId,account,assignee,marker,overSla');
    assert.deepEqual(csv.slice(1).map((line) => line.split(',')[0]), ['rev_old', 'rev_mid', "'=rev_new", 'open_1']);

    assert.deepEqual(await seriousViolations(page), []);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('keeps its settings in the monitor, and marks the cases over the review SLA late', async () => {
    const { page, context, problems } = await openQueue();
    await page.getByTestId('queue-row').first().waitFor();
    await page.getByText('Queue settings').click();
    const settings = page.getByTestId('review-settings');
    // Rejected users on hold count too. Late is the review SLA's (ten minutes here), said where
    // the queue's own threshold used to be.
    assert.equal(await page.getByTestId('warn-after').count(), 0);
    assert.match(await page.getByTestId('review-sla-hint').innerText(), /over the review SLA \(10 min;.*--review-sla/s);
    await settings.getByLabel('REJECT').check();
    await settings.getByRole('button', { name: 'Save' }).click();
    await settings.getByRole('status').waitFor();
    assert.match(await settings.getByRole('status').innerText(), /^Saved/);
    await page.locator('[data-testid="queue-row"][data-external-id="held_rejected"]').waitFor();
    assert.match(await page.getByTestId('review-total').innerText(), /^5 waiting/);

    // Eleven minutes later every case's SLA clock has passed its due time: marked late, counted.
    assert.equal(await page.locator('td.late').count(), 0, 'nobody is late yet');
    await page.clock.fastForward('11:00');
    await page.locator('td.late').nth(4).waitFor();
    assert.match(await page.getByTestId('review-total').innerText(), /5 over SLA/);
    assert.equal(await page.getByTestId('queue-row').getByTestId('over-sla').count(), 5);
    assert.match(await page.getByTestId('waiting-exact').first().innerText(), /^00:1[1-2]:\d\d$/);
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      assert.deepEqual(await seriousViolations(page), []);
      await page.screenshot({ path: join(artifacts, `review-${scheme}.png`) });
    }
    // The top bar (the webhook URL cut short, the latest delivery, the connection) fits.
    assert.deepEqual(await crowding(page), []);
    assert.deepEqual(problems, []);
    await context.close();

    // Another window (the desktop's tray reads the same) sees the saved settings.
    const again = await openQueue();
    await again.page.getByTestId('queue-row').nth(4).waitFor();
    assert.match(await again.page.getByTestId('review-total').innerText(), /^5 waiting/);
    await again.context.close();
  });

  it('downloads every matching user, not only the page on screen', async () => {
    for (let n = 0; n < 130; n += 1) await deliver(`bulk_${String(n).padStart(3, '0')}`, 'REVIEW', 'ON_HOLD', 'Bulk import');
    const { page, context, problems } = await openQueue();
    await page.getByTestId('filter-substatus').fill('bulk');
    await page.getByTestId('review-total').filter({ hasText: /^130 match/ }).waitFor();
    assert.equal(await page.getByTestId('queue-row').count(), 100, 'a page on screen');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('review-csv').click()]);
    assert.match(download.suggestedFilename(), /^review-queue-\d{4}-\d\d-\d\dT\d{4}\.csv$/);
    const csv = readFileSync(await download.path(), 'utf8').trim().split('\r\n');
    assert.equal(csv.length, 131);
    assert.deepEqual(new Set(csv.slice(1).map((line) => line.split(',')[3])), new Set(['Bulk import']));
    assert.deepEqual(problems, []);
    await context.close();
  });
});
