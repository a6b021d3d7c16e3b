// The test OpenID Provider (node's oidc-provider, tests/idp/server.mjs) for the e2e tests of
// team mode, in the browser and in the desktop window.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const CLIENT_ID = 'kyc-monitor';
export const CLIENT_SECRET = 'test-client-secret-0123456789abcdef';

/** The test provider, its monitor client redirecting to `ui`; resolves with its issuer. */
export function startIdp(ui) {
  const clients = [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${ui}/auth/callback`] }];
  const child = spawn('node', [join(here, '../../tests/idp/server.mjs')], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, IDP_CLIENTS: JSON.stringify(clients) },
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the test provider exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (line) => {
      if (!line.startsWith('issuer: ')) return reject(new Error(`the test provider said ${line}`));
      resolve({ issuer: line.slice('issuer: '.length).trim(), stop: () => child.kill('SIGTERM') });
    });
  });
}
