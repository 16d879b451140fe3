"""is_unrestricted and the binding of wheel arguments (the ACL sees what will run)."""

import copy

import pytest
import salt.config
import salt.exceptions

from salt_ext_rest.backend import callargs
from salt_ext_rest.backend.acl import is_unrestricted
from salt_ext_rest.errors import BadRequest


@pytest.mark.parametrize(
    ("auth_list", "expected"),
    [
        ([".*", "@runner", "@wheel", "@jobs"], True),
        ([{"*": [".*"]}, {"@runner": [".*"]}, "@wheels"], True),
        ([{"*": [".*"]}, {"@runner": [".*"]}, {"@wheel": ["*"]}], True),
        ([{"@runner": ["jobs.*"]}, ".*", "@wheel"], False),
        ([".*", "@runner"], False),
        (["test.*", "@runner", "@wheel"], False),
        ([{"web*": [".*"]}, "@runner", "@wheel"], False),
        ([".*", "@runner", {"@wheel": [{"key.accept": {"args": ["web.*"]}}]}], False),
        ([], False),
        (None, False),
    ],
)
def test_is_unrestricted(auth_list, expected):
    assert is_unrestricted(auth_list) is expected


@pytest.fixture(scope="module")
def opts(tmp_path_factory):
    root = tmp_path_factory.mktemp("master")
    opts = copy.deepcopy(salt.config.DEFAULT_MASTER_OPTS)
    opts.update(cachedir=str(root / "cache"), pki_dir=str(root / "pki"), sock_dir=str(root))
    return opts


@pytest.mark.parametrize(
    ("chunk", "args", "kwargs"),
    [
        ({"match": "web1"}, ["web1"], {"include_rejected": False, "include_denied": False}),
        (
            {"kwarg": {"match": "web1"}},
            ["web1"],
            {"include_rejected": False, "include_denied": False},
        ),
        (
            {"match": "*", "kwarg": {"match": "web1"}},
            ["web1"],
            {"include_rejected": False, "include_denied": False},
        ),
        ({"arg": ["web1"]}, ["web1"], {}),
        ({"arg": ["web1", "include_rejected=True"]}, ["web1"], {"include_rejected": True}),
    ],
)
def test_wheel_call_binds_as_salt_runs(opts, chunk, args, kwargs):
    low = {"client": "wheel", "fun": "key.accept", "token": "t", **chunk}
    assert callargs.wheel_call(opts, low) == (args, kwargs)


@pytest.mark.parametrize(
    "chunk",
    [
        {"match": "*", "arg": ["web1"]},  # match given twice
        {"match": "*", "kwarg": {"arg": ["web1"]}},  # key.accept takes no 'arg'
    ],
)
def test_wheel_call_refuses_what_would_not_run_as_checked(opts, chunk):
    low = {"client": "wheel_async", "fun": "key.accept", **chunk}
    with pytest.raises((BadRequest, salt.exceptions.SaltInvocationError)):
        callargs.wheel_call(opts, low)


def test_unknown_wheel_function_binds_nothing(opts):
    assert callargs.wheel_call(opts, {"client": "wheel", "fun": "no.such", "x": 1}) == ([], {})
