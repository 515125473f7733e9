// The MQTT.js helper against a real mosquitto with the plugin (started by tests/clients.rs):
// refresh by v5 re-authentication and by the control topic, the expiry notice, and reconnects that
// carry the newest token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, RefreshError } from '../index.js';
import { MQTT_URL, WS_URL, token, sleep, once, until, plain, roundTrip } from './support.mjs';

const base = { reconnectPeriod: 300, connectTimeout: 5000 };

// The plugin may refuse refreshes closer than refresh.minIntervalMs (default 1 s) to the last one.
const MIN_INTERVAL = 1100;

test('refresh over the control topic: ok with an integer exp, refused for another identity', async () => {
  const h = connect(MQTT_URL(), { ...base, clientId: 'js-ctl', token: token('js-ctl', 60).token });
  try {
    await once(h.client, 'connect');
    await sleep(MIN_INTERVAL);
    const next = token('js-ctl', 120);
    const answer = await h.updateToken(next.token);
    assert.deepEqual(answer, { result: 'ok', exp: next.exp });
    assert.ok(Number.isInteger(answer.exp));
    assert.equal(h.token, next.token);

    await sleep(MIN_INTERVAL);
    const closed = once(h.client, 'close');
    await assert.rejects(h.updateToken(token('someone-else', 60).token), (err) => {
      assert.ok(err instanceof RefreshError);
      assert.equal(err.reason, 'bad-subject');
      return true;
    });
    // A refused refresh ends the session; the refused token is not kept for the reconnect.
    await closed;
    assert.equal(h.token, next.token);
  } finally {
    h.client.end(true);
  }
});

test('refresh by v5 re-authentication keeps the client past the first exp', async () => {
  const first = token('js-v5', 3);
  const h = connect(MQTT_URL(), { ...base, clientId: 'js-v5', authMethod: 'JWT', token: first.token });
  try {
    await once(h.client, 'connect');
    let closes = 0;
    h.client.on('close', () => { closes += 1; });
    await sleep(MIN_INTERVAL);
    const answer = await h.updateToken(token('js-v5', 60).token);
    assert.deepEqual(answer, { result: 'ok' });
    await sleep((first.exp + 1.5) * 1000 - Date.now());
    assert.equal(closes, 0, 'the connection was closed although refreshed');
    assert.ok(await roundTrip(h.client, 'js-v5/echo'));
  } finally {
    h.client.end(true);
  }
});

test('a refused re-authentication rejects updateToken with reason code 0x87', async () => {
  const h = connect(MQTT_URL(), { ...base, reconnectPeriod: 0, clientId: 'js-v5-bad', authMethod: 'JWT', token: token('js-v5-bad', 60).token });
  h.client.on('error', () => {}); // MQTT.js reports mosquitto 2.0.11's answer as "duplicate CONNACK"
  try {
    await once(h.client, 'connect');
    await sleep(MIN_INTERVAL);
    await assert.rejects(h.updateToken(token('intruder', 60).token), (err) => {
      assert.ok(err instanceof RefreshError, String(err));
      assert.equal(err.reasonCode, 0x87);
      return true;
    });
    await until(() => !h.client.connected, 3000, 'disconnected after the refused re-authentication');
  } finally {
    h.client.end(true);
  }
});

test('the expiry notice arrives before exp, with integer exp and expiresIn', async () => {
  const t = token('js-notice', 4);
  const h = connect(MQTT_URL(), { ...base, reconnectPeriod: 0, clientId: 'js-notice', token: t.token });
  const notices = [];
  h.onExpiring((n) => notices.push({ ...n, at: Date.now() / 1000 }));
  try {
    await once(h.client, 'connect');
    await until(() => notices.length > 0, 5000, 'expiry notice');
    const [n] = notices;
    assert.equal(n.exp, t.exp);
    assert.ok(Number.isInteger(n.expiresIn) && n.expiresIn >= 0 && n.expiresIn <= 3, JSON.stringify(n));
    assert.ok(n.at < t.exp, 'notice after exp');
  } finally {
    h.client.end(true);
  }
});

test('after a kick the reconnect carries the token of the last updateToken, not the expired first one', async () => {
  const first = token('js-kick', 2);
  const h = connect(MQTT_URL(), { ...base, clientId: 'js-kick', token: first.token });
  try {
    await once(h.client, 'connect');
    await sleep(MIN_INTERVAL);
    await h.updateToken(token('js-kick', 120).token);
    await sleep((first.exp + 1) * 1000 - Date.now()); // the first token is now expired
    // A takeover by the same identity closes the helper's connection; MQTT.js reconnects.
    const reconnected = once(h.client, 'connect', 8000);
    const other = await plain(MQTT_URL(), { clientId: 'js-kick', password: token('js-kick', 60).token });
    other.end(true);
    const [connack] = await reconnected;
    assert.equal(connack.returnCode ?? connack.reasonCode ?? 0, 0);
    assert.ok(await roundTrip(h.client, 'js-kick/echo'));
  } finally {
    h.client.end(true);
  }
});

test('kicked at exp, the reconnect carries the token from getToken (v5, over WebSockets)', async () => {
  const first = token('js-ws', 2);
  let asked = 0;
  const h = connect(WS_URL(), {
    ...base,
    clientId: 'js-ws',
    authMethod: 'JWT',
    token: first.token,
    getToken: async () => { asked += 1; return token('js-ws', 120).token; },
  });
  try {
    await once(h.client, 'connect');
    const [, disconnect] = await Promise.all([once(h.client, 'close', 6000), once(h.client, 'disconnect', 6000)]);
    assert.equal(disconnect[0].reasonCode, 0x98, 'DISCONNECT 0x98 at expiry');
    await once(h.client, 'connect', 8000);
    assert.ok(asked >= 1);
    assert.ok(await roundTrip(h.client, 'js-ws/echo'));
  } finally {
    h.client.end(true);
  }
});
