"""Tokens written straight into the master's token store, for tests."""

import secrets
import time

import salt.auth
import salt.config


def master_opts(master):
    return salt.config.master_config(master.config_file)


def store_expired_token(master, name="saltdev", eauth="sharedsecret"):
    """A real token in ``master``'s token store whose expiry has passed; returns it."""
    token = secrets.token_hex(32)
    now = time.time()
    tdata = {"token": token, "name": name, "eauth": eauth, "start": now - 100, "expire": now - 10}
    salt.auth.LoadAuth(master_opts(master)).cache.store("tokens", token, tdata)
    return token


def valid_tokens(master):
    """The tokens in ``master``'s token store that have not expired."""
    auth = salt.auth.LoadAuth(master_opts(master))
    now = time.time()
    tokens = set()
    for token in auth.list_tokens():
        tdata = auth.get_tok(token)
        if tdata and tdata.get("expire", 0) > now:
            tokens.add(token)
    return tokens
