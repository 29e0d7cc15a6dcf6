"""Say which constraint family makes a territory model infeasible, by re-solving with families dropped."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from model.search import solve_territories
from model.star_assignment import star_plan, usable
from model.spec import TerritorySpec
from solvers import SolverOptions, Termination


NO_TIME = ("the time limit left no time to tell which rule; run again with a longer --time-limit (the first "
           "solves without a rule take up to 30 s each)")
NO_TIME_FOR_LIMITS = ("a plan exists without them, but the time limit left no time to find the smallest limit that "
                      "works; run again with a longer --time-limit, or raise a max_share")
MIN_TRIAL_SECONDS = 0.5  # a re-solve with less than this is not tried


def diagnose_infeasible(spec: TerritorySpec, engine, options: SolverOptions, seconds: float | None = None) -> str:
    """A sentence naming the family to relax: disruption limits (with the smallest limit known to
    work), max_distance, contiguity, locks, or balance. Every re-solve fits in `seconds` (the run's time left; None:
    up to 30 s each)."""
    deadline = None if seconds is None else time.perf_counter() + seconds

    def quick(share: float = 1.0) -> SolverOptions | None:
        """Options for the next re-solve: at most 30 s and `share` of the time left; None when none is left."""
        left = 30.0 if deadline is None else min(30.0, share * (deadline - time.perf_counter()))
        return replace(options, time_limit=left, log_path=None) if left >= MIN_TRIAL_SECONDS else None

    trials = []
    if spec.limits:
        if quick() is None:
            return NO_TIME
        # a third of the time to find any plan without the limits, the rest to price the least disruption
        outcome = solve_territories(replace(spec, limits=()), engine, quick(1 / 3))
        if outcome.plan is not None:
            return "disruption limits: " + smallest_limits(spec, engine, quick)
        if outcome.result.termination is not Termination.INFEASIBLE:
            return NO_TIME
    if spec.max_distance is not None:
        trials.append(("territories.max_distance", replace(spec, max_distance=None),
                       "no plan keeps every unit that close to its centre under the other rules; raise max_distance"))
    if spec.contiguity:
        trials.append(("contiguity", replace(spec, contiguity=False),
                       "balance bounds are too tight for contiguous territories; widen the tolerance or turn contiguity off"))
    if spec.locks:
        trials.append(("locked units", replace(spec, locks=()),
                       "the locked units cannot be honoured with these balance bounds; unlock some units or widen the tolerance"))
    for family, relaxed, message in trials:
        if quick() is None:
            return NO_TIME
        outcome = solve_territories(relaxed, engine, quick())
        if outcome.result.termination is not Termination.INFEASIBLE and outcome.plan is not None:
            return f"{family}: {message}"
        if outcome.result.termination is not Termination.INFEASIBLE:  # neither a plan nor a proof in its time
            return (f"re-solved without {family} for {outcome.result.seconds:.0f} s, the search found neither a plan nor "
                    f"a proof, so which rule is at fault is not known; try a copy of the scenario without {family} "
                    "(and then without each other rule) with a longer --time-limit")
    if not spec.balance:
        return "the rules cannot be met together; check territories.count, the centres and the adjacency"
    return "balance: the balance bounds cannot be met together; widen the tolerance or the min/max bounds"


def smallest_limits(spec: TerritorySpec, engine, quick) -> str:
    """For each limit: the least disruption a plan can have under the other rules (minimised with
    disruption priced far above compactness), as the smallest limit known to work. `quick()` gives each
    re-solve's options (None: no time left)."""
    parts = []
    scale = max(float(spec.compactness().max()), 1.0) * spec.geography.n
    for done, limit in enumerate(spec.limits):
        options = quick(1 / (len(spec.limits) - done))
        if options is None:
            return NO_TIME_FOR_LIMITS
        others = tuple(x for x in spec.limits if x is not limit)
        peak = float(np.abs(limit.coef).max()) or 1.0
        least = replace(spec, limits=others, extra_cost=limit.coef * (1e3 * scale / peak))
        plan = None
        if least.centres is not None and usable(least):
            # CP-SAT keeps its time limit; HiGHS, without a plan on this heavily priced model, ran its
            # feasibility jump for 3.9 s of a 1.5 s limit (Georgia): any plan's disruption is a limit that works
            plan = star_plan(least, engine, list(least.centres), options.time_limit, options.seed)
        if plan is None:
            outcome = solve_territories(least, engine, options)
            if outcome.plan is None:
                if outcome.result.termination is not Termination.INFEASIBLE:
                    return NO_TIME_FOR_LIMITS
                continue
            plan = outcome.plan
        used = limit.usage(plan.centre_of)
        if used > limit.rhs + 1e-9:
            needed = f"max_share {used / limit.base:.4f}" if limit.base else f"{used:,.0f}"
            parts.append(f"{limit.name} cannot stay under {limit.rhs:,.0f}; a plan exists with {used:,.0f}, "
                         f"so {needed} works (the smallest limit that works may be lower)")
    if not parts:
        return "the limits together cannot be met with these balance bounds; raise a max_share or widen the tolerance"
    return "; ".join(parts)
