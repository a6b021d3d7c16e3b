// A D-Bus session of the tests' own, for what a desktop session gives the app: the keychain
// (a throwaway GNOME Keyring, the real Secret Service). The bus starts nothing by itself (no
// service activation), and every process here is a direct child stopped by `stop()`, so
// nothing outlives the tests or holds their output open.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** Starts `dbus-daemon` with a bus in `dir`; returns its address and how to stop it. */
export async function startSessionBus(dir) {
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'bus.conf');
  writeFileSync(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${join(dir, 'bus')}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`,
  );
  const daemon = spawn('dbus-daemon', [`--config-file=${config}`, '--nofork', '--print-address=1'], {
    stdio: ['ignore', 'pipe', 'ignore'], // its only talk is a warning about fd limits
  });
  const failed = once(daemon, 'error').then(([error]) => {
    throw new Error(`cannot start dbus-daemon (Debian package dbus-daemon): ${error.message}`);
  });
  const lines = createInterface({ input: daemon.stdout });
  const [address] = await Promise.race([once(lines, 'line'), failed]);
  lines.close();
  daemon.stdout.resume();
  return { address: address.trim(), stop: () => stopChild(daemon) };
}

/** Starts an unlocked GNOME Keyring on the bus at `address`, keeping its files in `dir`. */
export async function startKeyring(address, dir) {
  mkdirSync(dir, { recursive: true });
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), DBUS_SESSION_BUS_ADDRESS: address };
  const daemon = spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], {
    env,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  daemon.on('error', (error) => {
    throw new Error(`cannot start gnome-keyring-daemon (Debian package gnome-keyring): ${error.message}`);
  });
  // --unlock makes the login keyring with the password read from stdin.
  daemon.stdin.end('throwaway-keyring-password');
  return { stop: () => stopChild(daemon) };
}

/** `secret-tool` (libsecret-tools) on the bus at `address`: what a user would run. */
export async function secretTool(address, args, input) {
  const child = spawn('secret-tool', args, {
    env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: address },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  child.stdin.end(input ?? '');
  const [code] = await once(child, 'exit');
  return { code, stdout, stderr };
}

/** The desktop's side for the app (e2e/desktop-session.py): a notification service, a tray host
 * and the window manager's close request. `events` keeps everything it said. */
export async function startDesktopSession(env) {
  const here = dirname(fileURLToPath(import.meta.url));
  const child = spawn('/usr/bin/python3', [join(here, 'desktop-session.py')], {
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events = [];
  const waiters = new Set();
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line);
    events.push(event);
    for (const waiter of waiters) waiter();
  });
  /** The first event since `from` that `match` accepts (a guard against hangs, not a timing check). */
  const next = (match, from = 0, limit = 30_000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = events.slice(from).find((event) => match(event) || event.event === 'error');
        if (!found) return false;
        waiters.delete(check);
        clearTimeout(timer);
        if (found.event === 'error' && !match(found)) reject(new Error(`desktop session: ${found.message}`));
        else resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`the desktop session never saw what was waited for; it saw ${JSON.stringify(events)}`));
      }, limit);
      waiters.add(check);
      check();
    });
  await next((event) => event.event === 'ready');
  return {
    events,
    next,
    /** Sends a command and waits for its answer (an event of `answer`'s kind). */
    async ask(command, answer) {
      const from = events.length;
      child.stdin.write(`${JSON.stringify(command)}\n`);
      return next((event) => event.event === answer, from);
    },
    async stop() {
      child.stdin.end();
      await stopChild(child);
    },
  };
}
