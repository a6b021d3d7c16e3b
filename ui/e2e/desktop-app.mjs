// The desktop app's own desktop, for the tests in a real window (e2e/desktop*.test.mjs): an X
// display, a D-Bus session with a throwaway GNOME Keyring, a Downloads folder, and tauri-driver
// launching the built app (KYC_MONITOR_BIN) with a temporary database, settings folder and port.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secretTool, startKeyring, startSessionBus } from './session-bus.mjs';
import { Session, eventually, freePort, startDriver, startXvfb } from './webdriver.mjs';

/** Starts it all; `stop()` ends it and removes its files. */
export async function startDesktopApp() {
  const scratch = mkdtempSync(join(tmpdir(), 'kyc-desktop-'));
  /** The user's Downloads folder, as the desktop session names it. */
  const downloads = join(scratch, 'downloads');
  mkdirSync(join(scratch, 'config'), { recursive: true });
  writeFileSync(join(scratch, 'config', 'user-dirs.dirs'), `XDG_DOWNLOAD_DIR="${downloads}"\n`);
  const xvfb = await startXvfb();
  // A session bus of our own, with a keyring, as a desktop session has.
  const bus = await startSessionBus(join(scratch, 'bus'));
  const keyring = await startKeyring(bus.address, join(scratch, 'keyring'));
  await eventually(
    async () => (await secretTool(bus.address, ['store', '--label=ready', 'service', 'e2e', 'username', 'ready'], 'x')).code === 0,
    'the keyring to be on the bus',
  );
  const env = {
    ...process.env,
    DBUS_SESSION_BUS_ADDRESS: bus.address,
    NO_AT_BRIDGE: '1', // no accessibility bus on this private session
    // The POSIX locale, as on a server or a CI machine: WebKit then gives the page the
    // language "C", which Intl refuses (a library reading it once blanked the whole window).
    LC_ALL: 'C',
    DISPLAY: xvfb.display,
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
  // What the apps launched by tauri-driver print: shown as it comes, and kept (the keychain
  // tests read it for their secrets).
  let log = '';
  const driver = await startDriver(env, (chunk) => {
    log += chunk;
    process.stderr.write(chunk);
  });
  const listenPort = await freePort();
  const db = join(scratch, 'desktop.db');

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

  return {
    scratch,
    downloads,
    env,
    bus,
    listenPort,
    db,
    driverUrl: driver.url,
    get log() {
      return log;
    },
    appExited,
    /** Launches the app on `database` once the previous one has exited; resolves once `ready`
     * shows. */
    async launch(database = db, ready = '[data-testid="board"]', extra = []) {
      await eventually(appExited, 'the previous app to exit');
      const session = await Session.start(driver.url, ['--db', database, '--listen', `127.0.0.1:${listenPort}`, ...extra]);
      await session.waitFor(ready);
      return session;
    },
    /** The app's process id, for signals. */
    appPid(database) {
      return Number(execFileSync('pgrep', ['-f', '--', `--db ${database}`]).toString().trim().split('\n')[0]);
    },
    async stop() {
      await driver.stop();
      xvfb.stop();
      await keyring.stop();
      await bus.stop();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
