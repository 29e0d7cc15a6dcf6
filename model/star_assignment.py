"""Units to given centres by a 0-1 program for a constraint solver, with territories connected by rule.

Every unit of a territory other than its centre must have a neighbour in the same territory that lies
closer to the centre (fewer adjacency steps, then shorter distance). Following closer neighbours
always ends at the centre, so every territory is connected, and the rule is a set of clauses a CP
solver propagates well: CP-SAT finds the best such assignment for given centres in seconds, where
branch-and-bound with contiguity cuts finds none under a ±0.5% band. The rule forbids some connected
territories (a restriction, not a relaxation): it gives plans, never bounds.

After each solve the centres move to their territories' medoids and the program is solved again while
that gains (location-allocation with an exact, connected allocation). Under a narrow band the first
centres come from a plan under a wider band (±5% around the same targets), where local search works well.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Callable

import numpy as np

from model.check import is_valid
from model.contiguity import lightest_paths
from model.fixing import path_fixing
from model.plan import Plan
from model.spec import BalanceRule, TerritorySpec
from model.tree_partition import medoids
from solvers import interrupt
from solvers.result import BooleanProgram

LOOSE_BAND = 0.05  # the wider band whose plan gives the centres: ±5% of each band's middle
INTEGER_SCALE = 1e9  # non-integer attributes and costs are scaled so their largest value is this, then rounded
ROUNDING_ROOM = 1e-9  # relative room for float noise at a balance bound (model.check allows 1e-6)
RECENTRE_ROUNDS = 6  # at most: on the county benchmark the plan stopped improving after 1 to 5


def usable(spec: TerritorySpec) -> bool:
    """Specs the program covers: no nesting, locks only with fixed centres."""
    return bool(spec.balance) and not spec.levels and not (spec.locks and spec.centres is None)


def widened(spec: TerritorySpec, band: float = LOOSE_BAND) -> TerritorySpec:
    """The same problem with each balance band at least ±`band` of its middle."""
    rules = []
    for r in spec.balance:
        middle = (r.lower + r.upper) / 2
        half = max((r.upper - r.lower) / 2, band * abs(middle))
        rules.append(BalanceRule(r.attribute, middle - half, middle + half, r.tolerance))
    return replace(spec, balance=tuple(rules))


def recentred(spec: TerritorySpec, plan: Plan) -> Plan:
    """The same territories, each centred on the unit that serves it at least cost (free centres)."""
    if spec.centres is not None:
        return plan
    return Plan(tuple(int(c) for c in medoids(spec, np.asarray(plan.centre_of))))


def centres_of(spec: TerritorySpec, plan: Plan) -> list[int]:
    """The plan's centres in the spec's order (fixed centres) or sorted (free)."""
    return list(spec.centres) if spec.centres is not None else list(plan.centres)


def closeness(spec: TerritorySpec, centres: list[int]) -> np.ndarray:
    """order[i, t]: adjacency steps from centres[t] to unit i, ties broken by distance (a strict order
    of the units around each centre, the centre first)."""
    geo = spec.geography
    steps = lightest_paths(geo.edges, geo.n, np.ones(geo.n), np.asarray(centres))  # one per unit on the path
    dist = np.asarray(geo.distance, dtype=float)[:, centres]
    return steps + dist / (2 * max(float(dist.max()), 1e-12))  # the distance term stays below one step


def star_program(spec: TerritorySpec, centres: list[int],
                 hint: Plan | None = None) -> tuple[BooleanProgram, np.ndarray] | None:
    """The 0-1 program (x[p] = 1: unit pairs[p, 0] joins the territory of centre pairs[p, 1]) and its
    pairs; None when some unit can join no territory. Without contiguity there is no closeness rule."""
    geo = spec.geography
    n, k = geo.n, len(centres)
    cols = np.asarray(centres)
    fixed_spec = replace(spec, centres=tuple(centres), locks=spec.locks if spec.centres is not None else ())
    allowed = np.ones((n, k), dtype=bool)
    possible = path_fixing(fixed_spec)
    if possible is not None:
        allowed &= possible[:, cols]
    if spec.max_distance is not None:
        allowed &= geo.distance[:, cols] <= spec.max_distance
    allowed[cols, :] = False
    allowed[cols, np.arange(k)] = True  # a centre belongs to its own territory only
    if spec.centres is not None:
        for unit, t in spec.locks:
            allowed[unit, :] = False
            allowed[unit, t] = True
    if not allowed.any(axis=1).all():
        return None
    unit, terr = np.nonzero(allowed)
    index = -np.ones((n, k), dtype=np.int64)
    index[unit, terr] = np.arange(len(unit))

    cost = spec.cost()[unit, cols[terr]]
    objective = np.rint(cost * (INTEGER_SCALE / max(float(np.abs(cost).max()), 1e-12))).astype(np.int64)
    exactly_one = tuple(index[i, allowed[i]] for i in range(n))
    lower, upper = spec.bounds()
    sums = []
    for r, rule in enumerate(spec.balance):
        ints, scale, error = _integer_values(np.asarray(geo.attributes[rule.attribute], dtype=float))
        for t, c in enumerate(cols):
            inside = allowed[:, t]
            noise = ROUNDING_ROOM * max(1.0, abs(upper[r, c])) * scale  # float noise only, far inside the checker's room
            lo = math.ceil(lower[r, c] * scale + error[inside & (error > 0)].sum() - noise)
            hi = math.floor(upper[r, c] * scale + error[inside & (error < 0)].sum() + noise)
            sums.append((index[inside, t], ints[inside], lo, hi))
    for limit in spec.limits:  # e.g. disruption: sum over the pairs of coef[unit, centre] <= rhs
        ints, scale, error = _integer_values(np.asarray(limit.coef, dtype=float)[unit, cols[terr]])
        noise = ROUNDING_ROOM * max(1.0, abs(limit.rhs)) * scale
        hi = math.floor(limit.rhs * scale + error[error < 0].sum() + noise)
        sums.append((np.arange(len(unit)), ints, min(0, int(ints[ints < 0].sum())), hi))
    clauses = []
    if spec.contiguity:
        order = closeness(spec, centres)
        nbrs = geo.neighbours()
        for t, c in enumerate(cols):
            for i in np.flatnonzero(allowed[:, t]):
                if i == c:
                    continue
                closer = [index[w, t] for w in nbrs[i] if allowed[w, t] and order[w, t] < order[i, t]]
                clauses.append((np.asarray(closer, dtype=np.int64), np.asarray([index[i, t]])))
    start = None
    if hint is not None:
        position = {int(c): t for t, c in enumerate(cols)}
        start = np.array([position.get(int(hint.centre_of[i]), -1) == t for i, t in zip(unit, terr)])
    program = BooleanProgram(len(unit), objective, exactly_one, tuple(sums), tuple(clauses),
                             fixed_true=index[cols, np.arange(k)], hint=start)
    return program, np.column_stack([unit, cols[terr]])


def _integer_values(values: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(integers, scale, rounding errors): integer values as they are; others scaled so the largest is
    INTEGER_SCALE and rounded. The bounds are then moved inward by the most the errors can add up to
    (errors are integers minus scaled values), so a program total within its bounds is a true total
    within the rule's."""
    if np.all(values == np.rint(values)) and np.abs(values).max(initial=0) < 2**52:
        return values.astype(np.int64), 1.0, np.zeros(len(values))
    scale = INTEGER_SCALE / max(float(np.abs(values).max()), 1e-12)
    ints = np.rint(values * scale)
    return ints.astype(np.int64), scale, ints - values * scale


def star_plan(spec: TerritorySpec, engine, centres: list[int], seconds: float, seed: int = 0,
              hint: Plan | None = None, on_plan: Callable[[Plan], None] | None = None) -> Plan | None:
    """The best plan of the program for these centres found within `seconds`, or None. `on_plan` hears
    of each better plan as the solver finds it."""
    built = star_program(spec, centres, hint)
    if built is None:
        return None
    program, pairs = built

    def plan_of(values: np.ndarray) -> Plan:
        owner = np.empty(spec.geography.n, dtype=np.int64)
        chosen = pairs[values]
        owner[chosen[:, 0]] = chosen[:, 1]
        return Plan(tuple(int(c) for c in owner))

    heard = None if on_plan is None else (lambda values: on_plan(plan_of(values)))
    result = engine.solve_boolean(program, seconds, seed, heard)
    return None if result.values is None else plan_of(result.values)


def star_descent(spec: TerritorySpec, engine, start: Plan | None, deadline: float, seed: int = 0,
                 on_plan: Callable[[Plan], None] | None = None) -> Plan | None:
    """From the centres of `start` (a plan under any band), alternate the program and re-centring while
    the plan improves; the best valid plan, or None. Fixed centres need no `start` (it is only a hint)."""
    if start is None and spec.centres is None:
        raise ValueError("free centres need a start plan")
    cost = spec.cost()
    hint = recentred(spec, start)
    centres = centres_of(spec, hint)
    best: Plan | None = None
    for _ in range(RECENTRE_ROUNDS):
        interrupt.check()  # Ctrl-C between solves
        left = deadline - time.perf_counter()
        if left <= 0.05:
            break
        plan = star_plan(spec, engine, centres, left, seed, hint=hint, on_plan=on_plan)
        if plan is None or not is_valid(spec, plan):
            break
        if best is not None and plan.objective(cost) >= best.objective(cost) - 1e-9:
            break
        best = plan
        hint = recentred(spec, plan)
        if centres_of(spec, hint) == centres:
            break
        centres = centres_of(spec, hint)
    return best
