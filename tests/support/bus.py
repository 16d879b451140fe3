"""The session master's event bus, driven straight through Salt (project tests only)."""

import time

import salt.utils.event

from tests.support.tokens import master_opts


def fire_events(master, tag_prefix, count, payload=None):
    """Fire ``count`` events ``<tag_prefix>/<n>`` onto ``master``'s event bus (blocking)."""
    opts = master_opts(master)
    with salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False) as event:
        for n in range(count):
            event.fire_event({"n": n, **(payload or {})}, f"{tag_prefix}/{n}")


def wait_for_event(event, tag, timeout=60):
    """Wait on a sync Salt event handle for ``tag``; return its data."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = event.get_event(wait=1, tag=tag, full=True)
        if found and found["tag"] == tag:
            return found["data"]
    raise AssertionError(f"no event {tag} within {timeout}s")
