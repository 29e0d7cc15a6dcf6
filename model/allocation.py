"""Location-allocation for large plans: reassign units to the plan's centres by the balanced
transportation LP (model.transport), repair contiguity and balance by local search, re-centre, repeat
while it gains. Spanning-tree plans are balanced but not compact; this is what makes them compact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from model.check import is_valid, unbalanced
from model.local_search import polish
from model.plan import Plan
from model.spec import TerritorySpec
from model.transport import balanced_assignment

ALLOCATION_ROUNDS = 8
ALLOCATION_MARGIN = 0.2  # share of the balance band's half-width the allocation LP keeps free (for rounding)
ALLOCATION_TRIES = 4  # LP re-solves, each keeping more old territories around those that fell out of the band


def allocate(spec: TerritorySpec, engine, plan: Plan, zone: np.ndarray | None, deadline: float,
             rounds: int = ALLOCATION_ROUNDS, on_plan: Callable[[Plan], None] | None = None) -> Plan:
    """Location-allocation from a valid plan, `rounds` times at most, units kept inside their `zone`;
    each round is kept only if it is valid and better (and `on_plan` hears of it)."""
    cost = spec.cost()
    for _ in range(rounds):
        before = np.asarray(plan.centre_of)
        nbrs = spec.geography.neighbours()
        frozen: set[int] = set()
        best = None
        for _ in range(ALLOCATION_TRIES):  # keep the old territories where rounding + repair fell out of the band
            if time.perf_counter() > deadline:
                break
            owner = balanced_assignment(spec, engine, before, zone, ALLOCATION_MARGIN, frozen)
            if owner is None:
                break
            candidate = replace(polish(spec, owner, deadline=deadline, zone=zone), groups=plan.groups)
            if is_valid(spec, candidate):
                best = candidate
                break
            after = np.asarray(candidate.centre_of)
            for bad in unbalanced(spec, after):  # freeze the old territories under it, and their neighbours
                frozen |= {int(c) for c in np.unique(before[after == bad])}
            frozen |= {int(before[v]) for u in np.flatnonzero(np.isin(before, list(frozen))) for v in nbrs[u]}
        if best is None or best.objective(cost) >= plan.objective(cost) * (1 - 1e-4):
            break
        plan = best
        if on_plan is not None:
            on_plan(plan)
    return plan
