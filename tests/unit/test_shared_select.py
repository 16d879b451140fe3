"""Which shared state a worker uses: memory, the host's SQLite file, or Redis over it."""

from salt_ext_rest.config import load_config
from salt_ext_rest.shared.layered import LayeredState
from salt_ext_rest.shared.local import SqliteState
from salt_ext_rest.shared.memory import MemoryState
from salt_ext_rest.shared.redis_state import RedisState
from salt_ext_rest.shared.select import make_link, make_shared_state


def opts(tmp_path, **block):
    return {"sock_dir": str(tmp_path), "rest_ext": {"port": 8123, "disable_ssl": True, **block}}


def pick(tmp_path, **block):
    options = opts(tmp_path, **block)
    config = load_config(options)
    return make_shared_state(options, config, make_link(config))


def test_one_worker_keeps_its_state_in_memory(tmp_path):
    assert isinstance(pick(tmp_path), MemoryState)


def test_several_workers_share_a_file_in_sock_dir_with_memory_behind(tmp_path):
    state = pick(tmp_path, num_processes=3)
    assert isinstance(state, LayeredState) and state.kind == "file"
    assert isinstance(state.primary, SqliteState)
    assert state.primary.path == str(tmp_path / "rest_ext-8123.sqlite")
    assert isinstance(state.fallback, MemoryState)
    assert not (tmp_path / "rest_ext-8123.sqlite").exists()  # nothing opened yet


def test_redis_falls_back_to_the_host_local_state(tmp_path):
    single = pick(tmp_path, shared_store="redis://:pw@127.0.0.1:1/0")
    assert isinstance(single, LayeredState) and isinstance(single.primary, RedisState)
    assert isinstance(single.fallback, MemoryState)
    assert single.status()["url"] == "redis://:***@127.0.0.1:1/0"  # no password shown
    several = pick(tmp_path, shared_store="redis://127.0.0.1:1/0", num_processes=2)
    assert isinstance(several.fallback, LayeredState) and several.fallback.kind == "file"
