// Test support: the broker the Rust harness started (tests/clients.rs) and HS256 tokens for it.
import { createHmac } from 'node:crypto';
import mqtt from 'mqtt';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these tests through cargo test --test clients`);
  return v;
}

export const MQTT_URL = () => env('MQTT_JWT_TEST_URL');
export const WS_URL = () => env('MQTT_JWT_TEST_WS_URL');

const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A token for `sub` expiring `secs` from now, signed with the test broker's HS256 secret. */
export function token(sub, secs = 3600) {
  const now = Math.floor(Date.now() / 1000);
  const exp = now + secs;
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, iat: now, exp })}`;
  const sig = createHmac('sha256', env('MQTT_JWT_TEST_SECRET')).update(head).digest('base64url');
  return { token: `${head}.${sig}`, exp };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the first `event` of `emitter` (its arguments), rejects after `ms`. */
export function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { emitter.off(event, on); reject(new Error(`no ${event} within ${ms} ms`)); }, ms);
    const on = (...args) => { clearTimeout(timer); resolve(args); };
    emitter.once(event, on);
  });
}

/** Until `check()` is true, at most `ms`. */
export async function until(check, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await sleep(25);
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

/** A plain MQTT.js client (no helper), connected. */
export async function plain(url, options) {
  const c = mqtt.connect(url, { reconnectPeriod: 0, username: '', ...options });
  await once(c, 'connect');
  return c;
}

/** A round trip through the broker: this client subscribes to a topic of its own and hears itself. */
export async function roundTrip(client, topic) {
  await client.subscribeAsync(topic);
  const got = once(client, 'message');
  await client.publishAsync(topic, 'ping');
  const [t] = await got;
  return t === topic;
}
