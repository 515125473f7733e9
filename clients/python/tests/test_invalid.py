"""The invalidity notice (options.invalidNotice): a refused control-topic refresh is announced to the
client, {"reason": "<category>"}, before the broker ends its session."""
import time

import pytest

import mqtt_jwt
from conftest import MIN_INTERVAL, token, until


def test_refused_control_topic_refresh_calls_on_invalid_before_the_close(broker):
    h = mqtt_jwt.connect(broker["host"], broker["port"], token("py-inv", 60)[0], client_id="py-inv",
                         reconnect_on_failure=False)
    notices = []
    h.on_invalid(lambda n: notices.append((n, time.time(), h.client.is_connected())))
    try:
        time.sleep(MIN_INTERVAL)
        with pytest.raises(mqtt_jwt.RefreshError):
            h.update_token(token("someone-else", 60)[0])
        until(lambda: not h.client.is_connected(), 3, "session ended")
        assert len(notices) == 1, notices
        notice, _at, connected = notices[0]
        assert isinstance(notice.get("reason"), str) and notice["reason"]
        assert connected, "the notice came after the close"
    finally:
        h.close()
