"""paho-mqtt helper for the mqtt-jwt-auth mosquitto plugin.

``connect(host, port, token, **paho_options)`` returns a handle with ``client`` (a connected, looping
paho ``Client``), ``update_token(token)``, ``on_expiring(cb)`` and ``on_invalid(cb)``. Every reconnect
carries the newest token.

It speaks only the plugin's documented protocol (docs/configuration.md, "Clients"):

- the control topic: the new token is published to ``$CONTROL/jwt-auth/v1``; the answer
  ``{"result": "ok", "exp": N}`` or ``{"result": "refused", "reason": "..."}`` arrives on
  ``$CONTROL/jwt-auth/v1/response``, sent to this client only (no subscription needed);
- MQTT v5 re-authentication (with ``auth_method``): AUTH 0x19 with the method and the new token.
  paho-mqtt 2.x does not implement AUTH: the broker's answer is an "unrecognised command" to it and
  it drops the connection. The client class here handles that one packet (and mosquitto 2.0.11's
  CONNACK 0x87 on a live connection, 2.0.13+'s DISCONNECT 0x87) by overriding paho's private
  ``_packet_handle``, which is why paho-mqtt is pinned to 2.x;
- notices sent to this client only: ``$CONTROL/jwt-auth/v1/expiring`` ``{"exp": N, "expiresIn": N}``
  and ``$CONTROL/jwt-auth/v1/invalid`` ``{"reason": "<category>"}``.
"""
from __future__ import annotations

import json
import threading
from typing import Any, Callable, Optional

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["connect", "Handle", "RefreshError", "DEFAULTS"]

DEFAULTS = {
    "auth_method": "JWT",
    "control_topic": "$CONTROL/jwt-auth/v1",
    "response_topic": "$CONTROL/jwt-auth/v1/response",
    "expiring_topic": "$CONTROL/jwt-auth/v1/expiring",
    "invalid_topic": "$CONTROL/jwt-auth/v1/invalid",
}

_AUTH = 0xF0
_CONNACK = 0x20
_DISCONNECT = 0xE0
_RC_REAUTHENTICATE = 0x19


class RefreshError(Exception):
    """The broker did not accept a new token. ``reason``: the plugin's category, when it said one;
    ``reason_code``: the MQTT reason code that ended a re-authentication."""

    def __init__(self, message: str, reason: Optional[str] = None, reason_code: Optional[int] = None):
        super().__init__(message)
        self.reason = reason
        self.reason_code = reason_code


class _Client(mqtt.Client):
    """paho's client plus the AUTH packet (MQTT v5 re-authentication)."""

    _jwt_answer: Optional[Callable[[str, int], None]] = None
    _jwt_closed: Optional[Callable[[], None]] = None
    _jwt_reauth_pending = False

    def _do_on_disconnect(self, *args: Any, **kwargs: Any) -> None:
        # Whatever on_disconnect the application sets, a refresh in flight fails at once.
        if self._jwt_closed is not None:
            self._jwt_closed()
        super()._do_on_disconnect(*args, **kwargs)

    def _packet_handle(self) -> mqtt.MQTTErrorCode:
        cmd = self._in_packet["command"] & 0xF0
        body = self._in_packet["packet"]
        answer = self._jwt_answer
        if cmd == _AUTH and answer is not None:
            answer("auth", body[0] if len(body) > 0 else 0)
            return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        if cmd == _CONNACK and self._jwt_reauth_pending and answer is not None:
            # mosquitto 2.0.0-2.0.12 refuse a re-authentication with a second CONNACK (0x87) and
            # close the connection: not a new connection's answer, so on_connect must not see it.
            answer("connack", body[1] if len(body) > 1 else 0x87)
            # CONN_LOST (not PROTOCOL) so that paho marks the connection lost and may reconnect.
            return mqtt.MQTTErrorCode.MQTT_ERR_CONN_LOST
        if cmd == _DISCONNECT and self._jwt_reauth_pending and answer is not None:
            answer("disconnect", body[0] if len(body) > 0 else 0)
        return super()._packet_handle()

    def _jwt_send_reauth(self, method: str, token: str) -> mqtt.MQTTErrorCode:
        props = Properties(PacketTypes.AUTH)
        props.AuthenticationMethod = method
        props.AuthenticationData = token.encode("utf-8")
        body = ReasonCode(PacketTypes.AUTH, identifier=_RC_REAUTHENTICATE).pack() + props.pack()
        packet = bytearray([_AUTH])
        self._pack_remaining_length(packet, len(body))
        packet += body
        return self._packet_queue(_AUTH, packet, 0, 0)


def _json(payload: bytes) -> Optional[dict]:
    try:
        v = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return v if isinstance(v, dict) else None


class Handle:
    """What ``connect`` returns."""

    def __init__(self, client: _Client, token: str, auth_method: Optional[str], topics: dict,
                 get_token: Optional[Callable[[], str]]):
        self.client = client
        self._token = token
        self._auth_method = auth_method
        self._topics = topics
        self._get_token = get_token
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()  # one refresh at a time
        self._pending: Optional[dict] = None
        self._first = True
        self._expiring: list = []
        self._invalid: list = []
        client._jwt_answer = self._reauth_answer
        client._jwt_closed = self._closed
        client.on_pre_connect = self._pre_connect
        client.message_callback_add(topics["response_topic"], self._response)
        client.message_callback_add(topics["expiring_topic"], self._notice(self._expiring))
        client.message_callback_add(topics["invalid_topic"], self._notice(self._invalid))

    @property
    def token(self) -> str:
        return self._token

    # The reconnect hook: paho calls on_pre_connect before every (re)connect; the first CONNECT
    # carries the token given to connect().
    def _pre_connect(self, _client: Any, _userdata: Any) -> None:
        first, self._first = self._first, False
        if self._get_token is not None and not first:
            fresh = self._get_token()
            if isinstance(fresh, str) and fresh:
                self._token = fresh
        self._apply(self._token)

    def _apply(self, token: str) -> None:
        if self._auth_method:
            props = self.client._connect_properties or Properties(PacketTypes.CONNECT)
            props.AuthenticationMethod = self._auth_method
            props.AuthenticationData = token.encode("utf-8")
            self.client._connect_properties = props
        else:
            self.client.username_pw_set(self.client.username or "", token)

    def _settle(self, result: Optional[dict], error: Optional[RefreshError]) -> None:
        with self._lock:
            p = self._pending
            self._pending = None
            self.client._jwt_reauth_pending = False
        if p is not None:
            p["result"], p["error"] = result, error
            p["done"].set()

    def _reauth_answer(self, kind: str, rc: int) -> None:
        if kind == "auth" and rc == 0:
            self._settle({"result": "ok"}, None)
        else:
            self._settle(None, RefreshError(f"re-authentication refused ({kind} 0x{rc:02x})", reason_code=rc))

    def _response(self, _client: Any, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._pending is None or self._pending["kind"] != "control":
            return
        answer = _json(msg.payload)
        if answer is not None and answer.get("result") == "ok":
            self._settle(answer, None)
        else:
            reason = answer.get("reason") if answer else None
            self._settle(None, RefreshError(f"token refresh refused: {reason or 'unreadable answer'}", reason=reason))

    def _notice(self, callbacks: list) -> Callable:
        def deliver(_client: Any, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
            notice = _json(msg.payload)
            if notice is not None:
                for cb in list(callbacks):
                    cb(notice)
        return deliver

    def _closed(self) -> None:
        self._settle(None, RefreshError("connection closed during the refresh"))

    def update_token(self, token: str, timeout: float = 10.0) -> dict:
        """Hands ``token`` to the broker in-band: v5 re-authentication when the connection used the
        auth method, else the control topic. Returns the broker's answer; raises RefreshError."""
        if not isinstance(token, str) or not token:
            raise TypeError("update_token: a JWT is required")
        with self._refresh_lock:
            if not self.client.is_connected():
                self._token = token  # the next CONNECT carries it
                self._apply(token)
                return {"result": "stored"}
            kind = "reauth" if self._auth_method else "control"
            pending = {"kind": kind, "done": threading.Event(), "result": None, "error": None}
            with self._lock:
                self._pending = pending
                self.client._jwt_reauth_pending = kind == "reauth"
            if kind == "reauth":
                rc = self.client._jwt_send_reauth(self._auth_method, token)
            else:
                rc = self.client.publish(self._topics["control_topic"], token, qos=0).rc
            if rc != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._settle(None, RefreshError(f"could not send the refresh: {mqtt.error_string(rc)}"))
            if not pending["done"].wait(timeout):
                self._settle(None, RefreshError("no answer from the broker"))
            if pending["error"] is not None:
                raise pending["error"]
            self._token = token
            self._apply(token)
            return pending["result"]

    def on_expiring(self, cb: Callable[[dict], None]) -> Callable[[], None]:
        """``cb({"exp": N, "expiresIn": N})`` before the token expires; returns an unsubscribe."""
        self._expiring.append(cb)
        return lambda: self._expiring.remove(cb)

    def on_invalid(self, cb: Callable[[dict], None]) -> Callable[[], None]:
        """``cb({"reason": "<category>"})`` before the broker ends the session for a reason other
        than plain expiry; returns an unsubscribe."""
        self._invalid.append(cb)
        return lambda: self._invalid.remove(cb)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(host: str, port: int, token: str, *, auth_method: Optional[str] = None,
            get_token: Optional[Callable[[], str]] = None, username: Optional[str] = None,
            keepalive: int = 60, connect_timeout: float = 10.0,
            control_topic: str = DEFAULTS["control_topic"], response_topic: str = DEFAULTS["response_topic"],
            expiring_topic: str = DEFAULTS["expiring_topic"], invalid_topic: str = DEFAULTS["invalid_topic"],
            **paho_options: Any) -> Handle:
    """Connects to ``host:port`` with ``token`` and starts paho's network loop.

    ``auth_method`` (e.g. "JWT"): the token travels as MQTT v5 authentication data and refreshes
    re-authenticate; without it the token is the password and refreshes use the control topic.
    ``get_token``: called before every reconnect; its answer replaces the token. ``paho_options`` go
    to ``paho.mqtt.client.Client`` (client_id, protocol, transport, reconnect_on_failure, ...).
    Raises ConnectionError when the broker refuses or does not answer within ``connect_timeout``.
    """
    if not isinstance(token, str) or not token:
        raise TypeError("token: the JWT is required")
    paho_options.setdefault("callback_api_version", mqtt.CallbackAPIVersion.VERSION2)
    if auth_method:
        paho_options["protocol"] = mqtt.MQTTv5
    client = _Client(**paho_options)
    # MQTT 3.1.1 sends a password only with a username; the plugin binds or replaces it as configured.
    client.username_pw_set(username or "", None if auth_method else token)
    topics = {"control_topic": control_topic, "response_topic": response_topic,
              "expiring_topic": expiring_topic, "invalid_topic": invalid_topic}
    handle = Handle(client, token, auth_method, topics, get_token)

    connected = threading.Event()
    outcome: dict = {}

    def on_connect(_c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        outcome.setdefault("reason", reason)
        connected.set()

    def on_disconnect(_c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        outcome.setdefault("reason", reason)
        connected.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    props = None
    if auth_method:
        props = Properties(PacketTypes.CONNECT)
        props.AuthenticationMethod = auth_method
        props.AuthenticationData = token.encode("utf-8")
    if client.protocol == mqtt.MQTTv5:
        client.connect(host, port, keepalive, properties=props)
    else:
        client.connect(host, port, keepalive)
    client.loop_start()
    if not connected.wait(connect_timeout) or not client.is_connected():
        client.loop_stop()
        raise ConnectionError(f"not connected to {host}:{port}: {outcome.get('reason', 'no answer')}")
    # The application may set its own on_connect / on_disconnect now.
    client.on_connect = None
    client.on_disconnect = None
    return handle
