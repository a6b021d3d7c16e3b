// Refused requests past the budget (1,000 a minute from one address) are counted rather than
// kept, and the deliveries inspector says how many, from where, and why, above its list.
// Chromium against the real binary; a screenshot goes to e2e/artifacts/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startMonitor } from './monitor.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const BUDGET = 1000;
const OVER = 7;

let monitor;
let browser;

describe('refused requests past the budget', () => {
  before(async () => {
    // All within one minute of the clock: start afresh when this one is nearly over.
    const second = new Date().getUTCSeconds();
    if (second > 40) await new Promise((resolve) => setTimeout(resolve, (61 - second) * 1000));
    monitor = await startMonitor(['--signing-secret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']);
    browser = await launchChromium();
    for (let n = 0; n < BUDGET + OVER; n++) {
      const body = JSON.stringify({ externalId: `u${n}`, status: 'OPEN' });
      const response = await fetch(monitor.webhookUrl, { method: 'POST', body });
      assert.equal(response.status, 401);
      await response.arrayBuffer();
    }
  });

  after(async () => {
    await browser?.close();
    monitor?.stop();
  });

  it('are counted in the inspector, with the address and the reason', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(monitor.uiUrl);
    await page.evaluate(() => { location.hash = '#/deliveries'; });
    const notice = page.getByTestId('counted-refusals');
    // The counts are written once a second; the list is asked again on a reload.
    for (let tries = 0; tries < 50 && !(await notice.isVisible()); tries++) {
      await page.waitForTimeout(200);
      await page.reload();
    }
    await notice.waitFor();
    assert.match(await notice.innerText(), new RegExp(`${OVER} refused requests were counted, not kept`));
    const entry = page.getByTestId('counted-entry');
    assert.match(await entry.innerText(), /127\.0\.0\.1: 7 \(refused for their signature, over the budget of 1,000 requests or 4 MiB a minute from one address/);
    // The kept ones are listed as usual.
    assert.equal(await page.getByTestId('delivery').count(), 100);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'counted-refusals.png') });
  });
});
