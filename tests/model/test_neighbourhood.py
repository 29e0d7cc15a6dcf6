"""The exact pair/triple search (model.neighbourhood), in particular its ranked order at fixed centres."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace

import numpy as np
import pytest

from model import neighbourhood
from model.check import is_valid, plan_violations
from model.neighbourhood import improve_pairs, territory_groups
from model.plan import Plan
from model.search import solve_exact
from model.transport import excess_over_lp
from model.tree_partition import tree_partition
from solvers.highs import HighsEngine
from solvers.portfolio import Pending
from solvers.result import SolverOptions
from tests.conftest import grid_spec
from tests.model.bruteforce import brute_force
from tests.model.test_tree_partition import as_plan, georgia_spec  # noqa: F401  (fixture)

ENGINE = HighsEngine()


def _exact(sub, warm, seconds, units):
    return solve_exact(sub, ENGINE, SolverOptions(time_limit=seconds, rel_gap=1e-9, threads=1), warm)[0]


def _lp_excess(sub, plan):
    return excess_over_lp(sub, plan, ENGINE)


def test_groups_go_by_excess_and_those_without_are_skipped():
    """Pairs first, the largest excess first; a group whose excess is 0 (its plan is optimal there) is never
    solved; the triples after the pairs."""
    spec = grid_spec(4, 3, np.ones(12), 4, 0.5, centres=(1, 4, 7, 10))
    plan = Plan(tuple((1, 4, 7, 10)[u // 3] for u in range(12)))  # one row per centre
    index = spec.geography.index_of()
    assert territory_groups(spec, plan, 2) == [(1, 4), (4, 7), (7, 10)]
    given = {(1, 4): 5.0, (4, 7): 0.0, (7, 10): 9.0}  # (every triple: 1.0)

    def excess(sub, sub_plan):
        return given.get(tuple(sorted(index[sub.geography.ids[c]] for c in sub.centres)), 1.0)

    solved: list[tuple[int, ...]] = []

    def exact(sub, warm, seconds, units):
        solved.append(tuple(sorted({plan.centre_of[u] for u in units})))
        return None  # nothing better: each group is tried once

    assert improve_pairs(spec, plan, exact, 30.0, excess=excess) == plan
    assert solved[:2] == [(7, 10), (1, 4)]
    assert sorted(solved[2:]) == territory_groups(spec, plan, 3)


def test_stalled_pairs_give_way_to_triples(monkeypatch):
    """When the last answers of a size gained nothing the triples go next though pairs with excess are left, and
    the pairs come back when the triples stall too; without the rule all pairs go first."""
    spec = grid_spec(4, 3, np.ones(12), 4, 0.5, centres=(1, 4, 7, 10))
    plan = Plan(tuple((1, 4, 7, 10)[u // 3] for u in range(12)))

    def order() -> tuple[list[int], list[int]]:
        solved: list[int] = []
        told: list[int] = []

        def exact(sub, warm, seconds, units):
            solved.append(len({plan.centre_of[u] for u in units}))
            return None  # nothing better

        assert improve_pairs(spec, plan, exact, 30.0, excess=lambda sub, p: 1.0, on_size=told.append) == plan
        return solved, told

    assert order() == ([2, 2, 2, 3, 3], [3])
    monkeypatch.setattr(neighbourhood, "STALL_GROUPS", 2)
    assert order() == ([2, 2, 3, 3, 2], [3, 2])


def test_scoring_keeps_to_the_budget():
    """Scoring the groups counts against the budget: a slow bound does not carry the search past it."""
    spec = grid_spec(4, 3, np.ones(12), 4, 0.5, centres=(1, 4, 7, 10))
    plan = Plan(tuple((1, 4, 7, 10)[u // 3] for u in range(12)))
    scored = []

    def slow_excess(sub, sub_plan):
        scored.append(sub.centres)
        time.sleep(0.3)
        return 1.0

    started = time.perf_counter()
    assert improve_pairs(spec, plan, lambda *a: None, 0.5, excess=slow_excess) == plan
    assert time.perf_counter() - started < 0.9
    assert len(scored) < len(territory_groups(spec, plan, 2))


def test_ranked_search_reaches_the_brute_force_optimum_with_two_territories():
    """With two fixed centres the only pair is the whole instance, so the ranked search solves it exactly, from
    the costliest valid plan."""
    spec = grid_spec(3, 3, np.array([3, 1, 4, 1, 5, 9, 2, 6, 5]), 2, 0.3, centres=(0, 8))
    plans = [Plan((0, *(8 if b else 0 for b in bits), 8)) for bits in itertools.product((0, 1), repeat=7)]
    start = max((p for p in plans if is_valid(spec, p)), key=lambda p: p.objective(spec.cost()))
    assert start.objective(spec.cost()) > 1.2 * brute_force(spec)
    found = improve_pairs(spec, start, _exact, 30.0, excess=_lp_excess)
    assert plan_violations(spec, found) == []
    assert found.objective(spec.cost()) == pytest.approx(brute_force(spec), rel=1e-6)


def test_ranked_search_improves_real_counties_and_stops_when_no_group_has_excess(georgia_spec):  # noqa: F811
    """Georgia's 159 counties, 10 reps at the centres of a spanning-tree partition (a valid but poor plan there):
    cheaper and valid; and from its own result, where every group it tried is optimal, nothing is re-solved that
    has no excess over its LP."""
    start = as_plan(georgia_spec, tree_partition(georgia_spec, seed=0, deadline=time.perf_counter() + 30))
    spec = replace(georgia_spec, centres=tuple(start.centres))
    assert is_valid(spec, start)
    found = improve_pairs(spec, start, _exact, 120.0, excess=_lp_excess)
    assert plan_violations(spec, found) == []
    assert found.objective(spec.cost()) < 0.99 * start.objective(spec.cost())

    excesses: list[float] = []

    def recording(sub, plan):
        excesses.append(_lp_excess(sub, plan))
        return excesses[-1]

    solved = []
    again = improve_pairs(spec, found, lambda *a: solved.append(a) or _exact(*a), 120.0, excess=recording)
    assert again.objective(spec.cost()) <= found.objective(spec.cost()) + 1e-6
    tolerance = 1e-7 * found.objective(spec.cost())
    assert len(solved) <= sum(e > tolerance for e in excesses)


class _Slow:
    """A sub-problem's answer (none better) that is in after `seconds`, in the shape of solvers.portfolio.Pending."""

    def __init__(self, seconds: float, running: list, group: tuple[int, ...]):
        self.until, self.running, self.group = time.perf_counter() + seconds, running, group
        self.connection = None

    def ready(self) -> bool:
        if time.perf_counter() >= self.until and self.group in self.running:
            self.running.remove(self.group)
        return time.perf_counter() >= self.until

    def result(self):
        self.ready()
        return None

    def cancel(self) -> None:
        self.running.remove(self.group)


def test_two_workers_solve_groups_on_disjoint_territories_at_once():
    """With two workers the two pairs that share no territory run together, and no pair runs beside one it
    shares a territory with."""
    spec = grid_spec(4, 3, np.ones(12), 4, 0.5, centres=(1, 4, 7, 10))
    plan = Plan(tuple((1, 4, 7, 10)[u // 3] for u in range(12)))
    running: list[tuple[int, ...]] = []
    together: list[tuple[tuple[int, ...], ...]] = []

    def start_exact(sub, warm, seconds, units):
        group = tuple(sorted({plan.centre_of[u] for u in units}))
        running.append(group)
        together.append(tuple(running))
        return _Slow(0.3, running, group)

    def never(*args):
        raise AssertionError("with two workers the groups go through start_exact")

    assert improve_pairs(spec, plan, never, 30.0, sizes=(2,), excess=lambda sub, p: 1.0,
                         start_exact=start_exact, workers=2) == plan
    assert sorted(g for groups in together for g in groups[-1:]) == territory_groups(spec, plan, 2)
    assert ((1, 4), (7, 10)) in together or ((7, 10), (1, 4)) in together
    for groups in together:
        territories = [t for g in groups for t in g]
        assert len(territories) == len(set(territories))


def test_two_workers_in_forks_improve_real_counties(georgia_spec):  # noqa: F811
    """Georgia at 10 fixed centres from a spanning-tree plan, the sub-problems in forks two at a time: as much
    cheaper as one at a time, and valid."""
    start = as_plan(georgia_spec, tree_partition(georgia_spec, seed=0, deadline=time.perf_counter() + 30))
    spec = replace(georgia_spec, centres=tuple(start.centres))

    def start_exact(sub, warm, seconds, units):
        return Pending.start(lambda: _exact(sub, warm, seconds, units), seconds + 5.0)

    found = improve_pairs(spec, start, _exact, 120.0, excess=_lp_excess, start_exact=start_exact, workers=2)
    assert plan_violations(spec, found) == []
    alone = improve_pairs(spec, start, _exact, 120.0, excess=_lp_excess)
    assert found.objective(spec.cost()) < 0.99 * start.objective(spec.cost())
    assert found.objective(spec.cost()) <= 1.005 * alone.objective(spec.cost())
