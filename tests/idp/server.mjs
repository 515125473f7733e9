// A real OpenID provider (oidc-provider) on loopback for the integration tests.
//
// Environment: PORT (default 0 = any free port), TLS_KEY / TLS_CERT (PEM files: serve HTTPS), ALG (default RS256: the access-token signing
// algorithm for resources that do not end in ":es256"/":rs256"), CLIENT_ID / CLIENT_SECRET.
// Prints {"port": N, "issuer": "..."} as one JSON line on stdout once it listens.
//
// Access tokens are JWTs: client_credentials with a resource indicator (`resource=urn:mqtt...`);
// the audience is the resource. A resource ending in ":es256" is signed with ES256, ":rs256" with RS256.
//
// With WEB_CLIENT_REDIRECT (the browser example's URL, tests/browser.rs): a public client `mqtt-web`
// for that page, authorization code + PKCE, refresh tokens (scope offline_access, prompt=consent),
// the provider's development login and consent forms (any login and password), and access tokens
// for resources starting with urn:mqtt:web that live WEB_TOKEN_TTL seconds (default 60).
//
// With BACKCHANNEL_LOGOUT_URI as well (tests/logout_idp.rs, tests/browser.rs): back-channel logout is
// on, and the web client's backchannel_logout_uri is that URL (the logout relay), with sid in its
// logout tokens and in its access tokens (as Keycloak does). Its post-logout redirect URIs are the
// page and the page's signed-out.html (the sign-out popup's callback).
//
// Test controls (this script's own routes, in front of the provider):
//   POST /admin/rotate          new signing keys (new kids); the old ones are no longer published
//   POST /admin/fault?mode=M    the JWKS route answers: none | hang | 500 | garbage | empty | slow (&ms=N)
//                               | reset (the connection is dropped) | huge (a never-ending JSON body,
//                               streamed until the client stops reading) | redirect (302 to this
//                               server under another host name, /fixture-jwks: the test suite's own
//                               keys, tests/keys/jwks.json, which a client must never trust)
//   POST /admin/headers?cacheControl=V   extra Cache-Control header on the JWKS route ("" = none)
//   GET  /admin/stats           {"jwks": requests to the JWKS route, "discovery": requests to discovery,
//                                "fixture": requests to /fixture-jwks}
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const ALG = process.env.ALG || 'RS256';
const CLIENT_ID = process.env.CLIENT_ID || 'device';
const CLIENT_SECRET = process.env.CLIENT_SECRET || 'device-secret-0123456789';
const JWKS_PATH = '/jwks';
const DISCOVERY_PATH = '/.well-known/openid-configuration';
const WEB_CLIENT_REDIRECT = process.env.WEB_CLIENT_REDIRECT || '';
const WEB_TOKEN_TTL = Number(process.env.WEB_TOKEN_TTL || 60);
const BACKCHANNEL_LOGOUT_URI = process.env.BACKCHANNEL_LOGOUT_URI || '';

let fault = { mode: 'none', ms: 0 };
let cacheControl = '';
const stats = { jwks: 0, discovery: 0, fixture: 0 };
let generation = 0;

function newKeys() {
  generation += 1;
  const tag = `${generation}-${randomUUID().slice(0, 8)}`;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return {
    keys: [
      { ...rsa, kid: `rsa-${tag}`, use: 'sig', alg: 'RS256' },
      { ...ec, kid: `ec-${tag}`, use: 'sig', alg: 'ES256' },
    ],
  };
}

function algFor(resource) {
  if (resource.endsWith(':es256')) return 'ES256';
  if (resource.endsWith(':rs256')) return 'RS256';
  return ALG;
}

function clients() {
  const device = {
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
  };
  if (!WEB_CLIENT_REDIRECT) return [device];
  const web = {
    client_id: 'mqtt-web',
    token_endpoint_auth_method: 'none', // public: PKCE is required
    application_type: 'web',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [WEB_CLIENT_REDIRECT],
    post_logout_redirect_uris: [WEB_CLIENT_REDIRECT, new URL('signed-out.html', WEB_CLIENT_REDIRECT).href],
    ...(BACKCHANNEL_LOGOUT_URI
      ? { backchannel_logout_uri: BACKCHANNEL_LOGOUT_URI, backchannel_logout_session_required: true }
      : {}),
  };
  return [device, web];
}

function makeProvider(issuer, jwks) {
  const provider = new Provider(issuer, {
    jwks,
    clients: clients(),
    // The default's behaviour (public clients from their redirect URIs' origins), set explicitly:
    // the default prints a "should change" warning on stdout, which the harness no longer reads.
    clientBasedCORS: (_ctx, origin, client) => client.clientAuthMethod === 'none'
      && client.redirectUris.some((uri) => URL.parse(uri)?.origin === origin),
    // Device profile (IdP profile topics scenario): a resource starting with urn:mqtt:profile gets a
    // `topics` claim naming exactly the topics of this client.
    extraTokenClaims: async (_ctx, token) => {
      const aud = Array.isArray(token.aud) ? token.aud[0] : token.aud;
      // The provider session's id for this client (set when the client requires sid in logout
      // tokens): a back-channel logout by sid then finds the sessions of exactly that sign-in.
      if (typeof aud === 'string' && aud.startsWith('urn:mqtt:web') && token.sid) return { sid: token.sid };
      if (typeof aud === 'string' && aud.startsWith('urn:mqtt:profile')) {
        const id = token.clientId;
        return { topics: [`devices/${id}/telemetry`, `devices/${id}/commands/#`] };
      }
      return undefined;
    },
    // The provider refuses outgoing requests to special-use addresses (SSRF protection, its own
    // dispatcher); the back-channel logout test's relay is on loopback, so that test drops it.
    ...(BACKCHANNEL_LOGOUT_URI
      ? { fetch: (url, options) => globalThis.fetch(url, { ...options, dispatcher: undefined }) }
      : {}),
    features: {
      devInteractions: { enabled: Boolean(WEB_CLIENT_REDIRECT) },
      backchannelLogout: { enabled: Boolean(BACKCHANNEL_LOGOUT_URI) },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:mqtt',
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => ({
          scope: 'mqtt mqtt.connect',
          audience: resource,
          accessTokenTTL: resource.startsWith('urn:mqtt:web') ? WEB_TOKEN_TTL : 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: algFor(resource) } },
        }),
      },
    },
  });
  // A failed back-channel logout shows in the test's output (the provider only emits it).
  provider.on('backchannel.error', (_ctx, err, client) => {
    process.stderr.write(`backchannel logout to ${client.clientId} failed: ${err.message}\n`);
  });
  // Plain HTTP on loopback: the provider must not insist on TLS-terminating proxies.
  provider.proxy = false;
  return provider;
}

function send(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
}

function admin(req, res, url, state) {
  if (req.method === 'POST' && url.pathname === '/admin/rotate') {
    state.jwks = newKeys();
    state.provider = makeProvider(state.issuer, state.jwks);
    return send(res, 200, JSON.stringify({ kids: state.jwks.keys.map((k) => k.kid) }));
  }
  if (req.method === 'POST' && url.pathname === '/admin/fault') {
    fault = { mode: url.searchParams.get('mode') || 'none', ms: Number(url.searchParams.get('ms') || 0) };
    return send(res, 200, JSON.stringify(fault));
  }
  if (req.method === 'POST' && url.pathname === '/admin/headers') {
    cacheControl = url.searchParams.get('cacheControl') || '';
    return send(res, 200, JSON.stringify({ cacheControl }));
  }
  if (url.pathname === '/admin/stats') {
    return send(res, 200, JSON.stringify(stats));
  }
  return send(res, 404, '{}');
}

// The JWKS route, faults included; returns true when it answered (or chose never to).
function jwksFault(req, res) {
  switch (fault.mode) {
    case 'hang':
      req.socket.setTimeout(0);
      return true; // never answered: the client's timeout must fire
    case '500':
      send(res, 500, '{"error":"server_error"}');
      return true;
    case 'garbage':
      send(res, 200, '<html>this is not JSON', 'text/html');
      return true;
    case 'empty':
      send(res, 200, '{"keys":[]}');
      return true;
    case 'reset':
      req.socket.destroy();
      return true;
    case 'huge': {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"keys":[');
      const chunk = `${'{"kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},'.repeat(1000)}`;
      let sent = 0;
      const pump = () => {
        // Bounded: at most 256 MB, and only while the client reads.
        while (sent < 4096 && !res.destroyed) {
          sent += 1;
          if (!res.write(chunk)) return res.once('drain', pump);
        }
        return res.end('{}]}');
      };
      res.on('error', () => {});
      pump();
      return true;
    }
    case 'redirect': {
      const { port } = req.socket.address();
      res.writeHead(302, { location: `http://localhost:${port}/fixture-jwks` });
      res.end();
      return true;
    }
    default:
      return false;
  }
}

function handle(req, res, state) {
  const url = new URL(req.url, state.issuer);
  if (url.pathname.startsWith('/admin/')) return admin(req, res, url, state);
  if (url.pathname === '/fixture-jwks') {
    stats.fixture += 1;
    return send(res, 200, readFileSync(new URL('../keys/jwks.json', import.meta.url)));
  }
  if (url.pathname === DISCOVERY_PATH) stats.discovery += 1;
  if (url.pathname === JWKS_PATH) {
    stats.jwks += 1;
    if (jwksFault(req, res)) return undefined;
    if (cacheControl) res.setHeader('cache-control', cacheControl);
    if (fault.mode === 'slow') {
      const provider = state.provider;
      setTimeout(() => provider.callback()(req, res), fault.ms);
      return undefined;
    }
  }
  return state.provider.callback()(req, res);
}

const state = { issuer: '', provider: null, jwks: newKeys() };
const tls = process.env.TLS_KEY && process.env.TLS_CERT;
const onRequest = (req, res) => handle(req, res, state);
const server = tls
  ? createTlsServer({ key: readFileSync(process.env.TLS_KEY), cert: readFileSync(process.env.TLS_CERT) }, onRequest)
  : createServer(onRequest);
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  state.issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  state.provider = makeProvider(state.issuer, state.jwks);
  process.stdout.write(`${JSON.stringify({ port, issuer: state.issuer })}\n`);
});
// The harness reads only the first line of stdout: later writes must not kill us (EPIPE).
process.stdout.on('error', () => {});
// The test harness closes our stdin (or dies): leave with it, never linger on a port.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
