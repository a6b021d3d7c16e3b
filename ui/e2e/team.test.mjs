// A team monitor in Chromium: people sign in through a real OpenID Provider's login page
// (tests/idp/server.mjs), and each sees what their role allows: support the board, search and
// user pages with identifiers masked and no raw deliveries, no Inspector, Register or Audit;
// an admin everything, the Audit view holding their own sign-in. Signing out ends the session.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seriousViolations } from './axe.mjs';
import { CLIENT_ID, CLIENT_SECRET, startIdp } from './idp.mjs';
import { launchChromium, onFreePort, startMonitor } from './monitor.mjs';
import { crowding } from './topbar.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
const PARTICIPANT = 'firms/ISV-Participant-Acme/users/user_4821';
const ACCOUNT = 'firms/ISV-Acme/accounts/7c1e9a02b4d6';

let idp;
let monitor;
let browser;

/** A new browser window signed in as `login` through the provider's own forms. */
async function signedIn(user) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(monitor.uiUrl);
  // The provider's login form, then its consent form, until it sends the browser back.
  while (!page.url().startsWith(monitor.uiUrl)) {
    const login = page.locator('input[name="login"]');
    if (await login.count()) {
      await login.fill(user);
      await page.locator('input[name="password"]').fill('any password');
    }
    const was = page.url();
    await page.locator('button[type="submit"]').first().click();
    await page.waitForURL((url) => url.href !== was);
  }
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { page, context, problems };
}

describe('a team monitor signed in through an OpenID Provider', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    process.env.KYC_MONITOR_OIDC_CLIENT_SECRET = CLIENT_SECRET;
    // The provider knows the monitor's address, so both start again if that port was taken.
    monitor = await onFreePort(async (port) => {
      const ui = `http://127.0.0.1:${port}`;
      idp = await startIdp(ui);
      try {
        const started = await startMonitor(
          [
            '--auth', 'oidc', '--oidc-issuer', idp.issuer, '--oidc-client-id', CLIENT_ID, '--public-ui-url', ui,
            '--role', 'admin=kyc-admins', '--role', 'support=kyc-support',
          ],
          { uiListen: `127.0.0.1:${port}` },
        );
        return { ...started, uiUrl: ui };
      } catch (error) {
        idp.stop();
        throw error;
      }
    });
    const body = {
      externalId: 'user_4821', decision: 'ACCEPT', status: 'CLOSED', subStatus: '',
      participantId: PARTICIPANT, account: ACCOUNT, date_of_birth: '1987-03-14',
    };
    const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
    assert.equal(response.status, 200);
  });
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await monitor?.stop();
    idp?.stop();
  });

  it('shows support who they are, masked identifiers, and none of what their role may not use', async () => {
    const { page, context, problems } = await signedIn('bob');
    const who = page.getByTestId('signed-in');
    assert.match(await who.innerText(), /Bob Support\s+support\s+Sign out/);
    const nav = page.getByRole('navigation', { name: 'Views' });
    const links = await nav.getByRole('link').allInnerTexts();
    assert.deepEqual(links, ['Board', 'Stats']);
    await page.getByTestId('card').filter({ hasText: 'user_4821' }).waitFor();
    // The webhook URL's secret part is the admins': support is offered no URL to copy (at 1280
    // px a signed-in top bar keeps the URL in the endpoint menu, which support does not get).
    assert.match(await page.locator('.endpoint .url').textContent(), /\/kyc-webhook\/\*\*\*\*$/);
    assert.equal(await page.getByTestId('endpoint-menu').count(), 0);
    assert.equal(await page.getByRole('button', { name: /Copy/ }).count(), 0);
    await page.screenshot({ path: join(artifacts, 'team-support-board.png') });

    await page.goto(`${monitor.uiUrl}/#/user/user_4821`);
    await page.getByRole('heading', { name: 'user_4821' }).waitFor();
    const text = await page.locator('main').innerText();
    // Masked to four stars and the last four characters, whatever its length.
    assert.ok(text.includes(`****${PARTICIPANT.slice(-4)}`) && !text.includes(`*****${PARTICIPANT.slice(-4)}`), text);
    assert.ok(!text.includes(PARTICIPANT) && !text.includes(ACCOUNT), text);
    assert.ok(!text.includes('1987-03-14'), text);
    await page.getByTestId('timeline-withheld').first().waitFor();
    assert.deepEqual(await seriousViolations(page), []);
    await page.screenshot({ path: join(artifacts, 'team-support-user.png'), fullPage: true });

    // A view for admins, asked for by its address: the page says so, the monitor was not asked.
    await page.goto(`${monitor.uiUrl}/#/audit`);
    await page.getByTestId('not-for-role').waitFor();
    assert.equal(await page.getByTestId('audit-log').count(), 0);

    await page.getByTestId('sign-out').click();
    await page.waitForURL(`${monitor.uiUrl}/auth/signed-out`);
    assert.match(await page.locator('body').innerText(), /signed out/i);
    const session = await context.request.get(`${monitor.uiUrl}/api/session`);
    assert.equal(session.status(), 401);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('shows an admin the Audit view with their own sign-in', async () => {
    const { page, context, problems } = await signedIn('alice');
    assert.match(await page.getByTestId('signed-in').innerText(), /Alice Admin\s+admin\s+Sign out/);
    const nav = page.getByRole('navigation', { name: 'Views' });
    assert.deepEqual(await nav.getByRole('link').allInnerTexts(), ['Board', 'Review', 'Deliveries', 'Stats', 'Register', 'Settings', 'Audit']);
    // The admin's URL is whole, and its menu copies it.
    await page.getByTestId('endpoint-menu').locator('summary').click();
    assert.match(await page.getByTestId('endpoint-menu-url').innerText(), /\/kyc-webhook\/[0-9a-f]{16,}$/);
    assert.equal(await page.getByRole('button', { name: 'Copy webhook URL' }).count(), 1);
    await page.getByTestId('endpoint-menu').locator('summary').click();
    await nav.getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    const signIn = page.locator('[data-testid="audit-entry"][data-action="sign-in"]', { hasText: 'alice@example.com' });
    await signIn.first().waitFor();
    // Bob's sign-out (the test before) is there too.
    await page.locator('[data-testid="audit-entry"][data-action="sign-out"]', { hasText: 'bob@example.com' }).first().waitFor();
    assert.deepEqual(await seriousViolations(page), []);
    await page.screenshot({ path: join(artifacts, 'team-admin-audit.png'), fullPage: true });

    // The admin's top bar (every view, the webhook endpoint, the person) fits at 1280 px: no
    // two items touch or overlap, none is cut off; narrower, it gives way (the endpoint into
    // its menu, then the bar wraps), light and dark.
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const width of [1280, 1024, 360]) {
        await page.setViewportSize({ width, height: 800 });
        await page.screenshot({ path: join(artifacts, `team-admin-topbar-${width}-${scheme}.png`), clip: { x: 0, y: 0, width, height: width < 700 ? 200 : width < 1440 ? 100 : 60 } });
        assert.deepEqual(await crowding(page), [], `${width} px, ${scheme}`);
      }
    }
    await page.setViewportSize({ width: 1280, height: 800 });

    await page.goto(`${monitor.uiUrl}/#/user/user_4821`);
    await page.getByRole('heading', { name: 'user_4821' }).waitFor();
    assert.ok((await page.locator('main').innerText()).includes(PARTICIPANT));
    assert.deepEqual(problems, []);
    await context.close();
  });
});
