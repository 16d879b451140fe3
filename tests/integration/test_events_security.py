"""Event streams through a real salt-api: SSE framing, tags with control characters."""

import asyncio
import json
import uuid

import pytest
import requests

from tests.support.api import ApiClient
from tests.support.streams import SseReader, fire_events, wait_until

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
