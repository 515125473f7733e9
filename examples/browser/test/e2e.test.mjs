// End to end in a real browser (Debian's chromium, headless, driven by playwright-core): the user
// signs in at the OpenID provider's login form, the page shows a device's live messages over MQTT
// WebSockets, stays connected past the first access token's exp thanks to the in-band renewal,
// signs out, and the broker ends the session at the last token's expiry.
//
// Started by tests/browser.rs with: PORT (this page's server; the provider's redirect URI),
// ISSUER, MQTT_URL (ws://), DEVICE_URL (mqtt://) and DEVICE_TOKEN (a device's access token),
// TOKEN_TTL (the page's access-token lifetime, s), SCREENSHOT (where to save one on failure),
// PROFILE_DIR (an empty folder for chromium's profile).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import mqtt from 'mqtt';
import { serve } from '../serve.mjs';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this test through cargo test --test browser`);
  return v;
};

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // No DNS lookups for anything but loopback.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

test('sign in, live messages, renewal past exp, sign out, session ends', { timeout: 90000 }, async () => {
  const ttl = Number(env('TOKEN_TTL'));
  const server = await serve(Number(env('PORT')), {
    ISSUER: env('ISSUER'),
    MQTT_URL: env('MQTT_URL'),
    RENEW_BEFORE: String(Math.floor(ttl / 2)),
  });
  const device = mqtt.connect(env('DEVICE_URL'), { clientId: 'device-1', username: '', password: env('DEVICE_TOKEN'), reconnectPeriod: 0 });
  let n = 0;
  const ticker = setInterval(() => { if (device.connected) device.publish('demo/telemetry', `reading ${++n}`); }, 300);
  const context = await chromium.launchPersistentContext(env('PROFILE_DIR'), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
  });
  // Loopback only: the provider's login page asks for a web font, which must not leave the machine.
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort());
  const page = context.pages()[0] ?? await context.newPage();
  const log = [];
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) log.push(`navigated: ${f.url()}`); });
  page.on('requestfailed', (r) => log.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  const app = () => page.evaluate(() => window.appState);
  const waitApp = (fn, arg, ms) => page.waitForFunction(fn, arg, { timeout: ms, polling: 100 });
  try {
    await page.goto(`http://127.0.0.1:${env('PORT')}/`);
    await page.click('#signin');
    // The provider's development login form, then its consent form.
    await page.waitForSelector('input[name=login]', { timeout: 15000 });
    await page.fill('input[name=login]', 'alice');
    await page.fill('input[name=password]', 'any-password');
    await page.click('button[type=submit]');
    await page.waitForSelector('button[autofocus]', { timeout: 15000 });
    await page.click('button[autofocus]');

    await waitApp(() => window.appState?.status === 'connected', null, 15000);
    await waitApp(() => window.appState.messages.length > 0, null, 10000);
    const first = await app();
    assert.equal(first.user, 'alice');
    assert.ok(first.firstExp > 0);

    // Past the first token's exp (and the kick delay): still connected, messages still arriving.
    const past = first.firstExp + 2;
    await waitApp((t) => Date.now() / 1000 > t, past, (ttl + 10) * 1000);
    await waitApp((t) => window.appState.messages.some((m) => m.at > t), past, 5000);
    const later = await app();
    assert.equal(later.status, 'connected');
    assert.ok(later.renewals >= 1, `renewals: ${later.renewals}`);
    assert.ok(later.exp > first.firstExp, 'a newer token is in force');
    assert.equal(later.ended, null, `the broker ended the session: ${JSON.stringify(later.ended)}`);

    // Sign out: no more renewals; the broker ends the session when the last token expires.
    await page.click('#signout');
    await waitApp(() => window.appState.revoked !== null, null, 5000);
    const out = await app();
    assert.equal(out.revoked, true, 'the refresh token was not revoked at the provider');
    await waitApp(() => window.appState.status === 'ended', null, (out.exp - Date.now() / 1000 + 5) * 1000);
    const end = await app();
    assert.equal(end.ended?.reasonCode, 0x98, `ended with ${JSON.stringify(end.ended)}`);
    assert.ok(Date.now() / 1000 >= out.exp - 0.5, 'ended before the token expired');
    // The broker warned the page before that last token expired (expiryNotice.secondsBefore 3).
    const warned = end.notices.filter((x) => x.kind === 'expiring' && x.exp === out.exp);
    assert.equal(warned.length, 1, `expiry notices: ${JSON.stringify(end.notices)}`);
    assert.ok(Number.isInteger(warned[0].expiresIn));
    await page.screenshot({ path: env('SCREENSHOT').replace(/failure\.png$/, 'signed-out.png'), fullPage: true });
  } catch (err) {
    const shot = env('SCREENSHOT');
    await page.screenshot({ path: shot, fullPage: true }).catch((e) => log.push(`screenshot failed: ${e.message}`));
    console.error(`screenshot: ${shot}\nurl: ${page.url()}\nstate: ${JSON.stringify(await app().catch(() => null))}\n${log.join('\n')}`);
    throw err;
  } finally {
    clearInterval(ticker);
    device.end(true);
    await context.close();
    server.close();
  }
});
