"""The origin rules for cookie-authenticated requests and the trusted-proxy scheme."""

import pytest
import tornado.httputil

from salt_ext_rest.config import ConfigError, load_config
from salt_ext_rest.http import origin

OWN = "https://api.example.com"


def headers(**values):
    return tornado.httputil.HTTPHeaders({k.replace("_", "-"): v for k, v in values.items()})


def request(peer="10.0.0.5", protocol="http", **values):
    req = tornado.httputil.HTTPServerRequest(
        method="POST", uri="/", headers=headers(Host="api.example.com", **values)
    )
    req.remote_ip, req.protocol = peer, protocol
    return req


def test_normalise():
    assert origin.normalise("HTTPS://API.Example.com:443/x?y") == OWN
    assert origin.normalise("http://h:8000") == "http://h:8000"
    assert origin.normalise("http://[::1]:80") == "http://[::1]"
    for bad in (None, "", "null", "file:///etc", "javascript:x", "http://h:99999", "//h"):
        assert origin.normalise(bad) is None


@pytest.mark.parametrize(
    ("sent", "refused"),
    [
        ({"Origin": OWN}, False),
        ({"Origin": "https://api.example.com:443"}, False),
        ({"Origin": "http://api.example.com"}, True),  # another scheme is another origin
        ({"Origin": "https://gui.example.com"}, False),
        ({"Origin": "https://other.example.com"}, True),  # '*' never admits the cookie
        ({"Origin": "null"}, True),
        ({"Referer": f"{OWN}/app/page"}, False),
        ({"Referer": "https://evil.invalid/page"}, True),
        ({"Origin": OWN, "Sec-Fetch-Site": "cross-site"}, True),
        ({}, False),  # neither header: not a page in a browser
    ],
)
def test_cookie_refusal(sent, refused):
    allowed = ("https://gui.example.com", "*")
    assert bool(origin.cookie_refusal(headers(**sent), OWN, allowed)) is refused


def test_forwarded_proto_only_from_trusted_proxies():
    trusted = ("10.0.0.0/24", "::1")
    assert origin.request_scheme(request(X_Forwarded_Proto="https"), trusted) == "https"
    assert origin.request_scheme(request(X_Forwarded_Proto="https"), ()) == "http"
    outside = request(peer="10.0.1.5", X_Forwarded_Proto="https")
    assert origin.request_scheme(outside, trusted) == "http"
    assert origin.request_scheme(request(X_Forwarded_Proto="gopher"), trusted) == "http"
    assert origin.own_origin(request(X_Forwarded_Proto="https, http"), trusted) == OWN


def test_csrf_check_off_restores_the_old_behaviour():
    base = {"port": 8000, "disable_ssl": True}
    evil = request(Origin="https://evil.invalid")
    assert origin.refuse_cookie(evil, load_config({"rest_ext": base}))
    off = load_config({"rest_ext": {**base, "csrf_check": False}})
    assert origin.refuse_cookie(evil, off) is None


def test_trusted_proxies_must_be_addresses():
    conf = load_config({"rest_ext": {"port": 1, "disable_ssl": True, "trusted_proxies": ["::1"]}})
    assert conf.trusted_proxies == ("::1",)
    with pytest.raises(ConfigError, match="trusted_proxies"):
        load_config({"rest_ext": {"port": 1, "disable_ssl": True, "trusted_proxies": ["proxy"]}})
