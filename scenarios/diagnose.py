"""Say which constraint family makes a territory model infeasible, by re-solving with families dropped."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from model.search import solve_territories
from model.spec import TerritorySpec
from solvers import SolverOptions, Termination


def diagnose_infeasible(spec: TerritorySpec, engine, options: SolverOptions) -> str:
    """A sentence naming the family to relax: disruption limits (with the smallest limit known to
    work), contiguity, locks, or balance."""
    quick = replace(options, time_limit=min(30.0, options.time_limit or 30.0), log_path=None)
    trials = []
    if spec.limits:
        without = replace(spec, limits=())
        outcome = solve_territories(without, engine, quick)
        if outcome.plan is not None:
            return "disruption limits: " + smallest_limits(spec, engine, quick)
    if spec.contiguity:
        trials.append(("contiguity", replace(spec, contiguity=False),
                       "balance bounds are too tight for contiguous territories; widen the tolerance or turn contiguity off"))
    if spec.locks:
        trials.append(("locked units", replace(spec, locks=()),
                       "the locked units cannot be honoured with these balance bounds; unlock some units or widen the tolerance"))
    for family, relaxed, message in trials:
        outcome = solve_territories(relaxed, engine, quick)
        if outcome.result.termination is not Termination.INFEASIBLE and outcome.plan is not None:
            return f"{family}: {message}"
    return "balance: the balance bounds cannot be met together; widen the tolerance or the min/max bounds"


def smallest_limits(spec: TerritorySpec, engine, options: SolverOptions) -> str:
    """For each limit: the least disruption a plan can have under the other rules (minimised with
    disruption priced far above compactness), as the smallest limit known to work."""
    parts = []
    scale = max(float(spec.compactness().max()), 1.0) * spec.geography.n
    for limit in spec.limits:
        others = tuple(x for x in spec.limits if x is not limit)
        peak = float(np.abs(limit.coef).max()) or 1.0
        least = replace(spec, limits=others, extra_cost=limit.coef * (1e3 * scale / peak))
        outcome = solve_territories(least, engine, options)
        if outcome.plan is None:
            continue
        used = limit.usage(outcome.plan.centre_of)
        if used > limit.rhs + 1e-9:
            needed = f"max_share {used / limit.base:.4f}" if limit.base else f"{used:,.6g}"
            parts.append(f"{limit.name} cannot stay under {limit.rhs:,.6g}; a plan exists with {used:,.6g}, "
                         f"so raise the limit to at least {needed}")
    if not parts:
        return "the limits together cannot be met with these balance bounds; raise a max_share or widen the tolerance"
    return "; ".join(parts)

