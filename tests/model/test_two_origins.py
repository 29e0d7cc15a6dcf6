"""With `threads` of 2 or more the neighbourhood search runs its second origin in a fork (model.two_origins):
the fork's plans come back, the stage takes the time of one origin, and no process outlives it."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import pytest

from model.check import check_plan
from model.plan import Plan
from model.search import solve_territories
from model.spec import SearchInterrupted
from model import two_origins
from model.two_origins import improve_origins
from solvers import SolverOptions, Termination
from solvers.highs import HighsEngine
from tests.conftest import CountedPartner as Counted, grid_spec

pytestmark = pytest.mark.serial  # forks a second process: run alone (make test)


def slow_improve(seconds_each: float):
    """An `improve` that takes `seconds_each` and moves unit 0 to the origin's last unit's centre."""

    def improve(origin: Plan, seconds: float, on_plan) -> Plan:
        time.sleep(min(seconds, seconds_each))
        end = Plan((origin.centre_of[-1],) + origin.centre_of[1:])
        on_plan(end)
        return end

    return improve


def test_two_origins_run_at_once_and_both_ends_come_back():
    a, b = Plan((0, 0, 2, 2)), Plan((1, 1, 3, 3))
    heard: list[Plan] = []
    t = time.perf_counter()
    ends = improve_origins([a, b], slow_improve(1.5), budget=6.0, on_plan=heard.append, parallel=True)
    took = time.perf_counter() - t
    assert ends == [Plan((2, 0, 2, 2)), Plan((3, 1, 3, 3))]
    assert heard == [Plan((2, 0, 2, 2))]  # only this process's improvements are reported as they come
    assert took < 2.5  # at once: about one origin's time (1.5 s), not two
    assert multiprocessing.active_children() == []


def test_one_origin_and_a_second_start_drawn_in_the_fork():
    a = Plan((0, 0, 2, 2))
    ends = improve_origins([a], slow_improve(0.2), budget=2.0, on_plan=lambda p: None, parallel=True,
                           second_start=lambda deadline: Plan((1, 1, 3, 3)))
    assert ends == [Plan((2, 0, 2, 2)), Plan((3, 1, 3, 3))]
    assert multiprocessing.active_children() == []
    # One process: the second start follows the origin, with the same time again.
    t = time.perf_counter()
    alone = improve_origins([a], slow_improve(0.2), budget=2.0, on_plan=lambda p: None,
                            second_start=lambda deadline: Plan((1, 1, 3, 3)))
    assert alone == [Plan((2, 0, 2, 2)), Plan((3, 1, 3, 3))]
    assert time.perf_counter() - t >= 0.4  # one after the other
    assert improve_origins([a], slow_improve(0.2), budget=2.0, on_plan=lambda p: None) == [Plan((2, 0, 2, 2))]


def test_a_fork_that_overruns_is_ended_and_its_last_plan_kept():
    """The fork's plans go across as it finds them: ending it at the deadline loses none of them."""

    def improve(origin: Plan, seconds: float, on_plan) -> Plan:
        if origin.centre_of[0] == 1:  # the fork's origin
            on_plan(Plan((9,) * 4))
            time.sleep(30.0)  # ignores its time
        return origin

    t = time.perf_counter()
    ends = improve_origins([Plan((0,) * 4), Plan((1,) * 4)], improve, budget=1.0, on_plan=lambda p: None,
                           parallel=True)
    assert time.perf_counter() - t < 5.0
    assert Plan((9,) * 4) in ends
    assert multiprocessing.active_children() == []


def test_ctrl_c_in_the_first_process_ends_the_fork_at_once():
    def improve(origin: Plan, seconds: float, on_plan) -> Plan:
        if origin.centre_of[0] == 0:
            raise SearchInterrupted(origin)
        time.sleep(30.0)
        return origin

    t = time.perf_counter()
    with pytest.raises(SearchInterrupted):
        improve_origins([Plan((0,) * 4), Plan((1,) * 4)], improve, budget=60.0, on_plan=lambda p: None,
                        parallel=True)
    assert time.perf_counter() - t < 3.0
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("tolerance", [0.02, 0.2])  # a tight band (CP-SAT start in the fork) and a loose one
def test_the_search_with_two_processes_proves_the_optimum_of_one(tolerance, monkeypatch):
    monkeypatch.setattr(two_origins, "Partner", Counted)
    Counted.made = 0
    spec = grid_spec(7, 7, list(np.arange(49) % 5 + 1), 5, tolerance)
    outcomes = []
    for threads in (1, 2):
        outcomes.append(solve_territories(spec, HighsEngine(), SolverOptions(time_limit=60, rel_gap=0.0,
                                                                              threads=threads)))
        assert Counted.made == threads - 1  # the neighbourhood search forked only with 2
    for outcome in outcomes:
        assert outcome.result.termination is Termination.OPTIMAL
        check_plan(spec, outcome.plan)
    assert outcomes[1].result.objective == pytest.approx(outcomes[0].result.objective, rel=1e-9)
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("gap, drawn", [(1.0, False), (-1.0, True)])
def test_one_process_draws_a_second_start_only_far_from_the_bound(monkeypatch, gap, drawn):
    """In one process the second start costs the exact phase time: only under a tight band whose bound so far is
    more than SECOND_START_GAP below the plan (here forced either way); the optimum is the same."""
    import model.search as search

    calls = []

    def recording(origins, improve, budget, on_plan, parallel=False, second_start=None):
        calls.append((len(origins), parallel, second_start is not None))
        return improve_origins(origins, improve, budget, on_plan, parallel, second_start)

    monkeypatch.setattr(search, "improve_origins", recording)
    monkeypatch.setattr(search, "SECOND_START_GAP", gap)
    spec = grid_spec(7, 7, list(np.arange(49) % 5 + 1), 5, 0.02)
    outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=60, rel_gap=0.0))
    assert outcome.result.termination is Termination.OPTIMAL
    check_plan(spec, outcome.plan)
    assert len(calls) == 1 and calls[0][1:] == (False, drawn)


@pytest.mark.parametrize("tolerance, narrow", [(0.02, True), (0.2, False)])
def test_under_a_narrow_band_local_search_is_short_and_no_origin(monkeypatch, tolerance, narrow):
    """Under a narrow band CP-SAT's plan does not start from local search's, which ends far above it: the first
    stage gets NARROW_FIRST_SHARE of the limit, and the neighbourhood search one origin (CP-SAT's plan)."""
    import model.search as search

    budgets, origin_counts = [], []
    real_first_plan = search.first_plan

    def first_plan(spec, relaxation, options, budget, seeded_only=False):
        budgets.append(budget)
        return real_first_plan(spec, relaxation, options, budget, seeded_only)

    def recording(origins, improve, budget, on_plan, parallel=False, second_start=None):
        origin_counts.append(len(origins))
        return improve_origins(origins, improve, budget, on_plan, parallel, second_start)

    monkeypatch.setattr(search, "first_plan", first_plan)
    monkeypatch.setattr(search, "improve_origins", recording)
    spec = grid_spec(7, 7, list(np.arange(49) % 5 + 1), 5, tolerance)
    outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=20, rel_gap=0.0))
    check_plan(spec, outcome.plan)
    assert budgets[0] == pytest.approx((search.NARROW_FIRST_SHARE if narrow else 0.2) * 20)
    assert origin_counts[0] == 1 or not narrow
