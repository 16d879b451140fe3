"""The salt-pepper CLI (PyPI ``salt-pepper``), unchanged, against rest_ext.

Every test runs twice: against the session's salt-api, and through HAProxy (round
robin) in front of a three-master cluster (``cluster_balancer``), where pepper's login,
its job and its lookups each land on a different master.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration]

PEPPER = pathlib.Path(sys.executable).with_name("pepper")
MINIONS = {"minion-1", "minion-2"}


@pytest.fixture(params=["salt-api", "balancer"])
def target(request):
    """(URL, login body) of the session salt-api, or of the cluster's balancer."""
    if request.param == "balancer":
        cluster = request.getfixturevalue("salt_cluster")
        return request.getfixturevalue("cluster_balancer").url, cluster.credentials
    return request.getfixturevalue("api_url"), request.getfixturevalue("api_credentials")


@pytest.fixture
def pepper(target, tmp_path):
    if not PEPPER.exists():
        pytest.fail(f"salt-pepper is not installed next to {sys.executable}")
    api_url, api_credentials = target
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "SALTAPI_URL": api_url,
        "SALTAPI_USER": api_credentials["username"],
        "SALTAPI_PASS": api_credentials["password"],
        "SALTAPI_EAUTH": api_credentials["eauth"],
    }

    def run(*args):
        command = [
            str(PEPPER),
            "--non-interactive",
            "-c",
            os.devnull,
            "-x",
            str(tmp_path / "cache"),
            "--out=json",
            *args,
        ]
        proc = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return split_json_documents(proc.stdout)

    return run


def split_json_documents(text):
    """pepper prints one JSON document per return; split them."""
    decoder, index, docs = json.JSONDecoder(), 0, []
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        doc, index = decoder.raw_decode(text, index)
        docs.append(doc)
    return docs


def merged(docs):
    """pepper may print one document per minion: merge them."""
    return {key: value for doc in docs for key, value in doc.items()}


def test_local_ping(pepper):
    assert merged(pepper("*", "test.ping")) == dict.fromkeys(MINIONS, True)


def test_runner(pepper):
    (up,) = pepper("--client", "runner", "manage.up")
    assert set(up) == MINIONS


def test_wheel_key_list_all(pepper):
    (keys,) = pepper("--client", "wheel", "key.list_all")
    assert set(keys["minions"]) >= MINIONS


def test_batch(pepper):
    assert merged(pepper("--batch", "1", "*", "test.ping")) == dict.fromkeys(MINIONS, True)


def test_run_uri(pepper):
    assert merged(pepper("--run-uri", "*", "test.ping")) == dict.fromkeys(MINIONS, True)


def test_local_async(pepper):
    pub = merged(pepper("--client", "local_async", "*", "test.ping"))
    assert pub["jid"].isdigit() and set(pub["minions"]) == MINIONS
