"""Both firing paths answer False (not an exception) when no master takes the event;
the integration tests fire through a real master (test_webhook_and_stats.py,
test_stack_variants.py)."""

import asyncio
import time

import pytest
import salt.config

from salt_ext_rest.backend.firer import ON_LOOP, EventFirer


def opts(tmp_path):
    return {**salt.config.DEFAULT_MASTER_OPTS, "sock_dir": str(tmp_path / "no-master")}


@pytest.mark.parametrize("on_loop", [True, False])
def test_no_master_is_false_promptly(tmp_path, on_loop):
    async def scenario():
        loop = asyncio.get_running_loop()

        async def call(func, *args):
            return await loop.run_in_executor(None, func, *args)

        firer = EventFirer(opts(tmp_path), call, on_loop=on_loop)
        started = time.monotonic()
        assert await firer.fire({"n": 1}, "salt/netapi/hook/x") is False
        assert time.monotonic() - started < 5
        firer.close()

    asyncio.run(scenario())


def test_salt_3008_publishes_from_the_loop():
    import salt.version

    if salt.version.__saltstack_version__.major >= 3008:
        assert ON_LOOP
