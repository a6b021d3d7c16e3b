// Makes docs/board.png for the README: the real binary, a board of realistic users, Chromium.
//   KYC_MONITOR_BIN=path/to/kyc-monitor node e2e/readme-screenshot.mjs
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const db = join(mkdtempSync(join(tmpdir(), 'kyc-shot-')), 'shot.db');
const monitor = spawn(process.env.KYC_MONITOR_BIN, ['serve', '--listen', '127.0.0.1:0', '--ui-listen', '127.0.0.1:0', '--db', db], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const urls = {};
await new Promise((resolve) => {
  createInterface({ input: monitor.stdout }).on('line', (line) => {
    const [key, ...rest] = line.split(': ');
    urls[key] = rest.join(': ');
    if (urls.webhook && urls.ui) resolve();
  });
});

const steps = [
  ['', 'NOT_STARTED', ''],
  ['', 'OPEN', 'pending'],
  ['REVIEW', 'ON_HOLD', 'Document Request Initiated'],
  ['', 'OPEN', 'documents received'],
];
const send = (externalId, [decision, status, subStatus], approved = false) =>
  fetch(urls.webhook, {
    method: 'POST',
    body: JSON.stringify({
      externalId,
      decision,
      status,
      subStatus,
      participantId: approved ? `firms/ISV-Participant-Acme/users/${externalId}` : '',
      account: approved ? `firms/ISV-Acme/accounts/${externalId.slice(-4)}9f3c2e1d` : '',
    }),
  });
for (let n = 0; n < 34; n++) {
  const id = `user_${4800 + n * 37}`;
  const stage = n % 7;
  for (const step of steps.slice(0, Math.min(stage + 1, 4))) await send(id, step);
  if (stage >= 4) await send(id, stage === 6 ? ['REJECT', 'CLOSED', ''] : ['ACCEPT', 'CLOSED', ''], stage !== 6);
}
await send('user_7719', ['', 'KYC_STATUS_RESUBMIT', '']);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const page = await (await browser.newContext({ viewport: { width: 1440, height: 820 }, colorScheme: 'light' })).newPage();
await page.goto(urls.ui);
await page.locator('[data-testid="card"]').first().waitFor();
await page.waitForTimeout(300);
await page.screenshot({ path: new URL('../../docs/board.png', import.meta.url).pathname });
await browser.close();
monitor.kill('SIGTERM');
