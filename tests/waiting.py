"""Waiting for another thread to reach a point, in tests that arrange who arrives when (never to time anything)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], seconds: float = 10) -> None:
    """Return once `condition()` holds; fail the test if it does not within `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the other threads did not get there in time"
        time.sleep(0.005)
