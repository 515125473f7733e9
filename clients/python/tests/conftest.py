"""The broker the Rust harness started (tests/clients.rs) and HS256 tokens for it."""
import base64
import hashlib
import hmac
import json
import os
import time

import pytest


def _env(name):
    v = os.environ.get(name)
    if not v:
        pytest.fail(f"{name} is not set: run these tests through cargo test --test clients", pytrace=False)
    return v


@pytest.fixture
def broker():
    return {"host": _env("MQTT_JWT_TEST_HOST"), "port": int(_env("MQTT_JWT_TEST_PORT")),
            "ws_port": int(_env("MQTT_JWT_TEST_WS_PORT"))}


def _b64(v) -> str:
    return base64.urlsafe_b64encode(json.dumps(v).encode()).rstrip(b"=").decode()


def token(sub: str, secs: int = 3600):
    """(token, exp) for `sub`, expiring `secs` from now, signed with the test broker's secret."""
    now = int(time.time())
    head = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64({'sub': sub, 'iat': now, 'exp': now + secs})}"
    sig = hmac.new(_env("MQTT_JWT_TEST_SECRET").encode(), head.encode(), hashlib.sha256).digest()
    return f"{head}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}", now + secs


def until(check, secs=5.0, what="condition"):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what}: not within {secs} s")


def round_trip(client, topic) -> bool:
    """This client subscribes to a topic of its own and hears itself."""
    got = []
    client.message_callback_add(topic, lambda _c, _u, m: got.append(m.topic))
    client.subscribe(topic, qos=0)
    time.sleep(0.2)
    client.publish(topic, b"ping")
    until(lambda: got, 3, f"echo on {topic}")
    return True


# The plugin may refuse refreshes closer than refresh.minIntervalMs (default 1 s) to the last one.
MIN_INTERVAL = 1.1
