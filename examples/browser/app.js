// The browser example: sign in with OpenID Connect (authorization code + PKCE, oidc-client-ts),
// connect MQTT.js over WebSockets with the access token (MQTT v5, token as authentication data),
// renew the token with the refresh token before it expires and hand it to the broker in-band
// (v5 re-authentication), show the broker's notices, sign out.
//
// Settings come from /config.json (serve.mjs): {issuer, clientId, mqttUrl, resource, topic}.
import { UserManager, WebStorageStateStore } from 'oidc-client-ts';
import { connect } from 'mqtt-jwt-client';

const $ = (id) => document.getElementById(id);
// Read by the end-to-end test (examples/browser/test/e2e.test.mjs); also handy in the console.
const state = { status: 'idle', user: null, exp: 0, firstExp: 0, renewals: 0, messages: [], notices: [], ended: null, revoked: null };
window.appState = state;

function show() {
  $('status').textContent = state.status;
  $('user').textContent = state.user ?? 'not signed in';
  $('exp').textContent = state.exp ? new Date(state.exp * 1000).toLocaleTimeString() : '-';
  $('renewals').textContent = String(state.renewals);
  $('signin').disabled = Boolean(state.user);
  $('signout').disabled = !state.user;
}

function note(list, text) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $(list).prepend(li);
}

const config = await (await fetch('/config.json')).json();
const oidc = new UserManager({
  authority: config.issuer,
  client_id: config.clientId,
  redirect_uri: `${location.origin}/`,
  post_logout_redirect_uri: `${location.origin}/`,
  response_type: 'code', // PKCE is oidc-client-ts's default for the code flow
  scope: 'openid offline_access mqtt',
  prompt: 'consent', // the provider grants offline_access (a refresh token) only with consent
  extraQueryParams: { resource: config.resource },
  extraTokenParams: { resource: config.resource },
  automaticSilentRenew: true, // with a refresh token: a refresh_token grant, no iframe
  accessTokenExpiringNotificationTimeInSeconds: config.renewBeforeSeconds ?? 60,
  userStore: new WebStorageStateStore({ store: window.sessionStorage }),
});

let mqttHandle = null;
let signedOut = false;

function startMqtt(user) {
  state.status = 'connecting';
  state.exp = state.firstExp = user.expires_at;
  show();
  mqttHandle = connect(config.mqttUrl, {
    token: user.access_token,
    authMethod: 'JWT',
    clientId: `web-${user.profile.sub}-${Math.random().toString(16).slice(2, 8)}`,
    reconnectPeriod: 2000,
    // Reconnects carry the newest token, and none once the user has signed out.
    getToken: async () => (signedOut ? undefined : (await oidc.getUser())?.access_token),
  });
  const { client } = mqttHandle;
  client.on('connect', () => {
    state.status = 'connected';
    show();
    client.subscribe(config.topic);
  });
  client.on('message', (topic, payload) => {
    if (topic.startsWith('$CONTROL/')) return;
    state.messages.push({ topic, payload: payload.toString(), at: Date.now() / 1000 });
    note('messages', `${topic}: ${payload}`);
  });
  client.on('disconnect', (packet) => {
    state.ended = { reasonCode: packet.reasonCode };
    note('notices', `broker ended the session (DISCONNECT 0x${packet.reasonCode.toString(16)})`);
  });
  client.on('close', () => {
    if (signedOut) {
      // Signed out: the broker ended the session at the token's expiry. Stay offline.
      client.end(true);
      state.status = 'ended';
    } else {
      state.status = 'reconnecting';
    }
    show();
  });
  client.on('error', (err) => note('notices', `MQTT error: ${err.message}`));
  mqttHandle.onExpiring((n) => {
    state.notices.push({ kind: 'expiring', ...n });
    note('notices', `token expires in ${n.expiresIn} s`);
  });
  mqttHandle.onInvalid((n) => {
    state.notices.push({ kind: 'invalid', ...n });
    note('notices', `session invalid: ${n.reason}`);
  });
}

// A renewed token (refresh_token grant) goes to the broker in-band.
oidc.events.addUserLoaded(async (user) => {
  if (!mqttHandle) return;
  try {
    await mqttHandle.updateToken(user.access_token);
    state.renewals += 1;
    state.exp = user.expires_at;
    note('notices', 'token renewed in-band');
  } catch (err) {
    note('notices', `renewal refused: ${err.message}`);
  }
  show();
});
oidc.events.addSilentRenewError((err) => note('notices', `renewal failed: ${err.message}`));

// RFC 7009 revocation. Not oidc-client-ts's revokeTokens: it refuses the provider's empty 200
// answer when it is labelled text/plain (oidc-provider does that), although the token is revoked.
async function revoke(token) {
  try {
    const endpoint = await oidc.metadataService.getRevocationEndpoint();
    const body = new URLSearchParams({ client_id: config.clientId, token, token_type_hint: 'refresh_token' });
    const res = await fetch(endpoint, { method: 'POST', body });
    return res.ok;
  } catch (err) {
    note('notices', `revocation failed: ${err.message}`);
    return false;
  }
}

$('signin').onclick = () => oidc.signinRedirect();
$('signout').onclick = async () => {
  // Ends the sign-in here and at the provider (the refresh token is revoked); the MQTT session
  // lasts until the current access token expires, then the broker ends it.
  signedOut = true;
  oidc.stopSilentRenew();
  const user = await oidc.getUser();
  state.revoked = user?.refresh_token ? await revoke(user.refresh_token) : false;
  note('notices', state.revoked ? 'refresh token revoked' : 'refresh token NOT revoked');
  await oidc.removeUser();
  state.user = null;
  state.status = mqttHandle?.client.connected ? 'signed out, session ends at exp' : 'ended';
  show();
};

if (new URLSearchParams(location.search).has('code')) {
  await oidc.signinRedirectCallback();
  history.replaceState(null, '', '/');
}
const user = await oidc.getUser();
if (user && !user.expired) {
  state.user = user.profile.sub;
  startMqtt(user);
}
show();
