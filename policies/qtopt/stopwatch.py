"""Named phases of a computation timed into running totals, for profiling a learner update.

The learner, the Bellman updater and the target networks take an optional `Stopwatch`
and time their phases with it; without one they time nothing (`NO_STOPWATCH`).
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, contextmanager, nullcontext


class Stopwatch:
    def __init__(self):
        self.seconds: dict[str, float] = {}  # phase -> total seconds, in the order first timed

    @contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start


class _NoStopwatch:
    def __call__(self, phase: str) -> AbstractContextManager:
        return nullcontext()


NO_STOPWATCH = _NoStopwatch()
