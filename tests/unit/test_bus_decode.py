"""The bus's decoder gives what Salt's ``salt.payload.loads(body, encoding="utf-8")``
gives, for plain bodies (msgpack directly) and the others (Salt's decoder)."""

from __future__ import annotations

import datetime

import pytest
import salt.payload

from salt_ext_rest.backend import bus_client
from salt_ext_rest.backend.bus_client import decode

BODIES = [
    {"cmd": "_return", "id": "m1", "return": True, "retcode": 0, "success": True},
    {"return": {"nested": [1, 2.5, None, {"k": "\u00e9t\u00e9"}]}, "fun_args": []},
    {"bytes": b"\xff\x00raw", 3: "int key"},
    {"when": datetime.datetime(2026, 1, 2, 3, 4, 5, 6)},  # an extension type
    [1, "two"],
    "text",
]


@pytest.mark.parametrize("data", BODIES)
def test_the_same_data_as_salts_decoder(data):
    body = salt.payload.dumps(data)
    got, salts = decode(body), salt.payload.loads(body, encoding="utf-8")
    assert got == salts and type(got) is type(salts)


def test_non_utf8_text_is_left_to_salt(monkeypatch):
    import msgpack

    body = msgpack.packb({"s": "x"}, use_bin_type=True).replace(b"\xa1x", b"\xa1\xff")
    assert decode(body) == salt.payload.loads(body, encoding="utf-8")


@pytest.mark.parametrize("body", [b"\xc1", b""])
def test_a_malformed_body_raises(body):
    with pytest.raises(Exception):  # noqa: B017 (Salt's error, as before)
        decode(body)


def test_plain_bodies_skip_salts_decoder(monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("Salt's decoder used")

    monkeypatch.setattr(bus_client.salt.payload, "loads", refused)
    assert decode(salt.payload.dumps(BODIES[0])) == BODIES[0]
