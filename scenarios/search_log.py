"""The search's history for the run folder (`search.log`): each stage, and the plan's cost and the bound as they
improve, with the seconds since the run started; how a run reached its plan and its gap."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from solvers.result import Progress, relative_gap

PROGRESS_EVERY = 1.0  # seconds between two progress lines within a stage (the windows report every window)


@dataclass
class SearchLog:
    """Lines of the history, kept in memory and written with the run (a run's folder appears whole or not at all)."""

    started: float  # time.perf_counter() at the run's start
    lines: list[str] = field(default_factory=list)
    _seen: tuple[float | None, float | None] = (None, None)  # the last (plan, bound) written
    _latest: tuple[float | None, float | None] = (None, None)  # the last heard
    _written_at: float = -float("inf")

    def stage(self, message: str) -> None:
        self._flush()
        self.lines.append(f"{self._now():8.1f} s  {message}")

    def progress(self, p: Progress) -> None:
        """Noted when the plan or the bound changed; written at most every PROGRESS_EVERY seconds (and before the
        next stage), so the file stays short on long runs."""
        self._latest = (p.incumbent, p.bound)
        if time.perf_counter() - self._written_at >= PROGRESS_EVERY:
            self._flush()

    def end(self, status: str, plan: float | None, bound: float | None) -> None:
        """The run's result as the manifest gives it (the last progress line may be up to PROGRESS_EVERY old)."""
        self.stage(f"ended: {status}")
        self._latest, self._seen = (plan, bound), (None, None)
        self._flush()

    def text(self) -> str:
        self._flush()
        return "\n".join(self.lines) + "\n"

    def _flush(self) -> None:
        if self._latest == self._seen or self._latest == (None, None):
            return
        plan, bound = self._seen = self._latest
        gap = relative_gap(plan, bound)
        values = f"plan {_number(plan)}  bound {_number(bound)}  gap " + ("-" if gap is None else f"{100 * gap:.3f}%")
        if self.lines and self.lines[-1].endswith(values):
            return  # (a change past the digits shown)
        self._written_at = time.perf_counter()
        self.lines.append(f"{self._now():8.1f} s    {values}")

    def _now(self) -> float:
        return time.perf_counter() - self.started


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6e}"
