#!/usr/bin/env node
// The "system browser" of the desktop team test (its $BROWSER): opens the address the app
// gives in headless Chromium, signs in at the test OpenID Provider as $TEAM_BROWSER_USER
// (default alice) through its own login and consent forms, follows the team monitor back to
// the app's loopback address (saying yes when the monitor asks whether the app may sign in as
// this person), and waits for the app's "Signed in" page. What it saw goes to $TEAM_BROWSER_LOG
// when set, the monitor's question drawn to $TEAM_BROWSER_SHOT.
import { appendFileSync } from 'node:fs';
import { launchChromium } from './monitor.mjs';

const start = process.argv[2];
const user = process.env.TEAM_BROWSER_USER ?? 'alice';
const log = (line) => process.env.TEAM_BROWSER_LOG && appendFileSync(process.env.TEAM_BROWSER_LOG, `${line}\n`);
const app = new URL(start).searchParams.get('redirect_uri');
log(`open ${new URL(start).origin}${new URL(start).pathname} for ${app}`);

const browser = await launchChromium();
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(start);
  for (let step = 0; step < 10 && !page.url().startsWith(app); step++) {
    const login = page.locator('input[name="login"]');
    if (await login.count()) {
      await login.fill(user);
      await page.locator('input[name="password"]').fill('any password');
    }
    // The monitor asks whether the app may sign in as this person: said, drawn, and answered yes.
    const asked = page.getByRole('heading', { name: /^Sign in the KYC Monitor app as / });
    if (await asked.count()) {
      log(`asked: ${await asked.innerText()}`);
      if (process.env.TEAM_BROWSER_SHOT) await page.screenshot({ path: process.env.TEAM_BROWSER_SHOT });
    }
    const was = page.url();
    await page.locator('button[type="submit"]').first().click();
    await page.waitForURL((url) => url.href !== was);
  }
  await page.getByRole('heading', { name: 'Signed in' }).waitFor({ timeout: 15_000 });
  log('signed in');
} catch (error) {
  log(`failed: ${error.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
