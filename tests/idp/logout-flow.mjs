// Signs a user in at the test provider over plain HTTP (its development login and consent forms,
// authorization code + PKCE for the public client mqtt-web), prints {"access_token": ...} as one
// line, then waits for a line on stdin and ends the provider session at its end-session endpoint
// (confirming the sign-out form), which makes the provider POST its back-channel logout tokens;
// prints {"status": N} of that confirmation.
// Environment: ISSUER, REDIRECT (the client's redirect URI), RESOURCE, LOGIN.
import { createHash, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

const { ISSUER, REDIRECT, RESOURCE, LOGIN } = process.env;
const jar = new Map();

async function request(url, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const res = await fetch(url, { ...opts, headers, redirect: 'manual' });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return res;
}

function post(url, fields) {
  return request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
}

const verifier = randomBytes(32).toString('base64url');
const challenge = createHash('sha256').update(verifier).digest('base64url');
const auth = new URL('/auth', ISSUER);
Object.entries({
  client_id: 'mqtt-web', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid',
  code_challenge: challenge, code_challenge_method: 'S256', resource: RESOURCE,
}).forEach(([k, v]) => auth.searchParams.set(k, v));

let res = await request(auth);
let code;
for (let step = 0; step < 20 && !code; step += 1) {
  const location = res.headers.get('location');
  if (location) {
    const next = new URL(location, ISSUER);
    if (next.href.startsWith(REDIRECT)) {
      code = next.searchParams.get('code');
      if (!code) throw new Error(`no code in ${next.search}`);
      break;
    }
    res = await request(next);
    continue;
  }
  const html = await res.text();
  const action = html.match(/<form[^>]*action="([^"]+)"/)?.[1];
  if (!action) throw new Error(`step ${step}: status ${res.status}, no form and no redirect: ${html.slice(0, 300)}`);
  const fields = html.includes('name="login"')
    ? { prompt: 'login', login: LOGIN, password: 'any' }
    : { prompt: 'consent' };
  res = await post(new URL(action, ISSUER), fields);
}
if (!code) throw new Error('no authorization code after 20 steps');
const tokenRes = await post(new URL('/token', ISSUER), {
  grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: 'mqtt-web',
  code_verifier: verifier, resource: RESOURCE,
});
const tokens = await tokenRes.json();
if (!tokens.access_token) throw new Error(`token endpoint: ${JSON.stringify(tokens)}`);
process.stdout.write(`${JSON.stringify({ access_token: tokens.access_token })}\n`);

const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => { lines.once('line', resolve); });
const end = await request(new URL('/session/end?client_id=mqtt-web', ISSUER));
const page = await end.text();
const xsrf = page.match(/name="xsrf" value="([^"]+)"/)?.[1];
const confirm = page.match(/<form[^>]*action="([^"]+)"/)?.[1];
if (!xsrf || !confirm) throw new Error(`end-session page without its form: ${end.status} ${page.slice(0, 300)}`);
const done = await post(new URL(confirm, ISSUER), { xsrf, logout: 'yes' });
process.stdout.write(`${JSON.stringify({ status: done.status })}\n`);
process.exit(0);
