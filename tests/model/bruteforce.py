"""Exhaustive search over every plan of a tiny instance: the reference the models are tested against."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np

from model.check import is_valid
from model.plan import Plan
from model.spec import TerritorySpec


def brute_force(spec: TerritorySpec) -> float | None:
    """Optimal compactness over all partitions into k territories, each centred on its best member
    (or on its fixed centre); None if no valid plan exists."""
    found = brute_force_plan(spec)
    return None if found is None else found[1]


def brute_force_plan(spec: TerritorySpec) -> tuple[Plan, float] | None:
    """The optimal plan and its value, by enumeration."""
    n, k = spec.geography.n, spec.count
    cost = spec.cost()
    best = None
    for labels in itertools.product(range(k), repeat=n):
        if labels[0] != 0 or len(set(labels)) != k:
            continue  # label 0 always holds unit 0: each partition is seen once (up to relabelling)
        if spec.centres is not None:
            # fixed centres: label t must hold centre t... relabel by the centre each label holds.
            owner = {}
            ok = True
            for t, c in enumerate(spec.centres):
                if labels[c] in owner:
                    ok = False
                    break
                owner[labels[c]] = c
            if not ok:
                continue
            centre_of = [owner[lab] for lab in labels]
        else:
            centre_of = [0] * n
            for t in range(k):
                members = [i for i in range(n) if labels[i] == t]
                total = cost[np.ix_(members, members)].sum(axis=0)
                if spec.max_distance is not None:  # only members that reach every other member may centre it
                    reach = spec.geography.distance[np.ix_(members, members)].max(axis=0) <= spec.max_distance
                    total = np.where(reach, total, np.inf)
                c = members[int(np.argmin(total))]
                for i in members:
                    centre_of[i] = c
        plan = Plan(tuple(centre_of))
        plan = _grouped(spec, plan) if spec.levels else (plan if is_valid(spec, plan) else None)
        if plan is None:
            continue
        value = plan.objective(cost)
        if best is None or value < best[1]:
            best = (plan, value)
    return best


def _grouped(spec: TerritorySpec, plan: Plan) -> Plan | None:
    """The plan with its territories in some valid grouping of a single nesting level (every grouping
    costs the same), or None if none is valid."""
    [(_, groups)] = spec.levels
    if not is_valid(replace(spec, levels=()), plan):
        return None  # no grouping mends the territories themselves (and the nesting checks are the slow part)
    centres = sorted(set(plan.centre_of))
    for labels in itertools.product(range(groups), repeat=len(centres)):
        if labels[0] != 0 or any(labels.count(g) != len(centres) // groups for g in range(groups)):
            continue
        group_of = dict(zip(centres, labels))
        nested = replace(plan, groups=(tuple(group_of[c] for c in plan.centre_of),))
        if is_valid(spec, nested):
            return nested
    return None
