"""Every client × every kind of bad credential → 401, and nothing runs.

Each chunk would leave a marker file if it ran: ``file.touch`` on a minion for the
local clients, ``salt.cmd file.touch`` on the master for runners, ``file_roots.write``
for wheels. A valid-token control proves each marker appears when a call does run.
"""

import os
import secrets

import pytest

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.config import ENABLED_CLIENTS
from tests.support.files import wait_for_file
from tests.support.tokens import master_opts, store_expired_token

pytestmark = [pytest.mark.integration]

CLIENTS = ENABLED_CLIENTS
BAD_CASES = ["no_credentials", "wrong_password", "random_token", "path_token", "expired_token"]


@pytest.fixture(scope="module")
def expired_token(salt_master):
    return store_expired_token(salt_master)


@pytest.fixture(scope="module")
def path_token_victim(salt_master):
    """The file a path-like token ``../../x`` would reach in the token store."""
    cachedir = master_opts(salt_master)["cachedir"]
    path = os.path.normpath(os.path.join(cachedir, "tokens", "../../x.p"))
    with open(path, "w") as handle:
        handle.write("must survive")
    yield path
    os.remove(path)


def marker_chunk(client, marker, file_roots):
    if client.startswith("local"):
        chunk = {"client": client, "tgt": "minion-1", "fun": "file.touch", "arg": [marker]}
        chunk.update(
            {"local_batch": {"batch": "1"}, "local_subset": {"sub": 1, "tgt": "minion-1"}}.get(
                client, {}
            )
        )
        return chunk
    if client.startswith("runner"):
        return {"client": client, "fun": "salt.cmd", "arg": ["file.touch", marker]}
    return {
        "client": client,
        "fun": "file_roots.write",
        "data": "x",
        "path": os.path.relpath(marker, file_roots),
    }


def send(api_url, case, chunk, credentials, expired_token):
    anon = ApiClient(api_url)
    if case == "no_credentials":
        return anon.post("/", json=[chunk])
    if case == "wrong_password":
        return anon.post(
            "/run", json=[{**chunk, **credentials, "password": "wrong-" + secrets.token_hex(4)}]
        )
    token = {
        "random_token": secrets.token_hex(32),
        "path_token": "../../x",
        "expired_token": expired_token,
    }[case]
    anon.http.headers["X-Auth-Token"] = token
    header = anon.post("/", json=[chunk])
    inline = ApiClient(api_url).post("/run", json=[{**chunk, "token": token}])
    assert inline.status_code == header.status_code, inline.text
    return header


@pytest.fixture(scope="module")
def markers(salt_master, tmp_path_factory):
    file_roots = salt_master.config["file_roots"]["base"][0]
    root = tmp_path_factory.mktemp("markers")
    return file_roots, root


@pytest.mark.parametrize("client", CLIENTS)
def test_bad_credentials_are_401_and_nothing_runs(
    api_url, api_credentials, client, markers, expired_token, path_token_victim
):
    file_roots, root = markers
    planned = []
    for case in BAD_CASES:
        marker = os.path.join(
            file_roots if client.startswith("wheel") else root, f"{client}-{case}"
        )
        response = send(
            api_url, case, marker_chunk(client, marker, file_roots), api_credentials, expired_token
        )
        assert response.status_code == 401, (case, response.text)
        assert response.json()["status"] == 401
        planned.append(marker)
    # A valid call with the same shape does leave its marker: the check above can fail.
    control = os.path.join(file_roots if client.startswith("wheel") else root, f"{client}-control")
    good = ApiClient(api_url)
    good.login(api_credentials)
    good.run(marker_chunk(client, control, file_roots))
    assert wait_for_file(control, timeout=30), f"control marker for {client} never appeared"
    assert [m for m in planned if os.path.exists(m)] == []
    assert os.path.exists(path_token_victim)
    # ... and the master's job cache has no trace of the refused calls (read by the
    # jobs runner in salt-api: no salt-run process to start).
    jobs = str(good.run({"client": "runner", "fun": "jobs.list_jobs"}))
    assert control in jobs or not client.startswith("local")
    assert [m for m in planned if m in jobs] == []
