"""How a gate run ends early: SIGTERM (a cancelled CI job) and the run's deadline end it like Ctrl-C,
so that the verdict, the rollback of a post-deploy failure and summary.json still happen (DESIGN
section 4), and the summary says what ended it.

The deadline is a timer thread that sends this process SIGTERM, not SIGALRM: pytest-timeout's signal
method re-arms the one ITIMER_REAL for every test, which silently cancelled an alarm-based deadline.
Once the tests are over (``finish``) neither may cut the rollback short.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunInterrupts:
    """The controller's SIGTERM handler and deadline timer, and what (if anything) ended the run."""

    deadline_s: float
    #: where the deadline came from, for the message ("option --gate-deadline", "profile ...")
    deadline_source: str
    interrupted: bool = False
    #: what ended the run early, in words ("SIGTERM", "the gate deadline of 2700 s passed ...", "Ctrl-C")
    reason: str | None = None
    _finishing: bool = False
    _timer: threading.Timer | None = field(default=None, repr=False)
    _previous_handler: Any = field(default=None, repr=False)

    def install(self) -> None:
        self._previous_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
        self._timer = threading.Timer(self.deadline_s, self._deadline_passed)
        self._timer.daemon = True
        self._timer.start()

    def stopped(self, reason: str) -> None:
        """The run was ended another way (Ctrl-C, ``pytest.exit``); the first reason given stands."""
        self.reason = self.reason or reason

    def finish(self) -> None:
        """The tests are over: from now on the verdict, rollback and summary run to their end."""
        self._finishing = True
        if self._timer is not None:
            self._timer.cancel()

    def uninstall(self) -> None:
        self.finish()
        if self._previous_handler is not None:
            signal.signal(signal.SIGTERM, self._previous_handler)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self.interrupted = True
        self.stopped(signal.Signals(signum).name)
        if not self._finishing:
            raise KeyboardInterrupt(f"gate run interrupted: {self.reason}")

    def _deadline_passed(self) -> None:
        self.stopped(f"the gate deadline of {self.deadline_s:g} s passed (gate_deadline, {self.deadline_source})")
        os.kill(os.getpid(), signal.SIGTERM)
