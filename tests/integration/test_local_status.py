"""``view: status`` on a synchronous ``local`` chunk: the envelope of
``GET /jobs/<jid>?view=status`` (issue 14 part 2), through a real salt-api."""

from __future__ import annotations

import secrets

import pytest

pytestmark = [pytest.mark.integration]


def test_success_comes_from_the_retcode_not_the_value(api):
    # test.retcode returns True with retcode 42: a value-based guess would say success
    chunk = {"client": "local", "tgt": "minion-*", "fun": "test.retcode", "arg": [42]}
    (body,) = api.run({**chunk, "view": "status"})
    assert body["jid"].isdigit() and body["function"] == "test.retcode"
    assert body["target"] == "minion-*" and body["target_type"] == "glob"
    assert body["user"] == "saltdev" and body["started"].endswith("Z")
    assert set(body["minions"]) == {"minion-1", "minion-2"}
    for entry in body["minions"].values():
        assert entry == {"status": "returned", "retcode": 42, "success": False, "return": True}
    summary = body["summary"]
    assert summary["returned"] == 2 and summary["failed"] == 2 and summary["ok"] is False
    (fine,) = api.run({**chunk, "arg": [0], "view": "status"})
    assert fine["summary"]["succeeded"] == 2 and fine["summary"]["ok"] is True
    assert fine["minions"]["minion-1"]["retcode"] == 0


def test_a_silent_target_is_not_connected(api):
    """An accepted key with no minion behind it: targeted, never answers."""
    silent = "silent-" + secrets.token_hex(4)
    (accepted,) = api.run({"client": "wheel", "fun": "key.gen_accept", "id_": silent})
    assert accepted["data"]["success"] is True, accepted
    try:
        chunk = {"client": "local", "tgt": ["minion-1", silent], "tgt_type": "list"}
        chunk.update(fun="test.ping", timeout=2, gather_job_timeout=2, view="status")
        (body,) = api.run(chunk)
    finally:
        api.run({"client": "wheel", "fun": "key.delete", "match": silent})
    assert body["minions"]["minion-1"]["status"] == "returned"
    assert body["minions"]["minion-1"]["success"] is True
    assert body["minions"][silent] == {
        "status": "not_connected",
        "retcode": None,
        "success": None,
        "return": None,
    }
    summary = body["summary"]
    assert summary["targeted"] == 2 and summary["not_connected"] == 1
    assert summary["complete"] is True and summary["ok"] is False


def test_an_unknown_view_is_refused(api):
    chunk = {"client": "local", "tgt": "minion-1", "fun": "test.ping", "view": "everything"}
    response = api.post("/", json=[chunk])
    assert response.status_code == 400, response.text
