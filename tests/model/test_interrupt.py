"""Ctrl-C is a stop request that every stage honours, in Python loops and inside HiGHS alike."""

from __future__ import annotations

import numpy as np
import pytest

from model.check import check_plan
from model.search import solve_territories
from solvers import SolverOptions, Termination, interrupt
from solvers.highs import HighsEngine
from tests.conftest import grid_spec


@pytest.mark.parametrize("stop_at", ["neighbourhood search", "solve"])
def test_a_stop_request_returns_the_best_plan_so_far(stop_at):
    """The request reaches the pair sweep (a Python loop) and the final HiGHS solve (a native loop)."""
    spec = grid_spec(6, 6, list(np.arange(36) % 7 + 1), 4, 0.1)
    seen = []

    def stage(name: str) -> None:
        seen.append(name)
        if name.startswith(stop_at):
            interrupt.request()

    with interrupt.stop_on_ctrl_c():
        outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=120, rel_gap=0.0), stage=stage)
        assert interrupt.requested()
    assert not interrupt.requested()  # cleared when the block ends
    assert outcome.result.termination is Termination.INTERRUPTED
    assert outcome.plan is not None and outcome.result.bound is not None
    check_plan(spec, outcome.plan)
    assert outcome.result.seconds < 60
    assert not any(s.startswith("solve") for s in seen[seen.index(next(s for s in seen if s.startswith(stop_at))) + 1:])
    if stop_at == "neighbourhood search":  # the exact model never ran: its bound is not claimed
        assert "did not run" in outcome.bound_method and "HiGHS" not in outcome.bound_method


def test_a_stop_at_cp_sats_first_plan_keeps_it():
    """Fixed centres: CP-SAT's assignment runs first and its plans are shown as they come; Ctrl-C at the
    first of them ends the run on a plan, not on nothing."""
    from dataclasses import replace

    spec = replace(grid_spec(6, 6, list(np.arange(36) % 7 + 1), 4, 0.1), centres=(0, 5, 30, 35))
    stages = []

    def progress(p) -> None:
        if p.incumbent is not None:
            interrupt.request()

    with interrupt.stop_on_ctrl_c():
        outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=120), progress=progress,
                                    stage=stages.append)
    assert any(s.startswith("first plan: CP-SAT") for s in stages) and stages[-1].startswith("interrupted")
    assert not any(s.startswith(("first plan: local search", "neighbourhood", "solve")) for s in stages)
    assert outcome.result.termination is Termination.INTERRUPTED
    assert outcome.plan is not None
    check_plan(spec, outcome.plan)


def test_check_raises_only_after_a_request():
    with interrupt.stop_on_ctrl_c():
        interrupt.check()
        interrupt.request()
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()


def test_a_model_too_large_for_the_exact_stage_keeps_the_heuristic_plan_and_a_bound(monkeypatch):
    """Above EXACT_MAX_PAIRS the exact model is not built: the best plan comes back with the
    Lagrangian bound and says so."""
    import model.search as search

    monkeypatch.setattr(search, "EXACT_MAX_PAIRS", 10)
    spec = grid_spec(5, 5, list(np.arange(25) % 5 + 1), 3, 0.2)
    outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=30))
    assert outcome.plan is not None and outcome.result.termination is Termination.TIME_LIMIT
    check_plan(spec, outcome.plan)
    assert "Lagrangian bound" in outcome.bound_method and "more than 10" in outcome.bound_method
    assert outcome.result.bound is not None and outcome.result.bound <= outcome.result.objective + 1e-6


def test_a_solver_that_stops_early_keeps_the_plan_and_says_why():
    """A HiGHS run that ends short of its limit for another reason (numerical trouble, say) keeps the
    best checked plan, reports it as unproven, and names the solver's own status."""
    from dataclasses import replace

    class FailingEngine(HighsEngine):
        def solve(self, model, options, **kwargs):
            real = super().solve(model, options, **kwargs)
            if kwargs.get("relax") or options.time_limit is None or options.time_limit < 30:
                return real  # the LP relaxation and the neighbourhood sub-problems run normally
            return replace(real, termination=Termination.ERROR, bound=None, solver_status="Solve error")

    spec = grid_spec(4, 4, list(np.arange(16) % 5 + 1), 3, 0.1)
    seen = []
    outcome = solve_territories(spec, FailingEngine(), SolverOptions(time_limit=60, rel_gap=0.0), stage=seen.append)
    assert outcome.plan is not None
    check_plan(spec, outcome.plan)
    assert outcome.result.solver_status == "Solve error"
    assert any("stopped short of a proof (Solve error)" in s for s in seen)
    normal = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=60, rel_gap=0.0))
    assert normal.result.solver_status == "Optimal"


def test_a_stop_request_reaches_cp_sat():
    """CP-SAT runs outside Python: a watcher thread stops it within a fraction of a second."""
    import threading
    import time

    from solvers.cpsat import solve_boolean
    from solvers.result import BooleanProgram

    size = 200  # the cheapest 100 of 200 weights summing to exactly 30,000,001: not proven within 10 s
    rng = np.random.default_rng(0)
    weights = rng.integers(10_000, 600_000, size=size)
    program = BooleanProgram(size, rng.integers(1, 1_000, size=size), sums=(
        (np.arange(size), weights, 30_000_001, 30_000_001), (np.arange(size), np.ones(size, dtype=np.int64), 100, 100)))
    with interrupt.stop_on_ctrl_c():
        threading.Timer(0.5, interrupt.request).start()
        t = time.perf_counter()
        result = solve_boolean(program, seconds=60.0)
        assert time.perf_counter() - t < 5.0
    assert not result.optimal


def test_the_engine_stops_highs_at_the_time_limit_itself(monkeypatch):
    """HiGHS checks its own limit between steps and once ran about 9 s past it (a root cut round on
    1,000 units); the engine's callbacks stop it at the limit plus a grace, reported as a time limit, not as
    a Ctrl-C. Here the grace is made negative so that the callbacks' deadline comes long before HiGHS's."""
    import time

    import solvers.highs as highs_module
    from model.territory_model import build_territory_model, contiguity_separator

    monkeypatch.setattr(highs_module, "DEADLINE_GRACE", -29.8)
    spec = grid_spec(9, 9, list(np.arange(81) % 7 + 1), 6, 0.005)
    m = build_territory_model(spec, separators_up_front=True)
    t = time.perf_counter()
    result = HighsEngine().solve(m, SolverOptions(time_limit=30), separate=contiguity_separator(m, spec))
    assert time.perf_counter() - t < 10
    assert result.termination is Termination.TIME_LIMIT


def test_lazy_rows_reach_highs_once_each_with_their_coefficients():
    """Queued lazy rows go to HiGHS in one call (one at a time, 12,000 rows took minutes); a row seen
    before is skipped, and each row keeps its columns, coefficients and sides."""
    import time

    import highspy
    from pyomo.environ import Binary, ConcreteModel, Objective, Var

    from solvers.highs import _Run
    from solvers.result import LinearCut

    m = ConcreteModel()
    m.x = Var(range(4), domain=Binary)
    m.obj = Objective(expr=sum(m.x[i] for i in range(4)))
    run = _Run(m, SolverOptions(time_limit=5), None, None, time.perf_counter())
    rows = run.highs.getNumRow()
    run.pending = [LinearCut(((m.x[2], 1.0), (m.x[0], -2.0)), 0.0, np.inf),
                   LinearCut(((m.x[1], 1.0),), -np.inf, 1.0),
                   LinearCut(((m.x[0], -2.0), (m.x[2], 1.0)), 0.0, np.inf)]  # the first again
    assert run._add_pending() == 2 and run.highs.getNumRow() == rows + 2 and not run.pending
    lp = run.highs.getLp()
    assert (lp.row_lower_[rows], lp.row_upper_[rows + 1]) == (0.0, 1.0)
    assert lp.row_upper_[rows] >= 1e30 and lp.row_lower_[rows + 1] <= -1e30
    a = lp.a_matrix_
    dense = np.zeros((rows + 2, 4))
    rowwise = a.format_ == highspy.MatrixFormat.kRowwise
    for outer in range(len(a.start_) - 1):
        for k in range(a.start_[outer], a.start_[outer + 1]):
            dense[(outer, a.index_[k]) if rowwise else (a.index_[k], outer)] = a.value_[k]
    column = [run.col_of[id(m.x[i])] for i in range(4)]
    assert dense[rows, column].tolist() == [-2.0, 0.0, 1.0, 0.0]
    assert dense[rows + 1, column].tolist() == [0.0, 1.0, 0.0, 0.0]
    run.pending = [LinearCut(((m.x[1], 1.0),), -np.inf, 1.0)]
    assert run._add_pending() == 0


def test_a_round_bound_within_the_gap_of_the_best_plan_ends_the_solve():
    """A round lacks only lazy rows, so its bound holds for the whole model: when the best plan that keeps
    every lazy row is within the gap of it, no further round is needed, even though HiGHS's own answer
    (cheaper by less than the gap) breaks a lazy row. With rel_gap 0 the second round runs as before."""
    from pyomo.environ import Binary, ConcreteModel, Constraint, Objective, Var

    from solvers.result import LinearCut

    def model():
        m = ConcreteModel()
        m.x = Var([1, 2], domain=Binary)
        m.obj = Objective(expr=m.x[1] + 0.99999 * m.x[2])
        m.one = Constraint(expr=m.x[1] + m.x[2] >= 1)
        return m

    def separate(m):
        return lambda get: [] if get(m.x[1]) > 0.5 else [LinearCut(((m.x[1], 1.0),), 1.0, np.inf)]

    for gap, rounds in ((1e-4, 1), (0.0, 2)):
        m = model()
        result = HighsEngine().solve(m, SolverOptions(time_limit=10, rel_gap=gap), separate=separate(m),
                                     warm_start=[(m.x[1], 1.0), (m.x[2], 0.0)])
        assert result.termination is Termination.OPTIMAL
        assert result.objective == pytest.approx(1.0) and result.rounds == rounds
        assert result.bound == pytest.approx(0.99999 if rounds == 1 else 1.0)


@pytest.mark.parametrize("gap", [0.0, 1.0])
@pytest.mark.parametrize("short_of", ["MIN_EXACT_SECONDS", "EXACT_BUILD_SECONDS_PER_PAIR"])
def test_with_the_time_spent_the_exact_model_is_skipped_and_the_plan_keeps_its_bound(monkeypatch, gap, short_of):
    """Less than MIN_EXACT_SECONDS left, or less than twice the model's estimated build time (building and HiGHS's
    presolve would overrun the limit): no exact model; the search's checked plan is returned with the LP or
    Lagrangian bound, as a time limit, or as optimal if that bound proves it."""
    import model.search as search

    monkeypatch.setattr(search, short_of, 1e9)
    spec = grid_spec(5, 5, list(np.arange(25) % 4 + 1), 3, 0.1)
    said = []
    outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=20, rel_gap=gap), stage=said.append)
    assert any(s.startswith("exact model skipped: the time limit is spent") for s in said)
    assert "solve" not in said and "build" not in outcome.stage_seconds
    assert "the exact model did not run" in outcome.bound_method
    check_plan(spec, outcome.plan)
    result = outcome.result
    assert result.bound is not None and result.bound <= result.objective + 1e-6
    assert result.termination is (Termination.OPTIMAL if gap == 1.0 else Termination.TIME_LIMIT) or (
        gap == 0.0 and result.gap == 0.0 and result.termination is Termination.OPTIMAL)


def test_sigterm_during_the_search_is_a_stop_request_and_before_it_a_clean_exit(tmp_path):
    """A scheduler's kill keeps the best plan during the search; while Python starts, the command ends at once
    (143) with one line instead of a traceback."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO

    with interrupt.stop_on_ctrl_c():
        os.kill(os.getpid(), signal.SIGTERM)
        assert interrupt.requested()
    scenario = str(REPO / "scenarios" / "georgia.yaml")
    # The child sends itself SIGTERM right after main() installs its handler, while the CLI is being imported.
    child = ("import os, signal, sys; import scenarios.console as console; install = signal.signal\n"
             "def hook(number, handler):\n"
             "    done = install(number, handler)\n"
             "    if number == signal.SIGTERM and handler is console._terminate: os.kill(os.getpid(), signal.SIGTERM)\n"
             "    return done\n"
             f"signal.signal = hook; sys.argv = ['tplan', 'run', {scenario!r}]; console.main()")
    started = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert started.returncode == 143 and "terminated (SIGTERM)" in started.stderr, started.stderr
    assert "Traceback" not in started.stderr
    assert not (tmp_path / "runs").exists()
