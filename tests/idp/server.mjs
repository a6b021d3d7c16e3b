// A real OpenID Provider for the team sign-in tests (tests/team.rs): node's oidc-provider with
// its development login and consent forms, users in groups, PKCE required, on a free port.
// Prints `issuer: URL` on stdout once it listens.
//
// Clients come as JSON in IDP_CLIENTS: [{"client_id", "client_secret", "redirect_uris"}].
// Test-only routes, to play a provider's changes and a misbehaving or forged answer:
//   POST /__test/rotate          signs with a new key from now on (the old one stays published)
//   POST /__test/tamper {...}    the next token answer's ID token is signed again after a change:
//                                {"aud": "other"} another audience, {"expired": true} an exp in
//                                the past (both with the provider's own key), {"foreignKey": true}
//                                signed by a key the provider never published, under its key id,
//                                {"claims": {...}} those claims set (an unverified email, say).
import http from 'node:http';

import Provider from 'oidc-provider';
import * as jose from 'jose';

// stdout carries the issuer line only (the tests stop reading it after that): oidc-provider's
// notes go to stderr.
console.log = console.error;
console.info = console.error;

const USERS = {
  alice: { name: 'Alice Admin', groups: ['kyc-admins', 'staff'] },
  bob: { name: 'Bob Support', groups: ['kyc-support'] },
  carol: { name: 'Carol Nogroup', groups: [] },
};

const clients = JSON.parse(process.env.IDP_CLIENTS ?? '[]').map((client) => ({
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...client,
}));

async function newKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid: `key-${Math.random().toString(36).slice(2, 10)}`, alg: 'RS256', use: 'sig' };
}

// The signing key comes first; rotated-out keys stay published after it.
let keys = [await newKey()];
let tamper = null;

function configuration() {
  return {
    clients,
    jwks: { keys },
    cookies: { keys: ['kyc-monitor-test-idp-cookie-key'] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    // The claims go into the ID token (not only the userinfo endpoint); groups with the profile.
    conformIdTokenClaims: false,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'groups'],
    },
    async findAccount(ctx, id) {
      const user = USERS[id];
      if (!user) return undefined;
      return {
        accountId: id,
        async claims() {
          return {
            sub: id, email: `${id}@example.com`, email_verified: true, name: user.name, groups: user.groups,
          };
        },
      };
    },
  };
}

async function resign(idToken, change) {
  const claims = jose.decodeJwt(idToken);
  const { kid } = jose.decodeProtectedHeader(idToken);
  const now = Math.floor(Date.now() / 1000);
  if (change.aud) claims.aud = change.aud;
  Object.assign(claims, change.claims ?? {});
  if (change.expired) {
    claims.iat = now - 600;
    claims.exp = now - 300;
  }
  const jwk = change.foreignKey ? { ...(await newKey()), kid } : keys[0];
  const key = await jose.importJWK(jwk, 'RS256');
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(key);
}

let provider;
let issuer;

function build() {
  provider = new Provider(issuer, configuration());
  provider.use(async (ctx, next) => {
    await next();
    if (tamper && ctx.path === '/token' && ctx.body && ctx.body.id_token) {
      const change = tamper;
      tamper = null;
      ctx.body = { ...ctx.body, id_token: await resign(ctx.body.id_token, change) };
    }
  });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let text = '';
    req.on('data', (chunk) => { text += chunk; });
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === 'POST' && req.url === '/__test/rotate') {
      keys = [await newKey(), ...keys];
      build();
      res.end(JSON.stringify({ kid: keys[0].kid }));
      return;
    }
    if (req.method === 'POST' && req.url === '/__test/tamper') {
      tamper = JSON.parse((await readBody(req)) || '{}');
      res.end('{}');
      return;
    }
    provider.callback()(req, res);
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error));
  }
});

server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  build();
  process.stdout.write(`issuer: ${issuer}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
