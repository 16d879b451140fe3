"""
Top-level pytest configuration shared by every test suite.

It makes the ``tests.support`` helpers importable; the stack fixtures come from the
public pytest plugin ``salt_ext_rest.testing`` (a ``pytest11`` entry point, never
registered again here) and ``tests/integration/conftest.py`` names them for the tests.
"""

import pathlib
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# The example plugin's own tests run in their own pytest session, as a plugin author
# runs them (tests/integration/test_plugin_example.py starts it).
collect_ignore = ["plugin_example"]


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
