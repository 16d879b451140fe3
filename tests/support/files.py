"""Marker files written by jobs (``file.touch``) and how long to wait for them."""

import os
import time


def wait_for_file(path, timeout=30):
    """True once ``path`` exists, False if it did not appear within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.1)
    return False
