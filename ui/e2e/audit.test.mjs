// The Audit view in Chromium against the real binary: a user page opened in one tab appears in
// another tab's Audit view live, newest first, filterable, and the view passes the a11y rules.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seriousViolations } from './axe.mjs';
import { launchChromium, startMonitor } from './monitor.mjs';

const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
let monitor;
let browser;

async function open(hash, scheme = 'light') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: scheme });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(monitor.uiUrl + hash);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  return { page, context, problems };
}

describe('the Audit view', () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    monitor = await startMonitor();
    browser = await launchChromium();
    for (const externalId of ['user_4821', 'user_7002']) {
      const body = { externalId, decision: 'REVIEW', status: 'ON_HOLD', subStatus: '', participantId: '', account: '' };
      const response = await fetch(monitor.webhookUrl, { method: 'POST', body: JSON.stringify(body) });
      assert.equal(response.status, 200);
    }
  });
  after(async () => {
    await browser?.close();
    await monitor?.stop();
  });

  it('shows a user page opened elsewhere live, newest first, and filters by action', async () => {
    const { page, context, problems } = await open('');
    // Keyboard: the Audit link is in the top bar's navigation.
    const link = page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Audit' });
    await link.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.getByText('No entries yet').waitFor();

    const other = await open('#/user/user_4821');
    await other.page.getByRole('heading', { name: 'user_4821' }).waitFor();
    const first = page.locator('[data-testid="audit-entry"][data-action="user-viewed"]');
    await first.waitFor();
    assert.match(await first.innerText(), /local.*user viewed\s+user_4821\s+ok\s+127\.0\.0\.1\s/s);

    await other.page.goto(monitor.uiUrl + '#/user/user_7002');
    await other.page.getByRole('heading', { name: 'user_7002' }).waitFor();
    const rows = page.getByTestId('audit-entry');
    await page.locator('[data-testid="audit-entry"]', { hasText: 'user_7002' }).waitFor();
    const shown = await rows.evaluateAll((all) => all.map((row) => row.querySelector('.target')?.textContent?.trim()));
    assert.deepEqual(shown.filter((target) => target?.startsWith('user_')), ['user_7002', 'user_4821']);

    await page.getByLabel('Action').selectOption('search');
    await page.getByText('No entries match these filters').waitFor();
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.locator('[data-testid="audit-entry"]', { hasText: 'user_7002' }).waitFor();

    assert.deepEqual(await seriousViolations(page), []);
    await page.screenshot({ path: join(artifacts, 'audit-light.png'), fullPage: true });
    assert.deepEqual(problems, []);
    assert.deepEqual(other.problems, []);
    await other.context.close();
    await context.close();
  });

  it('links a target to a user page only when it names a user', async () => {
    const { page, context, problems } = await open('#/audit');
    const asked = await page.evaluate(async () => {
      const post = (body) =>
        fetch('/api/deliveries/1/replay', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body }) });
      await fetch('/api/deliveries?limit=5');
      const edited = await post(JSON.stringify({ externalId: 'user_edited', decision: 'REJECT', status: 'CLOSED' }));
      const refused = await post('{"externalId": 5}');
      return [edited.status, refused.status];
    });
    assert.deepEqual(asked, [200, 200]);
    const resends = page.locator('[data-testid="audit-entry"][data-action="resend"]');
    const edited = resends.filter({ hasText: 'user_edited' });
    await edited.waitFor();
    assert.equal(await edited.locator('.target a').getAttribute('href'), '#/user/user_edited');
    // A resend that named nobody, and the inspector's look, name no user: no link.
    const refused = resends.filter({ hasText: 'failed' });
    await refused.waitFor();
    assert.equal((await refused.locator('.target').innerText()).trim(), 'delivery 1');
    assert.equal(await refused.locator('.target a').count(), 0);
    const looked = page.locator('[data-testid="audit-entry"][data-action="body-viewed"]');
    await looked.waitFor();
    assert.equal(await looked.locator('.target a').count(), 0);
    assert.match(await looked.locator('.detail').innerText(), /deliveries, \d+ to \d+; users /);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('shows an entry\'s target with its bidi controls spelled out, never reordered', async () => {
    // A search is recorded with what was searched for as its target, as sent.
    const { page, context, problems } = await open('#/audit', 'dark');
    const searched = await page.evaluate(async () => (await fetch(`/api/search?q=${encodeURIComponent('backup-\u202egnp.exe')}`)).status);
    assert.equal(searched, 200);
    const target = page.locator('[data-testid="audit-entry"][data-action="search"] .target');
    await target.getByTestId('hidden-char').waitFor();
    assert.equal(await target.getByTestId('hidden-char').textContent(), '\\u202e');
    assert.equal((await target.innerText()).trim(), 'backup-\\u202egnp.exe');
    assert.equal(await target.getAttribute('title'), 'backup-\\u202egnp.exe');
    await page.screenshot({ path: join(artifacts, 'audit-bidi-dark.png') });
    assert.deepEqual(problems, []);
    await context.close();
  });
});
