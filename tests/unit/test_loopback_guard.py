import socket

import pytest

from judge0_operator.world import loopback


def test_guard_refuses_private_address_without_sending():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    before = len(loopback.VIOLATIONS)
    with pytest.raises(loopback.NonLoopbackConnection):
        s.connect(("10.0.0.5", 2358))
    s.close()
    # The attempt is recorded (the autouse fixture would fail a test that did this by accident).
    assert loopback.VIOLATIONS[before:] == ["10.0.0.5:2358"]
    del loopback.VIOLATIONS[before:]


def test_guard_lets_loopback_through():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect(server.getsockname())
    client.close()
    server.close()


@pytest.mark.parametrize(
    "host,expected",
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("localhost", True),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("example.com", False),
        ("192.168.1.1", False),
    ],
)
def test_is_loopback(host, expected):
    assert loopback.is_loopback(host) is expected
