from importlib.metadata import entry_points

import salt.config
import salt.loader


def test_entry_point_exposes_only_the_netapi_and_eauth_directories():
    (ep,) = [ep for ep in entry_points(group="salt.loader") if ep.name == "salt_ext_rest"]
    dirs = ep.load()()
    assert sorted(dirs) == ["auth", "netapi"]
    assert [path.rsplit("/", 1)[-1] for path in dirs["auth"]] == ["eauth"]


def test_salt_finds_rest_ext_and_no_eauth_module_of_ours(tmp_path):
    opts = salt.config.master_config(None)
    opts.update({"rest_ext": {"port": 1, "disable_ssl": True}, "cachedir": str(tmp_path)})
    netapi = salt.loader.netapi(opts)
    assert "rest_ext.start" in netapi
    auth = salt.loader.auth(opts)
    assert not [name for name in auth if name.split(".")[0] in ("identity", "backends", "tokens")]
    assert {"rest_ext.auth", "rest_ext.acl"} <= set(auth)
    assert not [name for name in auth if name.startswith("rest_ext._")]
