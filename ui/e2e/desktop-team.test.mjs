// The desktop app as a window onto a team monitor, in a real window (Xvfb, tauri-driver,
// WebKitWebDriver, as e2e/desktop.test.mjs): the test starts `serve --auth oidc` with the test
// OpenID Provider (tests/idp), the app connects to it from Settings and signs in through the
// "system browser" ($BROWSER = e2e/team-browser.mjs, headless Chromium walking the provider's
// forms back to the app's loopback port), shows the team monitor's board live with who is
// signed in, keeps the session in the keychain only, and says when the team monitor goes away
// and when it is back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIENT_ID, CLIENT_SECRET, startIdp } from './idp.mjs';
import { onFreePort, startMonitor } from './monitor.mjs';
import { secretTool, startDesktopSession, startKeyring, startSessionBus } from './session-bus.mjs';
import { Session, clickNotification, eventually, freePort, startDriver, startXvfb } from './webdriver.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const docs = join(here, '../../docs');
const artifacts = join(here, 'artifacts');
const binary = process.env.KYC_MONITOR_BIN;

/** Every file under `dir`, for looking for a secret in them. */
function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('the desktop app as a window onto a team monitor', { skip: !binary && 'set KYC_MONITOR_BIN' }, () => {
  let xvfb;
  let driver;
  let driverUrl;
  let scratch;
  let bus;
  let keyring;
  let idp;
  let team;
  let teamArgs;
  let teamDb;
  let ui;
  let appLog = '';
  let env;
  /** The desktop's notification service and tray host (e2e/desktop-session.py). */
  let desktop;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'kyc-desktop-team-'));
    xvfb = await startXvfb();
    bus = await startSessionBus(join(scratch, 'bus'));
    keyring = await startKeyring(bus.address, join(scratch, 'keyring'));
    await eventually(
      async () => (await secretTool(bus.address, ['store', '--label=ready', 'service', 'e2e', 'username', 'ready'], 'x')).code === 0,
      'the keyring to be on the bus',
    );

    // The team monitor and its provider.
    process.env.KYC_MONITOR_OIDC_CLIENT_SECRET = CLIENT_SECRET;
    teamDb = join(scratch, 'team.db');
    // The provider knows the monitor's address, so both start again if that port was taken.
    team = await onFreePort(async (uiPort) => {
      ui = `http://127.0.0.1:${uiPort}`;
      idp = await startIdp(ui);
      teamArgs = [
        '--auth', 'oidc', '--oidc-issuer', idp.issuer, '--oidc-client-id', CLIENT_ID, '--public-ui-url', ui,
        '--role', 'admin=kyc-admins', '--role', 'support=kyc-support',
        // Silence after 2 s: each delivery resolves it, and the quiet after it starts it again.
        '--alert-silence', '2s', '--alert-settle', '200ms',
      ];
      try {
        return await startMonitor(teamArgs, { db: teamDb, uiListen: `127.0.0.1:${uiPort}` });
      } catch (error) {
        idp.stop();
        throw error;
      }
    });

    env = {
      ...process.env,
      DBUS_SESSION_BUS_ADDRESS: bus.address,
      NO_AT_BRIDGE: '1',
      LC_ALL: 'C',
      DISPLAY: xvfb.display,
      XDG_CONFIG_HOME: join(scratch, 'config'),
      XDG_DATA_HOME: join(scratch, 'data'),
      XDG_RUNTIME_DIR: scratch,
      // The system browser the app opens for the sign-in.
      BROWSER: join(here, 'team-browser.mjs'),
      TEAM_BROWSER_LOG: join(scratch, 'browser.log'),
      TEAM_BROWSER_SHOT: join(artifacts, 'desktop-team-confirm.png'),
      RUST_LOG: 'warn,kyc_monitor=debug',
    };
    driver = await startDriver(env, (chunk) => {
      appLog += chunk;
      process.stderr.write(chunk);
    });
    driverUrl = driver.url;
  });

  after(async () => {
    await driver?.stop();
    await desktop?.stop();
    xvfb?.stop();
    await team?.stop();
    idp?.stop();
    await keyring?.stop();
    await bus?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const post = (body) => fetch(team.webhookUrl, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.status);
  const state = (externalId, decision, status) => ({
    externalId, decision, status, subStatus: '', participantId: '', account: '',
  });

  it('connects, signs in through the browser, shows the team board live, and says when the link is lost and back', async () => {
    assert.equal(await post(state('team_1001', 'REVIEW', 'ON_HOLD')), 200);
    // The desktop's notification service and tray host, on the session bus, before the app.
    desktop = await startDesktopSession(env);
    const listenPort = await freePort();
    const session = await Session.start(driverUrl, ['--db', join(scratch, 'app.db'), '--listen', `127.0.0.1:${listenPort}`]);
    await session.waitFor('[data-testid="board"]');
    // Alone, the app listens for webhooks itself.
    assert.ok((await fetch(`http://127.0.0.1:${listenPort}/`).catch(() => null)) !== null, 'the app listens alone');

    await session.execute('location.hash = "#/settings"');
    const field = await session.waitFor('input[name="teamUrl"]');
    await session.type(field, ui);
    mkdirSync(artifacts, { recursive: true });
    await session.screenshot(join(artifacts, 'desktop-team-settings.png'));
    await session.click(await session.find('[data-testid="team-connect"]'));

    const banner = await eventually(
      async () => session.text(await session.find('[data-testid="team-banner"]')),
      'the window to be connected',
      90_000,
    ).catch((error) => {
      const browserLog = existsSync(join(scratch, 'browser.log')) ? readFileSync(join(scratch, 'browser.log'), 'utf8') : '';
      throw new Error(`${error.message}; browser: ${browserLog}`);
    });
    assert.equal(banner.trim(), `Connected to ${ui} as Alice Admin (admin)`);
    // The monitor asked the person, in the browser, before the app got its code.
    assert.match(readFileSync(join(scratch, 'browser.log'), 'utf8'), /^asked: Sign in the KYC Monitor app as alice@example\.com\?$/m);
    await session.waitFor('[data-testid="card"][data-external-id="team_1001"]', 30_000);
    // Connected, the app runs no listener of its own.
    await eventually(async () => (await fetch(`http://127.0.0.1:${listenPort}/`).catch(() => null)) === null, 'the app to close its listener');

    // Live: a delivery to the team monitor shows in the window.
    assert.equal(await post(state('team_1002', 'ACCEPT', 'CLOSED')), 200);
    await session.waitFor('[data-column="CLOSED"] [data-external-id="team_1002"]', 15_000);
    // Its count too (the overview is asked again after each change).
    await eventually(
      async () => /^CLOSED\s*1\b/.test(await session.text(await session.find('[data-column="CLOSED"]'))),
      'the CLOSED column to count team_1002',
    );
    mkdirSync(docs, { recursive: true });
    await session.screenshot(join(docs, 'team-desktop.png'));

    // The team monitor's alerts are notified as the app's own: the quiet after team_1002 starts
    // a silence, a click on its notification opens its view, and the next delivery resolves it.
    const attention = await desktop.next((event) => event.event === 'notify' && event.summary === 'Needs attention');
    assert.match(attention.body, /^No delivery for 2s or more \(the last came at /);
    await clickNotification(
      desktop,
      attention.id,
      async () => (await session.execute('return location.hash')) === '#/deliveries',
      "the team monitor's alert to open its view",
    );
    assert.equal(await post(state('team_1004', '', 'OPEN')), 200);
    const resolved = await desktop.next((event) => event.event === 'notify' && event.summary === 'Resolved' && event.id > attention.id);
    assert.match(resolved.body, /^No delivery for 2s or more/);
    // Settings say whose settings apply while connected (the app's own form is set aside).
    await session.execute('location.hash = "#/settings"');
    const note = await session.waitFor('[data-testid="team-settings-note"]');
    assert.match(await session.text(note), /^The review SLA, alerts, forwarding and retention are the team monitor's/);
    assert.equal((await session.all('input[name="reviewSla"]')).length, 0, "the app's own SLA field is not offered");
    await session.execute('location.hash = "#/"');

    // The session is in the keychain, and nowhere else the app writes.
    const kept = await secretTool(bus.address, ['lookup', 'service', 'kyc-monitor', 'username', 'team-session']);
    assert.equal(kept.code, 0, kept.stderr);
    const secret = kept.stdout.trim();
    assert.ok(secret.length >= 40, 'a session secret is kept');
    for (const file of [...filesUnder(join(scratch, 'config')), ...filesUnder(join(scratch, 'data'))]) {
      assert.ok(!readFileSync(file).includes(secret), `${file} holds the session`);
    }
    assert.ok(!appLog.includes(secret), "the app's log holds the session");
    assert.ok(
      filesUnder(join(scratch, 'config')).some((file) => readFileSync(file, 'utf8').includes(ui)),
      'the team monitor address is in the settings file',
    );

    // The team monitor stops: the window says so; it comes back: the window says that too.
    await team.stop();
    await eventually(async () => /Connection lost/.test(await session.text(await session.find('[data-testid="team-lost"]'))), 'the loss to show');
    await session.screenshot(join(artifacts, 'desktop-team-lost.png'));
    team = await startMonitor(teamArgs, { db: teamDb, uiListen: new URL(ui).host });
    await session.waitFor('[data-testid="team-back"]', 30_000);
    assert.equal(await post(state('team_1003', 'REJECT', 'CLOSED')), 200);
    await session.waitFor('[data-external-id="team_1003"]', 15_000);

    // An admin ends Alice's sessions (here with her own, as the app's bearer): the window says
    // so, and signing in again from the banner goes through the browser once more.
    const ended = await fetch(`${ui}/api/sessions/end`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'alice@example.com' }),
    });
    assert.equal(ended.status, 200, await ended.text());
    await eventually(
      async () => /ended your session/.test(await session.text(await session.find('[data-testid="team-signed-out"]'))),
      'the ended session to show',
    );
    await session.call('POST', '/window/rect', { width: 720, height: 800 });
    await session.screenshot(join(artifacts, 'desktop-team-ended-narrow.png'));
    await session.click(await session.find('[data-testid="team-sign-in"]'));
    await eventually(
      async () => (await session.text(await session.find('[data-testid="team-banner"]'))).includes('as Alice Admin (admin)'),
      'the window to be signed in again',
      90_000,
    );
    const renewed = await secretTool(bus.address, ['lookup', 'service', 'kyc-monitor', 'username', 'team-session']);
    assert.ok(renewed.stdout.trim() && renewed.stdout.trim() !== secret, 'a new session replaced the ended one');
    await session.end().catch(() => {});
  });
});
