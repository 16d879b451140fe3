"""Pure helpers behind CORS, the app override, webhooks, grains and key tarballs."""

import io
import tarfile

import pytest

from salt_ext_rest.backend import keygen
from salt_ext_rest.backend import minion_cache as grains
from salt_ext_rest.config import load_config
from salt_ext_rest.http import cors, static, webhook

GUI = "https://gui.example.com"


def test_cors_exact_origin_with_credentials():
    headers = cors.response_headers((GUI,), GUI)
    assert headers["Access-Control-Allow-Origin"] == GUI
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Vary"] == "Origin"


def test_cors_never_reflects_an_unlisted_origin():
    assert cors.response_headers((GUI,), "https://evil.example") == {"Vary": "Origin"}
    star = cors.response_headers(("*",), "https://evil.example")
    assert star["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in star
    assert cors.response_headers((), GUI) == {}


def test_preflight_needs_an_allowed_origin_and_method():
    methods = ["GET", "OPTIONS"]
    assert cors.preflight_headers((GUI,), GUI, "get", methods)["Access-Control-Allow-Methods"]
    assert cors.preflight_headers((GUI,), GUI, "POST", methods) == {}
    assert cors.preflight_headers((GUI,), "https://evil.example", "GET", methods) == {}


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("text/html", True),
        ("*/*", False),
        (None, False),
        ("application/json", False),
        ("text/html;q=0.5, */*", False),
        ("application/json, text/html", False),
        ("text/event-stream", False),
    ],
)
def test_wants_html(accept, html):
    assert static.wants_html(accept) is html


def test_app_override_only_for_get_outside_app_and_static(tmp_path):
    app = tmp_path / "index.html"
    app.write_text("x")
    config = load_config({"rest_ext": {"port": 1, "disable_ssl": True, "app": str(app)}})
    html = "text/html"
    assert static.app_override(config, "GET", "/minions", html) == {
        "path": str(tmp_path),
        "filename": "index.html",
    }
    assert static.app_override(config, "POST", "/minions", html) is None
    assert static.app_override(config, "GET", "/static/x.js", html) is None
    assert static.app_override(config, "GET", "/app/x", html) is None
    plain = load_config({"rest_ext": {"port": 1, "disable_ssl": True}})
    assert static.app_override(plain, "GET", "/minions", html) is None


def test_webhook_tag_and_headers():
    assert webhook.hook_tag(None) == "salt/netapi/hook"
    assert webhook.hook_tag("/a//b/") == "salt/netapi/hook/a/b"
    headers = {"X-Auth-Token": "t", "cookie": "c", "Authorization": "a", "X-Key": "k"}
    assert webhook.safe_headers(headers) == {"X-Key": "k"}


class FakeCache:
    def __init__(self, banks):
        self.banks = banks

    def fetch(self, bank, key):
        return self.banks.get((bank, key), {})


def test_cached_grains_in_both_cache_layouts():
    current = FakeCache({("grains", "m1"): {"id": "m1"}})
    legacy = FakeCache({("minions/m1", "data"): {"grains": {"id": "m1"}, "pillar": {}}})
    assert grains.cached_grains(current, "m1") == {"id": "m1"}
    assert grains.cached_grains(legacy, "m1") == {"id": "m1"}
    assert grains.cached_grains(FakeCache({}), "m1") is None


def test_key_tarball_modes_and_filename():
    data = keygen.tarball({"priv": "PRIVATE", "pub": "PUBLIC"})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["minion.pem"].mode == 0o600 and members["minion.pub"].mode == 0o644
        assert tar.extractfile("minion.pem").read() == b"PRIVATE"
    assert keygen.filename('we"ird id') == "saltkeys-we_ird_id.tar"


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ({"log_access_file": "/nonexistent/dir/access.log"}, "'log_access_file': directory"),
        ({"log_error_file": "/nonexistent/dir/error.log"}, "'log_error_file': directory"),
    ],
)
def test_log_file_directories_are_checked(block, fragment):
    from salt_ext_rest.config import ConfigError

    with pytest.raises(ConfigError, match=fragment):
        load_config({"rest_ext": {"port": 1, "disable_ssl": True, **block}})


def test_static_must_be_a_directory(tmp_path):
    from salt_ext_rest.config import ConfigError

    afile = tmp_path / "f"
    afile.write_text("x")
    with pytest.raises(ConfigError, match="'static': not a directory"):
        load_config({"rest_ext": {"port": 1, "disable_ssl": True, "static": str(afile)}})
