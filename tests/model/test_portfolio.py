"""With `threads` of 2 or more the exact model runs in two processes (solvers.portfolio) that trade plans,
bounds and lazy rows: they find the optimum one process finds, and no process outlives the solve."""

from __future__ import annotations

import multiprocessing
import threading
import time

import numpy as np
import pytest
from pyomo.environ import Binary, ConcreteModel, Constraint, Objective, Var

import solvers.highs as highs_module
from model.check import check_plan
from model.search import solve_exact
from model.territory_model import build_territory_model, contiguity_separator
from solvers import SolverOptions, Termination, interrupt
from solvers.highs import HighsEngine, _Run
from solvers.portfolio import Partner, Worker
from solvers.result import LinearCut
from tests.conftest import CountedPartner as Counted, grid_spec

pytestmark = pytest.mark.serial  # forks a second process: run alone (make test)

HARD = grid_spec(10, 10, list(np.arange(100) % 7 + 1), 8, 0.02)  # gap 2.7% after 20 s in two processes


class Recorder:
    """A stand-in partner that keeps what is sent to it."""

    def __init__(self):
        self.sent = []

    def send(self, *message):
        self.sent.append(message)


@pytest.fixture
def counted(monkeypatch):
    Counted.made = 0
    monkeypatch.setattr(highs_module, "Partner", Counted)
    return Counted


def test_two_processes_prove_the_optimum_one_process_proves(counted):
    spec = grid_spec(5, 6, list(np.arange(30) % 7 + 1), 4, 0.1)
    one, r1, _ = solve_exact(spec, HighsEngine(), SolverOptions(time_limit=60, rel_gap=0.0))
    assert counted.made == 0  # one thread: no second process
    two, r2, _ = solve_exact(spec, HighsEngine(), SolverOptions(time_limit=60, rel_gap=0.0, threads=2))
    assert counted.made == 1
    assert r1.termination is Termination.OPTIMAL and r2.termination is Termination.OPTIMAL
    check_plan(spec, two)
    assert r2.objective == pytest.approx(r1.objective, rel=1e-9)
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("stop", ["time limit", "ctrl-c"])
def test_the_second_process_ends_with_the_solve(counted, stop):
    """A time limit or Ctrl-C ends both processes; the best plan either found is kept, with its bound."""
    m = build_territory_model(HARD, separators_up_front=True)
    limit = 4.0 if stop == "time limit" else 60.0
    timer = threading.Timer(2.0, interrupt.request) if stop == "ctrl-c" else None
    t = time.perf_counter()
    with interrupt.stop_on_ctrl_c():
        if timer is not None:
            timer.start()
        result = HighsEngine().solve(m, SolverOptions(time_limit=limit, threads=2),
                                     separate=contiguity_separator(m, HARD))
    took = time.perf_counter() - t
    assert counted.made == 1
    expected = Termination.TIME_LIMIT if stop == "time limit" else Termination.INTERRUPTED
    assert result.termination is expected and took < 8.0
    assert multiprocessing.active_children() == []
    if result.has_solution:
        assert result.bound is not None and result.bound <= result.objective + 1e-9


def tiny_run(gap: float = 1e-4) -> tuple[_Run, ConcreteModel]:
    m = ConcreteModel()
    m.x = Var([1, 2, 3], domain=Binary)
    m.obj = Objective(expr=m.x[1] + 2 * m.x[2] + 4 * m.x[3])
    m.one = Constraint(expr=m.x[1] + m.x[2] + m.x[3] >= 1)
    return _Run(m, SolverOptions(time_limit=5, rel_gap=gap), None, None, time.perf_counter()), m


def test_a_partners_plan_bound_and_rows_are_taken_in():
    """A better plan becomes the incumbent (and goes to HiGHS), a worse one is ignored; a bound within the
    gap proves the plan; the partner's rows join the next round, and only this process's own go across."""
    run, m = tiny_run()
    run.offer_start([(m.x[3], 1.0)])
    assert run.best_obj == pytest.approx(4.0)
    run._take(("plan", np.array([0.0, 1.0, 0.0]), 2.0))
    assert run.best_obj == pytest.approx(2.0) and run.queued is not None
    run._take(("plan", np.array([0.0, 0.0, 1.0]), 4.0))
    assert run.best_obj == pytest.approx(2.0)
    assert not run.gap_closed(run.bound)
    run._take(("bound", 1.9999))
    assert run.gap_closed(run.bound)

    run.partner = Recorder()
    theirs = (np.array([0], dtype=np.int32), np.array([1.0]), -np.inf, 0.0)
    run._take(("rows", [theirs]))
    run.pending = [LinearCut(((m.x[2], 1.0),), -np.inf, 0.0)]
    assert run._add_pending() == 2
    assert [kind for kind, *_ in run.partner.sent] == ["rows"]
    (sent,) = run.partner.sent[0][1]
    assert sent[0].tolist() == [1] and run.shared_rows == []
    run._take(("stop",))
    assert run.stop_asked


def test_beside_a_partner_the_first_process_proves_and_the_scenario_still_wins():
    """The first process runs without HiGHS's primal heuristics (the partner keeps them and finds the plans),
    except where the scenario's own solver options set them."""
    run, m = tiny_run()
    assert run.highs.getOptionValue("mip_heuristic_run_rins")[1] is True  # alone: HiGHS's defaults
    run.prove_only()
    assert run.highs.getOptionValue("mip_heuristic_run_rins")[1] is False
    assert run.highs.getOptionValue("mip_heuristic_effort")[1] == 0.0
    own = _Run(m, SolverOptions(time_limit=5, extra={"mip_heuristic_effort": 0.3}), None, None, time.perf_counter())
    own.prove_only()
    assert own.highs.getOptionValue("mip_heuristic_effort")[1] == 0.3


def test_the_prover_cuts_its_round_short_once_for_the_partners_new_rows():
    """Beside a partner the first process stops its round when the partner's rows bring one it lacks (the next
    round starts with them), at most PROVER_RESTARTS times; rows it has, or a process alone, change nothing."""
    from solvers.highs import PROVER_RESTARTS, _row_key

    row = (np.array([0], dtype=np.int32), np.array([1.0]), -np.inf, 0.0)
    alone, _ = tiny_run()
    alone._take(("rows", [row]))
    assert not alone.cut_short and len(alone.shared_rows) == 1
    run, _ = tiny_run()
    run.prove_only()
    assert run.restarts_on_rows == PROVER_RESTARTS == 1
    run.cut_keys.add(_row_key(row))
    run._take(("rows", [row]))
    assert not run.cut_short  # a row it already has
    other = (np.array([1], dtype=np.int32), np.array([1.0]), -np.inf, 0.0)
    run._take(("rows", [row, other]))
    assert run.cut_short and run.cut_for_rows
    run.restarts_on_rows = 0
    run.cut_short = run.cut_for_rows = False
    run._take(("rows", [(np.array([2], dtype=np.int32), np.array([1.0]), -np.inf, 0.0)]))
    assert not run.cut_short  # its restarts spent


def test_rounds_cut_short_reach_the_same_optimum():
    """The partner's strategy alone: a round ends at the first plan that breaks a lazy row, and the next
    starts with its rows; the optimum is the one full rounds prove."""
    spec = grid_spec(5, 6, list(np.arange(30) % 7 + 1), 4, 0.1)
    results = []
    for stops in (0, 3):
        m = build_territory_model(spec)
        run = _Run(m, SolverOptions(time_limit=60, rel_gap=0.0), contiguity_separator(m, spec), None,
                   time.perf_counter())
        run.early_stops = stops
        run.loop()
        assert run.termination is Termination.OPTIMAL
        results.append((run.best_obj, run.early_stops))
    (full, _), (short, left) = results
    assert short == pytest.approx(full, rel=1e-9)
    assert left < 3  # at least one round was cut short


def test_no_second_process_inside_a_daemonic_one(monkeypatch):
    """A sweep's Dask worker is daemonic and may not have children: the solve runs alone there."""

    class Daemonic:
        daemon = True

    monkeypatch.setattr(multiprocessing, "current_process", lambda: Daemonic())
    assert Partner.fork(lambda partner: None) is None


def test_the_partner_stops_when_the_first_process_is_gone():
    """A killed first process closes the pipe: the partner hears it and stops instead of running on."""
    run, _ = tiny_run()
    mine, theirs = multiprocessing.Pipe()
    run.partner, run.is_partner = Partner(mine), True
    theirs.close()
    run._hear(wait=False)
    assert run.stop_asked


def test_the_last_words_of_a_fork_that_has_already_ended_are_kept():
    """A fork that ends before the first process asks it to stop has closed its pipe: the "stop" cannot be sent,
    but what it sent before is still read."""
    partner = Partner.fork(lambda p: p.send("plan", (1, 2, 3), 6.0))
    time.sleep(0.5)  # the fork has ended
    assert partner.finish() == [("plan", (1, 2, 3), 6.0)]
    assert multiprocessing.active_children() == []


def _knapsack_program():
    """A small 0-1 program: pick 3 of 6 items at least cost, each pair (2i, 2i+1) at most one; start: items 0, 2, 4."""
    from scipy.sparse import csc_matrix

    cost = np.array([5.0, 1.0, 4.0, 2.0, 6.0, 3.0])
    rows = [[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]]
    matrix = csc_matrix(np.array(rows, dtype=float))
    bounds = (np.array([3.0, 0, 0, 0]), np.array([3.0, 1, 1, 1]))
    return cost, matrix, (np.zeros(6), np.ones(6)), bounds, np.array([1.0, 0, 1, 0, 1, 0])


def test_a_0_1_program_solved_in_a_fork_gives_what_it_gives_here():
    cost, matrix, cols, rows, start = _knapsack_program()
    x = HighsEngine.solve_binary(cost, matrix, cols, rows, start, 5.0)
    assert x is not None and list(x) == list(highs_module._solve_binary(cost, matrix, cols, rows, start, 5.0))
    assert float(cost @ x) == 6.0  # items 1, 3, 5
    assert not multiprocessing.active_children()


def test_a_0_1_program_that_hangs_past_its_time_limit_is_ended(monkeypatch):
    """HiGHS 1.16 hung in its presolve past the time limit (solve_binary): the fork is ended BINARY_GRACE seconds
    after the limit and the caller keeps its plan (None), instead of the run never ending."""
    monkeypatch.setattr(highs_module, "_solve_binary", lambda *args: time.sleep(600))
    monkeypatch.setattr(highs_module, "BINARY_GRACE", 0.5)
    cost, matrix, cols, rows, start = _knapsack_program()
    t = time.perf_counter()
    assert HighsEngine.solve_binary(cost, matrix, cols, rows, start, 0.5) is None
    assert time.perf_counter() - t < 5.0
    assert not multiprocessing.active_children()


def _answer_or_hang(request):
    """A worker's handle: ("hang", _) sleeps far past any limit, ("fail", _) raises, else the square."""
    kind, value = request
    if kind == "hang":
        time.sleep(600)
    if kind == "fail":
        raise ValueError(value)
    return value * value


def test_a_worker_answers_many_requests_in_one_fork():
    worker = Worker(_answer_or_hang)
    assert [worker.call(("square", v), 5.0) for v in range(5)] == [0, 1, 4, 9, 16]
    assert len(multiprocessing.active_children()) == 1  # one fork for all of them
    worker.close()
    assert not multiprocessing.active_children()


def test_a_worker_that_hangs_or_fails_is_ended_and_the_next_request_gets_a_new_one():
    """HiGHS 1.16's presolve hung far past its time limit in a neighbourhood sub-problem: the caller gets None
    after `give_up_after` seconds, the fork is ended, and the next request starts another."""
    worker = Worker(_answer_or_hang)
    assert worker.call(("square", 3), 5.0) == 9
    t = time.perf_counter()
    assert worker.call(("hang", 0), 0.5) is None
    assert time.perf_counter() - t < 3.0
    assert not multiprocessing.active_children()
    assert worker.call(("fail", 1), 5.0) is None  # an error in the fork ends it too
    assert worker.call(("square", 4), 5.0) == 16
    worker.close()
    assert not multiprocessing.active_children()


def test_ctrl_c_while_a_worker_solves_ends_it_at_once():
    worker = Worker(_answer_or_hang)
    timer = threading.Timer(0.3, interrupt.request)
    timer.start()
    t = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            worker.call(("hang", 0), 60.0, interrupt.requested)
    finally:
        interrupt._requested.clear()
    assert time.perf_counter() - t < 3.0
    assert not multiprocessing.active_children()


def test_a_neighbourhood_sub_problem_that_hangs_costs_its_grace_not_the_run(monkeypatch, tmp_path):
    """The search's neighbourhood sub-problems run in a Worker: one that never returns (the first, here) is ended
    EXACT_GRACE seconds past its limit, the sweep goes on with a new fork, and the run keeps its time limit."""
    import model.search as search

    real = search.solve_exact
    marker = tmp_path / "hung"

    def first_sub_problem_hangs(spec, engine, options, *args, **kwargs):
        if spec.count < HANG_SPEC.count and not marker.exists():  # a sub-problem (in the fork)
            marker.touch()
            time.sleep(600)
        return real(spec, engine, options, *args, **kwargs)

    monkeypatch.setattr(search, "solve_exact", first_sub_problem_hangs)
    monkeypatch.setattr(search, "EXACT_GRACE", 0.5)
    seen = []
    t = time.perf_counter()
    outcome = search.solve_territories(HANG_SPEC, HighsEngine(), SolverOptions(time_limit=20, rel_gap=0.0),
                                       stage=seen.append)
    assert time.perf_counter() - t < 25.0
    assert marker.exists() and any(s.startswith("neighbourhood") for s in seen)
    check_plan(HANG_SPEC, outcome.plan)
    assert not multiprocessing.active_children()


HANG_SPEC = grid_spec(6, 6, list(np.arange(36) % 5 + 1), 4, 0.1)
