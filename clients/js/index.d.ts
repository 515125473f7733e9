import type { IClientOptions, MqttClient } from 'mqtt';

export interface ConnectOptions extends IClientOptions {
  /** The JWT. */
  token: string;
  /** MQTT v5 authentication method (e.g. "JWT"): token as authentication data, refresh by re-authentication. Omitted: token as password, refresh by the control topic. */
  authMethod?: string;
  /** Asked when the connection closes; its token is used for the reconnect. */
  getToken?: () => string | undefined | Promise<string | undefined>;
  controlTopic?: string;
  responseTopic?: string;
  expiringTopic?: string;
  invalidTopic?: string;
  refreshTimeoutMs?: number;
  /** The MQTT.js module, when not the peer dependency. */
  mqtt?: { connect(url: string, opts: IClientOptions): MqttClient };
}

export interface RefreshAnswer { result: 'ok' | 'stored'; exp?: number | null }
export interface ExpiryNotice { exp: number; expiresIn: number }
export interface InvalidNotice { reason: string }

export class RefreshError extends Error {
  /** The plugin's refusal category (control topic). */
  reason?: string;
  /** The MQTT reason code that ended a re-authentication (0x87). */
  reasonCode?: number;
}

export interface Handle {
  client: MqttClient;
  updateToken(token: string): Promise<RefreshAnswer>;
  onExpiring(cb: (n: ExpiryNotice) => void): () => void;
  onInvalid(cb: (n: InvalidNotice) => void): () => void;
  readonly token: string;
}

export const DEFAULTS: Readonly<{
  authMethod: string; controlTopic: string; responseTopic: string; expiringTopic: string; invalidTopic: string; refreshTimeoutMs: number;
}>;

export function connect(url: string, options: ConnectOptions): Handle;
