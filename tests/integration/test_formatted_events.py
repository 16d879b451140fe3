"""The formatted minions/jobs view (rest_tornado's ``/formatted_events``) through a real
salt-api: snapshot, job lifecycle, time-outs, bounded history, odd events, visibility.

Messages after the snapshot are partial (JSON merge patches keyed by id/jid): tests
fold them into a local copy of the view with :func:`merge`, as a client would.
"""

import asyncio
import json
import uuid

import pytest
import salt.utils.event

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import start_api
from salt_ext_rest.testing.streams import SseReader, WsReader, wait_until
from tests.support.tokens import master_opts

pytestmark = [pytest.mark.integration]

MINIONS = ["minion-1", "minion-2"]
TIMEOUT = 4
HISTORY = 2
VIEW_CONF = {
    "websockets": True,
    "formatted_job_timeout": TIMEOUT,
    "formatted_job_history": HISTORY,
}


@pytest.fixture(scope="module")
def view_api(salt_master, salt_minion, salt_minion_2, netapi_module):
    if netapi_module != "rest_ext":
        pytest.skip("formatted_job_timeout/formatted_job_history are rest_ext settings")
    with start_api(salt_master, VIEW_CONF, netapi_module=netapi_module) as api:
        yield api


@pytest.fixture
def client(view_api, api_credentials):
    api = ApiClient(view_api.url)
    api.login(api_credentials)
    return api


def merge(target, patch):
    """RFC 7396: apply a merge ``patch`` to ``target``."""
    if not isinstance(patch, dict):
        return patch
    target = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge(target.get(key), value)
    return target


class View:
    """A ``/formatted_events`` connection and the view it has folded so far."""

    def __init__(self, url, token, path="formatted_events/{token}", headers=None):
        self.reader = WsReader(f"{url}/{path.format(token=token)}", headers=headers)
        self.state = {"minions": {}, "jobs": {}}
        self.messages = []

    async def connect(self):
        await self.reader.connect()
        return self

    def fold(self):
        while len(self.messages) < len(self.reader.frames):
            message = json.loads(self.reader.frames[len(self.messages)])
            self.messages.append(message)
            self.state = merge(self.state, message)
        return self.state

    def job(self, jid):
        return self.fold()["jobs"].get(jid)

    async def wait(self, predicate, timeout=60):
        assert await wait_until(lambda: predicate(self.fold()), timeout=timeout), self.messages
        return self.state

    def close(self):
        self.reader.close()


async def in_thread(func, *args):
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


def ping(client, tgt=MINIONS):
    [result] = client.run({"client": "local_async", "tgt": tgt, "tgt_type": "list",
                           "fun": "test.ping"})  # fmt: skip
    return result["jid"]


def fire(master, tag, data):
    opts = master_opts(master)
    with salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False) as event:
        event.fire_event(data, tag)


def test_snapshot_then_job_runs_and_completes(view_api, client):
    async def scenario():
        view = await View(view_api.url, client.http.headers["X-Auth-Token"]).connect()
        await view.wait(lambda s: len(view.messages) >= 2)
        first, second = view.messages[:2]
        jid = await in_thread(ping, client)
        running = await view.wait(lambda s: jid in s["jobs"])
        running = json.loads(json.dumps(running["jobs"][jid]))
        done = await view.wait(lambda s: s["jobs"][jid]["state"] == "complete", timeout=30)
        view.close()
        return first, second, view.reader.frames, jid, running, done["jobs"][jid]

    first, second, frames, _jid, running, done = asyncio.run(scenario())
    assert set(first) == {"minions"} and set(second) == {"jobs"}
    assert frames[0].endswith("\n\n")  # rest_tornado's framing
    for mid in MINIONS:
        minion = first["minions"][mid]
        assert minion["id"] == mid and minion["grains"]["id"] == mid
        assert "os" in minion["grains"]
    assert running["fun"] == "test.ping" and running["tgt_type"] == "list"
    assert running["state"] in ("running", "complete")
    assert set(running["minions"]) == set(MINIONS)
    assert done["minions"] == {
        mid: {"return": True, "retcode": 0, "success": True, "returned": True} for mid in MINIONS
    }


def test_job_with_a_silent_minion_times_out_naming_it(view_api, client):
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    [accepted] = client.run({"client": "wheel", "fun": "key.gen_accept", "id_": ghost})
    assert accepted["data"]["success"] is True, accepted
    try:

        async def scenario():
            view = await View(view_api.url, client.http.headers["X-Auth-Token"]).connect()
            await view.wait(lambda s: len(view.messages) >= 2)
            jid = await in_thread(ping, client, ["minion-1", ghost])
            await view.wait(lambda s: s["jobs"].get(jid, {}).get("minions", {}).get("minion-1",
                            {}).get("returned"))  # fmt: skip
            assert view.job(jid)["state"] == "running"
            await view.wait(lambda s: s["jobs"][jid]["state"] != "running", timeout=TIMEOUT + 10)
            view.close()
            return view.job(jid)

        job = asyncio.run(scenario())
    finally:
        client.run({"client": "wheel", "fun": "key.delete", "match": ghost})
    assert job["state"] == "timed_out"
    assert job["missing"] == [ghost]
    assert job["minions"][ghost] == {"success": False, "returned": False}
    assert job["minions"]["minion-1"]["return"] is True


def test_history_is_bounded_and_evictions_are_sent(view_api, client):
    token = client.http.headers["X-Auth-Token"]

    async def scenario():
        view = await View(view_api.url, token).connect()
        await view.wait(lambda s: len(view.messages) >= 2)
        jids = []
        for _ in range(HISTORY + 2):
            jids.append(await in_thread(ping, client))
        await view.wait(lambda s: all(s["jobs"].get(j, {}).get("state") == "complete"
                                      for j in jids[-HISTORY:]))  # fmt: skip
        fresh = await View(view_api.url, token).connect()
        await fresh.wait(lambda s: len(fresh.messages) >= 2)
        view.close()
        fresh.close()
        return jids, view.state, fresh.messages[1]

    jids, followed, snapshot = asyncio.run(scenario())
    assert list(snapshot["jobs"]) == jids[-HISTORY:]
    assert sorted(followed["jobs"]) == sorted(jids[-HISTORY:])  # evictions reached the stream


def test_malformed_events_do_not_break_the_stream(view_api, client, salt_master, salt_run_cli):
    async def scenario():
        view = await View(view_api.url, client.http.headers["X-Auth-Token"]).connect()
        await view.wait(lambda s: len(view.messages) >= 2)
        ret = await in_thread(
            lambda: salt_run_cli.run("event.send", "salt/job/x/ret", data={"odd": [1]})
        )
        assert ret.returncode == 0, ret
        for tag, data in [
            ("salt/job/y/ret/minion-1", {"no": "return"}),
            ("salt/job/y/new", {"minions": "minion-1", "fun": 5}),
            ("salt/key", {"act": ["accept"], "id": {"x": 1}}),
            ("salt/presence/present", {"present": 7}),
            ("salt/minion//start", {}),
        ]:
            await in_thread(fire, salt_master, tag, data)
        jid = await in_thread(ping, client)
        done = await view.wait(lambda s: s["jobs"].get(jid, {}).get("state") == "complete")
        view.close()
        return view.reader.close_code, done

    close_code, state = asyncio.run(scenario())
    assert close_code is None
    assert set(state["minions"]) >= set(MINIONS)
    assert "x" not in state["jobs"] and "y" not in state["jobs"]


def test_sse_and_cherrypy_ws_serve_the_view(view_api, client):
    token = client.http.headers["X-Auth-Token"]

    async def scenario():
        sse = SseReader(view_api.url, token, "?format=formatted").start()
        ws = View(view_api.url, token, "ws?format_events", {"X-Auth-Token": token})
        await ws.connect()
        await wait_until(lambda: len(sse.messages) >= 3, timeout=30)
        await ws.wait(lambda s: len(ws.messages) >= 2)
        sse.stop()
        ws.close()
        return sse.messages, ws.messages

    sse_messages, ws_messages = asyncio.run(scenario())
    retry, minions, jobs = sse_messages[:3]
    assert retry == {"retry": "400"}
    assert minions["tag"] == "salt/netapi/rest_ext/formatted/minions" and "id" not in minions
    assert set(json.loads(minions["data"])["minions"]) >= set(MINIONS)
    assert set(json.loads(jobs["data"])) == {"jobs"}
    assert set(ws_messages[0]["minions"]) >= set(MINIONS)


def test_acl_visibility_shows_only_jobs_the_caller_may_see(
    view_api, api_credentials, limited_credentials
):
    """``acl`` is the default; ``limited`` (``test.*``) may not run ``grains.items``."""
    admin, limited = ApiClient(view_api.url), ApiClient(view_api.url)
    admin.login(api_credentials)
    limited_token = limited.login(limited_credentials)["token"]

    async def scenario():
        view = await View(view_api.url, limited_token).connect()
        await view.wait(lambda s: len(view.messages) >= 2)
        [hidden] = await in_thread(lambda: admin.run({"client": "local_async",
            "tgt": "minion-1", "fun": "grains.item", "arg": ["os"]}))  # fmt: skip
        shown = await in_thread(ping, admin)
        await view.wait(lambda s: s["jobs"].get(shown, {}).get("state") == "complete")
        await asyncio.sleep(1)
        view.close()
        return hidden["jid"], shown, view.state

    hidden, shown, state = asyncio.run(scenario())
    assert shown in state["jobs"] and hidden not in state["jobs"]
    assert set(state["minions"]) >= set(MINIONS)
    # Minions it may target, without the grains GET /minions would refuse it.
    assert all(state["minions"][mid] == {"id": mid, "grains": {}} for mid in MINIONS)
