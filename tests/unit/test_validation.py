import pytest

from salt_ext_rest.errors import BadRequest, Forbidden, ValidationFailed
from salt_ext_rest.lowstate.validation import ALL_CLIENTS, LowstateValidator, builtin_schemas

ENABLED = {"netapi_enable_clients": list(ALL_CLIENTS)}


def validator(opts=None, extra=()):
    return LowstateValidator([builtin_schemas(), *extra], opts or ENABLED)


VALID = [
    {"client": "local", "tgt": "*", "fun": "test.ping"},
    {
        "client": "local",
        "tgt": ["a", "b"],
        "tgt_type": "list",
        "fun": ["test.ping", "test.echo"],
        "arg": [[], ["x"]],
    },
    {"client": "local_async", "tgt": "*", "fun": "test.ping", "full_return": True, "timeout": "5"},
    {"client": "local_batch", "tgt": "*", "fun": "test.ping", "batch": "50%"},
    {"client": "local_subset", "tgt": "*", "fun": "test.ping", "sub": 1, "timeout": "1.5"},
    {"client": "local", "tgt": "*", "fun": "test.ping", "timeout": 1},
    {"client": "runner", "fun": "jobs.lookup_jid", "jid": "123"},
    {"client": "runner_async", "fun": "manage.up"},
    {"client": "wheel", "fun": "key.list_all"},
    {"client": "wheel_async", "fun": "key.accept", "match": "m1"},
    {"client": "ssh", "tgt": "host", "fun": "test.ping"},
]


@pytest.mark.parametrize("chunk", VALID, ids=lambda c: c["client"])
def test_valid_chunks_pass(chunk):
    validator().check([chunk])


@pytest.mark.parametrize(
    ("chunk", "path"),
    [
        ({"client": "local", "fun": "test.ping"}, "$[0]"),
        ({"client": "local", "tgt": "*", "fun": "test.ping", "timeout": "soon"}, "$[0].timeout"),
        # Salt publishes within the timeout: 0 would fail as "the master did not answer"
        ({"client": "local_async", "tgt": "*", "fun": "test.ping", "timeout": "0"}, "$[0].timeout"),
        ({"client": "local", "tgt": "*", "fun": "test.ping", "timeout": 0}, "$[0].timeout"),
        # a tiny timeout fails the same way (the fuzzer sent 5e-90)
        ({"client": "local", "tgt": "*", "fun": "test.ping", "timeout": 5e-90}, "$[0].timeout"),
        ({"client": "local", "tgt": "*", "fun": "test.ping", "timeout": "0.5"}, "$[0].timeout"),
        (
            {"client": "local_subset", "tgt": "*", "fun": "test.ping", "sub": 1, "timeout": "0.0"},
            "$[0].timeout",
        ),
        ({"client": "local", "tgt": "", "fun": "test.ping"}, "$[0].tgt"),
        ({"client": "local", "tgt": "*", "fun": "not a function"}, "$[0].fun"),
        ({"client": "local", "tgt": "*", "fun": "test.ping", "arg": {"x": 1}}, "$[0].arg"),
        ({"client": "local", "tgt": "*", "fun": "test.ping", "tgt_type": "magic"}, "$[0].tgt_type"),
        ({"client": "local_batch", "tgt": "*", "fun": "test.ping"}, "$[0]"),
        ({"client": "runner"}, "$[0]"),
        ({"client": "ssh", "tgt": "h", "fun": "test.ping", "ssh_options": ["x"]}, "$[0]"),
        ({"client": "ssh", "tgt": "h", "fun": "test.ping", "roster_file": "/etc/x"}, "$[0]"),
        ({"client": "ssh", "tgt": "root@h", "fun": "test.ping"}, "$[0].tgt"),
        ({"client": "ssh", "tgt": ["h", "h\nx"], "fun": "test.ping"}, "$[0].tgt"),
        ({"client": "ssh", "tgt": "h", "fun": ["test.ping"]}, "$[0].fun"),
        ({"client": "ssh", "tgt": "h", "fun": "test.ping", "arg": ["-o ProxyCommand=sh"]}, "$[0]"),
        ({"client": "ssh", "tgt": "-oProxyJump=x", "fun": "test.ping"}, "$[0].tgt"),
        ({"client": "bogus", "fun": "x.y"}, "$[0].client"),
        ({"fun": "x.y"}, "$[0].client"),
    ],
)
def test_invalid_chunks_name_the_json_path(chunk, path):
    with pytest.raises(ValidationFailed) as info:
        validator().check([chunk])
    assert info.value.details["path"] == path
    assert info.value.message.startswith(path)


def test_second_chunk_path_index():
    with pytest.raises(ValidationFailed) as info:
        validator().check([VALID[0], {"client": "local", "tgt": "*"}])
    assert info.value.details["path"] == "$[1]"


def test_secret_values_are_not_echoed():
    chunk = {"client": "local", "tgt": "*", "fun": "test.ping", "timeout": "hunter2"}
    with pytest.raises(ValidationFailed) as info:
        validator().check([chunk])
    assert "hunter2" not in info.value.message


def test_disabled_client_uses_salts_message():
    with pytest.raises(BadRequest) as info:
        validator({"netapi_enable_clients": ["local"]}).check([{"client": "runner", "fun": "a.b"}])
    assert "Client disabled: 'runner'" in info.value.message
    assert not isinstance(info.value, ValidationFailed)


def test_ssh_disabled_unless_enabled():
    with pytest.raises(BadRequest, match="Client disabled: 'ssh'"):
        validator({"netapi_enable_clients": ["local"]}).check([VALID[-1]])


def test_raw_shell_needs_master_opt_in():
    chunk = {"client": "local", "tgt": "*", "fun": "cmd.run", "raw_shell": True}
    with pytest.raises(Forbidden):
        validator().check([chunk])
    validator({**ENABLED, "netapi_allow_raw_shell": True}).check([chunk])


def test_plugin_schemas_only_tighten():
    no_cmd = {"local": {"properties": {"fun": {"not": {"const": "cmd.run"}}}}}
    v = validator(extra=[no_cmd])
    v.check([VALID[0]])
    with pytest.raises(ValidationFailed):
        v.check([{"client": "local", "tgt": "*", "fun": "cmd.run"}])


@pytest.mark.parametrize(
    "key",
    [
        "ssh_remote_port_forwards",
        "ssh_sudo_user",
        "ssh_update_roster",
        "ignore_host_keys",
        "no_host_keys",
        "ssh_user",
        "ssh_passwd",
        "ret",
        "jid",
        "ssh_priv",
        "ssh_options",
        "ssh_port",
        "rosters",
        "roster_file",
    ],
)
def test_ssh_allows_only_listed_keys(key):
    chunk = {"client": "ssh", "tgt": "h", "fun": "test.ping", key: "x"}
    with pytest.raises(ValidationFailed, match=f"unknown key\\(s\\): '{key}'"):
        validator().check([chunk])


@pytest.mark.parametrize(
    "tgt", ["root@h", "root@127.0.0.1", "h\nx", "h x", "-oProxyCommand=sh", ["-ox"], ["h", "h x"]]
)
def test_ssh_targets_are_roster_names(tgt):
    with pytest.raises(ValidationFailed) as info:
        validator().check([{"client": "ssh", "tgt": tgt, "fun": "test.ping"}])
    assert info.value.details["path"].startswith("$[0].tgt")


def test_ssh_allow_list_admits_the_documented_keys():
    chunk = {
        "client": "ssh",
        "tgt": ["a", "web*"],
        "fun": "test.echo",
        "arg": ["x"],
        "kwarg": {},
        "tgt_type": "list",
        "timeout": 5,
        "full_return": True,
        "token": "t",
    }
    validator().check([chunk])
