// Case work in two browsers at once: a team monitor behind a sign-in proxy (this test is the
// proxy: each browser context sends its person's headers), Ann and Bob on the review queue. Ann
// takes a case and writes a note; Bob's queue and user page show both within a second. The
// Mine and Unassigned filters narrow the queue; with a short --review-sla the late cases are
// marked in the queue and counted in the top bar. Screenshots of the queue (light, dark, 360 px)
// and of a note on the user page go to e2e/artifacts (the README's are copied from there).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, onFreePort, startMonitor } from './monitor.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
const ANN = 'ann@example.com';
const BOB = 'bob@example.com';
/** How soon the other window must show what one did. */
const LIVE_WITHIN_MS = 1000;

let monitor;
let browser;

async function hold(externalId, subStatus = '') {
  const body = { externalId, decision: 'REVIEW', status: 'ON_HOLD', subStatus, participantId: '', account: '' };
  const answer = await fetch(monitor.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(answer.status, 200);
}

/** A browser window of `email` (compliance unless told), as the proxy presents them. */
async function person(email, { group = 'g-comp', colorScheme = 'light', width = 1280 } = {}) {
  const context = await browser.newContext({
    colorScheme,
    viewport: { width, height: 800 },
    extraHTTPHeaders: { 'X-Forwarded-Email': email, 'X-Forwarded-Groups': group },
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(`${monitor.uiUrl}/#/review`);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { page, context, problems };
}

const row = (page, id) => page.locator(`tr[data-external-id="${id}"]`);

describe('case work in two windows', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    monitor = await onFreePort(async (port) => {
      const ui = `http://127.0.0.1:${port}`;
      const started = await startMonitor(
        [
          '--auth', 'proxy', '--trusted-proxy', '127.0.0.1/32', '--public-ui-url', ui,
          '--role', 'admin=g-admin', '--role', 'compliance=g-comp', '--review-sla', '6s',
        ],
        { uiListen: `127.0.0.1:${port}` },
      );
      return { ...started, uiUrl: ui };
    });
    browser = await launchChromium();
    await hold('case_ann', 'Document check');
    await hold('case_open', 'Address check');
  });

  after(async () => {
    await browser?.close();
    await monitor?.stop();
  });

  it('shows what one person did in the other window within a second, filters and marks late cases', async () => {
    const ann = await person(ANN);
    const bob = await person(BOB, { group: 'g-admin' });
    await row(bob.page, 'case_ann').waitFor();

    // Ann takes case_ann from its page; Bob's queue shows her on the row.
    await ann.page.goto(`${monitor.uiUrl}/#/user/case_ann`);
    await ann.page.getByTestId('case-take').click();
    await ann.page.getByTestId('case-panel-assignee').filter({ hasText: ANN }).waitFor();
    await row(bob.page, 'case_ann').getByTestId('case-assignee').filter({ hasText: ANN }).waitFor({ timeout: LIVE_WITHIN_MS });

    // Bob opens the case; Ann writes a note; it shows on Bob's page within a second.
    await bob.page.goto(`${monitor.uiUrl}/#/user/case_ann`);
    await bob.page.getByTestId('case-panel-assignee').filter({ hasText: ANN }).waitFor();
    const text = 'Called the customer: the passport photo is blurred, a new one is on its way.';
    await ann.page.getByTestId('case-note-text').fill(text);
    await ann.page.getByTestId('case-note-add').click();
    await ann.page.getByTestId('case-note').filter({ hasText: text }).waitFor();
    const note = bob.page.getByTestId('case-note').filter({ hasText: text });
    await note.waitFor({ timeout: LIVE_WITHIN_MS });
    assert.match(await note.textContent(), new RegExp(ANN));

    // Bob marks it waiting on the customer; Ann's panel shows it within a second.
    const annSaw = ann.page.getByTestId('case-state');
    await bob.page.getByTestId('case-marker-select').selectOption('waiting-on-customer');
    await bob.page.getByTestId('case-marker').filter({ hasText: 'waiting on customer' }).waitFor();
    await annSaw.getByTestId('case-marker').filter({ hasText: 'waiting on customer' }).waitFor({ timeout: LIVE_WITHIN_MS });
    // The note stays on both pages after the change.
    assert.equal(await bob.page.getByTestId('case-note').filter({ hasText: text }).count(), 1);
    assert.equal(await ann.page.getByTestId('case-note').filter({ hasText: text }).count(), 1);

    // Filters: Ann's own cases, then the unassigned ones.
    await ann.page.goto(`${monitor.uiUrl}/#/review`);
    await ann.page.getByTestId('review-assigned').selectOption('mine');
    await ann.page.waitForFunction(() => document.querySelectorAll('tr[data-testid="queue-row"]').length === 1);
    await row(ann.page, 'case_ann').waitFor();
    await ann.page.getByTestId('review-assigned').selectOption('unassigned');
    await row(ann.page, 'case_open').waitFor();
    await ann.page.waitForFunction(() => document.querySelectorAll('tr[data-testid="queue-row"]').length === 1);
    await ann.page.getByTestId('review-assigned').selectOption('');

    // case_open passes the 6 s SLA; case_ann waits on the customer, its clock paused.
    await row(ann.page, 'case_open').getByTestId('over-sla').waitFor({ timeout: 30_000 });
    const counted = ann.page.getByTestId('attention-over-sla');
    await counted.waitFor({ timeout: 30_000 });
    assert.equal((await counted.textContent()).trim(), '1 over SLA');
    assert.equal(await row(ann.page, 'case_ann').getByTestId('over-sla').count(), 0);
    await ann.page.screenshot({ path: join(artifacts, 'team-queue-light.png') });
    assert.deepEqual([...ann.problems, ...bob.problems], []);
    await ann.context.close();

    // The same queue in the dark and at 360 px, and a note on the user page.
    for (const [name, options] of [
      ['team-queue-dark', { colorScheme: 'dark' }],
      ['team-queue-360', { width: 360 }],
    ]) {
      const seen = await person(ANN, options);
      await row(seen.page, 'case_open').getByTestId('over-sla').waitFor();
      await seen.page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
      await seen.context.close();
    }
    await bob.page.getByTestId('case-panel').scrollIntoViewIfNeeded();
    // The page itself (the README's picture), without the top bar.
    await bob.page.getByTestId('user-page').screenshot({ path: join(artifacts, 'team-note-light.png') });
    const narrow = await person(BOB, { group: 'g-admin', width: 360, colorScheme: 'dark' });
    await narrow.page.goto(`${monitor.uiUrl}/#/user/case_ann`);
    await narrow.page.getByTestId('case-note').first().waitFor();
    await narrow.page.screenshot({ path: join(artifacts, 'team-note-dark-360.png'), fullPage: true });
    await narrow.context.close();
    await bob.context.close();
  });

  it('asks before taking a colleague\'s case or giving one to a name nobody works cases under', async () => {
    await hold('case_ask');
    const ann = await person(ANN);
    const bob = await person(BOB, { group: 'g-admin' });
    await ann.page.goto(`${monitor.uiUrl}/#/user/case_ask`);
    // Nobody has it: taken at once.
    await ann.page.getByTestId('case-take').click();
    await ann.page.getByTestId('case-panel-assignee').filter({ hasText: ANN }).waitFor();

    // Bob asks to take it: he is told Ann has it; Cancel leaves it hers.
    await bob.page.goto(`${monitor.uiUrl}/#/user/case_ask`);
    await bob.page.getByTestId('case-panel-assignee').filter({ hasText: ANN }).waitFor();
    await bob.page.getByTestId('case-take').click();
    const ask = bob.page.getByTestId('case-ask');
    assert.match(await ask.textContent(), /ann@example\.com has this case\. Take it from them\?/);
    assert.equal(await bob.page.evaluate(() => document.activeElement?.dataset.testid), 'case-ask-yes');
    await bob.page.getByTestId('case-ask-no').click();
    await ask.waitFor({ state: 'detached' });
    assert.equal((await bob.page.getByTestId('case-panel-assignee').textContent()).trim(), ANN);
    // Asked again and confirmed: his; Ann's page shows it.
    await bob.page.getByTestId('case-take').click();
    await bob.page.getByTestId('case-ask-yes').click();
    await bob.page.getByTestId('case-panel-assignee').filter({ hasText: BOB }).waitFor();
    await ann.page.getByTestId('case-panel-assignee').filter({ hasText: BOB }).waitFor({ timeout: LIVE_WITHIN_MS });

    // The assign box offers those who work cases; one of them is assigned without a question.
    const offered = await bob.page.locator('#case-workers option').evaluateAll((options) => options.map((o) => o.value));
    assert.deepEqual(offered, [ANN, BOB]);
    await bob.page.getByTestId('case-assign-to').fill(ANN);
    await bob.page.getByTestId('case-assign').click();
    await bob.page.getByTestId('case-panel-assignee').filter({ hasText: ANN }).waitFor();
    assert.equal(await ask.count(), 0);

    // A typo is asked about; Cancel keeps the case with Ann and the name in the box to mend.
    await bob.page.getByTestId('case-assign-to').fill('anne@example.com');
    await bob.page.getByTestId('case-assign').click();
    assert.match(await ask.textContent(), /Nobody named anne@example\.com has worked cases here yet/);
    await bob.page.screenshot({ path: join(artifacts, 'case-ask-light.png') });
    await bob.page.getByTestId('case-ask-no').click();
    await ask.waitFor({ state: 'detached' });
    assert.equal(await bob.page.getByTestId('case-assign-to').inputValue(), 'anne@example.com');
    assert.equal((await bob.page.getByTestId('case-panel-assignee').textContent()).trim(), ANN);
    // Someone yet to sign in can still be given it, when Bob says so.
    await bob.page.getByTestId('case-assign-to').fill('new.hire@example.com');
    await bob.page.getByTestId('case-assign').click();
    await bob.page.getByTestId('case-ask-yes').click();
    await bob.page.getByTestId('case-panel-assignee').filter({ hasText: 'new.hire@example.com' }).waitFor();
    // Giving a colleague's case to another, or to nobody, is asked too.
    await bob.page.getByTestId('case-assign-to').fill(ANN);
    await bob.page.getByTestId('case-assign').click();
    assert.match(await ask.textContent(), /new\.hire@example\.com has this case\.\s+Give it to ann@example\.com\?/);
    await bob.page.getByTestId('case-ask-no').click();
    await bob.page.getByTestId('case-unassign').click();
    assert.match(await ask.textContent(), /new\.hire@example\.com has this case\. Leave it to nobody\?/);
    await bob.page.getByTestId('case-ask-no').click();
    await ask.waitFor({ state: 'detached' });
    assert.equal((await bob.page.getByTestId('case-panel-assignee').textContent()).trim(), 'new.hire@example.com');
    assert.deepEqual([...ann.problems, ...bob.problems], []);
    await ann.context.close();
    await bob.context.close();
  });

  it('shows a note\'s bidi controls spelled out, so that "gnp.exe" after U+202E never reads "exe.png"', async () => {
    for (const colorScheme of ['light', 'dark']) {
      const ann = await person(ANN, { colorScheme });
      await ann.page.goto(`${monitor.uiUrl}/#/user/case_open`);
      await ann.page.getByTestId('case-panel').waitFor();
      if (colorScheme === 'light') {
        await ann.page.getByTestId('case-note-text').fill('invoice\u202egnp.exe');
        await ann.page.getByTestId('case-note-add').click();
      }
      const note = ann.page.getByTestId('case-note').filter({ hasText: 'invoice' }).locator('.note-text');
      await note.waitFor();
      // The control shows as a badge of its escape, the rest as written, in the order written.
      assert.equal(await note.getByTestId('hidden-char').textContent(), '\\u202e');
      assert.equal(await note.innerText(), 'invoice\\u202egnp.exe');
      // The text is isolated: nothing in it reorders what is around it.
      assert.equal(await note.getByTestId('free-text').evaluate((text) => getComputedStyle(text).unicodeBidi), 'isolate');
      await note.scrollIntoViewIfNeeded();
      await ann.page.getByTestId('case-panel').screenshot({ path: join(artifacts, `note-bidi-${colorScheme}.png`) });
      assert.deepEqual(ann.problems, []);
      await ann.context.close();
    }
  });
});
