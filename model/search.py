"""How a territory plan is found and proven: a location-allocation heuristic for a strong first
plan, then the full model warm-started from it, so HiGHS prunes with a good incumbent from the start.

The engine is passed in, so this module stays solver-agnostic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from pyomo.environ import value as pyo_value

from model.check import is_valid
from model.local_search import polish
from model.neighbourhood import improve_pairs
from model.plan import Plan
from model.spec import TerritorySpec
from model.territory_model import (
    build_territory_model,
    contiguity_separator,
    plan_from_model,
    plan_repairer,
    start_from_plan,
)
from solvers.result import Progress, SolveResult, SolverOptions, Termination


SEPARATORS_UP_FRONT = False


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
    """k weighted medoids: a seeded k-means++ start followed by alternating improvement."""
    cost = spec.cost()
    n, k = spec.geography.n, spec.count
    rng = np.random.default_rng(seed)
    centres = [int(rng.integers(n))] if seed else [int(np.argmin(cost.sum(axis=0)))]
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
            new.append(int(members[np.argmin(cost[np.ix_(members, members)].sum(axis=0))]) if len(members) else centres[t])
        if new == centres or len(set(new)) < k:
            break
        centres = new
    return sorted(centres)


def lp_centres(spec: TerritorySpec, engine, options: SolverOptions) -> list[int] | None:
    """The k most open centres of the LP relaxation (often nearly integral for Hess models)."""
    m = build_territory_model(replace(spec, contiguity=False), separators_up_front=False)
    res = engine.solve(m, replace(options, log_path=None), relax=True)
    if not res.has_solution:
        return None
    opened = np.array([pyo_value(m.assign[j, j]) for j in m.centres])
    order = np.argsort(-opened, kind="stable")[: spec.count]
    return sorted(int(list(m.centres)[o]) for o in order)


def nearest_plan(spec: TerritorySpec, centres: list[int]) -> np.ndarray:
    """Every unit to its cheapest centre (centres to themselves)."""
    cost = spec.cost()
    owner = np.asarray(centres)[np.argmin(cost[:, centres], axis=1)]
    owner[centres] = centres
    return owner


def solve_exact(spec: TerritorySpec, engine, options: SolverOptions, warm: Plan | None = None,
                progress: Callable[[Progress], None] | None = None) -> tuple[Plan | None, SolveResult, float]:
    """Build the full model, warm-start it from `warm`, solve with lazy contiguity cuts.
    Returns the plan (None if none found), the result in the user's units, and the build time."""
    t = time.perf_counter()
    m = build_territory_model(spec, separators_up_front=SEPARATORS_UP_FRONT)
    built = time.perf_counter() - t
    result = engine.solve(
        m, options, warm_start=start_from_plan(m, warm) if warm is not None else None,
        separate=contiguity_separator(m, spec), progress=_scaled_progress(progress, m.cost_scale),
        repair=plan_repairer(m, spec) if spec.contiguity else None,
    )
    return (plan_from_model(m) if result.has_solution else None), unscale(result, m.cost_scale), built


def heuristic_plan(spec: TerritorySpec, engine, options: SolverOptions, budget: float) -> tuple[Plan | None, int]:
    """The best valid plan from several starts, each repaired and improved by local search."""
    start = time.perf_counter()
    cost = spec.cost()
    starts: list[list[int]] = []
    if spec.centres is not None:
        starts.append(list(spec.centres))
    else:
        if spec.geography.n <= 700:
            lp = lp_centres(spec, engine, replace(options, time_limit=budget))
            if lp is not None:
                starts.append(lp)
        starts.extend(initial_centres(spec, options.seed + s) for s in range(4))
    best: Plan | None = None
    fallback: Plan | None = None  # an invalid plan for the sub-problems to repair if no start is valid
    tried = 0
    for centres in starts:
        if (best or fallback) is not None and time.perf_counter() - start > 0.5 * budget:
            break
        tried += 1
        plan = polish(spec, nearest_plan(spec, centres), seed=options.seed + tried, kicks=150, patience=40)
        if not is_valid(spec, plan):
            fallback = fallback or plan
        elif best is None or plan.objective(cost) < best.objective(cost) - 1e-9:
            best = plan
    if (best or fallback) is not None and spec.count > 1:
        sub_options = replace(options, rel_gap=1e-6, log_path=None)

        def exact(sub: TerritorySpec, warm: Plan, seconds: float) -> Plan | None:
            return solve_exact(sub, engine, replace(sub_options, time_limit=seconds), warm)[0]

        left = budget - (time.perf_counter() - start)
        improved = improve_pairs(spec, best or fallback, exact, max(left, 0.25 * budget))
        best = improved if is_valid(spec, improved) else best
    return best, tried


def _scaled_progress(progress, scale: float):
    if progress is None:
        return None
    return lambda p: progress(replace(
        p, incumbent=None if p.incumbent is None else p.incumbent * scale,
        bound=None if p.bound is None else p.bound * scale,
    ))


def unscale(result: SolveResult, scale: float) -> SolveResult:
    """Objective and bound back in the user's units (the model's objective is divided by `scale`)."""
    return replace(
        result,
        objective=None if result.objective is None else result.objective * scale,
        bound=None if result.bound is None else result.bound * scale,
    )


def solve_territories(
    spec: TerritorySpec,
    engine,
    options: SolverOptions,
    progress: Callable[[Progress], None] | None = None,
) -> SearchOutcome:
    """Find the best plan within the options' limits and prove how good it is."""
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    limit = options.time_limit
    budget = 0.25 * limit if limit else 30.0
    start_plan, _ = heuristic_plan(spec, engine, options, budget)
    heuristic_value = start_plan.objective(spec.cost()) if start_plan is not None else None
    stages["heuristic"] = time.perf_counter() - t0

    left = None if limit is None else max(1.0, limit - (time.perf_counter() - t0))
    t2 = time.perf_counter()
    plan, result, built = solve_exact(spec, engine, replace(options, time_limit=left), start_plan, progress)
    stages["build"] = built
    stages["solve"] = time.perf_counter() - t2 - built
    plan = plan if plan is not None else start_plan
    if plan is not None and not result.has_solution:
        result = replace(result, has_solution=True, objective=heuristic_value,
                         termination=result.termination if result.termination != Termination.OPTIMAL else Termination.TIME_LIMIT)
    return SearchOutcome(plan, result, heuristic_value, stages)
