// The desktop app in a real window: Xvfb, tauri-driver and WebKitWebDriver (Debian's
// webkit2gtk-driver) drive the built kyc-monitor binary (KYC_MONITOR_BIN, with the desktop
// feature) with a temporary database, settings folder and free port (e2e/desktop-app.mjs).
// Deliveries are posted to its listener over HTTP; the board must update live, search must open
// the user, settings must survive a restart, and the notifications and the tray must work as on
// a desktop. Its settings that keep secrets in the keychain: e2e/desktop-settings.test.mjs.
// Screenshots of the window are kept in e2e/artifacts/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDesktopApp } from './desktop-app.mjs';
import { startDesktopSession } from './session-bus.mjs';
import { W3C_ELEMENT, clickNotification, eventually, freePort, sleep } from './webdriver.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const binary = process.env.KYC_MONITOR_BIN;

describe('the desktop app in a real window', { skip: !binary && 'set KYC_MONITOR_BIN' }, () => {
  let app;
  let scratch;
  let env;
  let listenPort;
  let db;
  let bus;
  let downloads;

  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    app = await startDesktopApp();
    ({ scratch, env, listenPort, db, bus, downloads } = app);
  });

  after(() => app?.stop());

  const appExited = (database) => app.appExited(database);
  const launch = (...args) => app.launch(...args);
  const appPid = (database) => app.appPid(database);

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
});
