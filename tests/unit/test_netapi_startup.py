"""A bad ``rest_ext`` block stops salt-api at load time with one clear log line.

The netapi module's ``__virtual__`` runs when salt-api loads it: these cases run it in
process; one case per raising layer also goes through a real salt-api in
tests/integration/test_plugins_and_config.py.
"""

import logging

import pytest
import salt.config

from salt_ext_rest.netapi import rest_ext


@pytest.fixture
def opts(tmp_path):
    opts = salt.config.master_config(None)
    opts.update({"cachedir": str(tmp_path), "sock_dir": str(tmp_path / "sock")})
    return opts


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"bogus_key": 1}, "rest_ext: unknown key(s): 'bogus_key'"),
        ({"num_processes": "many"}, "rest_ext.num_processes: must be a positive whole number"),
        ({"disable_ssl": False, "ssl_crt": "/nonexistent.pem"}, "'ssl_crt': file not found"),
        ({"webhook_url": "/"}, "'webhook_url': '/' overlaps rest_ext's own URLs"),
        ({"event_visibility": "nope"}, "'event_visibility': unknown policy; available: "),
    ],
)
def test_bad_config_exits_78_with_one_clear_line(monkeypatch, caplog, opts, conf, message):
    opts["rest_ext"] = {"port": 1, "disable_ssl": True, **conf}
    monkeypatch.setattr(rest_ext, "__opts__", opts, raising=False)
    with (
        caplog.at_level(logging.CRITICAL, logger=rest_ext.__name__),
        pytest.raises(SystemExit) as info,
    ):
        rest_ext.__virtual__()
    assert info.value.code == 78
    lines = [r.getMessage() for r in caplog.records if r.name == rest_ext.__name__]
    assert len(lines) == 1 and "rest_ext: invalid configuration" in lines[0]
    assert message in lines[0]


def test_good_config_loads(monkeypatch, opts):
    opts["rest_ext"] = {"port": 1, "disable_ssl": True}
    monkeypatch.setattr(rest_ext, "__opts__", opts, raising=False)
    assert rest_ext.__virtual__() == "rest_ext"


def test_unconfigured_module_stays_unloaded(monkeypatch, opts):
    monkeypatch.setattr(rest_ext, "__opts__", opts, raising=False)
    assert rest_ext.__virtual__()[0] is False
