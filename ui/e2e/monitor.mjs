// Shared by the e2e suite and the README screenshot: the real kyc-monitor binary on free ports
// with a fresh database, and Debian's Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

function binary() {
  const path = process.env.KYC_MONITOR_BIN;
  if (!path) throw new Error('set KYC_MONITOR_BIN to the kyc-monitor binary (./scripts/test does)');
  return path;
}

/** Where the kernel's ephemeral ports start: every `listen(0)` and every outgoing connection's
 * own end is given one at or above it. */
function ephemeralLow() {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

/** Whether `port` can be listened on now, on 127.0.0.1. */
function canListen(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port nobody listens on now, on 127.0.0.1, below the ephemeral range (from 20000): a port
 * the kernel handed out could be handed out again, to another listener or to a connection's own
 * end, before the process it is for binds it; one below that range is taken by nobody but a
 * process that names it. */
export async function freePort() {
  const low = 20000;
  const high = Math.max(ephemeralLow(), low + 1000);
  for (;;) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await canListen(port)) return port;
  }
}

/** `start(port)` on a port free now, and again on another if something bound that port between
 * the look and the start (the port is free only until someone takes it: another process of the
 * run, or a connection's local end). Any other failure is thrown at once. */
export async function onFreePort(start, attempts = 5) {
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (error) {
      if (attempt >= attempts || !/address already in use/i.test(error.message)) throw error;
      process.stderr.write(`port ${port} was taken before the start; trying another\n`);
    }
  }
}

/** Starts `kyc-monitor serve` (KYC_MONITOR_BIN) and resolves once it printed both URLs.
 * `options.db` runs it on that database (kept when it stops: a restart), else on a fresh one;
 * `options.uiListen` on that UI address (a restart keeps the page's origin). */
export function startMonitor(extra = [], options = {}) {
  const scratch = options.db ? null : mkdtempSync(join(tmpdir(), 'kyc-e2e-'));
  const db = options.db ?? join(scratch, 'e2e.db');
  const args = ['serve', '--listen', '127.0.0.1:0', '--ui-listen', options.uiListen ?? '127.0.0.1:0', '--db', db, ...extra];
  const child = spawn(binary(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // What it says goes on to the test's output, and the last of it into the error if it ends early.
  let said = '';
  child.stderr.on('data', (chunk) => {
    process.stderr.write(chunk);
    said = (said + chunk).slice(-2000);
  });
  const urls = {};
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      if (scratch) rmSync(scratch, { recursive: true, force: true });
      reject(new Error(`kyc-monitor exited early with ${code}: ${said.trim()}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('webhook: ')) urls.webhook = line.slice('webhook: '.length);
      if (line.startsWith('ui: ')) urls.ui = line.slice('ui: '.length);
      if (line.startsWith('public: ')) urls.public = line.slice('public: '.length);
      if (urls.webhook && urls.ui) {
        resolve({
          webhookUrl: urls.webhook,
          uiUrl: urls.ui,
          db,
          /** The tunnel's public webhook URL, once `serve` has printed it. */
          publicUrl: () => urls.public,
          /** Stops it (SIGTERM); resolves once the process has exited. */
          stop() {
            child.kill('SIGTERM');
            if (scratch) rmSync(scratch, { recursive: true, force: true });
            return exited;
          },
        });
      }
    });
  });
}

/** Starts `kyc-monitor emulate` with a fresh key pair; resolves with its URLs, client id and key file. */
export function startEmulator(extra = []) {
  const scratch = mkdtempSync(join(tmpdir(), 'kyc-emulator-'));
  const keyFile = join(scratch, 'partner.pem');
  const args = ['emulate', '--listen', '127.0.0.1:0', '--write-private-key', keyFile, ...extra];
  const child = spawn(binary(), args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
  const lines = {};
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`kyc-monitor emulate exited early with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const [key, ...rest] = line.split(': ');
      lines[key] = rest.join(': ');
      if (key === 'private-key') {
        resolve({
          apiBase: lines['api-base'],
          tokenUrl: lines['token-url'],
          clientId: lines['client-id'],
          keyFile,
          lines,
          stop() {
            child.kill('SIGTERM');
            rmSync(scratch, { recursive: true, force: true });
          },
        });
      }
    });
  });
}

/** Debian's Chromium (a test tool's own browser download does not work here). */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Brings `locator` into view and waits until the browser draws it. A board card has
 * `content-visibility: auto`: while it is off screen its content is not drawn, so its
 * `innerText` is '' and its sizes are 0, and a card the board moved after a scroll reads as empty.
 */
export async function drawn(locator) {
  await locator.scrollIntoViewIfNeeded();
  await locator.evaluate(
    (el) =>
      new Promise((resolve) => {
        const look = () => (el.checkVisibility({ contentVisibilityAuto: true }) ? resolve() : requestAnimationFrame(look));
        look();
      }),
  );
  return locator;
}
