// Details people noticed, in Chromium against the real binary: a refused delivery's reason is
// said once in the inspector's detail, in the README's word ("refused").
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, startMonitor } from './monitor.mjs';

let monitor;
let browser;

describe('details', () => {
  before(async () => {
    monitor = await startMonitor();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await monitor?.stop();
  });

  it('says a refusal reason once, as refused', async () => {
    const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify({ externalId: null }) });
    assert.equal(response.status, 422);
    const { error } = await response.json();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(monitor.uiUrl);
    await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Deliveries' }).click();
    const detail = page.getByTestId('delivery-detail');
    await detail.getByTestId('delivery-error').waitFor();
    const text = await detail.innerText();
    assert.equal(text.split(error).length - 1, 1, text);
    assert.match(text, /refused with 422/);
    await context.close();
  });
});
