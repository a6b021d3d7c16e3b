// What alert targets reach in the desktop tests: a real SMTP server (aiosmtpd, from
// tests/signers/smtp_sink.py, in the venv of KYC_MONITOR_TEST_PYTHON) that takes AUTH only as
// the given user and password, and a Slack-compatible incoming webhook (node's HTTP server) that
// keeps the JSON it is sent. Also: the window's page drawn again in Chromium, its own markup and
// styles, for the dark and narrow screenshots the desktop window cannot take (it is at least
// 900 px wide and follows the desktop's theme).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './monitor.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Starts aiosmtpd on `port`; `mail` fills with what it accepted (`auth_user`, `rcpt_tos`, `data`). */
export async function startSmtpSink(port, user, password) {
  const python = process.env.KYC_MONITOR_TEST_PYTHON ?? 'python3';
  const child = spawn(python, [join(root, 'tests', 'signers', 'smtp_sink.py'), String(port), user, password], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const mail = [];
  const lines = createInterface({ input: child.stdout });
  const ready = new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the SMTP sink exited (${code}) before it was ready`)));
    lines.on('line', (line) => {
      if (line === 'ready') resolve();
      else mail.push(JSON.parse(line));
    });
  });
  await ready;
  return {
    port,
    mail,
    async stop() {
      if (child.exitCode !== null) return;
      child.stdin.end(); // it runs until stdin closes
      await once(child, 'exit');
    },
  };
}

/** A Slack-compatible incoming webhook on 127.0.0.1; `received` fills with the JSON bodies. */
export async function startSlackReceiver() {
  const received = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      received.push({ path: request.url, json: JSON.parse(body) });
      response.end('ok');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, received, stop: () => new Promise((resolve) => server.close(resolve)) };
}

/** In the window's page: its markup with the fields' current values written in, and its styles. */
export const PAGE_AS_DRAWN = `
  for (const field of document.querySelectorAll('input, textarea')) {
    if (field.type === 'checkbox') field.toggleAttribute('checked', field.checked);
    else if (field.tagName === 'TEXTAREA') field.textContent = field.value;
    else field.setAttribute('value', field.value);
  }
  const styles = [...document.styleSheets].flatMap((sheet) => [...sheet.cssRules].map((rule) => rule.cssText)).join('\\n');
  return { styles, body: document.body.innerHTML };
`;

/** Scrolls the element `css` names to the top of the page, below the sticky top bar. */
export const SCROLL_TO = (css) => {
  document.querySelector(css).scrollIntoView({ block: 'start' });
  window.scrollBy(0, -(document.querySelector('header')?.getBoundingClientRect().height ?? 0) - 8);
};

/** Draws `page` (from PAGE_AS_DRAWN) in Chromium for each [colorScheme, width], scrolled to
 * `selector` (just below the sticky top bar), into `path(colorScheme, width)`; returns the
 * widths at which `within` is cut off or scrolls sideways. */
export async function drawAgain(page, selector, within, shots, path) {
  const browser = await launchChromium();
  const overflowing = [];
  try {
    for (const [colorScheme, width] of shots) {
      const tab = await browser.newPage({ colorScheme, viewport: { width, height: 900 } });
      await tab.setContent(`<!doctype html><html><head><meta name="viewport" content="width=device-width"><style>${page.styles}</style></head><body>${page.body}</body></html>`);
      await tab.evaluate(SCROLL_TO, selector);
      const cut = await tab.evaluate((css) => {
        const element = document.querySelector(css);
        return element.scrollWidth > element.clientWidth || element.getBoundingClientRect().right > window.innerWidth;
      }, within);
      if (cut) overflowing.push(width);
      await tab.screenshot({ path: path(colorScheme, width) });
      await tab.close();
    }
  } finally {
    await browser.close();
  }
  return overflowing;
}
