// Details people noticed, in Chromium against the real binary: the stats' count axes are as
// wide as their labels (five digits and more too); on a narrow or zoomed window the webhook URL
// and its Copy button stay reachable, in a menu; projector mode makes everything larger.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, startMonitor } from './monitor.mjs';

let monitor;
let browser;
const USERS = 10_050;

async function deliverMany(count) {
  let next = 0;
  async function worker() {
    while (next < count) {
      const i = next++;
      const body = { externalId: `big_${i}`, decision: '', status: 'NOT_STARTED', subStatus: '', participantId: '', account: '' };
      const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
      assert.equal(response.status, 200);
      await response.arrayBuffer();
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker));
}

async function openPage(viewport, hash = '#/', options = {}) {
  const context = await browser.newContext({ viewport, ...options });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(`${monitor.uiUrl}${hash}`);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { page, context, problems };
}

describe('details people noticed', () => {
  before(async () => {
    monitor = await startMonitor();
    browser = await launchChromium();
    await deliverMany(USERS);
  });
  after(async () => {
    await browser?.close();
    await monitor?.stop();
  });

  it('sizes the count axes to their labels, five digits and more', async () => {
    const { page, context, problems } = await openPage({ width: 1280, height: 900 }, '#/stats');
    const funnel = page.getByRole('img', { name: /^Users ever in each status/ });
    await funnel.and(page.locator(`[aria-label*="Not started ${USERS.toLocaleString('en-US')}"], [aria-label*="Not started ${USERS}"]`)).waitFor();
    // uPlot lays each axis out in a box as wide as the axis's size: the value axis (the second
    // one, on the left) must hold its widest label, "10,000" and up, drawn in the axes' font.
    const fits = await funnel.evaluate((chart) => {
      const axis = chart.querySelectorAll('.u-axis')[1];
      const ruler = document.createElement('canvas').getContext('2d');
      ruler.font = '12px system-ui, sans-serif';
      const label = (12_000).toLocaleString();
      return { room: axis.getBoundingClientRect().width - 5, needs: ruler.measureText(label).width };
    });
    assert.ok(fits.room >= fits.needs, `the axis has ${fits.room} px for a label of ${fits.needs} px`);
    await page.screenshot({ path: 'e2e/artifacts/stats-big-counts.png' });
    assert.deepEqual(problems, []);
    await context.close();
  });

  for (const [name, viewport, deviceScaleFactor] of [
    ['360 px', { width: 360, height: 740 }, 1],
    ['360 px at 200 % zoom', { width: 180, height: 370 }, 2],
  ]) {
    it(`keeps the webhook URL and its Copy button reachable at ${name}`, async () => {
      const { page, context, problems } = await openPage(viewport, '#/', { deviceScaleFactor });
      await context.grantPermissions(['clipboard-read', 'clipboard-write']);
      const menu = page.getByTestId('endpoint-menu');
      await menu.getByText('Webhook URL').click();
      const url = page.getByTestId('endpoint-menu-url');
      assert.equal(await url.innerText(), monitor.webhookUrl);
      const copy = menu.getByRole('button', { name: 'Copy webhook URL' });
      for (const element of [url, copy]) {
        const box = await element.boundingBox();
        assert.ok(box && box.x >= 0 && box.x + box.width <= viewport.width + 0.5, `${JSON.stringify(box)} within ${viewport.width} px`);
      }
      await copy.click();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), monitor.webhookUrl);
      await page.screenshot({ path: `e2e/artifacts/endpoint-menu-${viewport.width}.png` });
      assert.deepEqual(problems, []);
      await context.close();
    });
  }

  it('has a projector mode: ?present in the address, or the toggle, makes the type larger', async () => {
    const height = async (page) => (await page.locator('[data-testid="card"] .id').first().boundingBox()).height;
    const plain = await openPage({ width: 1280, height: 800 });
    await plain.page.locator('[data-testid="card"]').first().waitFor();
    const normal = await height(plain.page);
    const presented = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await presented.newPage();
    const url = new URL(monitor.uiUrl);
    url.searchParams.set('present', '');
    await page.goto(url.href);
    await page.locator('[data-testid="card"]').first().waitFor();
    const larger = await height(page);
    assert.ok(larger >= normal * 1.3, `${larger} px against ${normal} px`);
    await page.screenshot({ path: 'e2e/artifacts/projector-mode.png' });
    await plain.context.close();
    await presented.close();
  });
});
