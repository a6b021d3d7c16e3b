// The desktop app as a window onto a team monitor, in a real window (Xvfb, tauri-driver,
// WebKitWebDriver, as e2e/desktop.test.mjs): the test starts `serve --auth oidc` with the test
// OpenID Provider (tests/idp), the app connects to it from Settings and signs in through the
// "system browser" ($BROWSER = e2e/team-browser.mjs, headless Chromium walking the provider's
// forms back to the app's loopback port), shows the team monitor's board live with who is
// signed in, keeps the session in the keychain only, and says when the team monitor goes away
// and when it is back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startMonitor } from './monitor.mjs';
import { secretTool, startKeyring, startSessionBus } from './session-bus.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const docs = join(here, '../../docs');
const artifacts = join(here, 'artifacts');
const binary = process.env.KYC_MONITOR_BIN;
const W3C_ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';
const CLIENT_ID = 'kyc-monitor';
const CLIENT_SECRET = 'test-client-secret-0123456789abcdef';

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Retries `probe` until it returns a truthy value (a guard against hangs, not a timing check). */
async function eventually(probe, what, limit = 30_000) {
  const start = Date.now();
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() - start > limit) throw new Error(`${what} did not happen (last: ${last})`);
    await sleep(100);
  }
}

/** A minimal W3C WebDriver client over fetch. */
class Session {
  static async start(driverUrl, args) {
    const response = await fetch(`${driverUrl}/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        capabilities: { alwaysMatch: { browserName: 'wry', 'tauri:options': { application: binary, args } } },
      }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(`new session: ${JSON.stringify(body)}`);
    return new Session(driverUrl, body.value.sessionId);
  }

  constructor(driverUrl, id) {
    this.base = `${driverUrl}/session/${id}`;
  }

  async call(method, path, body) {
    const response = await fetch(this.base + path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json.value ?? json)}`);
    return json.value;
  }

  async find(css) {
    const found = await this.call('POST', '/element', { using: 'css selector', value: css });
    return found[W3C_ELEMENT];
  }

  waitFor(css, limit) {
    return eventually(() => this.find(css), `${css} to appear`, limit);
  }

  text(element) {
    return this.call('GET', `/element/${element}/text`);
  }

  async click(element) {
    await this.execute("arguments[0].scrollIntoView({ block: 'center' })", [{ [W3C_ELEMENT]: element }]);
    return this.call('POST', `/element/${element}/click`, {});
  }

  type(element, text) {
    return this.call('POST', `/element/${element}/value`, { text });
  }

  execute(script, args = []) {
    return this.call('POST', '/execute/sync', { script, args });
  }

  async screenshot(path) {
    const png = await this.call('GET', '/screenshot');
    writeFileSync(path, Buffer.from(png, 'base64'));
  }

  end() {
    return this.call('DELETE', '');
  }
}

/** The test provider, its monitor client redirecting to `ui`; resolves with its issuer. */
function startIdp(ui) {
  const clients = [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${ui}/auth/callback`] }];
  const child = spawn('node', [join(here, '../../tests/idp/server.mjs')], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, IDP_CLIENTS: JSON.stringify(clients) },
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the test provider exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (line) => {
      assert.match(line, /^issuer: /);
      resolve({ issuer: line.slice('issuer: '.length).trim(), stop: () => child.kill('SIGTERM') });
    });
  });
}

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

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'kyc-desktop-team-'));
    let display = 90;
    while (existsSync(`/tmp/.X11-unix/X${display}`) || existsSync(`/tmp/.X${display}-lock`)) display++;
    xvfb = spawn('Xvfb', [`:${display}`, '-screen', '0', '1440x900x24', '-nolisten', 'tcp'], { stdio: 'ignore' });
    await eventually(() => existsSync(`/tmp/.X11-unix/X${display}`), 'Xvfb to start');
    bus = await startSessionBus(join(scratch, 'bus'));
    keyring = await startKeyring(bus.address, join(scratch, 'keyring'));
    await eventually(
      async () => (await secretTool(bus.address, ['store', '--label=ready', 'service', 'e2e', 'username', 'ready'], 'x')).code === 0,
      'the keyring to be on the bus',
    );

    // The team monitor and its provider.
    const uiPort = await freePort();
    ui = `http://127.0.0.1:${uiPort}`;
    idp = await startIdp(ui);
    process.env.KYC_MONITOR_OIDC_CLIENT_SECRET = CLIENT_SECRET;
    teamDb = join(scratch, 'team.db');
    teamArgs = [
      '--auth', 'oidc', '--oidc-issuer', idp.issuer, '--oidc-client-id', CLIENT_ID, '--public-ui-url', ui,
      '--role', 'admin=kyc-admins', '--role', 'support=kyc-support',
    ];
    team = await startMonitor(teamArgs, { db: teamDb, uiListen: `127.0.0.1:${uiPort}` });

    const env = {
      ...process.env,
      DBUS_SESSION_BUS_ADDRESS: bus.address,
      NO_AT_BRIDGE: '1',
      LC_ALL: 'C',
      DISPLAY: `:${display}`,
      XDG_CONFIG_HOME: join(scratch, 'config'),
      XDG_DATA_HOME: join(scratch, 'data'),
      XDG_RUNTIME_DIR: scratch,
      // The system browser the app opens for the sign-in.
      BROWSER: join(here, 'team-browser.mjs'),
      TEAM_BROWSER_LOG: join(scratch, 'browser.log'),
      RUST_LOG: 'warn,kyc_monitor=debug',
    };
    const port = await freePort();
    const nativePort = await freePort();
    driver = spawn('tauri-driver', ['--port', String(port), '--native-port', String(nativePort)], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [driver.stdout, driver.stderr]) {
      stream.on('data', (chunk) => {
        appLog += chunk;
        process.stderr.write(chunk);
      });
    }
    driverUrl = `http://127.0.0.1:${port}`;
    await eventually(() => fetch(`${driverUrl}/status`).then((r) => r.ok), 'tauri-driver to start');
  });

  after(async () => {
    driver?.kill('SIGTERM');
    await sleep(300);
    xvfb?.kill('SIGTERM');
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
