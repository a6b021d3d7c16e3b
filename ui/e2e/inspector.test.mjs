// The deliveries inspector in Chromium against the real binary: a compact list beside a detail
// pane, raw bytes exactly as received with a pretty toggle, copy body and copy as curl, replay
// and edit-and-resend explained in words, and each delivery's forwarding to a real local backend
// (`serve --forward-to`) with retry now and pause/resume. Screenshots go to e2e/artifacts/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startMonitor } from './monitor.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');

let monitor;
let browser;
let backend;
/** The backend answers 503 while this is true, 200 after. */
let backendFailing = true;
let backendRequests = 0;

// Odd spacing on purpose: the inspector shows these bytes, not a re-serialisation.
const ON_HOLD = '{"externalId":"user_7310",  "decision":"REVIEW","status":"ON_HOLD","subStatus":"Document Request Initiated","participantId":"","account":""}';
const OPEN = '{"externalId":"user_7310","decision":"","status":"OPEN","subStatus":"","participantId":"","account":""}';

/** A UI API answer, with the token of the ui: line. */
async function apiGet(path) {
  const { origin, searchParams } = new URL(monitor.uiUrl);
  const response = await fetch(`${origin}${path}`, { headers: { authorization: `Bearer ${searchParams.get('token')}` } });
  assert.equal(response.status, 200);
  return response.json();
}

async function deliver(body) {
  const response = await fetch(monitor.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return response.status;
}

function startBackend() {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      backendRequests += 1;
      response.writeHead(backendFailing ? 503 : 200, { 'retry-after': '1' }).end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function openInspector(colorScheme, width) {
  const context = await browser.newContext({ colorScheme, viewport: { width, height: width > 600 ? 900 : 844 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(monitor.uiUrl);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  await page.getByRole('link', { name: 'Deliveries' }).click();
  await page.getByTestId('delivery').first().waitFor();
  return { page, context, problems };
}

const row = (page, text) => page.getByTestId('delivery').filter({ hasText: text });
/** Selects a row by its time cell (its user cell is a link to the user's page). */
const pick = (locator) => locator.locator('.time').click();

describe('the deliveries inspector', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    backend = await startBackend();
    const backendUrl = `http://127.0.0.1:${backend.address().port}/hooks`;
    monitor = await startMonitor(['--forward-to', backendUrl]);
    browser = await launchChromium();
    assert.equal(await deliver(OPEN), 200);
    assert.equal(await deliver(ON_HOLD), 200);
    assert.equal(await deliver('{"externalId": null}'), 422);
    assert.equal(await deliver('{}'), 200);
  });
  after(async () => {
    await browser?.close();
    monitor?.stop();
    backend?.close();
  });

  it('lists deliveries one line a row with what each said, beside the selected one', async () => {
    const { page, context, problems } = await openInspector('light', 1440);
    assert.equal(await page.getByTestId('delivery').count(), 4);
    const heights = await page.getByTestId('delivery').evaluateAll((rows) => rows.map((r) => r.getBoundingClientRect().height));
    assert.ok(heights.every((h) => h <= 32), `one line a row: ${heights}`);
    const onHold = row(page, 'ON_HOLD').last();
    assert.match(await onHold.innerText(), /accepted\s+200\s+user_7310\s+ON_HOLD\s+REVIEW/);
    assert.match(await row(page, 'externalId is null').innerText(), /rejected\s+422/);
    // The newest is selected at first; the pane sits beside the list.
    assert.match(await page.getByTestId('delivery-detail').innerText(), /ping/);
    const list = await page.locator('.list-pane').boundingBox();
    const detail = await page.locator('.detail-pane').boundingBox();
    assert.ok(detail.x >= list.x + list.width, 'the detail pane is beside the list');

    await pick(onHold);
    const detailPane = page.getByTestId('delivery-detail');
    await detailPane.filter({ hasText: 'user_7310' }).waitFor();
    assert.equal(await page.getByTestId('raw-body').innerText(), ON_HOLD, 'the bytes as received');
    await page.getByTestId('pretty-toggle').click();
    assert.match(await page.getByTestId('raw-body').innerText(), /^\{\n {2}"externalId": "user_7310",\n {2}"decision": "REVIEW"/);
    await page.getByTestId('raw-toggle').click();
    assert.equal(await page.getByTestId('raw-body').innerText(), ON_HOLD);

    await page.getByTestId('copy-body').click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), ON_HOLD);
    await page.getByTestId('copy-curl').click();
    const curl = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(curl, `curl -sS -X POST '${monitor.webhookUrl}' -H 'content-type: application/json' --data-raw '${ON_HOLD}'`);
    // The command works: it posts the same bytes to this monitor (a duplicate of the state).
    const [, url, body] = curl.match(/^curl -sS -X POST '([^']+)' -H '[^']+' --data-raw '(.*)'$/);
    assert.equal((await fetch(url, { method: 'POST', body })).status, 200);

    // Keyboard: down moves the selection.
    await onHold.focus();
    await page.keyboard.press('ArrowDown');
    await detailPane.filter({ hasText: '"status":"OPEN"' }).waitFor();
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('keeps the selected delivery in the address, so a reload or a shared link opens it', async () => {
    const { page, context, problems } = await openInspector('light', 1440);
    const first = row(page, 'OPEN').last();
    const id = await first.getAttribute('data-id');
    await pick(first);
    await page.waitForFunction((id) => location.hash === `#/deliveries?id=${id}`, id);
    await page.reload();
    await page.getByTestId('delivery-detail').filter({ hasText: `#${id}` }).waitFor();
    assert.equal(await page.getByTestId('raw-body').innerText(), OPEN);
    assert.equal(await page.locator(`[data-testid="delivery"][data-id="${id}"]`).getAttribute('aria-selected'), 'true');
    // The list starts at it; the newer ones are a click away.
    await page.getByRole('button', { name: /Jump to newest/ }).click();
    await page.getByTestId('delivery').filter({ hasText: 'ping' }).first().waitFor();

    // A link to a delivery that does not exist opens the newest, without an error.
    const other = await context.newPage();
    other.on('pageerror', (error) => problems.push(error.message));
    await other.goto(`${monitor.uiUrl}#/deliveries?id=999999`);
    const newest = await other.getByTestId('delivery').first().getAttribute('data-id');
    await other.getByTestId('delivery-detail').filter({ hasText: `#${newest}` }).waitFor();
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('replays, edits and resends, and says what each came to', async () => {
    const { page, context, problems } = await openInspector('light', 1440);
    await pick(row(page, 'ON_HOLD').first());
    await page.getByTestId('replay').click();
    await page
      .getByTestId('replay-result')
      .filter({ hasText: /Replayed as #\d+: duplicate \(200\)\. Duplicate: the user's latest state is the same/ })
      .waitFor();
    // The replay is listed, marked, and selected.
    await page.getByTestId('replay-tag').waitFor();

    await pick(row(page, 'OPEN').last());
    await page.getByTestId('edit-resend').click();
    const edited = OPEN.replace('"decision":""', '"decision":"ACCEPT"').replace('"status":"OPEN"', '"status":"CLOSED"');
    await page.getByTestId('resend-body').fill(edited);
    await page.getByTestId('resend').click();
    // The OPEN delivery is older than the user's latest state: what it changes is said first.
    const confirm = page.getByTestId('replay-confirm');
    await confirm.waitFor();
    assert.equal(await confirm.getByTestId('replay-before').innerText(), 'ON_HOLD · REVIEW · Document Request Initiated');
    assert.equal(await confirm.getByTestId('replay-after').innerText(), 'CLOSED · ACCEPT');
    await page.getByTestId('replay-confirm-yes').click();
    await page.getByTestId('replay-result').filter({ hasText: /Edited and resent as #\d+: accepted \(200\)\. Accepted: it moved/ }).waitFor();
    // The list takes the new delivery from the live feed, a frame or so after the answer.
    const top = page.getByTestId('delivery').first();
    const expected = /accepted\s*edited\s+200\s+user_7310\s+CLOSED\s+ACCEPT/;
    for (let tries = 0; tries < 50 && !expected.test(await top.innerText()); tries++) {
      await page.waitForTimeout(100);
    }
    assert.match(await top.innerText(), expected);
    assert.equal(await page.getByTestId('raw-body').innerText(), edited);
    assert.match(await page.getByTestId('replay-tag').innerText(), /edited replay of #\d+/);
    // What was stored describes what was sent: the new body's length, not the original's.
    const editedId = Number(await top.getAttribute('data-id'));
    const stored = await apiGet(`/api/deliveries?limit=10`);
    const sent = stored.deliveries.find((d) => d.id === editedId);
    assert.equal(sent.headers.find(([name]) => name === 'content-length')?.[1], String(Buffer.byteLength(edited)));
    assert.equal(sent.edited, true);

    // Replaying the old OPEN delivery would move the approved user back: asked first; Cancel
    // sends nothing, yes sends it, and the user's timeline says a person replayed it.
    await pick(row(page, 'OPEN').last());
    const openId = Number(await row(page, 'OPEN').last().getAttribute('data-id'));
    const countBefore = (await apiGet('/api/deliveries?limit=100')).deliveries.length;
    await page.getByTestId('replay').click();
    await confirm.waitFor();
    assert.equal(await confirm.getByTestId('replay-before').innerText(), 'CLOSED · ACCEPT');
    assert.equal(await confirm.getByTestId('replay-after').innerText(), 'OPEN · (no decision)');
    await page.getByTestId('replay-confirm-no').click();
    await confirm.waitFor({ state: 'detached' });
    assert.equal((await apiGet('/api/deliveries?limit=100')).deliveries.length, countBefore, 'Cancel sent nothing');
    await page.getByTestId('replay').click();
    await page.getByTestId('replay-confirm-yes').click();
    await page.getByTestId('replay-result').filter({ hasText: /Replayed as #\d+: accepted/ }).waitFor();
    await page.goto(`${monitor.uiUrl}#/user/user_7310`);
    const marks = page.getByTestId('timeline-replay');
    await marks.nth(2).waitFor();
    // The first is the replay of ON_HOLD above (a duplicate, shown as one).
    assert.deepEqual((await marks.allInnerTexts()).slice(1), [`edited replay of #${openId}`, `replay of #${openId}`]);

    // The command line says so too: lookup's text, and --json as extra fields.
    const text = execFileSync(process.env.KYC_MONITOR_BIN, ['lookup', 'user_7310', '--db', monitor.db], { encoding: 'utf8' });
    assert.match(text, new RegExp(`CLOSED\\s+ACCEPT.*\\(edited replay of #${openId}, sent from the UI\\)`));
    assert.match(text, new RegExp(`OPEN .*\\(replay of #${openId}, sent from the UI\\)`));
    const json = JSON.parse(execFileSync(process.env.KYC_MONITOR_BIN, ['lookup', 'user_7310', '--json', '--db', monitor.db], { encoding: 'utf8' }));
    assert.deepEqual(json.events.filter((e) => e.replayOf !== undefined).slice(1).map((e) => [e.status, e.replayOf, e.edited]), [
      ['CLOSED', openId, true],
      ['OPEN', openId, false],
    ]);
    const events = execFileSync(process.env.KYC_MONITOR_BIN, ['export', 'events', '--db', monitor.db], { encoding: 'utf8' }).trim().split('\r\n');
    assert.ok(events[0].endsWith(',replayOf,edited,rejectionReason,statusSetAt,source'), events[0]);
    // The documented form has no reason or provider's time: their cells are empty.
    assert.ok(events.some((line) => line.endsWith(`,${openId},true,,,webhook`)));
    await page.goto(`${monitor.uiUrl}#/deliveries`);
    await pick(row(page, 'CLOSED').first());

    // A body that is not an event is refused as the listener would refuse it, and explained.
    await page.getByTestId('edit-resend').click();
    await page.getByTestId('resend-body').fill('{"externalId": ');
    await page.getByTestId('resend').click();
    await page.getByTestId('replay-result').filter({ hasText: /rejected \(400\)\. Refused with 400: the body is not valid JSON/ }).waitFor();
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('shows forwarding per destination with retry now and pause/resume', async () => {
    const { page, context, problems } = await openInspector('light', 1440);
    await pick(row(page, 'OPEN').last());
    // The user's first delivery: the later ones wait behind it (in order per user).
    const forward = page.getByTestId('forward');
    await page
      .getByTestId('forward-summary')
      .filter({ hasText: /retrying \(503\) after \d+ attempts?; next try/ })
      .waitFor({ timeout: 15_000 })
      .catch(async (error) => assert.fail(`${error.message}\n${await page.getByTestId('forwarding').innerText()}`));
    assert.match(await forward.innerText(), /Last status\s+503/);
    assert.match(await forward.innerText(), /Last error\s+\S+/);
    // A rejected delivery is not forwarded, and says so.
    await pick(row(page, 'externalId is null'));
    await page.getByTestId('forwarding').filter({ hasText: /Not forwarded: only accepted deliveries are, and this one was rejected/ }).waitFor();

    await pick(row(page, 'OPEN').last());
    await page.getByTestId('pause-destination').click();
    await page.getByTestId('forward-summary').filter({ hasText: /paused/ }).waitFor();
    await page.locator('[data-testid="destination"][data-paused="true"]').filter({ hasText: /\d+ waiting/ }).waitFor();
    await shot(page, 'inspector-forwarding-paused');
    backendFailing = false;
    const before = backendRequests;
    await page.getByTestId('retry-now').click();
    await page.getByTestId('forward-note').filter({ hasText: /Due again now at 1 destination/ }).waitFor();
    await page.waitForTimeout(1500);
    assert.equal(backendRequests, before, 'a paused destination receives nothing');
    assert.equal(await forward.getAttribute('data-state'), 'pending');

    await page.getByTestId('pause-destination').click();
    await page.locator('[data-testid="forward"][data-state="delivered"]').waitFor({ timeout: 15_000 });
    // The destination's own line: its queue worked off, not paused.
    await page.locator('[data-testid="destination"][data-paused="false"]').filter({ hasText: /0 waiting\s+0 failed/ }).waitFor({ timeout: 15_000 });
    assert.match(await page.getByTestId('forward-summary').innerText(), /delivered \(200\)/);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('fits wide and narrow screens, light and dark', async () => {
    for (const scheme of ['light', 'dark']) {
      for (const width of [1440, 390]) {
        const { page, context, problems } = await openInspector(scheme, width);
        await pick(row(page, 'ON_HOLD').last());
        await page.getByTestId('delivery-detail').filter({ hasText: 'user_7310' }).waitFor();
        if (width < 600) {
          // The list and the detail take turns; the detail's back button returns to the list.
          assert.equal(await page.locator('.list-pane').isVisible(), false);
          const inspector = await page.getByTestId('deliveries').boundingBox();
          assert.ok(inspector.x + inspector.width <= width, `the inspector fits in ${width} px`);
        }
        await shot(page, `inspector-${scheme}-${width}`);
        if (width < 600) {
          await page.getByRole('button', { name: '← All deliveries' }).click();
          await page.locator('.list-pane').waitFor();
          await shot(page, `inspector-list-${scheme}-${width}`);
        }
        assert.deepEqual(problems, []);
        await context.close();
      }
    }
  });
});

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: false });
}
