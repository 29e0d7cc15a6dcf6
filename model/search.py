"""How a territory plan is found and proven: a location-allocation heuristic for a strong first
plan, then the full model warm-started from it, so HiGHS prunes with a good incumbent from the start.

The engine is passed in, so this module stays solver-agnostic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from model.plan import Plan
from model.spec import TerritorySpec
from model.territory_model import build_territory_model, contiguity_separator, plan_from_model, start_from_plan
from solvers.result import Progress, SolveResult, SolverOptions, Termination


@dataclass(frozen=True)
class SearchOutcome:
    """The best plan found (or None), the final solve's record and what each stage took."""

    plan: Plan | None
    result: SolveResult
    heuristic_objective: float | None
    stage_seconds: dict[str, float]
    bound_method: str = (
        "dual bound of HiGHS branch-and-bound on the Hess model with separator cuts "
        "(each round of lazy cuts is a relaxation, so its bound is valid)"
    )


def initial_centres(spec: TerritorySpec, seed: int) -> list[int]:
    """k weighted medoids: a deterministic k-means++ seeding followed by alternating improvement."""
    cost = spec.cost()
    n, k = spec.geography.n, spec.count
    rng = np.random.default_rng(seed)
    centres = [int(np.argmin(cost.sum(axis=0)))]
    while len(centres) < k:
        nearest = cost[:, centres].min(axis=1)
        nearest[centres] = 0.0
        total = nearest.sum()
        pick = int(rng.choice(n, p=nearest / total)) if total > 0 else int(np.setdiff1d(np.arange(n), centres)[0])
        centres.append(pick)
    for _ in range(50):
        owner = np.argmin(cost[:, centres], axis=1)
        new = []
        for t in range(k):
            members = np.flatnonzero(owner == t)
            if len(members) == 0:
                new.append(centres[t])
                continue
            new.append(int(members[np.argmin(cost[np.ix_(members, members)].sum(axis=0))]))
        if new == centres:
            break
        centres = new
    return sorted(set(centres)) if len(set(centres)) == k else sorted(centres)


def best_centres(plan: Plan, cost: np.ndarray) -> list[int]:
    """For each territory, the member that minimises the territory's compactness as its centre."""
    out = []
    for members in plan.members().values():
        out.append(int(members[np.argmin(cost[np.ix_(members, members)].sum(axis=0))]))
    return sorted(out)


def location_allocation(
    spec: TerritorySpec, engine, options: SolverOptions, budget: float
) -> tuple[Plan | None, float | None]:
    """Alternate: allocate units to fixed centres by the exact model, then move each centre to its
    territory's best member; stop when the centres repeat or the budget is spent."""
    if spec.centres is not None:
        return None, None
    start = time.perf_counter()
    cost = spec.cost()
    centres = initial_centres(spec, options.seed)
    seen: set[tuple[int, ...]] = set()
    best: tuple[Plan | None, float | None] = (None, None)
    while tuple(centres) not in seen:
        left = budget - (time.perf_counter() - start)
        if left <= 0.5:
            break
        seen.add(tuple(centres))
        fixed = replace(spec, centres=tuple(centres), locks=_locks_for_centres(spec, centres))
        if fixed is None:
            break
        m = build_territory_model(fixed)
        res = engine.solve(m, replace(options, time_limit=left, rel_gap=max(options.rel_gap, 1e-3)),
                           separate=contiguity_separator(m, fixed))
        if not res.has_solution:
            break
        plan = plan_from_model(m)
        value = plan.objective(cost)
        if best[1] is None or value < best[1] - 1e-9:
            best = (plan, value)
        centres = best_centres(plan, cost)
    return best


def _locks_for_centres(spec: TerritorySpec, centres: list[int]) -> tuple[tuple[int, int], ...]:
    """Free-centre lock labels cannot be mapped to fixed centres up front; the heuristic drops them
    and relies on the full model (which honours them) when locks exist."""
    return ()


def solve_territories(
    spec: TerritorySpec,
    engine,
    options: SolverOptions,
    progress: Callable[[Progress], None] | None = None,
) -> SearchOutcome:
    """Find the best plan within the options' limits and prove how good it is."""
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    heuristic_plan, heuristic_value = None, None
    limit = options.time_limit
    if spec.centres is None and not spec.locks:
        budget = 0.25 * limit if limit else 30.0
        heuristic_plan, heuristic_value = location_allocation(spec, engine, options, budget)
    stages["heuristic"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    m = build_territory_model(spec)
    stages["build"] = time.perf_counter() - t1
    left = None if limit is None else max(1.0, limit - (time.perf_counter() - t0))
    warm = start_from_plan(m, heuristic_plan) if heuristic_plan is not None else None
    t2 = time.perf_counter()
    result = engine.solve(
        m, replace(options, time_limit=left), warm_start=warm, separate=contiguity_separator(m, spec), progress=progress
    )
    stages["solve"] = time.perf_counter() - t2
    plan = plan_from_model(m) if result.has_solution else heuristic_plan
    if plan is not None and not result.has_solution:
        result = replace(result, has_solution=True, objective=heuristic_value,
                         termination=result.termination if result.termination != Termination.OPTIMAL else Termination.TIME_LIMIT)
    return SearchOutcome(plan, result, heuristic_value, stages)
