"""Live progress of a search for the display: the best plan's objective and the best bound so far,
from whichever stage finds them (heuristics, Lagrangian bounds, HiGHS), at most a few times a second."""

from __future__ import annotations

import time
from collections.abc import Callable

from solvers.result import Progress

EVERY = 0.25  # seconds between two updates (a new incumbent is always shown)


class Live:
    """Collects incumbents and bounds; calls `progress` with the run's elapsed time."""

    def __init__(self, progress: Callable[[Progress], None] | None, start: float | None = None):
        self.progress = progress
        self.start = time.perf_counter() if start is None else start
        self.incumbent: float | None = None
        self.bound: float | None = None
        self.round = 0
        self.cuts = 0
        self._last = -EVERY

    def plan(self, objective: float) -> None:
        """A valid plan of this cost was found."""
        if self.incumbent is None or objective < self.incumbent:
            self.incumbent = float(objective)
            self._emit(force=True)

    def lower(self, bound: float) -> None:
        """A valid lower bound was proven."""
        if self.bound is None or bound > self.bound:
            self.bound = float(bound)
            self._emit()

    def solver(self, p: Progress) -> None:
        """A progress report from the engine (its incumbent and its bound are valid for the search)."""
        self.round, self.cuts = p.round, p.cuts
        if p.bound is not None and (self.bound is None or p.bound > self.bound):
            self.bound = float(p.bound)
        if p.incumbent is not None:
            self.plan(p.incumbent)
        self._emit()

    def _emit(self, force: bool = False) -> None:
        now = time.perf_counter() - self.start
        if self.progress is None or (not force and now - self._last < EVERY):
            return
        self._last = now
        bound = self.bound if self.incumbent is None or self.bound is None else min(self.bound, self.incumbent)
        self.progress(Progress(now, self.incumbent, bound, self.round, self.cuts))
