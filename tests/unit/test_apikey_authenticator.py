"""The key authenticator pays the slow hash once per key, and notices a revocation."""

import asyncio
import time
import types

from salt_ext_rest.apikeys.authenticator import ApiKeyAuthenticator
from salt_ext_rest.apikeys.store import KeyStore, new_key
from salt_ext_rest.auth.identity import Credentials


class Gateway:
    """Mints through the store's own check, as the rest_ext eauth does."""

    def __init__(self, store):
        self.store, self.mints, self.tokens = store, 0, {}

    async def call(self, func, *args):
        return func(*args)

    async def mint_token(self, creds):
        self.mints += 1
        record = self.store.verify(creds.password)
        if not record:
            return {}
        token = f"{self.mints:064x}"
        tdata = {
            "token": token,
            "name": record["id"],
            "eauth": "rest_ext",
            "expire": time.time() + 60,
        }
        self.tokens[token] = tdata
        return {**tdata, "perms": record["scopes"]}

    async def get_token(self, token):
        return self.tokens.get(token, {})

    async def revoke_token(self, token):
        self.tokens.pop(token, None)


def setup(tmp_path, recheck=10.0):
    opts = {"cachedir": str(tmp_path), "external_auth": {"rest_ext": {}}}
    store = KeyStore(opts)
    key, kid, secret = new_key()
    now = time.time()
    record = {"id": kid, "name": "ci", "owner": "u", "owner_eauth": "e", "scopes": ["test.*"]}
    store.create({**record, "created": now, "expires": now + 60}, secret)
    gateway = Gateway(store)
    config = types.SimpleNamespace(apikey_recheck_interval=recheck)
    context = types.SimpleNamespace(opts=opts, config=config, gateway=gateway)
    return ApiKeyAuthenticator(context), gateway, store, key, kid


def test_the_slow_hash_is_paid_once(tmp_path):
    authenticator, gateway, _, key, kid = setup(tmp_path)

    async def requests():
        return [await authenticator.authenticate(Credentials(token=key)) for _ in range(5)]

    identities = asyncio.run(requests())
    assert {i.name for i in identities} == {kid} and gateway.mints == 1
    assert identities[0].extra["key"]["name"] == "ci" and "hash" not in identities[0].extra["key"]
    assert authenticator.pending_use(kid) is not None  # last-used kept, not yet written


def test_a_revoked_key_is_refused_even_when_cached(tmp_path):
    authenticator, gateway, store, key, kid = setup(tmp_path, recheck=0.0)

    async def run():
        assert await authenticator.authenticate(Credentials(token=key))
        for token in store.delete(kid) or list(gateway.tokens):
            await gateway.revoke_token(token)
        return await authenticator.authenticate(Credentials(token=key))

    assert asyncio.run(run()) is None


def test_other_tokens_and_malformed_keys_are_not_its(tmp_path):
    authenticator, gateway, _, key, _ = setup(tmp_path)

    async def run(token):
        return await authenticator.authenticate(Credentials(token=token))

    assert asyncio.run(run("a" * 64)) is None
    assert asyncio.run(run("sre_nothex")) is None
    assert asyncio.run(run(key[:-2] + "zz")) is None  # a wrong secret: the mint refuses
    assert gateway.mints == 1
