"""ACL argument restrictions, POST /keys rights and caller-chosen jids, through a real salt-api.

The ``webkeys`` user (salt_ext_rest/testing/config.py) may accept and generate keys only for
minions named ``web*``; ``limited`` may run ``test.*``; ``saltdev`` may do everything.
"""

import pathlib
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from saltfactories.utils import random_string

from salt_ext_rest.testing import config as cfg
from salt_ext_rest.testing.api import ApiClient

pytestmark = [pytest.mark.integration]


def _public_key_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class KeyDirs:
    """The session master's key directories: pending (``minions_pre``) and accepted."""

    def __init__(self, salt_master):
        pki = pathlib.Path(salt_master.config["pki_dir"])
        self.pre, self.accepted = pki / "minions_pre", pki / "minions"

    def add_pending(self, mid):
        self.pre.mkdir(parents=True, exist_ok=True)
        (self.pre / mid).write_bytes(_public_key_pem())

    def is_pending(self, mid):
        return (self.pre / mid).exists() and not (self.accepted / mid).exists()

    def is_accepted(self, mid):
        return (self.accepted / mid).exists()

    def remove(self, mid):
        for directory in (self.pre, self.accepted):
            (directory / mid).unlink(missing_ok=True)


@pytest.fixture
def key_dirs(salt_master):
    return KeyDirs(salt_master)


@pytest.fixture
def pending(key_dirs):
    """Two pending keys: ``web-…`` (inside webkeys' ACL) and ``db-…`` (outside)."""
    names = {"web": random_string("web-"), "db": random_string("db-")}
    for mid in names.values():
        key_dirs.add_pending(mid)
    yield names
    for mid in names.values():
        key_dirs.remove(mid)


@pytest.fixture
def web_credentials(sharedsecret):
    return cfg.api_credentials(sharedsecret, username=cfg.WEB_KEYS_USER)


@pytest.fixture
def webkeys(api_url, web_credentials):
    client = ApiClient(api_url)
    client.login(web_credentials)
    return client


def wait_until(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


# -- wheel: the ACL sees the arguments that run ----------------------------------------
def attacks(web):
    """name → (extra chunk keys, expected status, part of the message)."""
    return {
        # the ACL used to read kwarg (web-…) while the function ran with match='*'
        "kwarg-arg": ({"match": "*", "kwarg": {"arg": [web]}}, 400, "'arg' is an invalid"),
        "arg-and-match": ({"match": "*", "arg": [web]}, 400, "both in 'arg' and by name"),
        "kwarg-match": ({"kwarg": {"match": "*"}}, 403, "may not run wheel function"),
    }


@pytest.mark.parametrize("attack", list(attacks("web")))
@pytest.mark.parametrize("client", ["wheel_async", "wheel"])
def test_wheel_argument_restriction_cannot_be_widened(webkeys, pending, key_dirs, client, attack):
    extra, status, message = attacks(pending["web"])[attack]
    body = webkeys.run({"client": client, "fun": "key.accept", **extra}, expect=status)
    assert message in body["message"]
    assert key_dirs.is_pending(pending["web"]) and key_dirs.is_pending(pending["db"])


def test_wheel_async_argument_restriction_allows_its_own_minions(webkeys, pending, key_dirs):
    (started,) = webkeys.run(
        {"client": "wheel_async", "fun": "key.accept", "match": pending["web"]}
    )
    assert started["jid"] and started["tag"].startswith("salt/wheel/")
    wait_until(lambda: key_dirs.is_accepted(pending["web"]))
    webkeys.run({"client": "wheel_async", "fun": "key.accept", "match": pending["db"]}, expect=403)
    assert key_dirs.is_pending(pending["db"])


def test_wheel_argument_restriction_allows_its_own_minions(webkeys, pending, key_dirs):
    (result,) = webkeys.run({"client": "wheel", "fun": "key.accept", "match": pending["web"]})
    assert result["data"]["success"] is True
    assert result["data"]["return"] == {"minions": [pending["web"]]}
    assert key_dirs.is_accepted(pending["web"])
    webkeys.run({"client": "wheel", "fun": "key.accept", "match": pending["db"]}, expect=403)
    assert key_dirs.is_pending(pending["db"])


# -- POST /keys -------------------------------------------------------------------------
@pytest.fixture
def anon(api_url):
    return ApiClient(api_url)


@pytest.fixture
def generated(key_dirs):
    names = []
    yield names
    for mid in names:
        key_dirs.remove(mid)


def test_post_keys_honours_argument_restrictions(anon, web_credentials, generated, key_dirs):
    web, db = random_string("web-"), random_string("db-")
    generated.extend([web, db])
    response = anon.post("/keys", json={"mid": web, **web_credentials})
    assert response.status_code == 200, response.text
    assert key_dirs.is_accepted(web)
    refused = anon.post("/keys", json={"mid": db, **web_credentials})
    assert refused.status_code == 403 and refused.json()["status"] == 403
    assert not key_dirs.is_accepted(db)


def test_post_keys_force_needs_the_right_to_delete(
    anon, web_credentials, api_credentials, generated, key_dirs
):
    web = random_string("web-")
    generated.append(web)
    assert anon.post("/keys", json={"mid": web, **web_credentials}).status_code == 200
    original = (key_dirs.accepted / web).read_bytes()
    forced = anon.post("/keys", json={"mid": web, "force": True, **web_credentials})
    assert forced.status_code == 403, forced.text
    assert "key.delete" in forced.json()["message"]
    assert (key_dirs.accepted / web).read_bytes() == original
    admin = anon.post("/keys", json={"mid": web, "force": True, **api_credentials})
    assert admin.status_code == 200, admin.text
    assert (key_dirs.accepted / web).read_bytes() != original


# Every field and type is checked in process by tests/functional/test_key_requests.py;
# these cases send a few through a real salt-api.
@pytest.mark.parametrize(("key", "value"), [("password", ["x"]), ("token", {"x": 1})])
def test_post_keys_credentials_must_be_strings(anon, api_credentials, key, value):
    response = anon.post("/keys", json={"mid": "typed-creds", **api_credentials, key: value})
    assert response.status_code == 400, response.text
    assert response.json()["path"] == f"$.{key}"


@pytest.mark.parametrize("keysize", [8192, "big"])
def test_post_keys_keysize_is_capped(anon, api_credentials, key_dirs, keysize):
    mid = random_string("big-")
    response = anon.post("/keys", json={"mid": mid, "keysize": keysize, **api_credentials})
    key_dirs.remove(mid)
    assert response.status_code == 400, response.text
    assert response.json()["path"] == "$.keysize"


# -- a caller-chosen jid ----------------------------------------------------------------
@pytest.fixture
def limited(api_url, limited_credentials):
    client = ApiClient(api_url)
    client.login(limited_credentials)
    return client


@pytest.mark.parametrize("client", ["local", "local_async", "local_subset", "local_batch"])
def test_restricted_user_may_not_choose_a_jid(api, limited, client):
    (job,) = api.run({"client": "local_async", "tgt": "minion-1", "fun": "test.ping"})
    chunk = {"client": client, "tgt": "minion-1", "fun": "test.ping", "jid": job["jid"]}
    extra = {"local_subset": {"sub": 1}, "local_batch": {"batch": "1"}}.get(client, {})
    body = limited.run({**chunk, **extra}, expect=403)
    assert "jid" in body["message"]


def test_unrestricted_user_may_choose_a_jid(api):
    jid = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "123456"
    (job,) = api.run({"client": "local_async", "tgt": "minion-1", "fun": "test.ping", "jid": jid})
    assert job["jid"] == jid
