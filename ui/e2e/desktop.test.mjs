// The desktop app in a real window: Xvfb, tauri-driver and WebKitWebDriver (Debian's
// webkit2gtk-driver) drive the built kyc-monitor binary (KYC_MONITOR_BIN, with the desktop
// feature) with a temporary database, settings folder and free port. Deliveries are posted to
// its listener over HTTP; the board must update live, search must open the user, and settings
// must survive a restart. A screenshot of the window is kept in e2e/artifacts/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { secretTool, startDesktopSession, startKeyring, startSessionBus } from './session-bus.mjs';
import { PAGE_AS_DRAWN, SCROLL_TO, drawAgain, startSlackReceiver, startSmtpSink } from './alert-sinks.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
const binary = process.env.KYC_MONITOR_BIN;
const W3C_ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Clicks a notification until `opened` holds. The app listens for a notification's click only
 * once the desktop has shown it, so a click sent in between (which the test, unlike a person,
 * can do) is lost; like a person, the test then clicks again.
 */
async function clickNotification(desktop, id, opened, what) {
  await eventually(async () => {
    await desktop.ask({ cmd: 'action', id, key: 'default' }, 'action-sent');
    for (let tries = 0; tries < 20; tries++) {
      if (await opened().catch(() => false)) return true;
      await sleep(100);
    }
    return false;
  }, what);
}

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

  async all(css) {
    const found = await this.call('POST', '/elements', { using: 'css selector', value: css });
    return found.map((element) => element[W3C_ELEMENT]);
  }

  waitFor(css, limit) {
    return eventually(() => this.find(css), `${css} to appear`, limit);
  }

  text(element) {
    return this.call('GET', `/element/${element}/text`);
  }

  attribute(element, name) {
    return this.call('GET', `/element/${element}/attribute/${name}`);
  }

  property(element, name) {
    return this.call('GET', `/element/${element}/property/${name}`);
  }

  /** Scrolls the element to the middle of the window first: at an edge, or under the sticky
   * top bar, WebKitWebDriver's click can miss it. */
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

describe('the desktop app in a real window', { skip: !binary && 'set KYC_MONITOR_BIN' }, () => {
  let xvfb;
  let driver;
  let driverUrl;
  let scratch;
  let env;
  let listenPort;
  let db;
  let bus;
  let keyring;
  /** The user's Downloads folder, as the desktop session names it. */
  let downloads;
  /** What the apps launched by tauri-driver wrote to stdout and stderr. */
  let appLog = '';

  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    scratch = mkdtempSync(join(tmpdir(), 'kyc-desktop-'));
    downloads = join(scratch, 'downloads');
    mkdirSync(join(scratch, 'config'), { recursive: true });
    writeFileSync(join(scratch, 'config', 'user-dirs.dirs'), `XDG_DOWNLOAD_DIR="${downloads}"\n`);
    let display = 90;
    while (existsSync(`/tmp/.X11-unix/X${display}`) || existsSync(`/tmp/.X${display}-lock`)) display++;
    xvfb = spawn('Xvfb', [`:${display}`, '-screen', '0', '1440x900x24', '-nolisten', 'tcp'], { stdio: 'ignore' });
    await eventually(() => existsSync(`/tmp/.X11-unix/X${display}`), 'Xvfb to start');
    // A session bus of our own, with a keyring, as a desktop session has.
    bus = await startSessionBus(join(scratch, 'bus'));
    keyring = await startKeyring(bus.address, join(scratch, 'keyring'));
    await eventually(
      async () => (await secretTool(bus.address, ['store', '--label=ready', 'service', 'e2e', 'username', 'ready'], 'x')).code === 0,
      'the keyring to be on the bus',
    );
    env = {
      ...process.env,
      DBUS_SESSION_BUS_ADDRESS: bus.address,
      NO_AT_BRIDGE: '1', // no accessibility bus on this private session
      // The POSIX locale, as on a server or a CI machine: WebKit then gives the page the
      // language "C", which Intl refuses (a library reading it once blanked the whole window).
      LC_ALL: 'C',
      DISPLAY: `:${display}`,
      XDG_CONFIG_HOME: join(scratch, 'config'),
      XDG_DATA_HOME: join(scratch, 'data'),
      XDG_RUNTIME_DIR: scratch,
      // Our own and the keychain's debug lines too, so that a secret logged there is seen.
      RUST_LOG: 'warn,kyc_monitor=debug,keyring=debug',
    };
    // The alert options come from Settings here; the environment would win over them.
    for (const name of ['KYC_MONITOR_ALERT_TO', 'KYC_MONITOR_SMTP_URL', 'KYC_MONITOR_ALERT_SILENCE', 'KYC_MONITOR_SMTP_PASSWORD']) {
      delete env[name];
    }
    const port = await freePort();
    const nativePort = await freePort();
    driver = spawn('tauri-driver', ['--port', String(port), '--native-port', String(nativePort)], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Shown as it comes, and kept: the keychain test reads the app's log for its secret.
    for (const stream of [driver.stdout, driver.stderr]) {
      stream.on('data', (chunk) => {
        appLog += chunk;
        process.stderr.write(chunk);
      });
    }
    driverUrl = `http://127.0.0.1:${port}`;
    await eventually(() => fetch(`${driverUrl}/status`).then((r) => r.ok), 'tauri-driver to start');
    listenPort = await freePort();
    db = join(scratch, 'desktop.db');
  });

  after(async () => {
    driver?.kill('SIGTERM'); // not SIGKILL: that would leave WebKitWebDriver behind
    await sleep(300);
    xvfb?.kill('SIGTERM');
    await keyring?.stop();
    await bus?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  /** The app's processes for `database` (by default: any of this run's) are gone, so the next
   * launch is not a second instance. */
  function appExited(database = scratch) {
    try {
      execFileSync('pgrep', ['-f', '--', `--db ${database}`]);
      return false;
    } catch {
      return true;
    }
  }

  async function launch(database = db, ready = '[data-testid="board"]', extra = []) {
    await eventually(appExited, 'the previous app to exit');
    const session = await Session.start(driverUrl, ['--db', database, '--listen', `127.0.0.1:${listenPort}`, ...extra]);
    await session.waitFor(ready);
    return session;
  }

  /** The app's process id, for signals. */
  function appPid(database) {
    return Number(execFileSync('pgrep', ['-f', '--', `--db ${database}`]).toString().trim().split('\n')[0]);
  }

  it('shows deliveries live, finds a user, and keeps settings across a restart', async () => {
    let session = await launch();
    const webhookUrl = await eventually(async () => {
      const url = await session.attribute(await session.find('.endpoint .url'), 'title');
      return url?.startsWith(`http://127.0.0.1:${listenPort}/kyc-webhook/`) ? url : null;
    }, 'the webhook URL to show');
    await eventually(async () => (await session.text(await session.find('[data-testid="connection"]'))) === 'Live', 'the feed to be live');

    const post = (body) => fetch(webhookUrl, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.status);
    const state = (externalId, decision, status, subStatus = '') => ({
      externalId, decision, status, subStatus, participantId: '', account: '',
    });
    assert.equal(await post(state('desk_4821', '', 'OPEN', 'pending')), 200);
    const card = await session.waitFor('[data-testid="card"][data-external-id="desk_4821"]', 5000);
    assert.match(await session.property(card, 'textContent'), /desk_4821/);
    assert.equal(await post(state('desk_4821', 'REVIEW', 'ON_HOLD', 'Document Request Initiated')), 200);
    await eventually(async () => {
      const column = await session.find('[data-column="ON_HOLD"] [data-external-id="desk_4821"]');
      return column;
    }, 'the card to move to ON HOLD');
    assert.equal(await post(state('desk_7002', 'ACCEPT', 'CLOSED')), 200);
    await session.waitFor('[data-column="CLOSED"] [data-external-id="desk_7002"]', 5000);
    await session.screenshot(join(artifacts, 'desktop-window.png'));

    // Search: type the start of an externalId, Enter opens the user.
    const search = await session.find('.search input');
    await session.type(search, 'desk_48');
    await eventually(async () => (await session.all('.results [role="option"]')).length === 1, 'one search result');
    await session.type(search, '\uE007');
    const title = await session.waitFor('.user-page h1');
    assert.equal(await session.text(title), 'desk_4821');

    // The window's size and position are remembered across a restart (the quit below saves them).
    await session.call('POST', '/window/rect', { x: 60, y: 40, width: 1100, height: 700 });
    const rect = await session.call('GET', '/window/rect');
    assert.deepEqual([rect.x, rect.y, rect.width, rect.height], [60, 40, 1100, 700], 'the window took the new place and size');

    // Settings: turn approvals off, save, restart the app, find them still off.
    await session.click(await session.find('a[href="#/settings"]'));
    const approvals = await session.waitFor('input[name="notifyAccept"]');
    assert.equal(await session.property(approvals, 'checked'), true);
    await session.click(approvals);
    // A wrong value is refused with a sentence and nothing is saved; a right one is kept.
    const cidrs = await session.find('input[name="ngrokAllowCidrs"]');
    await session.type(cidrs, '203.0.113.0/24, 10.0.0.0/33');
    const save = await session.find('[data-testid="settings-form"] button[type="submit"]');
    await session.click(save);
    const answer = () => session.find('[data-testid="settings-answer"]').then((e) => session.text(e));
    await eventually(async () => /"10\.0\.0\.0\/33" is not a network/.test(await answer()), 'the refusal');
    await session.call('POST', `/element/${cidrs}/clear`, {});
    await session.type(cidrs, '203.0.113.0/24, 2001:db8::/32');
    await session.click(save);
    await eventually(async () => /Saved/.test(await answer()), 'the save');
    await session.screenshot(join(artifacts, 'desktop-settings.png'));
    process.kill(appPid(db), 'SIGTERM');
    await eventually(appExited, 'the app to quit');
    await session.end().catch(() => {});

    session = await launch();
    const again_rect = await session.call('GET', '/window/rect');
    assert.deepEqual(
      [again_rect.x, again_rect.y, again_rect.width, again_rect.height],
      [rect.x, rect.y, rect.width, rect.height],
      'the window place and size survived',
    );
    assert.ok(await session.waitFor('[data-external-id="desk_4821"]'), 'the board is back from the database');
    await session.execute('location.hash = "#/settings"');
    const again = await session.waitFor('input[name="notifyAccept"]');
    assert.equal(await session.property(again, 'checked'), false, 'the setting survived the restart');
    assert.equal(await session.property(await session.find('input[name="ngrokAllowCidrs"]'), 'value'), '203.0.113.0/24, 2001:db8::/32');
    assert.equal(await session.property(await session.find('input[name="notifyReject"]'), 'checked'), true);

    // One instance per database: a second launch brings this window forward and exits.
    const second = spawn(binary, ['--db', db, '--listen', `127.0.0.1:${await freePort()}`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    second.stderr.on('data', (chunk) => (said += chunk));
    const code = await new Promise((resolve) => second.on('exit', resolve));
    assert.equal(code, 0);
    assert.match(said, /already running for .*desktop\.db; its window was brought to the front/);

    // SIGTERM quits like the tray's Quit: deliveries in flight are stored and answered first.
    const sent = Array.from({ length: 40 }, (_, n) => post(state(`quit_${n}`, '', 'OPEN')).catch(() => 0));
    await sleep(20);
    process.kill(appPid(db), 'SIGTERM');
    const answers = await Promise.all(sent);
    await eventually(appExited, 'the app to quit');
    const acked = answers.filter((status) => status === 200).length;
    const stored = execFileSync(binary, ['export', 'users', '--format', 'jsonl', '--db', db]).toString();
    const quitUsers = stored.split('\n').filter((line) => line.includes('"quit_')).length;
    assert.ok(quitUsers >= acked, `every acknowledged delivery is stored (${quitUsers} stored, ${acked} acked)`);
    await session.end().catch(() => {});
  });

  it('shows what to do when the database cannot be opened', async () => {
    const foreign = join(scratch, 'notes.db');
    writeFileSync(foreign, 'these are my notes, not a database\n'.repeat(20));
    const session = await launch(foreign, '[data-testid="startup-error"]');
    const error = await session.text(await session.find('[data-testid="startup-error"]'));
    assert.match(error, /is not a KYC Monitor database/);
    assert.match(error, /Choose another database/);
    assert.equal(await session.text(await session.find('[data-testid="connection"]')), 'Not running');
    assert.equal(await session.text(await session.find('nav a.active')), 'Settings');
    assert.ok(await session.find('input[name="db"]'), 'the settings are right there');
    await session.screenshot(join(artifacts, 'desktop-startup-error.png'));
    await session.end();
    await eventually(() => {
      try {
        execFileSync('pgrep', ['-f', foreign]);
        return false;
      } catch {
        return true;
      }
    }, 'the app to exit');
  });

  it('notifies, opens the user from a notification, and works from the tray', async () => {
    // The desktop's notification service and tray host, on the session bus, before the app.
    const desktop = await startDesktopSession(env);
    const database = join(scratch, 'tray.db');
    const settingsFile = join(scratch, 'config', 'kyc-monitor', 'desktop-settings.json');
    mkdirSync(dirname(settingsFile), { recursive: true });
    writeFileSync(settingsFile, JSON.stringify({ notifyReview: true, notifyReject: true, notifyAccept: false }));
    let session;
    try {
      session = await launch(database);
      const tray = await desktop.next((event) => event.event === 'tray');
      assert.ok(tray.path.startsWith('/'), `the tray item registered (${JSON.stringify(tray)})`);
      const webhookUrl = await eventually(async () => {
        const url = await session.attribute(await session.find('.endpoint .url'), 'title');
        return url?.startsWith(`http://127.0.0.1:${listenPort}/kyc-webhook/`) ? url : null;
      }, 'the webhook URL to show');
      const post = (externalId, decision, status, subStatus = '') =>
        fetch(webhookUrl, {
          method: 'POST',
          body: JSON.stringify({ externalId, decision, status, subStatus, participantId: '', account: '' }),
        }).then((r) => r.status);
      const notified = (summary, from = 0) =>
        desktop.next((event) => event.event === 'notify' && event.summary === summary, from);

      // Notifications: review and rejection on, approvals off (in the settings file).
      assert.equal(await post('tray_open', '', 'OPEN', 'pending'), 200);
      assert.equal(await post('tray_review', 'REVIEW', 'ON_HOLD', 'Document Request Initiated'), 200);
      assert.equal(await post('tray_reject', 'REJECT', 'CLOSED'), 200);
      assert.equal(await post('tray_accept', 'ACCEPT', 'CLOSED'), 200);
      assert.equal(await post('tray_review2', 'REVIEW', 'ON_HOLD'), 200);
      const review = await notified('Review needed: tray_review');
      assert.equal(review.app, 'KYC Monitor');
      assert.equal(review.body, 'Document Request Initiated');
      assert.deepEqual(review.actions, ['default', 'Open']);
      const reject = await notified('Rejected: tray_reject');
      assert.equal(reject.body, 'KYC closed with REJECT');
      await notified('Review needed: tray_review2');
      assert.ok(
        !desktop.events.some((event) => event.summary === 'Approved: tray_accept'),
        'approvals are switched off, so the ACCEPT before the last review was not announced',
      );

      // A click on the notification opens that user.
      await clickNotification(
        desktop,
        reject.id,
        async () => (await session.text(await session.find('.user-page h1'))) === 'tray_reject',
        'the notification to open tray_reject',
      );

      // The tray menu: the review queue's count, counts per status, then the actions.
      const menu = async () => (await desktop.ask({ cmd: 'menu' }, 'menu')).items.filter((item) => item.type !== 'separator');
      const items = await eventually(async () => {
        const found = await menu();
        const labels = found.map((item) => item.label);
        return ['2 to review', 'Not started: 0', 'Open: 1', 'On hold: 2', 'Closed: 2'].every((label) => labels.includes(label)) && found;
      }, 'the tray to count the users per status');
      assert.deepEqual(
        items.map((item) => [item.label, item.enabled]),
        [
          ['2 to review', false],
          ['Not started: 0', false],
          ['Open: 1', false],
          ['On hold: 2', false],
          ['Closed: 2', false],
          ['Show window', true],
          ['Copy webhook URL', true],
          ['Pause notifications', true],
          ['Quit', true],
        ],
      );

      // "N to review" is the review queue's total as the window shows it, under the queue's
      // settings: saved in the window, the tray follows them.
      const toReview = async () => Number(/^(\d+) to review$/.exec((await menu())[0].label)?.[1]);
      const queueTotal = async () => Number(/^(\d+) waiting/.exec(await session.text(await session.find('[data-testid="review-total"]')))?.[1]);
      await session.execute('location.hash = "#/review"');
      await session.waitFor('[data-testid="queue-row"]');
      await eventually(async () => (await queueTotal()) === 2, 'the queue to show its two users on hold for review');
      assert.equal(await toReview(), await queueTotal());
      await session.click(await session.find('.queue-settings summary'));
      const choice = (text) =>
        session.execute(
          'return [...document.querySelectorAll(\'[data-testid="review-settings"] label.choice\')].find((l) => l.textContent.trim() === arguments[0]).querySelector("input")',
          [text],
        );
      await session.click((await choice('CLOSED'))[W3C_ELEMENT]);
      await session.click((await choice('REJECT'))[W3C_ELEMENT]);
      await session.click(await session.find('[data-testid="review-settings"] button[type="submit"]'));
      // tray_reject, closed with REJECT, joins the two.
      await eventually(async () => (await queueTotal()) === 3, 'the queue to follow its new settings');
      await eventually(async () => (await toReview()) === 3, 'the tray to follow the queue\'s new settings');

      // Download CSV: the window has no download bar, so the app writes the file into the
      // user's Downloads folder (XDG_DOWNLOAD_DIR), under a name that replaces nothing, and says
      // where; the second one is a second file.
      const saveCsv = async () => {
        await session.click(await session.find('[data-testid="review-csv"]'));
        return eventually(async () => {
          const said = await session.text(await session.find('[data-testid="review-csv-saved"]'));
          const path = /^Saved to (.+)$/.exec(said)?.[1];
          return path && path !== lastSaved ? path : null;
        }, 'the CSV to be saved');
      };
      let lastSaved = null;
      lastSaved = await saveCsv();
      assert.equal(dirname(lastSaved), downloads);
      const rows = readFileSync(lastSaved, 'utf8').trim().split('\n');
      assert.equal(rows.length, 1 + 3, 'a header and the three users listed');
      assert.ok(rows.some((row) => row.startsWith('tray_reject,')), rows.join('\n'));
      assert.equal(statSync(lastSaved).mode & 0o777, 0o600, 'it lists users: the owner\'s only');
      const second = await saveCsv();
      assert.match(second, / \(2\)\.csv$/);
      assert.equal(readFileSync(second, 'utf8'), readFileSync(lastSaved, 'utf8'));

      // Copy webhook URL puts it on the clipboard.
      await desktop.ask({ cmd: 'click', label: 'Copy webhook URL' }, 'clicked');
      await eventually(
        () => execFileSync('xclip', ['-o', '-selection', 'clipboard'], { env }).toString() === webhookUrl,
        'the webhook URL on the clipboard',
      );

      // Pause notifications: kept in the settings; nothing is announced until it is unticked.
      await desktop.ask({ cmd: 'click', label: 'Pause notifications' }, 'clicked');
      await eventually(async () => (await menu()).find((item) => item.label === 'Pause notifications').toggle === 1, 'the pause to be ticked');
      // Saved in the background (the tray answers at once).
      await eventually(() => JSON.parse(readFileSync(settingsFile, 'utf8')).notificationsPaused === true, 'the pause to be saved');
      assert.equal(await post('tray_paused', 'REJECT', 'CLOSED'), 200);
      await eventually(async () => (await menu()).some((item) => item.label === 'Closed: 3'), 'the paused rejection to be counted');
      // As deliveries arrive, the tray's count and the queue's stay equal.
      await eventually(async () => (await toReview()) === 4 && (await queueTotal()) === 4, 'tray_paused in the queue and the tray');
      await desktop.ask({ cmd: 'click', label: 'Pause notifications' }, 'clicked');
      await eventually(async () => (await menu()).find((item) => item.label === 'Pause notifications').toggle === 0, 'the pause to be unticked');
      assert.equal(await post('tray_after', 'REJECT', 'CLOSED'), 200);
      // At once, or when the window's three are used up, at its end (alone, it is told as itself).
      await notified('Rejected: tray_after');
      const isSummary = (event) => event.event === 'notify' && /^\d+ more decisions$/.test(event.summary);
      const rejectedIn = (event) => Number(/(\d+) rejected/.exec(event.body)?.[1] ?? 0);
      assert.ok(!desktop.events.some(isSummary), 'no summary for a window with one held back');
      assert.ok(!desktop.events.some((event) => event.summary === 'Rejected: tray_paused'), 'nothing was announced while paused');

      // A burst: three a window are told one by one, the rest in one summary; none is lost.
      const burstFrom = desktop.events.length;
      const burst = Array.from({ length: 12 }, (_, n) => `burst_${String(n).padStart(2, '0')}`);
      for (const externalId of burst) assert.equal(await post(externalId, 'REJECT', 'CLOSED'), 200);
      const told = () => {
        const since = desktop.events.slice(burstFrom).filter((event) => event.event === 'notify');
        const single = since.filter((event) => event.summary.startsWith('Rejected: burst_'));
        const summaries = since.filter(isSummary);
        return { single, summaries, total: single.length + summaries.reduce((sum, event) => sum + rejectedIn(event), 0) };
      };
      await eventually(() => told().total === burst.length, 'every rejection of the burst to be told', 40_000);
      const { single, summaries } = told();
      assert.ok(single.length <= 3 * summaries.length, `${single.length} told one by one, ${summaries.length} summaries`);
      assert.ok(summaries.length >= 1, 'the burst was summarised');
      assert.equal(told().total, burst.length, 'each rejection told once');
      // A click on the summary opens the board.
      await session.execute('location.hash = "#/user/burst_00"');
      await session.waitFor('.user-page h1');
      await clickNotification(desktop, summaries[0].id, async () => Boolean(await session.find('[data-testid="board"]')), 'the summary to open the board');

      // Closing the window keeps the monitor running in the tray; Show window brings it back.
      const mapped = async () => (await desktop.ask({ cmd: 'window-mapped', title: 'KYC Monitor' }, 'window')).mapped;
      assert.equal(await mapped(), true);
      await desktop.ask({ cmd: 'close-window', title: 'KYC Monitor' }, 'close-sent');
      await eventually(async () => !(await mapped()), 'the window to hide');
      assert.ok(!appExited(database), 'the app is still running');
      assert.equal(await post('tray_hidden', '', 'OPEN'), 200);
      await eventually(async () => (await menu()).some((item) => item.label === 'Open: 2'), 'the hidden app to count the new user');
      await desktop.ask({ cmd: 'click', label: 'Show window' }, 'clicked');
      await eventually(mapped, 'the window to show again');
      await session.execute('location.hash = "#/"');
      await session.waitFor('[data-external-id="tray_hidden"]');
      await session.screenshot(join(artifacts, 'desktop-tray.png'));

      // Quit from the tray stops gracefully: deliveries in flight are stored and answered first.
      const sent = Array.from({ length: 40 }, (_, n) => post(`trayquit_${n}`, '', 'OPEN').catch(() => 0));
      await sleep(20);
      await desktop.ask({ cmd: 'click', label: 'Quit' }, 'clicked');
      const answers = await Promise.all(sent);
      await eventually(() => appExited(database), 'the app to quit from the tray');
      const acked = answers.filter((status) => status === 200).length;
      const stored = execFileSync(binary, ['export', 'users', '--format', 'jsonl', '--db', database]).toString();
      const quitUsers = stored.split('\n').filter((line) => line.includes('"trayquit_')).length;
      assert.ok(quitUsers >= acked, `every acknowledged delivery is stored (${quitUsers} stored, ${acked} acked)`);
    } finally {
      // What the desktop was told, for a person to read next to the screenshots.
      const told = desktop.events.filter((event) => event.event === 'notify');
      writeFileSync(join(artifacts, 'desktop-notifications.json'), `${JSON.stringify(told, null, 2)}\n`);
      await session?.end().catch(() => {});
      await desktop.stop();
      rmSync(settingsFile, { force: true });
    }
  });

  it('notifies by the alert rules: a review case past the SLA set in Settings', async () => {
    // The review SLA from the settings file; the alert engine's rule tells the notifier and the
    // tray, as it tells alert targets (30 s settle, the default, before it fires).
    const desktop = await startDesktopSession(env);
    const database = join(scratch, 'sla.db');
    const settingsFile = join(scratch, 'config', 'kyc-monitor', 'desktop-settings.json');
    mkdirSync(dirname(settingsFile), { recursive: true });
    writeFileSync(settingsFile, JSON.stringify({ notifyReview: false, notifyReject: false, notifyAccept: false, reviewSla: '1s' }));
    let session;
    try {
      session = await launch(database);
      const webhookUrl = await eventually(async () => {
        const url = await session.attribute(await session.find('.endpoint .url'), 'title');
        return url?.startsWith(`http://127.0.0.1:${listenPort}/kyc-webhook/`) ? url : null;
      }, 'the webhook URL to show');
      const status = await fetch(webhookUrl, {
        method: 'POST',
        body: JSON.stringify({ externalId: 'sla_desk', decision: 'REVIEW', status: 'ON_HOLD', subStatus: '', participantId: '', account: '' }),
      }).then((r) => r.status);
      assert.equal(status, 200);
      const alert = await desktop.next((event) => event.event === 'notify' && event.summary === 'Needs attention', 0, 60_000);
      assert.match(alert.body, /^1 review case is over the review SLA of 1s/);
      const menu = async () => (await desktop.ask({ cmd: 'menu' }, 'menu')).items.map((item) => item.label);
      await eventually(async () => (await menu()).includes('1 to review, 1 over SLA'), 'the tray to count the case over SLA');
      // A click on the notification opens the review queue.
      await clickNotification(
        desktop,
        alert.id,
        async () => (await session.execute('return location.hash')) === '#/review',
        'the notification to open the review queue',
      );
    } finally {
      await session?.end().catch(() => {});
      await desktop.stop();
      rmSync(settingsFile, { force: true });
    }
  });

  it('keeps the ngrok authtoken in the keychain, never in a file or the page', async () => {
    const database = join(scratch, 'keychain.db');
    const token = '2kcDesktopKeychainToken_b71e';
    // No token anywhere: the window says how to give one, with the keychain among the ways.
    let session = await launch(database, '[data-testid="startup-error"]', ['--tunnel', 'ngrok']);
    assert.match(await session.text(await session.find('[data-testid="startup-error"]')), /keep it in the keychain/);
    const panel = await session.waitFor('[data-testid="keychain-ngrok-authtoken"]');
    assert.equal(await session.text(await session.find('[data-testid="keychain-ngrok-authtoken"] [data-testid="keychain-state"]')), 'Not stored.');

    const input = await session.find('input[name="ngrok-authtoken"]');
    assert.equal(await session.attribute(input, 'type'), 'password');
    await session.type(input, token);
    await session.click(await session.find('[data-testid="keychain-ngrok-authtoken"] button[type="submit"]'));
    await eventually(
      async () => /is in the keychain/.test(await session.text(panel)),
      'the token to be kept',
    );
    assert.equal(await session.property(input, 'value'), '', 'the field is cleared');
    const state = () => session.find('[data-testid="keychain-ngrok-authtoken"] [data-testid="keychain-state"]').then((e) => session.text(e));
    await eventually(async () => (await state()) === 'Stored in the keychain.', 'the window to show the token stored');
    await session.screenshot(join(artifacts, 'desktop-keychain.png'));
    // Where a user's own tools find it: the Secret Service, under the documented attributes.
    const lookup = await secretTool(bus.address, ['lookup', 'service', 'kyc-monitor', 'username', 'ngrok-authtoken']);
    assert.equal(lookup.stdout, token);
    process.kill(appPid(database), 'SIGTERM');
    await eventually(appExited, 'the app to quit');
    await session.end().catch(() => {});

    // The next start takes it from the keychain and goes to ngrok (which is not reachable here).
    session = await launch(database, '[data-testid="board"]', ['--tunnel', 'ngrok']);
    const badge = await session.waitFor('[data-testid="tunnel"]');
    const reason = await eventually(async () => {
      const title = await session.attribute(badge, 'title');
      return /ngrok/.test(title ?? '') ? title : null;
    }, 'the tunnel to report on ngrok');
    assert.doesNotMatch(reason, /needs your account's authtoken/);
    assert.match(await session.text(badge), /^ngrok (connecting|reconnecting|failed)/);
    const page = await session.execute('return document.documentElement.outerHTML');
    assert.ok(!page.includes(token), 'the token is not in the page');
    assert.match(appLog, /keyring: get password from entry/, 'the keychain debug lines are in the log read');
    assert.ok(!appLog.includes(token), 'the token is not in the log');
    for (const file of [join(scratch, 'config', 'kyc-monitor', 'desktop-settings.json'), database, `${database}-wal`]) {
      if (existsSync(file)) assert.ok(!readFileSync(file).includes(token), `the token is not in ${file}`);
    }

    // Removed from the window: gone from the keychain too.
    await session.execute('location.hash = "#/settings"');
    const remove = await session.waitFor('[data-testid="keychain-ngrok-authtoken"] button[type="button"]');
    await session.click(remove);
    await eventually(
      async () => /was removed from the keychain/.test(await session.text(await session.find('[data-testid="keychain-ngrok-authtoken"]'))),
      'the token to be removed',
    );
    const gone = await secretTool(bus.address, ['lookup', 'service', 'kyc-monitor', 'username', 'ngrok-authtoken']);
    assert.equal(gone.stdout, '');
    process.kill(appPid(database), 'SIGTERM');
    await eventually(appExited, 'the app to quit');
    await session.end().catch(() => {});
  });
  it('forwards to a backend set in Settings, signed with the keychain secret, and trims old deliveries', async () => {
    const database = join(scratch, 'forward.db');
    const settingsFile = join(scratch, 'config', 'kyc-monitor', 'desktop-settings.json');
    const settingsBefore = existsSync(settingsFile) ? readFileSync(settingsFile) : null;
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    // The user's backend: a real HTTP server that keeps what it is sent.
    const received = [];
    const backend = createHttpServer((request, response) => {
      const chunks = [];
      request.on('data', (chunk) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks) });
        response.end('ok');
      });
    });
    await new Promise((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const backendUrl = `http://127.0.0.1:${backend.address().port}/hooks/kyc`;
    try {
      let session = await launch(database);
      await session.execute('location.hash = "#/settings"');
      const forwardTo = await session.waitFor('textarea[name="forwardTo"]');
      await session.type(forwardTo, backendUrl);
      const keep = await session.find('input[name="keepDeliveriesDays"]');
      const save = await session.find('[data-testid="settings-form"] button[type="submit"]');
      const answer = () => session.find('[data-testid="settings-answer"]').then((e) => session.text(e));
      // A wrong number of days is refused with a sentence; 0.00002 days (1.7 s) is kept.
      await session.type(keep, 'a week');
      await session.click(save);
      await eventually(async () => /"a week" is not a number of days/.test(await answer()), 'the refusal of the days');
      await session.call('POST', `/element/${keep}/clear`, {});
      await session.type(keep, '0.00002');
      await session.click(save);
      await eventually(async () => /Saved\..*forwarding and retention change when the monitor restarts/.test(await answer()), 'the save');

      // The signing secret goes to the keychain; a public key is refused without being echoed.
      // The keychain's panel shows once the app has asked the keychain (over D-Bus).
      const field = await session.waitFor('input[name="forward-signing-secret"]');
      const panel = await session.find('[data-testid="keychain-forward-signing-secret"]');
      const submit = await session.find('[data-testid="keychain-forward-signing-secret"] button[type="submit"]');
      const publicKey = `whpk_${randomBytes(32).toString('base64')}`;
      await session.type(field, publicKey);
      await session.click(submit);
      await eventually(async () => /forward signing secret: /.test(await session.text(panel)), 'the refusal of a public key');
      assert.ok(!(await session.text(panel)).includes(publicKey), 'the refused key is not shown');
      await session.call('POST', `/element/${field}/clear`, {});
      await session.type(field, secret);
      await session.click(submit);
      await eventually(async () => /is in the keychain/.test(await session.text(panel)), 'the secret to be kept');
      await session.screenshot(join(artifacts, 'desktop-settings-forwarding.png'));
      process.kill(appPid(database), 'SIGTERM');
      await eventually(appExited, 'the app to quit');
      await session.end().catch(() => {});

      // The next start forwards what it accepts, signed, then trims it once it is old.
      session = await launch(database);
      const webhookUrl = await eventually(async () => {
        const url = await session.attribute(await session.find('.endpoint .url'), 'title');
        return url?.startsWith(`http://127.0.0.1:${listenPort}/kyc-webhook/`) ? url : null;
      }, 'the webhook URL to show');
      const body = JSON.stringify({ externalId: 'fwd_1', decision: 'REVIEW', status: 'ON_HOLD', subStatus: 'é ✓', participantId: '', account: '' });
      const status = await fetch(webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.status);
      assert.equal(status, 200);
      await eventually(() => received.length > 0, 'the backend to receive the delivery');
      const [forwarded] = received;
      assert.equal(forwarded.body.toString(), body, 'the body byte for byte');
      assert.equal(forwarded.headers['content-type'], 'application/json');
      const { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature } = forwarded.headers;
      const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
      const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${forwarded.body}`).digest('base64');
      assert.ok(signature.split(' ').includes(`v1,${expected}`), 'signed with the keychain secret (Standard Webhooks)');

      // Retention keeps 1.7 s here and looks every second; the inspector reads the delivery anew
      // each time it is opened.
      const detail = await eventually(async () => {
        await session.execute('location.hash = "#/board"');
        await session.waitFor('[data-testid="board"]');
        await session.execute('location.hash = "#/deliveries"');
        // WebKitWebDriver does not click a table row itself: its first cell.
        await session.click(await session.waitFor('[data-testid="delivery"] td'));
        const body = await session.waitFor('section[aria-label="Body"]');
        const text = await session.text(body);
        if (/Not kept/.test(text)) return text;
        await session.screenshot(join(artifacts, 'desktop-retention-pending.png'));
        await sleep(500);
        return null;
      }, 'retention to remove the raw body');
      await session.screenshot(join(artifacts, 'desktop-retention.png'));
      assert.match(detail, /removed by --keep-deliveries/);

      const page = await session.execute('return document.documentElement.outerHTML');
      assert.ok(!page.includes(secret.slice(6)), 'the secret is not in the page');
      assert.ok(!appLog.includes(secret.slice(6)), 'the secret is not in the log');
      for (const file of [settingsFile, database, `${database}-wal`]) {
        if (existsSync(file)) assert.ok(!readFileSync(file).includes(secret.slice(6)), `the secret is not in ${file}`);
      }
      process.kill(appPid(database), 'SIGTERM');
      await eventually(appExited, 'the app to quit');
      await session.end().catch(() => {});
    } finally {
      backend.close();
      await secretTool(bus.address, ['clear', 'service', 'kyc-monitor', 'username', 'forward-signing-secret']);
      if (settingsBefore) writeFileSync(settingsFile, settingsBefore);
      else rmSync(settingsFile, { force: true });
    }
  });
  it('sends alerts to targets set in Settings, by mail with the keychain password and to Slack', async () => {
    const database = join(scratch, 'alerts.db');
    const settingsFile = join(scratch, 'config', 'kyc-monitor', 'desktop-settings.json');
    const settingsBefore = existsSync(settingsFile) ? readFileSync(settingsFile) : null;
    const token = 'T0DESK/B0DESK/slackTokenNotShown';
    const password = `smtp-${randomBytes(9).toString('hex')}`;
    const sink = await startSmtpSink(await freePort(), 'alerts', password);
    const slack = await startSlackReceiver();
    const slackTarget = `slack:http://127.0.0.1:${slack.port}/services/${token}`;
    try {
      let session = await launch(database);
      await session.execute('location.hash = "#/settings"');
      const targets = await session.waitFor('textarea[name="alertTo"]');
      const save = await session.find('[data-testid="settings-form"] button[type="submit"]');
      const answer = () => session.find('[data-testid="settings-answer"]').then((e) => session.text(e));
      const savedText = () => (existsSync(settingsFile) ? readFileSync(settingsFile, 'utf8') : null);
      const unsaved = savedText();
      // A Slack URL over plain http off this machine is refused, named by its place and masked.
      await session.type(targets, `mailto:oncall@example.com\uE007slack:http://hooks.example.com/services/${token}`);
      await session.click(save);
      const refusal = await eventually(async () => {
        const text = await answer();
        return /alert target/.test(text) ? text : null;
      }, 'the refusal of the target');
      assert.match(refusal, /alert target 2: slack:http:\/\/hooks\.example\.com\/\*\*\*: plain http goes only to a loopback host/);
      assert.ok(!refusal.includes(token), 'the refused target is shown masked');
      assert.equal(savedText(), unsaved, 'nothing was saved');
      // A mail target needs the SMTP server: said as much, nothing saved.
      await session.call('POST', `/element/${targets}/clear`, {});
      await session.type(targets, `${slackTarget}\uE007mailto:oncall@example.com`);
      await session.click(save);
      await eventually(async () => /alert target mailto:oncall@example\.com needs an SMTP URL/.test(await answer()), 'the refusal without an SMTP URL');
      assert.equal(savedText(), unsaved, 'nothing was saved');
      await session.type(await session.find('input[name="smtpUrl"]'), `smtp://alerts@127.0.0.1:${sink.port}`);
      await session.type(await session.find('input[name="alertSilence"]'), '2h');
      await session.click(save);
      await eventually(async () => /Saved\..*alerts, forwarding and retention change when the monitor restarts/.test(await answer()), 'the save');
      const saved = JSON.parse(savedText());
      assert.deepEqual(saved.alertTo, [slackTarget, 'mailto:oncall@example.com']);
      assert.equal(saved.smtpUrl, `smtp://alerts@127.0.0.1:${sink.port}`);
      assert.equal(saved.alertSilence, '2h');
      assert.equal(statSync(settingsFile).mode & 0o777, 0o600, 'the settings file (a Slack URL in it) is its owner\'s only');

      // The password goes to the keychain from Secrets, write-only.
      const panel = await session.waitFor('[data-testid="keychain-smtp-password"]');
      const field = await session.find('input[name="smtp-password"]');
      assert.equal(await session.attribute(field, 'type'), 'password');
      await session.type(field, password);
      await session.click(await session.find('[data-testid="keychain-smtp-password"] button[type="submit"]'));
      await eventually(async () => /is in the keychain/.test(await session.text(panel)), 'the password to be kept');
      assert.equal(await session.property(field, 'value'), '', 'the field is cleared');
      assert.equal((await secretTool(bus.address, ['lookup', 'service', 'kyc-monitor', 'username', 'smtp-password'])).stdout, password);
      await eventually(async () => /Stored in the keychain/.test(await session.text(panel)), 'the window to show it stored');
      await session.execute(`(${SCROLL_TO})(arguments[0])`, ['[data-testid="keychain-smtp-password"]']);
      await session.screenshot(join(artifacts, 'desktop-settings-smtp-password.png'));
      process.kill(appPid(database), 'SIGTERM');
      await eventually(appExited, 'the app to quit');
      await session.end().catch(() => {});

      // The next start sends to both: Slack, and mail with AUTH as the user with the keychain's password.
      const logBefore = appLog.length;
      session = await launch(database);
      await session.execute('location.hash = "#/settings"');
      await eventually(async () => (await session.all('[data-testid="alert-target"]')).length === 2, 'the two targets to show');
      const shown = await session.all('[data-testid="alert-target"]');
      assert.match(await session.text(shown[0]), /slack:http:\/\/127\.0\.0\.1\/\*\*\*/);
      assert.match(await session.text(shown[1]), /mailto:oncall@example\.com/);
      assert.match(await session.property(await session.find('textarea[name="alertTo"]'), 'value'), /^slack:http:\/\/127\.0\.0\.1\/\*\*\*\nmailto:oncall@example\.com$/);
      for (const target of shown) {
        await session.click(await session.call('POST', `/element/${target}/element`, { using: 'css selector', value: '[data-testid="send-test-alert"]' }).then((e) => e[W3C_ELEMENT]));
        await eventually(async () => /The target took the test alert/.test(await session.text(target)), 'the test alert to be taken');
      }
      await session.execute(`(${SCROLL_TO})(arguments[0])`, ['[data-testid="alerts"]']);
      await session.screenshot(join(artifacts, 'desktop-alerts-sent.png'));
      const [mail] = await eventually(() => (sink.mail.length > 0 ? sink.mail : null), 'the mail to arrive');
      assert.equal(mail.auth_user, 'alerts', 'signed in with the keychain password');
      assert.deepEqual(mail.rcpt_tos, ['oncall@example.com']);
      assert.match(mail.data, /KYC Monitor test alert/);
      const [posted] = await eventually(() => (slack.received.length > 0 ? slack.received : null), 'the Slack message to arrive');
      assert.equal(posted.path, `/services/${token}`);
      assert.match(posted.json.text, /^KYC Monitor test alert: /);
      assert.match(appLog.slice(logBefore), /keyring: get password from entry/, 'the keychain was asked');

      // Saved again as shown (masked): the targets kept are the saved ones, token and all.
      await session.click(await session.find('[data-testid="settings-form"] button[type="submit"]'));
      await eventually(async () => /Saved\./.test(await answer()), 'the save');
      assert.deepEqual(JSON.parse(savedText()).alertTo, [slackTarget, 'mailto:oncall@example.com']);

      // Screenshots: the window itself (light), and its page drawn again dark and 360 px wide.
      await session.execute(`(${SCROLL_TO})(arguments[0])`, ['#settings-alerts']);
      await session.screenshot(join(artifacts, 'desktop-settings-alerts.png'));
      const page = await session.execute(PAGE_AS_DRAWN);
      assert.ok(!page.body.includes(token) && !page.body.includes(password), 'no secret in the page');
      const overflowing = await drawAgain(page, '#settings-alerts', '[data-testid="settings-form"]', [['light', 360], ['dark', 1280], ['dark', 360]], (scheme, width) => join(artifacts, `desktop-settings-alerts-${scheme}-${width}.png`));
      assert.deepEqual(overflowing, [], 'nothing scrolls sideways');

      const html = await session.execute('return document.documentElement.outerHTML');
      assert.ok(!html.includes(password) && !html.includes(token), 'no secret in the page');
      assert.ok(!appLog.includes(password), 'the password is not in the log');
      assert.ok(!appLog.includes(token), 'the Slack token is not in the log');
      for (const file of [settingsFile, database, `${database}-wal`]) {
        if (existsSync(file)) assert.ok(!readFileSync(file).includes(password), `the password is not in ${file}`);
      }
      process.kill(appPid(database), 'SIGTERM');
      await eventually(appExited, 'the app to quit');
      await session.end().catch(() => {});
    } finally {
      await sink.stop();
      await slack.stop();
      await secretTool(bus.address, ['clear', 'service', 'kyc-monitor', 'username', 'smtp-password']);
      if (settingsBefore) writeFileSync(settingsFile, settingsBefore);
      else rmSync(settingsFile, { force: true });
    }
  });
});
