// Shared by the tests of the desktop app in a real window (e2e/desktop*.test.mjs): a virtual
// display (Xvfb), tauri-driver in front of WebKitWebDriver, a minimal W3C WebDriver client over
// fetch, and the waits they need.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { freePort } from './monitor.mjs';

export const W3C_ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export { freePort };

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Retries `probe` until it returns a truthy value (a guard against hangs, not a timing check). */
export async function eventually(probe, what, limit = 30_000) {
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

/**
 * Clicks a notification until `opened` holds. The app listens for a notification's click only
 * once the desktop has shown it, so a click sent in between (which the test, unlike a person,
 * can do) is lost; like a person, the test then clicks again.
 */
export async function clickNotification(desktop, id, opened, what) {
  await eventually(async () => {
    await desktop.ask({ cmd: 'action', id, key: 'default' }, 'action-sent');
    for (let tries = 0; tries < 20; tries++) {
      if (await opened().catch(() => false)) return true;
      await sleep(100);
    }
    return false;
  }, what);
}

/** An X server of its own on the first free display from :90. */
export async function startXvfb() {
  let display = 90;
  while (existsSync(`/tmp/.X11-unix/X${display}`) || existsSync(`/tmp/.X${display}-lock`)) display++;
  const xvfb = spawn('Xvfb', [`:${display}`, '-screen', '0', '1440x900x24', '-nolisten', 'tcp'], { stdio: 'ignore' });
  await eventually(() => existsSync(`/tmp/.X11-unix/X${display}`), 'Xvfb to start');
  return { display: `:${display}`, stop: () => xvfb.kill('SIGTERM') };
}

/** tauri-driver on free ports with `env` (the apps it launches get it); what they print goes
 * to `onOutput` as it comes. */
export async function startDriver(env, onOutput) {
  const port = await freePort();
  const nativePort = await freePort();
  const driver = spawn('tauri-driver', ['--port', String(port), '--native-port', String(nativePort)], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [driver.stdout, driver.stderr]) stream.on('data', onOutput);
  const url = `http://127.0.0.1:${port}`;
  await eventually(() => fetch(`${url}/status`).then((r) => r.ok), 'tauri-driver to start');
  return {
    url,
    // SIGTERM, not SIGKILL: that would leave WebKitWebDriver behind.
    async stop() {
      driver.kill('SIGTERM');
      await sleep(300);
    },
  };
}

/** A minimal W3C WebDriver client over fetch, driving the app at KYC_MONITOR_BIN. */
export class Session {
  static async start(driverUrl, args) {
    const response = await fetch(`${driverUrl}/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        capabilities: {
          alwaysMatch: { browserName: 'wry', 'tauri:options': { application: process.env.KYC_MONITOR_BIN, args } },
        },
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
