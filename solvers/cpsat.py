"""0-1 programs on OR-Tools CP-SAT: it finds balanced assignments under narrow bands in seconds, where
branch-and-bound on the same rows stalls (measured on the county benchmark, tests/benchmarks/README.md).

The search is limited by CP-SAT's deterministic time (a count of work, not of seconds), so a run
that ends on it gives the same answer on any machine and under any load, and by the same number of
wall-clock seconds, so that the caller's time limit holds where the work runs slower than the count
(3,107 US counties: about half as fast).
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np
from ortools.sat.python import cp_model

from solvers import interrupt
from solvers.result import BooleanProgram, BooleanResult


def solve_boolean(program: BooleanProgram, seconds: float, seed: int = 0,
                  on_solution: Callable[[np.ndarray], None] | None = None) -> BooleanResult:
    """Minimise the program within about `seconds` of deterministic time, on one worker. `on_solution`
    hears of each improving solution's values as CP-SAT finds it (for live progress; the search is the same)."""
    m = cp_model.CpModel()
    x = [m.new_bool_var(f"x{i}") for i in range(program.size)]
    for group in program.exactly_one:
        m.add_exactly_one(x[int(i)] for i in group)
    for idx, coef, lower, upper in program.sums:
        m.add_linear_constraint(_weighted(x, idx, coef), int(lower), int(upper))
    for positive, negative in program.clauses:
        m.add_bool_or([x[int(i)] for i in positive] + [~x[int(i)] for i in negative])
    for i in program.fixed_true:
        m.add(x[int(i)] == 1)
    terms = np.flatnonzero(np.asarray(program.objective))
    m.minimize(_weighted(x, terms, np.asarray(program.objective)[terms]))
    if program.hint is not None:
        for i, v in enumerate(program.hint):
            m.add_hint(x[i], bool(v))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    # CP-SAT's own Ctrl-C handler: with it, a Ctrl-C after a CP-SAT run killed `tplan run` outright
    # (tests/scenarios/test_cli.py); the watcher below stops the search instead.
    solver.parameters.catch_sigint_signal = False
    solver.parameters.random_seed = int(seed)
    solver.parameters.max_deterministic_time = max(0.01, float(seconds))
    solver.parameters.max_time_in_seconds = max(0.01, float(seconds))
    # OR-Tools 9.15's presolve step for an exactly-one group with a linear row (ProcessAtMostOneAndLinear)
    # can cut off the optimum and still report OPTIMAL (google/or-tools#5293); seen here on a 3 x 3 grid
    # in thirds (tests/model/test_star_assignment.py). Its work limit at 0 switches that step off.
    solver.parameters.presolve_inclusion_work_limit = 0
    status = _solve_until_ctrl_c(solver, m, None if on_solution is None else _Solutions(x, on_solution))
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    values = np.array([solver.boolean_value(v) for v in x], dtype=bool) if found else None
    return BooleanResult(
        values=values,
        optimal=status == cp_model.OPTIMAL,
        objective=float(solver.objective_value) if found else None,
        bound=float(solver.best_objective_bound) if found else None,
        status=solver.status_name(status),
    )


class _Solutions(cp_model.CpSolverSolutionCallback):
    """Passes each improving solution's values on."""

    def __init__(self, x: list, on_solution: Callable[[np.ndarray], None]) -> None:
        super().__init__()
        self._x, self._on_solution = x, on_solution

    def on_solution_callback(self) -> None:
        self._on_solution(np.array([self.boolean_value(v) for v in self._x], dtype=bool))


def _solve_until_ctrl_c(solver: cp_model.CpSolver, m: cp_model.CpModel, callback=None):
    """Solve; a watcher thread stops the search when Ctrl-C is requested (CP-SAT runs outside Python)."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            if interrupt.requested():
                solver.stop_search()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        return solver.solve(m, callback)
    finally:
        done.set()
        watcher.join()


def _weighted(x: list, idx, coef) -> cp_model.LinearExpr:
    return cp_model.LinearExpr.weighted_sum([x[int(i)] for i in idx], [int(c) for c in coef])
