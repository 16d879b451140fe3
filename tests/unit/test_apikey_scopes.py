"""A key's scopes must be provably within its creator's ACL."""

import pytest

from salt_ext_rest.apikeys.scopes import ScopeError, grants, pattern_covers, uncovered

LIMITED = ["test.*"]
ONE_MINION = [{"minion-1": ["test.*", "grains.items"]}]
WEB_KEYS = [{"@wheel": [{"key.accept": {"args": ["web.*"]}}]}]


@pytest.mark.parametrize(
    ("scopes", "acl"),
    [
        (["test.ping"], LIMITED),
        (["test.*"], LIMITED),
        ([{"minion-1": ["test.ping"]}], LIMITED),
        ([{"web*": ["test.*"]}], LIMITED),
        ([{"minion-1": ["test.echo"]}], ONE_MINION),
        ([{"minion-1": [{"test.echo": {"args": ["hi"]}}]}], ONE_MINION),
        ([{"@wheel": [{"key.accept": {"args": ["web.*"]}}]}], WEB_KEYS),
        (["@runner"], ["@runners"]),
        ([{"@runner": ["jobs.list_jobs"]}], ["@runner"]),
        ([{"web1": ["test.ping"]}], [{"web*": ["test.*"]}]),
        ([{"webs*": ["test.*"]}], [{"web*": [".*"]}]),
    ],
)
def test_within_the_acl(scopes, acl):
    assert uncovered(scopes, acl) == []


@pytest.mark.parametrize(
    ("scopes", "acl"),
    [
        (["cmd.run"], LIMITED),
        ([".*"], LIMITED),
        (["t.*"], LIMITED),  # as a regex: 't' then anything
        (["tes*"], LIMITED),  # as a regex: 'te' then any number of 's'
        (["test*"], ["test.*"]),  # as a regex 'test*' matches 'tes'
        (["te.t.ping"], ["test*"]),
        (["test.[a-z]*"], LIMITED),  # not a shape that can be compared
        (["@runner"], LIMITED),
        (["@wheel"], ["@runner"]),
        (["test.ping"], ONE_MINION),  # every minion vs minion-1 only
        ([{"minion-2": ["test.ping"]}], ONE_MINION),
        ([{"minion-*": ["test.ping"]}], ONE_MINION),
        ([{"minion-1": ["cmd.run"]}], ONE_MINION),
        ([{"@wheel": ["key.accept"]}], WEB_KEYS),  # drops the argument restriction
        ([{"@wheel": [{"key.accept": {"args": [".*"]}}]}], WEB_KEYS),
        ([{"G@os:Debian": ["test.ping"]}], [{"web*": ["test.*"]}]),
    ],
)
def test_beyond_the_acl_is_refused(scopes, acl):
    assert uncovered(scopes, acl)


def test_a_glob_target_covers_a_narrower_glob():
    assert pattern_covers("web*", "web.*", regex=False)
    assert not pattern_covers("web.*", "webx", regex=False)
    assert pattern_covers("*", "anything", regex=False)
    assert not pattern_covers(".*", "anything", regex=False)


@pytest.mark.parametrize(
    "scopes", ["test.*", [], [1], [{"": ["x"]}], [{"t": [1]}], [{"t": [{"a": 1, "b": 2}]}]]
)
def test_what_is_not_an_acl_list(scopes):
    with pytest.raises(ScopeError):
        if not grants(scopes):
            raise ScopeError("empty")
