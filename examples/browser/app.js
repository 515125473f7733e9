// The browser example: sign in with OpenID Connect (authorization code + PKCE, oidc-client-ts),
// connect MQTT.js over WebSockets with the access token (MQTT v5, token as authentication data),
// renew the token with the refresh token before it expires and hand it to the broker in-band
// (v5 re-authentication), show the broker's notices, sign out. Sign-out ends the provider session
// in a popup (its end-session endpoint); the provider tells the broker through OIDC back-channel
// logout (mqtt-jwt logout-relay), and the broker ends this MQTT session with the invalidity notice
// {"reason": "logged-out"}. The popup lands on signed-out.html.
//
// Settings come from /config.json (serve.mjs): {issuer, clientId, mqttUrl, resource, topic}.
import { UserManager, WebStorageStateStore } from 'oidc-client-ts';
import { connect } from 'mqtt-jwt-client';

const $ = (id) => document.getElementById(id);
// Read by the end-to-end test (examples/browser/test/e2e.test.mjs); also handy in the console.
const state = { status: 'idle', user: null, exp: 0, firstExp: 0, renewals: 0, messages: [], notices: [], ended: null, endedAt: 0, revoked: null };
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
  popup_post_logout_redirect_uri: `${location.origin}/signed-out.html`,
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
// The signed-in user, kept here: the sign-out handler must open its popup before any await.
let currentUser = null;

// Signed out here, or elsewhere (the broker says so): no renewals, and reconnects carry no token.
async function forgetUser() {
  signedOut = true;
  oidc.stopSilentRenew();
  currentUser = null;
  state.user = null;
  await oidc.removeUser();
  show();
}

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
      // Signed out: the broker ended the session (back-channel logout, or the token's expiry).
      client.end(true);
      state.status = 'ended';
      state.endedAt ||= Date.now() / 1000;
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
    // The provider ended the user's session (this page's sign-out, or another app's single
    // sign-out): the broker closes the connection next; reconnecting with this token is refused.
    if (n.reason === 'logged-out') forgetUser();
  });
}

// A renewed token (refresh_token grant) goes to the broker in-band.
oidc.events.addUserLoaded(async (user) => {
  currentUser = user;
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
  // The popup opens now, inside the click (popup blockers); it goes to the provider's end-session
  // endpoint with id_token_hint, and the user confirms there. The provider then POSTs a logout
  // token to the relay, which publishes it to the broker, which ends this MQTT session.
  const refresh = currentUser?.refresh_token;
  const popup = oidc.signoutPopup();
  signedOut = true;
  oidc.stopSilentRenew();
  // The refresh token outlives the provider session (offline_access): revoke it as well.
  state.revoked = refresh ? await revoke(refresh) : false;
  note('notices', state.revoked ? 'refresh token revoked' : 'refresh token NOT revoked');
  try {
    await popup;
    note('notices', 'signed out at the provider');
  } catch (err) {
    note('notices', `sign-out at the provider failed: ${err.message}`);
  }
  await forgetUser();
  if (state.status !== 'ended') state.status = 'signed out, the broker ends the session';
  show();
};

if (new URLSearchParams(location.search).has('code')) {
  await oidc.signinRedirectCallback();
  history.replaceState(null, '', '/');
}
const user = await oidc.getUser();
if (user && !user.expired) {
  currentUser = user;
  state.user = user.profile.sub;
  startMqtt(user);
}
show();
