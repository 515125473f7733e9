// The invalidity notice (options.invalidNotice): a refused control-topic refresh is announced to the
// client, {"reason": "<category>"}, before the broker ends its session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../index.js';
import { MQTT_URL, token, sleep, once, until } from './support.mjs';

test('a refused control-topic refresh calls onInvalid before the connection closes', async () => {
  const h = connect(MQTT_URL(), { reconnectPeriod: 0, clientId: 'js-inv', token: token('js-inv', 60).token });
  const notices = [];
  let closedAt = 0;
  h.onInvalid((n) => notices.push({ ...n, at: Date.now() }));
  try {
    await once(h.client, 'connect');
    h.client.on('close', () => { closedAt = closedAt || Date.now(); });
    await sleep(1100);
    await assert.rejects(h.updateToken(token('someone-else', 60).token));
    await until(() => closedAt > 0, 3000, 'session ended');
    assert.equal(notices.length, 1, 'one invalidity notice');
    assert.equal(typeof notices[0].reason, 'string');
    assert.ok(notices[0].reason.length > 0);
    assert.ok(notices[0].at <= closedAt, 'notice after the close');
  } finally {
    h.client.end(true);
  }
});
