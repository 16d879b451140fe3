"""The worker's mint proof and the JWKS reader."""

import asyncio
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from salt_ext_rest.auth import jwks, proof


def test_a_proof_verifies_only_unaltered_and_in_time(monkeypatch):
    made = proof.issue("alice", ["ops"])
    assert proof.check(made) == {
        "user": "alice",
        "groups": ["ops"],
        "until": pytest.approx(time.time() + 60, abs=2),
    }
    signature = made.rpartition(".")[2]
    forged = proof.issue("mallory", ["admins"]).rpartition(".")[0] + "." + signature
    assert proof.check(forged) is None
    assert proof.check(made[:-1] + ("0" if made[-1] != "0" else "1")) is None
    assert proof.check("not-a-proof") is None and proof.check(None) is None
    monkeypatch.setattr(proof.time, "time", lambda: time.monotonic() + 1e10)
    assert proof.check(made) is None  # too late


def test_a_proof_from_another_process_does_not_verify(monkeypatch):
    made = proof.issue("alice", [])
    monkeypatch.setattr(proof, "_SECRET", b"another process" * 2)
    assert proof.check(made) is None


def _jwks_document():
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    enc = {**jwk, "kid": "enc", "use": "enc"}
    return key, {"keys": [{**jwk, "kid": "k1"}, enc, {"kid": "broken", "kty": "XX"}]}


def test_jwks_from_a_file_keeps_signing_keys_only(tmp_path):
    key, document = _jwks_document()
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(document))
    assert list(jwks.signing_keys(jwks.read_jwks(str(path)))) == ["k1"]
    token = jwt.encode({"sub": "x"}, key, algorithm="ES256")
    found = jwks.signing_keys(document)["k1"]
    assert jwt.decode(token, found, algorithms=["ES256"]) == {"sub": "x"}


@pytest.mark.parametrize("url", ["http://idp.example.test/jwks", "ftp://127.0.0.1/jwks"])
def test_a_jwks_url_must_be_https_off_loopback(url):
    with pytest.raises(ValueError):
        jwks.read_jwks(url)


def test_an_unknown_kid_rereads_the_jwks_at_most_every_few_seconds(tmp_path):
    _, document = _jwks_document()
    reads = []

    async def offload(func, source):
        reads.append(source)
        return document

    cache = jwks.Jwks("unused", ttl=300, offload=offload)

    async def lookups():
        assert await cache.key("k1") is not None
        assert await cache.key("nope") is None
        assert await cache.key("nope") is None

    asyncio.run(lookups())
    assert len(reads) == 1  # the second unknown kid came within REFETCH seconds


def test_a_rotated_key_is_found_once_the_refetch_window_passed(monkeypatch):
    _, first = _jwks_document()
    _, second = _jwks_document()
    second["keys"][0]["kid"] = "k2"
    documents = [first, second]

    async def offload(func, source):
        return documents.pop(0) if len(documents) > 1 else documents[0]

    clock = [1000.0]
    monkeypatch.setattr(jwks.time, "monotonic", lambda: clock[0])
    cache = jwks.Jwks("unused", ttl=300, offload=offload)

    async def lookups():
        assert await cache.key("k1") is not None
        assert await cache.key("k2") is None  # just read: not again yet
        clock[0] += jwks.REFETCH + 1
        assert await cache.key("k2") is not None  # the issuer rotated its keys

    asyncio.run(lookups())


@pytest.mark.parametrize(
    ("field", "user"), [("cn", "carol"), ("email", "carol@example.test"), ("dns", None)]
)
def test_a_certificate_names_the_user_by_client_cert_user(field, user):
    from salt_ext_rest.auth.client_cert import cert_user

    cert = {
        "subject": ((("organizationName", "x"),), (("commonName", "carol"),)),
        "subjectAltName": (("email", "carol@example.test"),),
    }
    assert cert_user(cert, field) == user


def test_a_certificate_naming_a_key_id_or_odd_characters_names_nobody():
    from salt_ext_rest.auth.client_cert import cert_user

    for name in ("0123456789abcdef", "a b", "x/../y", ""):
        assert cert_user({"subject": ((("commonName", name),),)}, "cn") is None
