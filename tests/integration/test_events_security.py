"""Event streams through a real salt-api: SSE framing."""

import asyncio
import json
import uuid

import pytest

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
