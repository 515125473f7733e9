"""The paho-mqtt helper against a real mosquitto with the plugin (started by tests/clients.rs):
refresh by the control topic and by v5 re-authentication, the expiry notice, reconnects that carry
the newest token."""
import time

import paho.mqtt.client as mqtt
import pytest

import mqtt_jwt
from conftest import MIN_INTERVAL, round_trip, token, until


def test_control_topic_refresh_ok_with_integer_exp_then_refused_for_another_identity(broker):
    h = mqtt_jwt.connect(broker["host"], broker["port"], token("py-ctl", 60)[0], client_id="py-ctl",
                         reconnect_on_failure=False)
    try:
        time.sleep(MIN_INTERVAL)
        t2, exp2 = token("py-ctl", 120)
        answer = h.update_token(t2)
        assert answer == {"result": "ok", "exp": exp2}
        assert isinstance(answer["exp"], int)
        assert h.token == t2
        time.sleep(MIN_INTERVAL)
        with pytest.raises(mqtt_jwt.RefreshError) as e:
            h.update_token(token("someone-else", 60)[0])
        assert e.value.reason == "bad-subject"
        until(lambda: not h.client.is_connected(), 3, "session ended after the refused refresh")
        assert h.token == t2, "the refused token was kept"
    finally:
        h.close()


def test_v5_reauthentication_keeps_the_client_past_the_first_exp(broker):
    t1, exp1 = token("py-v5", 3)
    h = mqtt_jwt.connect(broker["host"], broker["port"], t1, auth_method="JWT", client_id="py-v5",
                         reconnect_on_failure=False)
    try:
        time.sleep(MIN_INTERVAL)
        assert h.update_token(token("py-v5", 60)[0]) == {"result": "ok"}
        time.sleep(max(0.0, exp1 + 1.5 - time.time()))
        assert h.client.is_connected(), "kicked although refreshed"
        assert round_trip(h.client, "py-v5/echo")
    finally:
        h.close()


def test_refused_reauthentication_raises_with_reason_code_0x87(broker):
    h = mqtt_jwt.connect(broker["host"], broker["port"], token("py-v5-bad", 60)[0], auth_method="JWT",
                         client_id="py-v5-bad", reconnect_on_failure=False)
    try:
        time.sleep(MIN_INTERVAL)
        with pytest.raises(mqtt_jwt.RefreshError) as e:
            h.update_token(token("intruder", 60)[0])
        assert e.value.reason_code == 0x87
        until(lambda: not h.client.is_connected(), 3, "disconnected")
    finally:
        h.close()


def test_expiry_notice_arrives_before_exp_with_integer_fields(broker):
    t, exp = token("py-notice", 4)
    got = []
    h = mqtt_jwt.connect(broker["host"], broker["port"], t, client_id="py-notice", reconnect_on_failure=False)
    h.on_expiring(lambda n: got.append((n, time.time())))
    try:
        until(lambda: got, 5, "expiry notice")
        notice, at = got[0]
        assert notice["exp"] == exp and isinstance(notice["exp"], int)
        assert isinstance(notice["expiresIn"], int) and 0 <= notice["expiresIn"] <= 3
        assert at < exp
    finally:
        h.close()


def test_after_a_kick_the_reconnect_carries_the_last_updated_token(broker):
    t1, exp1 = token("py-kick", 2)
    h = mqtt_jwt.connect(broker["host"], broker["port"], t1, client_id="py-kick")
    h.client.reconnect_delay_set(0.2, 0.5)
    connects = []
    h.client.on_connect = lambda _c, _u, _f, rc, _p: connects.append(rc.value)
    try:
        time.sleep(MIN_INTERVAL)
        h.update_token(token("py-kick", 120)[0])
        time.sleep(max(0.0, exp1 + 1 - time.time()))  # the first token is now expired
        # A takeover by the same identity closes the helper's connection; paho reconnects.
        other = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="py-kick")
        other.username_pw_set("", token("py-kick", 60)[0])
        other.connect(broker["host"], broker["port"])
        other.loop_start()
        until(lambda: other.is_connected(), 3, "takeover client connected")
        other.disconnect()
        other.loop_stop()
        until(lambda: connects, 8, "reconnect")
        assert connects[0] == 0, f"reconnect refused: {connects}"
        assert round_trip(h.client, "py-kick/echo")
    finally:
        h.close()


def test_kicked_at_exp_the_reconnect_carries_the_token_from_get_token_over_websockets(broker):
    asked = []

    def fresh():
        asked.append(1)
        return token("py-ws", 120)[0]

    h = mqtt_jwt.connect(broker["host"], broker["ws_port"], token("py-ws", 2)[0], auth_method="JWT",
                         client_id="py-ws", transport="websockets", get_token=fresh)
    h.client.reconnect_delay_set(0.2, 0.5)
    events = []
    h.client.on_disconnect = lambda _c, _u, _f, rc, _p: events.append(("disconnect", rc.value))
    h.client.on_connect = lambda _c, _u, _f, rc, _p: events.append(("connect", rc.value))
    try:
        until(lambda: ("connect", 0) in events, 10, "reconnect after the expiry kick")
        assert events[0] == ("disconnect", 0x98), events
        assert asked
        assert round_trip(h.client, "py-ws/echo")
    finally:
        h.close()
