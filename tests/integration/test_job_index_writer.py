"""One job-index writer per master through a real salt-api with two workers.

The index gets a file of its own (``job_index_path``); whichever worker holds the lock
beside it (``<index>.writer``, the holder's pid inside) writes it. Jobs run through the
API are paged once each; when the writer is SIGKILLed the other worker (or the one
the supervisor forks in its place) takes over, and jobs run after that, even while
nobody wrote, are paged too.
"""

import os
import signal
import time

import psutil
import pytest
import requests
from saltfactories.utils import random_string

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import start_api
from tests.support.polling import wait_for as poll
from tests.support.processes import exited

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def two_workers(salt_master, netapi_module, tmp_path_factory, salt_minion, salt_minion_2):
    path = tmp_path_factory.mktemp("jobindex") / "jobs.sqlite"
    conf = {"num_processes": 2, "job_index_path": str(path)}
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        yield api, path


def wait_for(check, timeout=60):
    return poll(check, timeout)


def client(api, token):
    """A new client (new connections: never one to a worker killed meanwhile)."""
    return ApiClient(api.url, token=token)


def writer_pid(path):
    text = (path.parent / (path.name + ".writer")).read_text().strip()
    return int(text) if text.isdigit() else None


def run_jobs(api, token, marker, n):
    for i in range(n):
        chunk = {"client": "local", "tgt": "minion-*", "fun": "test.arg", "arg": [marker, i]}
        for attempt in range(5):  # a connection the killed worker's socket had queued
            try:
                (ret,) = client(api, token).run(chunk)
                break
            except requests.ConnectionError:
                if attempt == 4:
                    raise
                time.sleep(0.5)
        assert len(ret) == 2, ret


def indexed(admin, marker, n):
    """The paged items of the jobs run with ``marker`` once all ``n`` have both returns."""
    body = admin.get("/jobs?limit=200&function=test.arg").json()
    found = [i for i in body["return"] if i["arguments"][:1] == [marker]]
    done = len(found) >= n and all(i["minions"]["returned"] == 2 for i in found)
    return found if done else None


def test_one_worker_writes_and_another_takes_over_when_it_is_killed(two_workers, api_credentials):
    api, path = two_workers
    token = ApiClient(api.url).login(api_credentials)["token"]
    admin = client(api, token)
    assert wait_for(lambda: admin.get("/jobs?limit=1").json()["complete"], timeout=120)
    workers = {p.pid for p in psutil.Process(api.pid).children(recursive=True)}
    writer = writer_pid(path)
    assert writer in workers

    # every worker that answers /stats names the same writer; only that one writes
    seen = {}
    for _ in range(30):
        stats = client(api, token).get("/stats").json()
        seen[stats["pid"]] = stats["job_index"]
    for pid, status in seen.items():
        assert status["writer_pid"] == writer and status["writer"] is (pid == writer), seen

    before = random_string("before-")
    run_jobs(api, token, before, 3)
    items = wait_for(lambda: indexed(admin, before, 3), timeout=30)
    assert items and len(items) == 3
    assert len({i["jid"] for i in items}) == 3  # once each: no duplicate rows

    os.kill(writer, signal.SIGKILL)
    assert wait_for(lambda: exited(writer), timeout=30)  # reaped by the supervisor
    after = random_string("after-")
    admin = client(api, token)
    run_jobs(api, token, after, 3)  # the first may run while nobody writes
    items = wait_for(lambda: indexed(admin, after, 3), timeout=60)
    assert items and len(items) == 3 and len({i["jid"] for i in items}) == 3
    successor = writer_pid(path)
    assert successor not in (None, writer) and psutil.pid_exists(successor)
