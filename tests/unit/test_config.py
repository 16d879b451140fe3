import pytest

from salt_ext_rest.config import ConfigError, load_config


def load(**block):
    return load_config({"rest_ext": block})


def test_minimal_plain_http_config():
    conf = load(port=8000, disable_ssl=True)
    assert conf.port == 8000
    assert conf.tls is False
    assert conf.backlog == 128


def test_string_numbers_and_rest_tornado_aliases_are_accepted():
    conf = load(port="8001", address="127.0.0.1", disable_ssl=True, socket_queue_size="7")
    assert (conf.port, conf.host, conf.backlog) == (8001, "127.0.0.1", 7)
    assert load(port=1, disable_ssl=True, queue_size=9).backlog == 9


def test_cors_origin_string_becomes_tuple():
    assert load(port=1, disable_ssl=True, cors_origin="https://a").cors_origin == ("https://a",)
    assert load(port=1, disable_ssl=True, cors_origin=["x", "y"]).cors_origin == ("x", "y")


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ({"port": 1, "disable_ssl": True, "bogus": 1}, "unknown key(s): 'bogus'"),
        ({"port": "eighty", "disable_ssl": True}, "rest_ext.port: must be a port number"),
        ({"port": 1, "disable_ssl": "yes"}, "rest_ext.disable_ssl: must be of type boolean"),
        ({"disable_ssl": True}, "'port' is a required property"),
        ({"port": 1}, "'ssl_crt' is required unless 'disable_ssl' is true"),
        ({"port": 1, "ssl_crt": "/nonexistent/crt.pem"}, "'ssl_crt': file not found"),
        ({"port": 1, "disable_ssl": True, "static": "/nonexistent"}, "'static': file not found"),
        ({"port": 1, "disable_ssl": True, "webhook_url": "/"}, "'webhook_url': '/' overlaps"),
        ({"port": 1, "disable_ssl": True, "webhook_url": "/login/x"}, "'webhook_url'"),
        ({"port": 1, "disable_ssl": True, "webhook_url": "/static/"}, "'webhook_url'"),
    ],
)
def test_bad_config_names_the_key(block, fragment):
    with pytest.raises(ConfigError) as info:
        load_config({"rest_ext": block})
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_block_must_be_a_mapping():
    with pytest.raises(ConfigError):
        load_config({"rest_ext": "port 8000"})


def test_tls_files_checked(tmp_path):
    crt = tmp_path / "c.pem"
    crt.write_text("x")
    assert load(port=1, ssl_crt=str(crt)).tls is True


def test_not_yet_active_keys_are_reported(monkeypatch):
    from salt_ext_rest import config

    monkeypatch.setattr(config, "NOT_YET_ACTIVE", frozenset({"cors_origin", "websockets"}))
    opts = {"rest_ext": {"port": 1, "disable_ssl": True, "websockets": True, "cors_origin": "*"}}
    load_config(opts)
    assert config.inactive_keys(opts) == ["cors_origin", "websockets"]
