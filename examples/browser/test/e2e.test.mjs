// End to end in a real browser (Debian's chromium, headless, driven by playwright-core): the user
// signs in at the OpenID provider's login form, the page shows a device's live messages over MQTT
// WebSockets, hears the expiry notice and stays connected past the first access token's exp thanks
// to the in-band renewal, signs out (the provider's end-session page in a popup), and the broker
// ends the session within a second or two through back-channel logout (provider → logout relay →
// broker: the `logged-out` notice, then DISCONNECT). The old token is refused afterwards; a new
// sign-in connects again.
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

// One connection attempt with `token` as the page makes it (v5, authentication method JWT); resolves
// with 'connected' or the CONNACK reason code (or the error's message).
function tryConnect(url, token) {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, {
      protocolVersion: 5, clientId: 'web-alice-retry', reconnectPeriod: 0, connectTimeout: 5000,
      properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(token) },
    });
    const done = (v) => { clearTimeout(timer); c.end(true); resolve(v); };
    const timer = setTimeout(() => done('timeout'), 6000);
    c.once('connect', () => done('connected'));
    c.once('error', (e) => done(e.code ?? e.message));
  });
}

test('sign in, live messages, renewal past exp, sign out, back-channel logout ends the session', { timeout: 120000 }, async () => {
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
  const signIn = async () => {
    await page.click('#signin');
    // The provider's development login form, then its consent form.
    await page.waitForSelector('input[name=login]', { timeout: 15000 });
    await page.fill('input[name=login]', 'alice');
    await page.fill('input[name=password]', 'any-password');
    await page.click('button[type=submit]');
    await page.waitForSelector('button[autofocus]', { timeout: 15000 });
    await page.click('button[autofocus]');
    await waitApp(() => window.appState?.status === 'connected', null, 15000);
  };
  try {
    await page.goto(`http://127.0.0.1:${env('PORT')}/`);
    await signIn();
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

    // The broker warned before the first token expired (expiryNotice.secondsBefore is above
    // RENEW_BEFORE: the notice comes before the renewal).
    const warned = later.notices.filter((x) => x.kind === 'expiring' && Math.abs(x.exp - first.firstExp) <= 1);
    assert.equal(warned.length, 1, `expiry notices: ${JSON.stringify(later.notices)}`);
    assert.ok(Number.isInteger(warned[0].expiresIn) && Number.isInteger(warned[0].exp));

    // Sign out right after a renewal: the token in force then has most of its life left, so only
    // the logout can end the session in the seconds that follow, never its expiry.
    await waitApp((n) => window.appState.renewals > n, later.renewals, (ttl + 5) * 1000);
    // The token in force now (oidc-client-ts keeps the user in sessionStorage): refused after the logout.
    const oldToken = await page.evaluate(() => {
      const key = Object.keys(sessionStorage).find((k) => k.startsWith('oidc.user:'));
      return JSON.parse(sessionStorage.getItem(key)).access_token;
    });

    // Sign out: the provider's end-session page opens in a popup, the user confirms there.
    const opened = page.waitForEvent('popup', { timeout: 10000 });
    await page.click('#signout');
    const popup = await opened;
    popup.on('framenavigated', (f) => { if (f === popup.mainFrame()) log.push(`popup navigated: ${f.url()}`); });
    popup.on('pageerror', (e) => log.push(`popup pageerror: ${e.message}`));
    const yes = 'button[name=logout][value=yes]';
    await popup.waitForSelector(yes, { timeout: 15000 });
    const confirmedAt = Date.now() / 1000;
    await popup.click(yes);
    // Provider → relay → broker: the invalidity notice, then the kick, within a second or two.
    await waitApp(() => window.appState.status === 'ended', null, 5000);
    const end = await app();
    const took = end.endedAt - confirmedAt;
    console.log(`session ended ${took.toFixed(2)} s after the sign-out was confirmed`);
    assert.ok(took <= 2, `the session ended ${took.toFixed(2)} s after the sign-out was confirmed`);
    assert.ok(end.endedAt < end.exp - 1, `ended at ${end.endedAt}, the token expires at ${end.exp}: not by the logout`);
    assert.equal(end.ended?.reasonCode, 0x98, `ended with ${JSON.stringify(end.ended)}`);
    assert.deepEqual(end.notices.filter((x) => x.kind === 'invalid'), [{ kind: 'invalid', reason: 'logged-out' }]);
    assert.match(await page.textContent('#notices'), /session invalid: logged-out/);
    await waitApp(() => window.appState.user === null && window.appState.revoked !== null, null, 10000);
    assert.equal((await app()).revoked, true, 'the refresh token was not revoked at the provider');
    // The popup landed on signed-out.html, which handed over to the page: the page closed it.
    if (!popup.isClosed()) await popup.waitForEvent('close', { timeout: 10000 });
    await page.screenshot({ path: env('SCREENSHOT').replace(/failure\.png$/, 'signed-out.png'), fullPage: true });

    // The broker remembers the logout: the old token no longer connects.
    assert.equal(await tryConnect(env('MQTT_URL'), oldToken), 0x87, 'the old token after the logout');

    // A new sign-in (the provider session is gone: its login form again) gets a token issued after
    // the logout, which the broker accepts.
    const before = Date.now() / 1000;
    await signIn();
    await waitApp((t) => window.appState.messages.some((m) => m.at > t), before, 10000);
    const again = await app();
    assert.equal(again.user, 'alice');
    assert.equal(again.ended, null);
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
