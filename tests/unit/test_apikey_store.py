"""The key store: only a slow hash on disk, private files, revocation, last-used batches."""

import stat
import time

from salt_ext_rest.apikeys.store import KeyStore, new_key, parse_key


def _create(tmp_path, expires_in=60.0):
    store = KeyStore({"cachedir": str(tmp_path)})
    key, kid, secret = new_key()
    record = {"id": kid, "name": "ci", "owner": "u", "owner_eauth": "e", "scopes": ["test.*"]}
    store.create({**record, "created": time.time(), "expires": time.time() + expires_in}, secret)
    return store, key, kid, secret


def test_the_secret_is_never_stored_and_files_are_private(tmp_path):
    store, key, kid, secret = _create(tmp_path)
    path = store.root / f"{kid}.json"
    assert secret not in path.read_text() and key not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700


def test_verify_needs_the_exact_key(tmp_path):
    store, key, kid, _ = _create(tmp_path)
    assert store.verify(key)["id"] == kid
    assert store.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    other, _, _ = new_key()
    assert store.verify(other) is None
    assert parse_key("sre_../../etc/passwd_" + "a" * 40) is None


def test_an_expired_key_does_not_verify(tmp_path):
    store, key, _, _ = _create(tmp_path, expires_in=-1)
    assert store.verify(key) is None


def test_delete_returns_the_minted_tokens(tmp_path):
    store, key, kid, _ = _create(tmp_path)
    store.add_token(kid, "abc123")
    assert store.tokens(kid) == ["abc123"]
    assert store.delete(kid) == ["abc123"]
    assert store.verify(key) is None and store.tokens(kid) == []


def test_last_used_is_written_in_batches_and_never_goes_back(tmp_path):
    store, _, kid, _ = _create(tmp_path)
    store.mark_used({kid: 200.0, "0123456789abcdef": 5.0})
    store.mark_used({kid: 100.0})
    assert store.last_used(kid) == 200.0
    assert store.last_used("0123456789abcdef") is None  # no record: nothing written
