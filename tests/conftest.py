"""
Top-level pytest configuration shared by every test suite.

It only makes the ``tests.support`` helpers importable; the integration fixtures
live in ``tests/integration/conftest.py``.
"""

import pathlib
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def pytest_sessionstart(session):
    """
    Remove the stderr handler Salt installs when it is first imported.

    ``salt._logging`` adds a ``DeferredStreamHandler`` to the root logger if no
    handler exists yet (the salt-factories plugin imports Salt before pytest's
    logging is set up). It queues every warning of this process (up to 10 000)
    and flushes them at exit into pytest's already-closed capture stream, which
    prints pages of ``--- Logging error ---``. Queued records go to pytest's
    handlers instead.
    """
    import salt._logging.impl

    salt._logging.impl.shutdown_temp_handler()
