"""Event streams through a real salt-api: framing, tag hygiene, who sees what, redaction."""

import asyncio
import json
import uuid

import pytest
import requests
import salt.auth

from salt_ext_rest.testing import config as cfg
from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import start_api
from salt_ext_rest.testing.streams import SseReader, wait_until
from tests.support.bus import fire_events
from tests.support.tokens import master_opts

pytestmark = [pytest.mark.integration]


def unique_prefix(kind):
    return f"test/{kind}/{uuid.uuid4().hex[:8]}"


@pytest.fixture
def admin_token(api_url, api_credentials):
    return ApiClient(api_url).login(api_credentials)["token"]


def read_events(url, token, query, fire, done, timeout=30):
    """Open ``GET /events<query>``, call ``fire()``, wait for ``done(reader)``; the reader."""

    async def scenario():
        reader = SseReader(url, token, query).start()
        await wait_until(lambda: reader.messages, timeout=10)  # the retry: line
        await asyncio.get_running_loop().run_in_executor(None, fire)
        await wait_until(lambda: done(reader), timeout=timeout)
        reader.stop()
        return reader

    return asyncio.run(scenario())


def test_sse_frame_is_tag_then_data_then_id(api_url, admin_token, salt_master):
    prefix = unique_prefix("framing")
    reader = read_events(
        api_url, admin_token, f"?tag={prefix}/*",
        lambda: fire_events(salt_master, prefix, 1), lambda r: r.events(prefix),
    )  # fmt: skip
    frame = next(b for b in reader.raw.split("\n\n") if f"tag: {prefix}/0" in b)
    lines = frame.split("\n")
    # rest_cherrypy clients read the first two lines positionally: tag, then data.
    assert lines[0] == f"tag: {prefix}/0"
    assert lines[1].startswith("data: ") and json.loads(lines[1][6:])["tag"] == f"{prefix}/0"
    assert lines[2].startswith("id: ") and len(lines) == 3


def test_hook_path_with_a_line_break_is_refused(api_url, admin_token, master_events):
    response = requests.post(
        f"{api_url}/hook/x%0D%0Adata:%20forged",
        json={"a": 1},
        headers={"X-Auth-Token": admin_token},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == 400 and "control characters" in body["message"]
    nul = requests.post(
        f"{api_url}/hook/x%00y", json={}, headers={"X-Auth-Token": admin_token}, timeout=30
    )
    assert nul.status_code == 400, nul.text


def test_tag_with_control_characters_never_forges_a_frame(api_url, admin_token, salt_master):
    prefix = unique_prefix("forge")
    forged = f"{prefix}/forged"
    # Salt's own framing ends a tag at LF LF, so the forgery uses CR (SSE's other EOL).
    forged_frame = f'\r\rtag: {forged}\rdata: {{"tag": "{forged}", "data": {{}}}}\r\n\x00'

    def fire():
        fire_events(salt_master, f"{prefix}/x{forged_frame}", 1)
        fire_events(salt_master, f"{prefix}/after", 1)

    reader = read_events(
        api_url, admin_token, f"?tag={prefix}/*", fire, lambda r: r.events(f"{prefix}/after")
    )
    tags = [m.get("tag", "") for m in reader.messages]
    assert forged not in tags
    escaped = [t for t in tags if t.startswith(f"{prefix}/x")]
    assert escaped and "%0D%0Dtag: " in escaped[0] and "%0D%0A%00" in escaped[0]
    # No field line of the stream starts inside the forged tag.
    assert not any(line.startswith(f"tag: {forged}") for line in reader.raw.splitlines())
    assert "\r" not in reader.raw and "\x00" not in reader.raw


# -- who sees what ------------------------------------------------------------------------
MINIONS = {"minion-1", "minion-2"}


def auto_login(url, user):
    return ApiClient(url).post(
        "/login", json={"username": user, "password": "anything", "eauth": "auto"}
    )


def test_login_with_an_empty_acl_is_refused_and_mints_nothing(api_url, salt_master):
    # ``auto`` accepts every user name; this one has no external_auth entry: ACL [].
    user = f"stranger{uuid.uuid4().hex[:8]}"
    response = auto_login(api_url, user)
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["status"] == 403 and "no permissions" in body["message"]
    assert "X-Auth-Token" not in response.headers and "session_id" not in response.cookies
    # every other route that logs in refuses it too: /token, and inline eauth on /run
    creds = {"username": user, "password": "anything", "eauth": "auto"}
    client = ApiClient(api_url)
    assert client.post("/token", json=creds).status_code == 403
    chunk = {"client": "local", "tgt": "*", "fun": "test.ping", **creds}
    assert client.post("/run", json=[chunk]).status_code == 403
    loadauth = salt.auth.LoadAuth(master_opts(salt_master))
    names = [(loadauth.get_tok(t) or {}).get("name") for t in loadauth.list_tokens()]
    assert user not in names


def formatted_minions(url, token):
    """The minions of the formatted view's snapshot on ``GET /events?format=formatted``."""
    reader = read_events(
        url, token, "?format=formatted", lambda: None,
        lambda r: any(m.get("tag", "").endswith("/minions") for m in r.messages),
    )  # fmt: skip
    [message] = [m for m in reader.messages if m.get("tag", "").endswith("/minions")]
    return json.loads(message["data"])["minions"]


def test_formatted_view_shows_each_caller_only_the_minions_it_may_see(api_url, api_credentials):
    admin = formatted_minions(api_url, ApiClient(api_url).login(api_credentials)["token"])
    one = formatted_minions(
        api_url, auto_login(api_url, cfg.ONE_MINION_USER).json()["return"][0]["token"]
    )
    limited = formatted_minions(
        api_url, auto_login(api_url, cfg.LIMITED_USER).json()["return"][0]["token"]
    )
    assert set(admin) >= MINIONS
    assert any(admin[mid]["grains"] for mid in MINIONS), admin  # the cache has grains
    # oneminion may run test.* and grains.items on minion-1 only: GET /minions would
    # show it minion-1 alone, with grains.
    assert set(one) == {"minion-1"} and one["minion-1"]["grains"] == admin["minion-1"]["grains"]
    # limited (auto) may run test.ping everywhere but not grains.items: ids, no grains.
    assert set(limited) >= MINIONS
    assert all(limited[mid] == {"id": mid, "grains": {}} for mid in MINIONS), limited


SECURE_CONF = {
    "websockets": True,
    # Non-job events reach a restricted user only through these globs, per eauth backend.
    "event_visibility_tags": {
        "sharedsecret": {cfg.LIMITED_USER: ["test/visible/*"]},
        "auto": {cfg.LIMITED_USER: ["test/autoonly/*"]},
    },
    "event_redact_keys": ["x-custom-*"],
}


@pytest.fixture(scope="module")
def secure_api(salt_master, salt_minion, salt_minion_2, netapi_module):
    if netapi_module != "rest_ext":
        pytest.skip("event_visibility_tags and event_redact_keys are rest_ext settings")
    with start_api(salt_master, SECURE_CONF, netapi_module=netapi_module) as api:
        yield api


def test_tag_globs_show_non_job_events_per_user_and_backend(
    secure_api, salt_master, api_credentials, limited_credentials
):
    url, run = secure_api.url, uuid.uuid4().hex[:8]
    tokens = {
        "admin": ApiClient(url).login(api_credentials)["token"],
        "limited": ApiClient(url).login(limited_credentials)["token"],
        "limited@auto": auto_login(url, cfg.LIMITED_USER).json()["return"][0]["token"],
    }
    kinds = ("visible", "hidden", "autoonly")

    async def scenario():
        readers = {
            who: SseReader(url, token, "?tag=test/*").start() for who, token in tokens.items()
        }
        await wait_until(lambda: all(r.messages for r in readers.values()), timeout=10)
        for kind in kinds:
            await asyncio.get_running_loop().run_in_executor(
                None, fire_events, salt_master, f"test/{kind}/{run}", 1
            )
        await wait_until(lambda: len(readers["admin"].events("test/")) >= 3, timeout=30)
        await asyncio.sleep(1.0)  # the other readers had the same time to receive theirs
        for reader in readers.values():
            reader.stop()
        return {
            who: {e["tag"].split("/")[1] for e in r.events("test/")} for who, r in readers.items()
        }

    seen = asyncio.run(scenario())
    assert seen["admin"] == set(kinds)
    assert seen["limited"] == {"visible"}
    assert seen["limited@auto"] == {"autoonly"}


def test_extra_redact_keys_apply_to_every_stream(secure_api, api_credentials):
    url = secure_api.url
    token = ApiClient(url).login(api_credentials)["token"]
    path = f"custom-{uuid.uuid4().hex[:8]}"
    headers = {"X-Auth-Token": token, "X-Custom-Thing": "SECRET3", "X-Other": "plain"}

    def fire():
        requests.post(f"{url}/hook/{path}", json={}, headers=headers, timeout=30)

    tag = f"salt/netapi/hook/{path}"
    reader = read_events(url, token, f"?tag={tag}", fire, lambda r: r.events(tag))
    [event] = reader.events(tag)
    sent = {name.lower(): value for name, value in event["data"]["headers"].items()}
    assert sent["x-custom-thing"] == "<redacted>" and sent["x-other"] == "plain"
