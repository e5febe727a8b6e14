"""Poll an eventually consistent read (log delivery, target registration) until it shows what is
awaited or a deadline passes, with a progress line at least every 10 s. The caller asserts on the
last value read, so a retry never hides a wrong final state: it only gives the truth time to arrive.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

log = logging.getLogger("filot_gate.polling")

T = TypeVar("T")
PROGRESS_EVERY_S = 10.0


def poll_until(
    read: Callable[[], T],
    done: Callable[[T], bool],
    *,
    deadline_s: float,
    awaited: str,
    describe: Callable[[T], str] = str,
    interval_s: float = 1.0,
    progress: Callable[[str], None] = log.info,
) -> T:
    """``read()`` until ``done(value)`` or ``deadline_s``; returns the last value either way."""
    started = last_progress = time.monotonic()

    def attempt() -> T:
        nonlocal last_progress
        value = read()
        if not done(value) and time.monotonic() - last_progress >= PROGRESS_EVERY_S:
            last_progress = time.monotonic()
            progress(f"waiting {time.monotonic() - started:.0f}/{deadline_s:.0f}s for {awaited}; now {describe(value)}")
        return value

    retrying = Retrying(
        stop=stop_after_delay(deadline_s),
        wait=wait_fixed(interval_s),
        retry=retry_if_result(lambda value: not done(value)),
        retry_error_callback=lambda state: state.outcome.result(),
    )
    return retrying(attempt)
