"""Hess location-allocation model for balanced, contiguous, compact territories.

    assign[i, j] = 1  when unit i belongs to the territory centred on unit j (assign[j, j] opens j)

    min  sum_ij cost[i, j] * assign[i, j]            cost = weight_i * distance_ij ** power
    s.t. each_unit_assigned_once    sum_j assign[i, j] = 1                       for every unit i
         territory_count            sum_j assign[j, j] = k                       (free centres)
         assigned_to_open_centre    assign[i, j] <= assign[j, j]                 (free centres)
         balance                    L_aj assign[j, j] <= sum_i v_ai assign[i, j] <= U_aj assign[j, j]
         neighbours_separate        assign[i, j] <= sum_{c in N(i)} assign[c, j] for j not in N(i)+i
         limits                     sum_ij coef_ij assign[i, j] <= rhs   (disruption limits)
         locked_units               fixed centre: assign[u, t] = 1;  free: same label together,
                                    different labels apart
         territory_connected        lazy separator cuts, see model.contiguity
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pyomo.environ as pyo

from model.check import is_valid
from model.contiguity import POCKET_STRIKE, pocket_separators, separator, stray_parts
from model.local_search import polish
from model.plan import Plan
from model.spec import TerritorySpec
from solvers.result import LinearCut


class NoPairLeft(ValueError):
    """Some units have no (unit, centre) pair left in the model (fixing, distance limits, a sub-problem's
    centres): no plan exists on these pairs."""

    def __init__(self, units: Sequence[int]):
        super().__init__(f"{len(units)} unit(s) with no centre left, e.g. unit index {units[0]}")
        self.units = list(units)


def build_territory_model(
    spec: TerritorySpec,
    candidates: Sequence[int] | None = None,
    separators_up_front: bool = False,
    allowed: np.ndarray | None = None,
) -> pyo.ConcreteModel:
    """The Pyomo model; `candidates` restricts the possible centres (default: fixed centres or all
    units); `allowed[i, j]` False drops the pair (i, j), e.g. after safe reduced-cost fixing."""
    geo = spec.geography
    fixed = spec.centres is not None
    cands = tuple(sorted(spec.centres if fixed else (candidates if candidates is not None else range(geo.n))))
    if allowed is not None and not fixed:
        cands = tuple(j for j in cands if allowed[j, j])
    m = pyo.ConcreteModel(name="territories")
    m.fixed_centres = fixed
    m.units = pyo.Set(initialize=range(geo.n), ordered=True)
    m.centres = pyo.Set(initialize=cands, ordered=True)
    centre_set = set(cands)
    # With fixed centres no centre may join another centre's territory.
    pairs = [
        (i, j)
        for i in range(geo.n)
        for j in cands
        if not (fixed and i in centre_set and i != j) and (allowed is None or allowed[i, j])
    ]
    m.pairs = pyo.Set(initialize=pairs, dimen=2, ordered=True)
    m.pair_set = set(pairs)
    m.assign = pyo.Var(m.pairs, within=pyo.Binary)
    m.by_unit = {i: [] for i in range(geo.n)}
    m.by_centre = {j: [] for j in cands}
    for i, j in pairs:
        m.by_unit[i].append(j)
        m.by_centre[j].append(i)
    stranded = [i for i, js in m.by_unit.items() if not js]
    if stranded:
        raise NoPairLeft(stranded)

    define_objective(m, spec)
    add_each_unit_assigned_once(m)
    add_centres(m, spec)
    add_balance(m, spec)
    add_limits(m, spec)
    if separators_up_front:
        add_neighbours_separate(m, spec)
    add_locked_units(m, spec)
    return m


def define_objective(m: pyo.ConcreteModel, spec: TerritorySpec) -> None:
    """Compactness, divided by `m.cost_scale` so the largest coefficient is 1e4: HiGHS's simplex
    is slow and imprecise with coefficients of 1e10 (population x km^2)."""
    cost = spec.cost()
    largest = float(cost.max()) if cost.size else 1.0
    m.cost_scale = largest / 1e4 if largest > 0 else 1.0
    m.compactness = pyo.Objective(
        expr=sum(float(cost[i, j] / m.cost_scale) * m.assign[i, j] for i, j in m.pairs), sense=pyo.minimize
    )


def add_each_unit_assigned_once(m: pyo.ConcreteModel) -> None:
    m.each_unit_assigned_once = pyo.Constraint(
        m.units, rule=lambda m, i: sum(m.assign[i, j] for j in m.by_unit[i]) == 1
    )


def add_centres(m: pyo.ConcreteModel, spec: TerritorySpec) -> None:
    if m.fixed_centres:
        for j in m.centres:
            m.assign[j, j].setlb(1)
        return
    m.territory_count = pyo.Constraint(expr=sum(m.assign[j, j] for j in m.centres) == spec.count)
    m.assigned_to_open_centre = pyo.Constraint(
        [(i, j) for i, j in m.pairs if i != j], rule=lambda m, i, j: m.assign[i, j] <= m.assign[j, j]
    )


def add_balance(m: pyo.ConcreteModel, spec: TerritorySpec) -> None:
    if not spec.balance:
        return
    lower, upper = spec.bounds()
    values = [spec.geography.attributes[r.attribute] for r in spec.balance]
    m.balance_rules = pyo.Set(initialize=range(len(spec.balance)), ordered=True)

    def total(m, r, j):
        return sum(float(values[r][i]) * m.assign[i, j] for i in m.by_centre[j])

    m.balance_lower = pyo.Constraint(
        m.balance_rules, m.centres, rule=lambda m, r, j: total(m, r, j) >= float(lower[r, j]) * m.assign[j, j]
    )
    m.balance_upper = pyo.Constraint(
        m.balance_rules, m.centres, rule=lambda m, r, j: total(m, r, j) <= float(upper[r, j]) * m.assign[j, j]
    )


def add_limits(m: pyo.ConcreteModel, spec: TerritorySpec) -> None:
    """Side limits (e.g. disruption): sum_ij coef[i, j] assign[i, j] <= rhs."""
    if not spec.limits:
        return
    m.limits = pyo.ConstraintList()
    for limit in spec.limits:
        terms = [float(limit.coef[i, j]) * m.assign[i, j] for i, j in m.pairs if limit.coef[i, j] != 0]
        if terms:
            m.limits.add(sum(terms) <= float(limit.rhs))
        elif limit.rhs < 0:
            m.limits.add(sum(m.assign[i, j] for i, j in m.pairs) <= -1)  # cannot hold: infeasible


def add_neighbours_separate(m: pyo.ConcreteModel, spec: TerritorySpec) -> None:
    if not spec.contiguity:
        return
    nbrs = spec.geography.neighbours()
    index = []
    for i, j in m.pairs:
        if i != j and j not in nbrs[i]:
            index.append((i, j))
    m.neighbours_separate = pyo.Constraint(
        index,
        rule=lambda m, i, j: m.assign[i, j] <= sum(m.assign[c, j] for c in nbrs[i] if (c, j) in m.pair_set),
    )


def add_locked_units(m: pyo.ConcreteModel, spec: TerritorySpec) -> None:
    if not spec.locks:
        return
    if m.fixed_centres:
        for u, t in spec.locks:
            centre = spec.centres[t]
            for j in m.by_unit[u]:
                if j == centre:
                    m.assign[u, j].setlb(1)
                else:
                    m.assign[u, j].setub(0)
        return
    groups: dict[int, list[int]] = {}
    for u, label in spec.locks:
        groups.setdefault(label, []).append(u)
    anchors = {label: units[0] for label, units in sorted(groups.items())}

    def pair(i, j):
        """The variable, or 0 where fixing removed the pair."""
        return m.assign[i, j] if (i, j) in m.pair_set else 0

    m.locked_together = pyo.ConstraintList()
    for label, units in sorted(groups.items()):
        for u in units[1:]:
            for j in m.centres:
                if (u, j) in m.pair_set or (anchors[label], j) in m.pair_set:
                    m.locked_together.add(pair(u, j) == pair(anchors[label], j))
    m.locked_apart = pyo.ConstraintList()
    labels = sorted(anchors)
    for x, a in enumerate(labels):
        for b in labels[x + 1 :]:
            for j in m.centres:
                if (anchors[a], j) in m.pair_set and (anchors[b], j) in m.pair_set:
                    m.locked_apart.add(m.assign[anchors[a], j] + m.assign[anchors[b], j] <= 1)


def plan_from_values(m: pyo.ConcreteModel, get: Callable) -> Plan:
    """Read a plan from variable values (largest assign[i, j] per unit)."""
    centre_of = []
    for i in m.units:
        js = m.by_unit[i]
        centre_of.append(max(js, key=lambda j: get(m.assign[i, j])))
    return Plan(tuple(int(c) for c in centre_of))


def plan_from_model(m: pyo.ConcreteModel) -> Plan:
    return plan_from_values(m, lambda v: pyo.value(v, exception=False) or 0.0)


def start_from_plan(m: pyo.ConcreteModel, plan: Plan) -> list[tuple]:
    """(variable, value) pairs of a plan, as a warm start."""
    return [(m.assign[i, j], float(plan.centre_of[i] == j)) for i, j in m.pairs]


# Pocket cuts stop for the rest of a call after this many seconds: HiGHS waits for the routine, and a first
# plan of a 10 x 10 grid found without a start left pieces of every territory behind, whose pockets took
# 150 s (a 3 s solve ran 94 s); the plain separator of every piece is always added.
POCKET_SECONDS = 1.0


def contiguity_separator(m: pyo.ConcreteModel, spec: TerritorySpec) -> Callable | None:
    """The lazy-row routine for an engine: separator cuts for every disconnected territory, and the
    pocket cuts around a piece once its centre has left POCKET_STRIKE different pieces behind."""
    if not spec.contiguity:
        return None
    nbrs = spec.geography.neighbours()
    pieces: dict[int, set[tuple[int, ...]]] = {}  # centre -> the stray pieces seen so far

    def usable(j: int) -> np.ndarray:
        mask = np.zeros(spec.geography.n, dtype=bool)
        mask[m.by_centre[j]] = True
        return mask

    def separate(get: Callable) -> list[LinearCut]:
        plan = plan_from_values(m, get)
        found = []
        started = time.perf_counter()
        for j, part in stray_parts(np.asarray(plan.centre_of), nbrs):
            sep = separator(part, j, nbrs)
            found.extend((int(i), j, sep) for i in part)
            seen, piece = pieces.setdefault(j, set()), tuple(int(u) for u in part)
            if piece in seen or time.perf_counter() - started > POCKET_SECONDS:
                continue  # a piece seen before has had its cuts; one left for now gets them when seen again
            seen.add(piece)
            if len(seen) >= POCKET_STRIKE:  # the same centre keeps leaving pieces behind: cut the pocket
                found.extend((i, j, s) for i, s in pocket_separators(part, j, nbrs, usable(j)))
        cuts = []
        for i, j, sep in found:  # (every unit of a piece or pocket may join j: it is in j's plan or usable)
            terms = [(m.assign[i, j], 1.0)] + [(m.assign[c, j], -1.0) for c in sep if (c, j) in m.pair_set]
            cuts.append(LinearCut(tuple(terms), -np.inf, 0.0))
        return cuts

    return separate


def plan_repairer(m: pyo.ConcreteModel, spec: TerritorySpec, deadline: float | None = None) -> Callable:
    """Routine for an engine: turn a disconnected incumbent into a valid plan by local search, stopping at
    `deadline` (perf_counter seconds): it runs inside the solver's callback, which holds the solver's own
    time limit back (on the 3,107 counties two repairs took 16 s past a 120 s run's limit)."""

    def repair(get: Callable) -> list[tuple] | None:
        # Single moves only: this runs inside the solver's callback for every disconnected incumbent, and
        # on the county benchmark the slower search with swaps handed HiGHS worse incumbents (NC k=8 ±0.5%).
        plan = polish(spec, np.asarray(plan_from_values(m, get).centre_of), kicks=40, patience=15, swaps=False,
                      deadline=deadline)
        if not is_valid(spec, plan) or any((i, c) not in m.pair_set for i, c in enumerate(plan.centre_of)):
            return None
        return start_from_plan(m, plan)

    return repair
