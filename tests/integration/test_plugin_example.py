"""
The example plugin's own test suite (tests/plugin_example/tests), run as its author
runs it: a separate pytest session in the plugin's directory, the plugin installed,
salt-ext-rest's pytest plugin loaded through its ``pytest11`` entry point and no
conftest.py from this project.
"""

import pathlib
import subprocess
import sys

PLUGIN_DIR = pathlib.Path(__file__).resolve().parents[1] / "plugin_example"


def test_the_example_plugins_own_tests_pass(example_plugin_installed):
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA"]
    result = subprocess.run(command, cwd=PLUGIN_DIR, capture_output=True, text=True, timeout=280)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "PASSED tests/test_example_plugin.py::test_whoami_in_process" in output
    assert "PASSED tests/test_example_plugin.py::test_through_a_real_salt_api" in output
    assert "PASSED tests/test_example_plugin.py::test_the_api_description_includes" in output
    plugin_authenticator = "test_the_plugins_authenticator_through_a_real_salt_api"
    assert f"PASSED tests/test_example_plugin.py::{plugin_authenticator}" in output
