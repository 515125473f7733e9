// MQTT.js helper for the mqtt-jwt-auth mosquitto plugin (browser and Node).
//
// connect(url, options) -> {client, updateToken, onExpiring, onInvalid}
//
// It speaks only the plugin's documented protocol (README, "Clients"):
// - MQTT v5 re-authentication: AUTH 0x19 with the connection's authentication method and the new
//   token as authentication data; the broker answers AUTH 0x00, or ends the connection (mosquitto
//   2.0.11: CONNACK 0x87 on the live connection; 2.0.13 and later: DISCONNECT 0x87).
// - The control topic: the new token published to `$CONTROL/jwt-auth/v1`; the answer
//   {"result":"ok","exp":N} or {"result":"refused","reason":"..."} arrives on
//   `$CONTROL/jwt-auth/v1/response`, sent to this client only (no subscription needed).
// - Notices sent to this client only: `$CONTROL/jwt-auth/v1/expiring` {"exp":N,"expiresIn":N} and
//   `$CONTROL/jwt-auth/v1/invalid` {"reason":"<category>"}.
import * as mqttModule from 'mqtt';

export const DEFAULTS = Object.freeze({
  authMethod: 'JWT',
  controlTopic: '$CONTROL/jwt-auth/v1',
  responseTopic: '$CONTROL/jwt-auth/v1/response',
  expiringTopic: '$CONTROL/jwt-auth/v1/expiring',
  invalidTopic: '$CONTROL/jwt-auth/v1/invalid',
  refreshTimeoutMs: 10000,
});

const RC_REAUTHENTICATE = 0x19;

/** A refresh the broker did not accept. `reason` is the plugin's category when it said one. */
export class RefreshError extends Error {
  constructor(message, { reason, reasonCode } = {}) {
    super(message);
    this.name = 'RefreshError';
    this.reason = reason;
    this.reasonCode = reasonCode;
  }
}

function library(injected) {
  if (injected) return injected;
  // Node (CommonJS build) and the browser ES module export connect in different places.
  if (typeof mqttModule.connect === 'function') return mqttModule;
  return mqttModule.default;
}

function bytes(token) {
  if (typeof Buffer !== 'undefined') return Buffer.from(token, 'utf8');
  return new TextEncoder().encode(token);
}

function parseJson(payload) {
  try {
    return JSON.parse(typeof payload === 'string' ? payload : new TextDecoder().decode(payload));
  } catch {
    return undefined;
  }
}

/**
 * Connects with `options.token`. With `options.authMethod` (e.g. "JWT") the token travels as MQTT v5
 * authentication data and updateToken() re-authenticates; without it the token is the password and
 * updateToken() uses the control topic. Every other option goes to mqtt.connect unchanged.
 *
 * Extra options: token (required), authMethod, getToken (() => token | Promise<token>, asked when
 * the connection closes, so the reconnect carries a fresh token), controlTopic, responseTopic,
 * expiringTopic, invalidTopic, refreshTimeoutMs, mqtt (the MQTT.js module, if not the peer one).
 */
export function connect(url, options = {}) {
  const {
    token,
    authMethod,
    getToken,
    controlTopic = DEFAULTS.controlTopic,
    responseTopic = DEFAULTS.responseTopic,
    expiringTopic = DEFAULTS.expiringTopic,
    invalidTopic = DEFAULTS.invalidTopic,
    refreshTimeoutMs = DEFAULTS.refreshTimeoutMs,
    mqtt,
    ...mqttOptions
  } = options;
  if (typeof token !== 'string' || token === '') throw new TypeError('options.token: the JWT is required');

  const opts = { ...mqttOptions };
  if (authMethod) {
    opts.protocolVersion = 5;
    opts.properties = { ...opts.properties, authenticationMethod: authMethod, authenticationData: bytes(token) };
  } else {
    opts.password = token;
    // MQTT 3.1.1 sends a password only with a username; the plugin reads the token, and binds or
    // replaces the username as configured.
    if (opts.username === undefined) opts.username = '';
  }
  const client = library(mqtt).connect(url, opts);

  let current = token;
  const expiring = new Set();
  const invalid = new Set();
  let pending = null; // the refresh in flight: {resolve, reject, timer}
  let queue = Promise.resolve();

  // The reconnect hook: MQTT.js builds each CONNECT from client.options, right after 'reconnect'.
  const remember = (t) => {
    current = t;
    if (authMethod) {
      client.options.properties = { ...client.options.properties, authenticationData: bytes(t) };
    } else {
      client.options.password = t;
    }
  };
  client.on('reconnect', () => remember(current));
  if (getToken) {
    client.on('close', () => {
      Promise.resolve()
        .then(getToken)
        .then((t) => { if (typeof t === 'string' && t) remember(t); })
        .catch((err) => client.emit('error', err));
    });
  }

  const settle = (err, value) => {
    if (!pending) return;
    const p = pending;
    pending = null;
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value);
  };

  // The broker's answer to a re-authentication, as each mosquitto sends it.
  const plainHandleAuth = client.handleAuth.bind(client);
  client.handleAuth = (packet, callback) => {
    if (pending && pending.kind === 'reauth' && packet.reasonCode === 0) {
      settle(null, { result: 'ok' });
      callback();
      return;
    }
    plainHandleAuth(packet, callback);
  };
  client.on('packetreceive', (packet) => {
    if (!pending || pending.kind !== 'reauth') return;
    // mosquitto 2.0.0-2.0.12: CONNACK 0x87 on the live connection (MQTT.js then reports
    // "duplicate CONNACK"); 2.0.13 and later: DISCONNECT 0x87.
    if (packet.cmd === 'connack' || packet.cmd === 'disconnect') {
      const rc = packet.reasonCode;
      settle(new RefreshError(`re-authentication refused (${packet.cmd} 0x${rc.toString(16)})`, { reasonCode: rc }));
    }
  });
  client.on('close', () => settle(new RefreshError('connection closed during the refresh')));

  client.on('message', (topic, payload) => {
    if (topic === responseTopic) {
      if (!pending || pending.kind !== 'control') return;
      const answer = parseJson(payload);
      if (answer && answer.result === 'ok') settle(null, answer);
      else settle(new RefreshError(`token refresh refused: ${answer?.reason ?? 'unreadable answer'}`, { reason: answer?.reason }));
    } else if (topic === expiringTopic) {
      const notice = parseJson(payload);
      if (notice) for (const cb of expiring) cb(notice);
    } else if (topic === invalidTopic) {
      const notice = parseJson(payload);
      if (notice) for (const cb of invalid) cb(notice);
    }
  });

  const send = (t) =>
    new Promise((resolve, reject) => {
      if (!client.connected) {
        // Offline: the next CONNECT carries it.
        remember(t);
        resolve({ result: 'stored' });
        return;
      }
      const kind = authMethod ? 'reauth' : 'control';
      pending = { kind, resolve, reject, timer: setTimeout(() => settle(new RefreshError('no answer from the broker')), refreshTimeoutMs) };
      const onDone = (err) => { if (err) settle(err); };
      if (kind === 'reauth') {
        // MQTT.js has no public call for AUTH 0x19; its packet writer is the only way.
        client._sendPacket(
          { cmd: 'auth', reasonCode: RC_REAUTHENTICATE, properties: { authenticationMethod: authMethod, authenticationData: bytes(t) } },
          onDone,
        );
      } else {
        client.publish(controlTopic, t, { qos: 0 }, onDone);
      }
    }).then((answer) => {
      remember(t);
      return answer;
    });

  /** Hands `t` to the broker in-band; resolves with its answer, rejects with a RefreshError. */
  const updateToken = (t) => {
    if (typeof t !== 'string' || t === '') return Promise.reject(new TypeError('updateToken: a JWT is required'));
    // One refresh at a time: the broker answers them in order, and a v5 re-authentication must be
    // a single round trip with nothing else in between.
    const run = queue.then(() => send(t));
    queue = run.catch(() => {});
    return run;
  };

  const subscribeTo = (set) => (cb) => {
    set.add(cb);
    return () => set.delete(cb);
  };

  return {
    client,
    updateToken,
    /** cb({exp, expiresIn}) before the token expires; returns an unsubscribe function. */
    onExpiring: subscribeTo(expiring),
    /** cb({reason}) before the broker ends the session for a reason other than plain expiry. */
    onInvalid: subscribeTo(invalid),
    get token() {
      return current;
    },
  };
}
