// Settings' alert section: each target masked, what it received and its failures, a test alert
// sent from its button, and what needs attention now; and the strip that tells every page what
// needs attention, live. Chromium against the real binary, a real
// HTTP receiver for the Slack target and a port nobody listens on for the failing one;
// screenshots (light, dark, narrow) go to e2e/artifacts/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, onFreePort, startMonitor } from './monitor.mjs';
import { seriousViolations } from './axe.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const TOKEN = 'T0E2E/B0E2E/slacktokenNOTSHOWN';

let monitor;
let browser;
let slack;
let failing;
const received = [];

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

describe('the alert section of Settings', () => {
  before(async () => {
    slack = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        received.push(JSON.parse(body));
        response.end('ok');
      });
    });
    const slackPort = await listen(slack);
    // A target that is there and refuses (a closed port could be taken again by another
    // server meanwhile, the monitor's own among them).
    failing = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.statusCode = 503;
        response.end('down for maintenance');
      });
    });
    const deadPort = await listen(failing);
    monitor = await startMonitor([
      '--alert-to', `slack:http://127.0.0.1:${slackPort}/services/${TOKEN}`,
      '--alert-to', `http://127.0.0.1:${deadPort}/alerts`,
      '--alert-silence', '1s',
      '--alert-settle', '200ms',
    ]);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await monitor?.stop();
    slack?.close();
    failing?.close();
  });

  it('shows the targets masked, their failures, a test alert sent, and what needs attention', async () => {
    mkdirSync(artifacts, { recursive: true });
    for (const [colorScheme, width] of [['light', 1280], ['dark', 1280], ['light', 360]]) {
      const page = await browser.newPage({ colorScheme, viewport: { width, height: 900 } });
      await page.goto(monitor.uiUrl);
      await page.evaluate(() => { location.hash = '#/settings'; });
      const section = page.getByTestId('alerts');
      await section.waitFor();
      // Silence fires after a second; the section asks again every 10 s, a reload at once.
      const active = page.getByTestId('alert-active');
      for (let tries = 0; tries < 50 && !(await active.isVisible()); tries++) {
        await page.waitForTimeout(200);
        await page.reload();
      }
      assert.match(await active.innerText(), /Silence\s+No delivery for 1s or more/);
      const targets = page.getByTestId('alert-target');
      assert.equal(await targets.count(), 2);
      assert.match(await targets.nth(0).innerText(), /slack:http:\/\/127\.0\.0\.1\/\*\*\*/);
      await targets.nth(0).getByTestId('send-test-alert').click();
      await targets.nth(0).getByText('The target took the test alert.').waitFor();
      await targets.nth(1).getByTestId('send-test-alert').click();
      await targets.nth(1).getByText(/The test alert did not go through: the target answered HTTP 503/).waitFor();
      assert.match(await targets.nth(1).innerText(), /failed attempt/);
      const text = await page.locator('body').innerText();
      assert.ok(!text.includes('slacktoken'), 'the Slack token is not on the page');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      assert.equal(overflow, false, `nothing scrolls sideways at ${width} px`);
      await section.screenshot({ path: join(artifacts, `alerts-${colorScheme}-${width}.png`) });
      await page.close();
    }
    assert.ok(received.some((message) => /^KYC Monitor test alert: /.test(message.text)), JSON.stringify(received));
    assert.ok(received.some((message) => /^KYC Monitor alert: No delivery/.test(message.text)), JSON.stringify(received));
  });

  it('tells every page what needs attention, live, as the conditions start and resolve', async () => {
    for (const [colorScheme, width] of [['light', 1280], ['dark', 1280], ['light', 360]]) {
      const page = await browser.newPage({ colorScheme, viewport: { width, height: 700 } });
      await page.goto(monitor.uiUrl);
      const strip = page.getByTestId('attention-strip');
      const silence = strip.locator('[data-rule="silence"]');
      await silence.waitFor();
      // The monitor's summary as sent, then how long it has held, without brackets, ticking.
      assert.match(await silence.innerText(), /^Silence: No delivery for 1s or more .* — for \d+ s\s*Show$/s);
      assert.equal(await silence.getByRole('link', { name: 'Show' }).getAttribute('href'), '#/deliveries');
      const held = silence.getByTestId('attention-since');
      const first = await held.textContent();
      await page.waitForFunction(([element, was]) => element.textContent !== was, [await held.elementHandle(), first], { timeout: 3000 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      assert.equal(overflow, false, `nothing scrolls sideways at ${width} px`);
      await page.screenshot({ path: join(artifacts, `attention-strip-${colorScheme}-${width}.png`) });
      assert.deepEqual(await seriousViolations(page), [], `no serious accessibility violation, ${colorScheme} at ${width} px`);
      // A delivery ends the silence: the strip goes, and comes back a second of silence later,
      // both told by the feed (no reload; the page refreshes nothing on its own meanwhile).
      const answer = await fetch(monitor.webhookUrl, {
        method: 'POST',
        body: JSON.stringify({ externalId: `strip_${colorScheme}_${width}`, decision: '', status: 'OPEN', subStatus: '', participantId: '', account: '' }),
      });
      assert.equal(answer.status, 200);
      await silence.waitFor({ state: 'detached' });
      await silence.waitFor();
      await page.close();
    }
  });
});

describe('the attention strip by role', () => {
  let team;
  let uiUrl;
  let chromium;

  before(async () => {
    // A team monitor behind a sign-in proxy (this test is the proxy: each browser context sends
    // its person's headers).
    team = await onFreePort((port) => {
      uiUrl = `http://127.0.0.1:${port}`;
      return startMonitor(
        [
          '--auth', 'proxy', '--trusted-proxy', '127.0.0.1/32', '--public-ui-url', uiUrl,
          '--role', 'admin=g-admin', '--role', 'support=g-sup', '--role', 'viewer=g-view',
          '--alert-silence', '1s', '--alert-settle', '200ms',
        ],
        { uiListen: `127.0.0.1:${port}` },
      );
    });
    chromium = await launchChromium();
  });

  after(async () => {
    await chromium?.close();
    await team?.stop();
  });

  it('links the view that shows a condition only for a role that may open it', async () => {
    for (const [email, group, linked] of [
      ['sam@example.com', 'g-sup', false],
      ['vic@example.com', 'g-view', false],
      ['ada@example.com', 'g-admin', true],
    ]) {
      const context = await chromium.newContext({ viewport: { width: 1280, height: 700 }, extraHTTPHeaders: { 'X-Forwarded-Email': email, 'X-Forwarded-Groups': group } });
      const page = await context.newPage();
      const problems = [];
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(uiUrl);
      await page.getByTestId('role').waitFor();
      const silence = page.getByTestId('attention-strip').locator('[data-rule="silence"]');
      await silence.waitFor();
      assert.match(await silence.innerText(), /^Silence: No delivery for 1s or more .* — for \d+ s/s, group);
      assert.equal(await silence.getByRole('link', { name: 'Show' }).count(), linked ? 1 : 0, group);
      if (linked) {
        await silence.getByRole('link', { name: 'Show' }).click();
        await page.getByTestId('deliveries').waitFor();
      }
      await page.screenshot({ path: join(artifacts, `attention-strip-${group}.png`), clip: { x: 0, y: 0, width: 1280, height: 160 } });
      assert.deepEqual(problems, []);
      await context.close();
    }
  });
});
