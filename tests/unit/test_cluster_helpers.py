"""The cluster and HAProxy test helpers, without starting any daemon."""

import pathlib
import socket

import pytest

from salt_ext_rest.testing import cluster as cluster_module
from salt_ext_rest.testing import cluster_layout as cluster
from salt_ext_rest.testing import haproxy
from salt_ext_rest.testing.saltapi import _listen_host


def test_master_overrides_make_a_cluster_on_three_addresses(tmp_path):
    dirs = cluster.shared_dirs(tmp_path)
    ports = {"ret_port": 1, "publish_port": 2, "cluster_pool_port": 3}
    configs = [cluster.cluster_master_overrides(i, 3, dirs, ports) for i in range(3)]
    assert [c["interface"] for c in configs] == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert configs[1]["cluster_peers"] == ["127.0.0.1", "127.0.0.3"]
    assert {c["cluster_pki_dir"] for c in configs} == {str(tmp_path / "pki")}
    assert all(c["ret_port"] == 1 and c["cluster_pool_port"] == 3 for c in configs)
    assert (tmp_path / "pki" / "peers").is_dir() and (tmp_path / "cache" / "tokens").is_dir()
    (alone,) = [cluster.cluster_master_overrides(0, 1, dirs, {})]
    assert "cluster_id" not in alone and "cluster_peers" not in alone  # Salt refuses no peers


def test_each_api_listens_on_its_masters_address_with_the_shared_store():
    spec = cluster_module.ClusterSpec(masters=2, redis_url="redis://127.0.0.1:1/0")
    block = spec.api_block(1, port=8123)
    assert block["host"] == "127.0.0.2" and block["port"] == 8123
    assert block["shared_store"] == "redis://127.0.0.1:1/0"
    assert block["shared_store_prefix"].startswith("rest_ext:") and block["disable_ssl"]
    assert "shared_store" not in cluster_module.ClusterSpec(masters=1).api_block(0, port=1)
    with pytest.raises(ValueError, match="masters"):
        cluster_module.ClusterSpec(masters=4)


def test_a_free_port_is_free_on_every_address():
    port = cluster.free_port_on(["127.0.0.1", "127.0.0.2"])
    for address in ("127.0.0.1", "127.0.0.2"):
        with socket.socket() as sock:
            sock.bind((address, port))


def test_link_shared_points_the_cache_and_tokens_at_the_shared_dirs(tmp_path):
    root, dirs = tmp_path / "master", cluster.shared_dirs(tmp_path / "shared")
    (root / "cache" / "jobs").mkdir(parents=True)  # what salt-factories leaves there
    master = type("Master", (), {"config": {"root_dir": str(root)}})()
    cluster.link_shared(master, dirs)
    cluster.link_shared(master, dirs)  # idempotent
    assert (root / "cache").resolve() == dirs["cache"].resolve()
    assert (root / "tokens").resolve() == dirs["tokens"].resolve()


def test_api_url_uses_the_listen_address():
    assert _listen_host({"host": "127.0.0.3"}) == "127.0.0.3"
    assert _listen_host({"host": "0.0.0.0"}) == "127.0.0.1"
    assert _listen_host({"address": "127.0.0.2"}) == "127.0.0.2"
    assert _listen_host({}) == "127.0.0.1"


def test_haproxy_config_balances_round_robin_with_health_checks():
    text = haproxy.render_config(
        8080, ["http://127.0.0.1:1", "http://127.0.0.2:2"], pathlib.Path("/x/admin.sock")
    )
    assert "bind 127.0.0.1:8080" in text and "balance roundrobin" in text
    assert "option httpchk GET /" in text and "timeout tunnel 1h" in text
    assert "server api0 127.0.0.1:1 check" in text and "server api1 127.0.0.2:2 check" in text
    assert "stats socket /x/admin.sock" in text
    ready = haproxy.render_config(1, ["http://127.0.0.1:1"], pathlib.Path("/s"), "/readyz")
    assert "option httpchk GET /readyz" in ready


def fake_daemon(root, **config):
    return type("Daemon", (), {"config": {"root_dir": str(root), **config}})()


def test_minions_wait_until_every_master_is_ready_and_keys_are_quiet(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "SETTLE_QUIET", 0.3)
    logs = [tmp_path / f"m{i}.log" for i in range(2)]
    logs[0].write_text(f"{cluster.AES_KEY_LINE}\n{cluster.READY_LINE}\n")
    logs[1].write_text(f"{cluster.AES_KEY_LINE}\n")
    masters = [fake_daemon(tmp_path, log_file=str(path)) for path in logs]
    warnings = []
    monkeypatch.setattr(cluster.log, "warning", lambda *args: warnings.append(args))
    cluster.wait_settled(masters, timeout=0.6)  # master 1 is not ready: the wait runs out
    assert len(warnings) == 1
    logs[1].write_text(f"{cluster.AES_KEY_LINE}\n{cluster.READY_LINE}\n")
    cluster.wait_settled(masters, timeout=5)
    assert len(warnings) == 1  # settled this time


def test_a_minion_restart_forgets_the_cached_master_key(tmp_path):
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "minion_master.pub").write_text("stale")
    cluster.forget_master_key(fake_daemon(tmp_path, pki_dir="pki"))
    cluster.forget_master_key(fake_daemon(tmp_path, pki_dir="pki"))  # nothing to forget
    assert not (tmp_path / "pki" / "minion_master.pub").exists()


def test_the_cluster_key_pair_exists_before_any_master_starts(tmp_path):
    from cryptography.hazmat.primitives import serialization

    cluster.write_cluster_key(tmp_path)
    private = serialization.load_pem_private_key((tmp_path / "cluster.pem").read_bytes(), None)
    public = serialization.load_pem_public_key((tmp_path / "cluster.pub").read_bytes())
    assert private.public_key().public_numbers() == public.public_numbers()
    assert (tmp_path / "cluster.pem").read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY")
    assert (tmp_path / "cluster.pem").stat().st_mode & 0o777 == 0o400
