// What the monitor learned without a webhook, in Chromium against the real binary: a beta demo
// (the real emulator as the provider's newer API, polled every second) shows a polled delivery
// tagged in the inspector's list, its detail and the user's timeline, each saying it was asked
// of the provider's status route by the periodic poll or by reconcile (a polled delivery does
// not record which); a watched user's NOT_STARTED tagged as added by watching. Users to watch
// imported in the Register view (pasted, or a CSV file) are on an open board at once, and a bad
// file is refused naming its line. The payload's date of birth is shown to compliance and
// admin, never to support (a team behind a sign-in proxy: this test is the proxy).
// Screenshots (light, dark, 1280 and 360 px) go to e2e/artifacts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seriousViolations } from './axe.mjs';
import { launchChromium, onFreePort, startMonitor } from './monitor.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
/** What a polled tag's title must say: who may have asked, both of them. */
const ASKED_BY = "learned by asking the provider's status route (the periodic poll, --poll-every, or reconcile), not delivered by a webhook";
/** A beta demo's first polled delivery can take a few polls (and the flows) to come. */
const POLLED_WITHIN_MS = 30_000;

let browser;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

async function open(url, { colorScheme = 'light', width = 1280, headers } = {}) {
  const context = await browser.newContext({
    colorScheme,
    viewport: { width, height: width > 600 ? 900 : 844 },
    ...(headers ? { extraHTTPHeaders: headers } : {}),
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(url);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { page, context, problems };
}

/** The newest row holding the tag `testId`, pinned by its delivery id (the list is live:
 * rows that come later go on top, and "the first such row" would move to them). */
async function pinned(page, testId, timeout = undefined) {
  const first = page.getByTestId('delivery').filter({ has: page.getByTestId(testId) }).first();
  await first.waitFor({ timeout });
  const id = await first.getAttribute('data-id');
  return page.locator(`[data-testid="delivery"][data-id="${id}"]`);
}
/** Selects a row by its time cell (its user cell is a link to the user's page). */
const pick = (row) => row.locator('.time').click();
const card = (page, column, id) => page.locator(`[data-column="${column}"] [data-testid="card"][data-external-id="${id}"]`);

describe('a beta demo polled every second', () => {
  let monitor;
  before(async () => {
    monitor = await startMonitor([
      '--demo', '--demo-api', 'beta', '--demo-users', '8', '--demo-speed', '100',
      '--demo-hold-rate', '0.5', '--demo-abandon-rate', '0', '--demo-reject-rate', '0.25',
      '--poll-every', '1s', '--poll-rate', '50/s',
    ]);
  });
  after(async () => {
    await monitor?.stop();
  });

  /** The inspector with the first polled delivery selected; resolves with its user's id. */
  async function polledSelected(page) {
    await page.getByRole('link', { name: 'Deliveries' }).click();
    const row = await pinned(page, 'list-polled-tag', POLLED_WITHIN_MS);
    await pick(row);
    const detail = page.getByTestId('delivery-detail');
    await detail.getByTestId('polled-tag').waitFor();
    return { row, detail, externalId: await row.locator('.user a').innerText() };
  }

  it('tags a polled delivery in the list, its detail and the timeline as asked by the poll or reconcile', async () => {
    const { page, context, problems } = await open(monitor.uiUrl);
    const { row, detail, externalId } = await polledSelected(page);
    const listTag = row.getByTestId('list-polled-tag');
    assert.equal(await listTag.innerText(), 'polled');
    assert.equal(await listTag.getAttribute('title'), ASKED_BY);
    // A polled delivery is a GET of the status route, never a webhook's POST.
    assert.equal(await row.getAttribute('data-outcome'), 'accepted');

    assert.equal(await detail.getByTestId('polled-tag').innerText(), 'learned by polling');
    assert.equal(await detail.getByTestId('polled-tag').getAttribute('title'), ASKED_BY);
    assert.match(
      await detail.getByTestId('delivery-source').innerText(),
      /^Learned by polling: not delivered by a webhook\. This monitor asked the provider's status route \(GET http:\/\/127\.0\.0\.1:\d+\/v1\/kyc\/status\), by the periodic poll \(--poll-every\) or by reconcile \(the delivery does not record which\)/,
    );
    assert.match(await detail.locator('dl').innerText(), /From\s+the provider's status route \(GET http:\/\/127\.0\.0\.1:\d+\/v1\/kyc\/status\)/);
    assert.equal(await detail.getByTestId('watched-tag').count(), 0);
    assert.equal(await detail.getByTestId('replay').count(), 0, 'a GET is not replayed to the webhook');
    assert.deepEqual(await seriousViolations(page), []);
    // At 1280 px with a delivery open, every column of the list shows, a polled tag's row too:
    // nothing to scroll sideways for.
    assert.equal(await page.locator('.list-pane').evaluate((pane) => pane.scrollWidth - pane.clientWidth), 0);
    await page.screenshot({ path: join(artifacts, 'polled-inspector-light.png') });

    // Its user's timeline: the watched NOT_STARTED first, then what the polls learned.
    await row.locator('.user a').click();
    await page.getByRole('heading', { name: externalId }).waitFor();
    const timeline = page.getByTestId('timeline');
    const polled = timeline.getByTestId('timeline-polled').first();
    await polled.waitFor();
    assert.equal(await polled.innerText(), 'learned by polling');
    assert.equal(await polled.getAttribute('title'), ASKED_BY);
    const first = timeline.locator('li').first();
    assert.match(await first.locator('.status-tag').innerText(), /^NOT_STARTED$/);
    const watched = first.getByTestId('timeline-watched');
    assert.equal(await watched.innerText(), 'watched');
    assert.match(await watched.getAttribute('title'), /^added by watching: named by your side as a user to watch .*not by the provider$/);
    assert.equal(await first.getByTestId('timeline-polled').count(), 0);
    assert.deepEqual(await seriousViolations(page), []);
    await page.screenshot({ path: join(artifacts, 'polled-timeline-light.png'), fullPage: true });
    assert.deepEqual(problems, []);
    await context.close();
  });

  it("says a watched user's NOT_STARTED was added by watching, in the list and its detail", async () => {
    const { page, context, problems } = await open(monitor.uiUrl);
    await page.getByRole('link', { name: 'Deliveries' }).click();
    const row = await pinned(page, 'list-watched-tag');
    assert.equal(await row.getByTestId('list-polled-tag').count(), 0);
    assert.match(await row.getByTestId('list-watched-tag').getAttribute('title'), /^added by watching: /);
    await pick(row);
    const detail = page.getByTestId('delivery-detail');
    assert.equal(await detail.getByTestId('watched-tag').innerText(), 'added by watching');
    assert.equal(await detail.getByTestId('polled-tag').count(), 0);
    assert.match(
      await detail.getByTestId('delivery-source').innerText(),
      /^Added by watching: not from the provider\. Your side named this user as one to watch .* at NOT_STARTED until the provider says more\.$/,
    );
    assert.match(await detail.locator('dl').innerText(), /From\s+your side's list of users to watch/);
    // It never came to the webhook: nothing to replay to it.
    assert.equal(await detail.getByTestId('replay').count(), 0);
    assert.equal(await detail.getByTestId('copy-curl').count(), 0, 'a watched user never came to the webhook: no curl to send it again');
    assert.equal(await detail.getByTestId('edit-resend').count(), 0);
    assert.match(await detail.getByTestId('not-forwarded').innerText(), /^Not forwarded: a watched user's NOT_STARTED .* never forwarded\.$/);
    await page.screenshot({ path: join(artifacts, 'watched-inspector-light.png') });
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('shows the tags in the dark theme and at 360 px', async () => {
    for (const [colorScheme, width] of [['dark', 1280], ['light', 360], ['dark', 360]]) {
      const { page, context, problems } = await open(monitor.uiUrl, { colorScheme, width });
      const { detail, externalId } = await polledSelected(page);
      const fits = await detail.evaluate((element) => element.scrollWidth <= element.clientWidth + 1);
      assert.ok(fits, `the detail overflows sideways at ${width} px`);
      await page.screenshot({ path: join(artifacts, `polled-inspector-${colorScheme}-${width}.png`) });
      await page.goto(`${monitor.uiUrl}#/user/${encodeURIComponent(externalId)}`);
      await page.getByTestId('timeline-polled').first().waitFor();
      const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
      assert.ok(!wide, `the user page scrolls sideways at ${width} px`);
      await page.screenshot({ path: join(artifacts, `polled-timeline-${colorScheme}-${width}.png`), fullPage: true });
      assert.deepEqual(problems, []);
      await context.close();
    }
  });
});

describe('users to watch, imported in the Register view', () => {
  let monitor;
  before(async () => {
    monitor = await startMonitor();
  });
  after(async () => {
    await monitor?.stop();
  });

  it('puts pasted ids and a CSV file’s on an open board at once, and refuses a bad file naming its line', async () => {
    const board = await open(monitor.uiUrl);
    const { page, context, problems } = await open(`${monitor.uiUrl}#/register`);
    const answer = page.getByTestId('watch-answer');

    await page.getByTestId('watch-ids').fill('w_ann\n\nw_bob\n');
    await page.getByTestId('watch').click();
    await answer.filter({ hasText: '2 new of 2.' }).waitFor();
    // The board was open all along: the watched users are on it, NOT_STARTED, without a reload.
    await card(board.page, 'NOT_STARTED', 'w_ann').waitFor({ timeout: 2000 });
    await card(board.page, 'NOT_STARTED', 'w_bob').waitFor({ timeout: 2000 });

    // A CSV file with an externalId column (a quoted comma in another column); w_ann again is
    // asked but not new.
    const csv = 'email,externalId\n"Ann, A.",w_ann\nc@example.com,w_csv_1\nd@example.com,"w_csv_2"\n';
    await page.getByTestId('watch-file').setInputFiles({ name: 'partner-users.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.waitForFunction((text) => document.querySelector('[data-testid="watch-ids"]').value === text, csv);
    await page.getByTestId('watch').click();
    await answer.filter({ hasText: '2 new of 3.' }).waitFor();
    await card(board.page, 'NOT_STARTED', 'w_csv_1').waitFor({ timeout: 2000 });
    await card(board.page, 'NOT_STARTED', 'w_csv_2').waitFor({ timeout: 2000 });

    // A bad file: its third line has no id. Refused whole, naming the file and the line.
    const bad = 'email,externalId\ne@example.com,w_bad_1\nf@example.com,\n';
    await page.getByTestId('watch-file').setInputFiles({ name: 'bad-users.csv', mimeType: 'text/csv', buffer: Buffer.from(bad) });
    await page.waitForFunction((text) => document.querySelector('[data-testid="watch-ids"]').value === text, bad);
    await page.getByTestId('watch').click();
    const refused = page.getByTestId('watch-error');
    await refused.waitFor();
    assert.equal(
      await refused.innerText(),
      "bad-users.csv, line 3: an external id is empty; give each user's id as the provider knows it. Nothing was watched.",
    );
    assert.deepEqual(await seriousViolations(page), []);
    await page.getByTestId('watch-error').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(artifacts, 'watch-refused-light.png') });
    for (const [colorScheme, width] of [['dark', 1280], ['light', 360], ['dark', 360]]) {
      await page.emulateMedia({ colorScheme });
      await page.setViewportSize({ width, height: width > 600 ? 900 : 844 });
      await page.getByTestId('watch-error').scrollIntoViewIfNeeded();
      const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
      assert.ok(!wide, `the Register view scrolls sideways at ${width} px`);
      await page.screenshot({ path: join(artifacts, `watch-refused-${colorScheme}-${width}.png`) });
    }

    // Pasted text that is not the file's any more is named as pasted. Watched after the refusal,
    // w_after comes to the board; w_bad_1, refused with its file, never did.
    await page.getByTestId('watch-ids').fill('w_after\n\u0007');
    await page.getByTestId('watch').click();
    await refused.filter({ hasText: /^The pasted ids, line 2: the external id "\\u\{7\}" holds a control character/ }).waitFor();
    await page.getByTestId('watch-ids').fill('w_after');
    await page.getByTestId('watch').click();
    await answer.filter({ hasText: '1 new of 1.' }).waitFor();
    await card(board.page, 'NOT_STARTED', 'w_after').waitFor({ timeout: 2000 });
    assert.equal(await board.page.locator('[data-testid="card"][data-external-id="w_bad_1"]').count(), 0);

    // Columns none of which is externalId: refused, naming them (its header would otherwise be
    // watched as a user, and its first column be taken for ids).
    await page.getByTestId('watch-file').setInputFiles({ name: 'export.csv', mimeType: 'text/csv', buffer: Buffer.from('user_id,name\nw_uid_1,Al\n') });
    await page.waitForFunction(() => document.querySelector('[data-testid="watch-ids"]').value.startsWith('user_id'));
    await page.getByTestId('watch').click();
    await refused.filter({ hasText: 'export.csv: its first line has columns (user_id, name) but none is named externalId' }).waitFor();
    // A Latin-1 file ("w_café"): refused, not watched as "w_caf\ufffd".
    await page.getByTestId('watch-file').setInputFiles({ name: 'latin1.csv', mimeType: 'text/csv', buffer: Buffer.from([0x77, 0x5f, 0x63, 0x61, 0x66, 0xe9, 0x0a]) });
    await refused.filter({ hasText: 'latin1.csv is not UTF-8 text' }).waitFor();
    await page.getByTestId('watch-ids').fill('w_last');
    await page.getByTestId('watch').click();
    await answer.filter({ hasText: '1 new of 1.' }).waitFor();
    await card(board.page, 'NOT_STARTED', 'w_last').waitFor({ timeout: 2000 });
    for (const never of ['user_id', 'w_uid_1', 'w_caf\ufffd']) {
      assert.equal(await board.page.locator(`[data-testid="card"][data-external-id="${never}"]`).count(), 0, never);
    }
    assert.deepEqual([...problems, ...board.problems], []);
    await context.close();
    await board.context.close();
  });
});

describe("the payload's date of birth, by role (a team behind a sign-in proxy)", () => {
  const BORN = '1961-07-04';
  let monitor;
  before(async () => {
    monitor = await onFreePort(async (port) => {
      const ui = `http://127.0.0.1:${port}`;
      const started = await startMonitor(
        [
          '--auth', 'proxy', '--trusted-proxy', '127.0.0.1/32', '--public-ui-url', ui,
          '--role', 'admin=g-admin', '--role', 'compliance=g-comp', '--role', 'support=g-sup',
        ],
        { uiListen: `127.0.0.1:${port}` },
      );
      return { ...started, uiUrl: ui };
    });
    // A final outcome as the newer API sends it, with the user's date of birth.
    const envelope = {
      event_type: 'kyc.rejected', event_id: 'evt_born', event_time: '2026-11-26T14:05:40.017Z',
      data: {
        external_id: 'user_born', user_id: 'usr_1a2b3c', kyc_eval_id: 'eval_4d5e6f', firm_id: 'ISV-Emulator',
        status: 'KYC_STATUS_REJECTED', status_set_at: '2026-11-26T14:05:39.660Z',
        rejection_reason: 'document expired', date_of_birth: BORN,
      },
    };
    const response = await fetch(monitor.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
    assert.equal(response.status, 200);
  });
  after(async () => {
    await monitor?.stop();
  });

  const person = (email, group, options = {}) =>
    open(`${monitor.uiUrl}/#/user/user_born`, { ...options, headers: { 'X-Forwarded-Email': email, 'X-Forwarded-Groups': group } });

  it('tags the timeline "born" for compliance and admin, and shows support no trace of it', async () => {
    for (const [email, group] of [['cleo@example.com', 'g-comp'], ['ada@example.com', 'g-admin']]) {
      const { page, context, problems } = await person(email, group);
      const born = page.getByTestId('timeline-birth');
      await born.waitFor();
      assert.equal(await born.innerText(), `born ${BORN}`);
      assert.equal(await born.getAttribute('title'), 'personal data from the payload, shown to compliance and admin only');
      if (group === 'g-comp') await page.screenshot({ path: join(artifacts, 'born-compliance-light.png'), fullPage: true });
      assert.deepEqual(problems, []);
      await context.close();
    }
    const { page, context, problems } = await person('sam@example.com', 'g-sup', { colorScheme: 'dark', width: 360 });
    // The timeline is there (the rejection and its reason), the date of birth is not.
    await page.getByTestId('timeline-reason').filter({ hasText: 'document expired' }).waitFor();
    assert.equal(await page.getByTestId('timeline-birth').count(), 0);
    assert.ok(!(await page.locator('body').innerText()).includes(BORN));
    assert.ok(!(await page.content()).includes(BORN), 'the date of birth is in the page');
    await page.screenshot({ path: join(artifacts, 'born-support-dark-360.png'), fullPage: true });
    assert.deepEqual(problems, []);
    await context.close();
  });
});
