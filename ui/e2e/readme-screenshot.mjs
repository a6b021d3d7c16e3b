// Makes docs/board.png, docs/tunnel.png, docs/review.png, docs/stats.png, docs/deliveries.png and
// docs/replay.png
// for the README: the real binary behind a tunnel (the user's own URL), a board of realistic users, Chromium.
//   KYC_MONITOR_BIN=path/to/kyc-monitor node e2e/readme-screenshot.mjs
import { launchChromium, startMonitor } from './monitor.mjs';

const monitor = await startMonitor(['--tunnel', 'url:https://kyc-monitor.example.com']);
const urls = { webhook: monitor.webhookUrl, ui: monitor.uiUrl };

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

const browser = await launchChromium();
const page = await (await browser.newContext({ viewport: { width: 1440, height: 820 }, colorScheme: 'light' })).newPage();
await page.goto(urls.ui);
await page.locator('[data-testid="card"]').first().waitFor();
await page.waitForTimeout(300);
await page.screenshot({ path: new URL('../../docs/board.png', import.meta.url).pathname });
await page.locator('.topbar').screenshot({ path: new URL('../../docs/tunnel.png', import.meta.url).pathname });
// The queue with its filters in the address.
await page.evaluate(() => (location.hash = '#/review?subStatus=document'));
await page.getByTestId('review-total').filter({ hasText: /match/ }).waitFor();
await page.getByTestId('queue-row').first().waitFor();
await page.waitForTimeout(300);
await page.screenshot({ path: new URL('../../docs/review.png', import.meta.url).pathname });
await page.evaluate(() => (location.hash = '#/stats'));
await page.getByTestId('funnel').waitFor();
await page.locator('.chart canvas').first().waitFor();
await page.waitForTimeout(300);
await page.screenshot({ path: new URL('../../docs/stats.png', import.meta.url).pathname, fullPage: true });
// The inspector, on one user's ON_HOLD delivery (picked by its time cell: the user cell is a link).
await page.evaluate(() => (location.hash = '#/deliveries'));
await page.getByTestId('delivery').filter({ hasText: 'ON_HOLD' }).first().locator('.time').click();
await page.getByTestId('raw-body').waitFor();
await page.waitForTimeout(300);
await page.screenshot({ path: new URL('../../docs/deliveries.png', import.meta.url).pathname });
// Replaying an approved user's old OPEN delivery: the pane asks first, before → after.
const token = new URL(urls.ui).searchParams.get('token');
const approved = await (await fetch(`${new URL(urls.ui).origin}/api/users/user_4948`, { headers: { authorization: `Bearer ${token}` } })).json();
const old = approved.timeline.find((entry) => entry.status === 'OPEN').deliveryId;
await page.evaluate((id) => (location.hash = `#/deliveries?id=${id}`), old);
await page.reload();
await page.getByTestId('delivery-detail').filter({ hasText: `#${old}` }).waitFor();
await page.getByTestId('replay').click();
await page.getByTestId('replay-confirm').waitFor();
await page.waitForTimeout(300);
await page.screenshot({ path: new URL('../../docs/replay.png', import.meta.url).pathname });
await browser.close();
monitor.stop();
