"""Say which constraint family makes a territory model infeasible, by re-solving with families dropped."""

from __future__ import annotations

from dataclasses import replace

from model.search import solve_territories
from model.spec import TerritorySpec
from solvers import SolverOptions, Termination


def diagnose_infeasible(spec: TerritorySpec, engine, options: SolverOptions) -> str:
    """A sentence naming the family to relax: contiguity, locks, or balance."""
    quick = replace(options, time_limit=min(30.0, options.time_limit or 30.0), log_path=None)
    trials = []
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
