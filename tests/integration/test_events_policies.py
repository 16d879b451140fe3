"""Event streams: a third-party formatter, the default acl visibility, a master restart."""

import asyncio
import json
import time
import uuid

import pytest

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import start_api
from salt_ext_rest.testing.streams import SseReader, wait_until
from tests.integration.test_plugins_and_config import PLUGIN_CONF
from tests.support.bus import fire_events

pytestmark = [pytest.mark.integration]


def test_third_party_formatter(
    example_plugin_installed, salt_master, netapi_module, api_credentials
):
    prefix = f"test/fmt/{uuid.uuid4().hex[:8]}"
    with start_api(salt_master, PLUGIN_CONF, netapi_module=netapi_module) as api:
        token = ApiClient(api.url).login(api_credentials)["token"]

        async def scenario():
            reader = SseReader(api.url, token, f"?tag={prefix}/*&format=shout").start()
            await reader.subscribed()
            fire_events(salt_master, prefix, 2)
            await wait_until(lambda: len(reader.messages) >= 3, timeout=30)
            reader.stop()
            return reader

        reader = asyncio.run(scenario())
        unknown = ApiClient(api.url, token=token).get("/events?format=nope")
    payloads = [json.loads(m["data"]) for m in reader.messages if "data" in m]
    assert payloads == [{"TAG": f"{prefix}/{n}".upper(), "keys": ["_stamp", "n"]} for n in (0, 1)]
    assert unknown.status_code == 400 and "shout" in unknown.json()["message"]


def test_default_policy_shows_restricted_users_only_their_jobs(
    api_url, salt_master, api_credentials, limited_credentials
):
    """``acl`` is the default: the session salt-api sets no ``event_visibility``."""
    admin = ApiClient(api_url)
    admin_token = admin.login(api_credentials)["token"]
    limited = ApiClient(api_url)
    limited_token = limited.login(limited_credentials)["token"]
    custom = f"test/acl/{uuid.uuid4().hex[:8]}"

    async def scenario():
        reader = await SseReader(api_url, limited_token).start().subscribed()
        admin_reader = await SseReader(api_url, admin_token).start().subscribed()
        run = asyncio.get_running_loop().run_in_executor
        hidden = await run(
            None, admin.run, {"client": "local_async", "tgt": "*", "fun": "grains.items"}
        )
        seen = await run(None, admin.run, {"client": "local_async", "tgt": "*", "fun": "test.ping"})
        own = await run(
            None,
            limited.run,
            {"client": "local_async", "tgt": "*", "fun": "test.echo", "arg": ["x"]},
        )
        await run(None, fire_events, salt_master, custom, 1)
        assert all(r[0] for r in (hidden, seen, own)), (hidden, seen, own)
        jids = {"hidden": hidden[0]["jid"], "seen": seen[0]["jid"], "own": own[0]["jid"]}

        def returned(events, jid):
            return sum(f"salt/job/{jid}/ret/" in e["tag"] for e in events) >= 2

        await wait_until(
            lambda: (
                returned(reader.events(), jids["seen"])
                and returned(reader.events(), jids["own"])
                and returned(admin_reader.events(), jids["hidden"])
                and admin_reader.events(custom)
            ),
            timeout=60,
        )
        await asyncio.sleep(1.0)
        reader.stop()
        admin_reader.stop()
        return reader, admin_reader, jids

    reader, admin_reader, jids = asyncio.run(scenario())
    tags = [e["tag"] for e in reader.events()]
    assert f"salt/job/{jids['own']}/new" in tags  # its own job (test.echo)
    assert f"salt/job/{jids['seen']}/new" in tags  # another's job its ACL covers
    assert not any(jids["hidden"] in tag for tag in tags)  # another's job it may not run
    assert not any(tag.startswith(custom) for tag in tags)  # no tag glob configured
    assert not any(tag.startswith("salt/auth") or tag.startswith("salt/key") for tag in tags)
    admin_tags = [e["tag"] for e in admin_reader.events()]
    for jid in jids.values():  # an unrestricted user sees everything, as before
        assert f"salt/job/{jid}/new" in admin_tags
    assert admin_reader.events(custom)


def test_stream_survives_a_master_restart(salt_stack_factory):
    # Only the master's bus matters here: no minion to start and stop.
    with salt_stack_factory({}, minion_count=0) as stack:
        token = ApiClient(stack.url).login(stack.credentials)["token"]
        prefix = f"test/restart/{uuid.uuid4().hex[:8]}"

        async def scenario():
            reader = await SseReader(stack.url, token).start(timeout=240).subscribed()
            run = asyncio.get_running_loop().run_in_executor
            await run(None, fire_events, stack.master, f"{prefix}/before", 1)
            await wait_until(lambda: reader.events(f"{prefix}/before"), timeout=30)
            await run(None, stack.master.terminate)
            await run(None, stack.master.start)
            reconnected = "salt/netapi/rest_ext/stream/reconnected"
            await wait_until(lambda: reader.events(reconnected), timeout=90)
            deadline = time.monotonic() + 60
            while not reader.events(f"{prefix}/after") and time.monotonic() < deadline:
                await run(None, fire_events, stack.master, f"{prefix}/after", 1)
                await asyncio.sleep(1)
            reader.stop()
            return reader

        reader = asyncio.run(scenario())
    tags = [e["tag"] for e in reader.events()]
    assert "salt/netapi/rest_ext/stream/disconnected" in tags
    notice = reader.events("salt/netapi/rest_ext/stream/reconnected")[0]
    assert notice["data"]["missed"] is True
    assert reader.events(f"{prefix}/after"), "no events after the master restart"
