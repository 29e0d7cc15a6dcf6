"""Solver-neutral options and results: why a solve stopped is kept apart from what it found."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class SolverError(Exception):
    """The solver could not be run (unknown engine, bad option)."""


class Termination(str, enum.Enum):
    """Why the solve stopped."""

    OPTIMAL = "optimal"  # proven within the requested relative gap
    TIME_LIMIT = "time_limit"
    INTERRUPTED = "interrupted"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    ERROR = "error"


@dataclass(frozen=True)
class SolverOptions:
    """Standard options plus a pass-through dict of engine-specific ones."""

    time_limit: float | None = None
    rel_gap: float = 1e-4
    threads: int = 1
    seed: int = 0
    log_path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # False: the caller hands over its own plan and wants the time spent on the bound, so the engine
    # skips its costly improvement heuristics (HiGHS: the RINS, RENS and root reduced-cost sub-MIPs).
    improvement_heuristics: bool = True
    # True: the root LP of a MIP by interior point (HiGHS: IPM, then crossover) instead of dual simplex.
    interior_root: bool = False


@dataclass(frozen=True)
class Progress:
    """A snapshot while solving: best feasible objective so far and the proven bound."""

    elapsed: float
    incumbent: float | None
    bound: float | None
    round: int
    cuts: int


@dataclass(frozen=True)
class SolveResult:
    """What a solve found: status, the best solution's objective, a valid bound and the gap."""

    termination: Termination
    has_solution: bool
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    engine: str
    version: str
    options: SolverOptions
    rounds: int = 1
    lazy_cuts: int = 0
    values: dict[str, float] = field(default_factory=dict, repr=False)
    reduced_costs: dict[str, float] = field(default_factory=dict, repr=False)  # LP solves only
    solver_status: str = ""  # the engine's own words for why its last run stopped (e.g. HiGHS "Time limit reached")

    def summary(self) -> dict[str, Any]:
        """A JSON-ready record for manifests."""
        return {
            "termination": self.termination.value,
            "has_solution": self.has_solution,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "seconds": round(self.seconds, 3),
            "engine": self.engine,
            "version": self.version,
            "rounds": self.rounds,
            "lazy_cuts": self.lazy_cuts,
            "solver_status": self.solver_status,
        }


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """(objective - bound) / |objective|, 0 when both are 0, None when either is missing."""
    if objective is None or bound is None:
        return None
    if abs(objective) < 1e-12:
        return 0.0 if abs(bound) < 1e-12 else None
    return max(0.0, (objective - bound) / abs(objective))


@dataclass(frozen=True)
class LinearCut:
    """A linear row `lower <= sum(coef * var) <= upper` found by a separation routine.

    `terms` pairs a Pyomo variable with its coefficient; it is how models hand lazy
    constraints to any engine without knowing which engine runs.
    """

    terms: tuple[tuple[Any, float], ...]
    lower: float
    upper: float


@dataclass(frozen=True)
class BooleanProgram:
    """A 0-1 program for a constraint solver: minimise `objective` . x over x in {0, 1}^n subject to
    exactly one true variable per `exactly_one` group, `lower <= coef . x[vars] <= upper` for each of
    `sums`, and each of `clauses` (some of `positive` true, or some of `negative` false). Every
    coefficient and bound is an integer: the caller scales (see model.star_assignment)."""

    size: int
    objective: Any  # int64 array, one coefficient per variable
    exactly_one: tuple[Any, ...] = ()  # int arrays of variable indices
    sums: tuple[tuple[Any, Any, int, int], ...] = ()  # (variable indices, int64 coefficients, lower, upper)
    clauses: tuple[tuple[Any, Any], ...] = ()  # (positive variable indices, negated variable indices)
    fixed_true: Any = ()  # variable indices that must be 1
    hint: Any = None  # optional 0/1 array: a solution to start the search from


@dataclass(frozen=True)
class BooleanResult:
    """What a 0-1 solve found: `values` (None without a solution), whether it is proven optimal, and the
    solver's objective bound (in the program's integer units)."""

    values: Any
    optimal: bool
    objective: float | None
    bound: float | None
    status: str
