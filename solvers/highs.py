"""Run a linear Pyomo model with HiGHS (highspy), with warm start, lazy rows and live progress.

The Pyomo model is compiled once to matrix form. Lazy constraints (e.g. contiguity cuts) are
handled by row generation: each round solves the model with the rows found so far; every
incumbent HiGHS reports is checked by the model's separation routine, violated rows are added,
and the next round starts from the best solution that satisfies every lazy constraint. Each
round is a relaxation of the full model, so its dual bound is a valid bound for the full model.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import highspy
import numpy as np
from pyomo.core.base.var import VarData
from pyomo.environ import ConcreteModel, Objective, minimize, value
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from solvers import cpsat, interrupt
from solvers.portfolio import STOP_WAIT, Partner, Pending
from solvers.result import (
    BooleanProgram,
    BooleanResult,
    LinearCut,
    Progress,
    SolveResult,
    SolverError,
    SolverOptions,
    Termination,
    relative_gap,
)

Separate = Callable[[Callable[[VarData], float]], Sequence[LinearCut]]
Repair = Callable[[Callable[[VarData], float]], Sequence[tuple[VarData, float]] | None]
INF = highspy.kHighsInf
_banner_swallowed = False  # HiGHS prints its banner once per process, at the first object
DEADLINE_GRACE = 0.5  # seconds past the time limit after which the callbacks stop HiGHS themselves
# With `threads` >= 2 a MIP with lazy rows gets a second process (solvers.portfolio) when it has at least
# this many seconds: forking and the partner's first LP cost about a second.
PARTNER_MIN_SECONDS = 3.0
# The partner cuts a round short, adds the lazy rows its new plan breaks and starts the next one, at most
# this many times; then it runs full rounds like the first process. Alone this loses where full rounds
# prove strong bounds (benchmarks README, "rounds stopped early"); beside them it wins: the exact phase of
# GA k = 6 ±0.5% proven in 29 s against 53 s in one process (benchmarks README, "Two processes").
PARTNER_EARLY_STOPS = 3
PARTNER_SEED = 1  # added to the seed: the partner branches differently even where its rounds match
# The first process (the prover) cuts its round short at most this many times when the partner's rows arrive with
# one it lacks, and starts the next round with them: on GA k = 6 ±5% the partner found the two rows the proof needed
# 11 s before the prover's own round ended on the solution they cut off, and a second round then took 18 s. Not
# more: on GA k = 10 ±5% a second restart (for the partner's 2,935 rows at 33 s) ended at 60 s 1.84% from the bound,
# against 1.11% when the prover's round went on and found those rows itself (one-off traces).
PROVER_RESTARTS = 1
HEAR_EVERY = 0.05  # seconds between looks at the pipe from HiGHS's callbacks
LATE_STOP_WAIT = 0.3  # seconds a solve at its time limit waits for the partner's last words (STOP_WAIT otherwise)
BINARY_RENS = False  # see _solve_binary
BINARY_GRACE = 5.0  # seconds past its time limit a 0-1 program's fork may take before it is ended (solve_binary)
IMPROVEMENT_HEURISTICS_OFF = {"mip_heuristic_run_rins": False, "mip_heuristic_run_rens": False,
                              "mip_heuristic_run_root_reduced_cost": False}  # `improvement_heuristics=False`
# With a partner the two processes split the work: the first proves (HiGHS's primal heuristics off, its time
# goes to the tree), the partner finds plans (heuristics on) and hands them over. The exact phase alone from
# the same start, two processes (benchmarks README, "Two processes, two roles"): GA k = 6 ±0.5% proven in
# 54 s against 70 s (two runs each), NC k = 10 ±5% from its optimal plan in 50 s against 69 s.
PROVER_SETTINGS = {**IMPROVEMENT_HEURISTICS_OFF, "mip_heuristic_effort": 0.0, "mip_heuristic_run_zi_round": False,
                   "mip_heuristic_run_shifting": False}


def silent_highs() -> highspy.Highs:
    """A HiGHS object that prints nothing. The first one made in a process writes a banner to the
    process's standard output (file descriptor 1, below Python), which would land in the middle of
    `tplan run`'s display; that one is made with the descriptor sent to the null device."""
    global _banner_swallowed
    if _banner_swallowed:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(null)
        _banner_swallowed = True
    h.silent()
    return h


class HighsEngine:
    """HiGHS through highspy, the default engine."""

    name = "highs"

    @staticmethod
    def check_options(options: SolverOptions) -> None:
        """Raise SolverError now for an option HiGHS would reject, before any work starts."""
        h = silent_highs()
        apply_options(h, options)

    @staticmethod
    def solve_lp(cost: np.ndarray, matrix, col_bounds: tuple[np.ndarray, np.ndarray],
                 row_bounds: tuple[np.ndarray, np.ndarray], time_limit: float | None = None) -> np.ndarray | None:
        """min cost.x with row_lower <= matrix x <= row_upper and column bounds, for large plain LPs
        (no Pyomo model: building one would take longer than solving). The optimal x, or None (also when
        `time_limit` seconds pass first)."""
        solution = _optimal_lp(cost, matrix, col_bounds, row_bounds, time_limit)
        return None if solution is None else np.asarray(solution.col_value)

    @staticmethod
    def solve_lp_priced(cost: np.ndarray, matrix, col_bounds: tuple[np.ndarray, np.ndarray],
                        row_bounds: tuple[np.ndarray, np.ndarray],
                        time_limit: float | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """As `solve_lp`, with the columns' reduced costs at the optimum (in the cost's units): (x, reduced costs),
        for reduced-cost fixing. None without an optimum."""
        solution = _optimal_lp(cost, matrix, col_bounds, row_bounds, time_limit)
        if solution is None or not solution.dual_valid:
            return None
        return np.asarray(solution.col_value), np.asarray(solution.col_dual, dtype=float)

    @staticmethod
    def solve_binary(cost: np.ndarray, matrix, col_bounds: tuple[np.ndarray, np.ndarray],
                     row_bounds: tuple[np.ndarray, np.ndarray], start: np.ndarray,
                     time_limit: float) -> np.ndarray | None:
        """min cost.x over 0-1 x (as in `solve_lp`), by branch-and-bound from the feasible `start`, for at
        most `time_limit` seconds. The best x found (at worst `start`), or None if HiGHS kept none.
        The solve runs in a fork of this process (see `start_binary`)."""
        return HighsEngine.start_binary(cost, matrix, col_bounds, row_bounds, start, time_limit).result()

    @staticmethod
    def start_binary(cost: np.ndarray, matrix, col_bounds: tuple[np.ndarray, np.ndarray],
                     row_bounds: tuple[np.ndarray, np.ndarray], start: np.ndarray,
                     time_limit: float) -> Pending:
        """`solve_binary` started in a fork of this process and left running: several of them keep several
        cores busy (model.star_windows). The fork is ended if it is not back BINARY_GRACE seconds after its
        time limit (its answer is then None): HiGHS 1.16 hung in its presolve (HPresolve::strengthenInequalities)
        three times in about a dozen runs of windows on the ZIP cells, once after a restart of the
        branch-and-bound with RENS off, each far past its time limit. Where there is no fork the solve runs
        here, before this returns."""
        return Pending.start(lambda: _solve_binary(cost, matrix, col_bounds, row_bounds, start, time_limit),
                             max(time_limit, 0.1) + BINARY_GRACE)

    @staticmethod
    def lp_row_duals(cost: np.ndarray, matrix, col_bounds: tuple[np.ndarray, np.ndarray],
                     row_bounds: tuple[np.ndarray, np.ndarray], iterations: int,
                     time_limit: float | None = None) -> np.ndarray | None:
        """Approximate row duals of a large plain LP (as in `solve_lp`) by a first-order method, HiGHS's
        PDLP, stopped after `iterations` (deterministic) or `time_limit`. Not an optimality certificate:
        for callers that turn any duals into a valid bound of their own. None if PDLP gave no duals."""
        h = _plain_lp(cost, matrix, col_bounds, row_bounds)
        h.setOptionValue("solver", "pdlp")
        h.setOptionValue("pdlp_iteration_limit", int(iterations))
        h.setOptionValue("presolve", "off")  # a presolved LP stopped early gives no duals to postsolve
        h.setOptionValue("threads", 1)
        if time_limit is not None:
            h.setOptionValue("time_limit", float(max(time_limit, 0.1)))
        h.run()
        solution = h.getSolution()
        if not solution.dual_valid:
            return None
        duals = np.asarray(solution.row_dual, dtype=float)
        return duals if np.all(np.isfinite(duals)) else None

    @staticmethod
    def solve_boolean(program: BooleanProgram, seconds: float, seed: int = 0, on_solution=None) -> BooleanResult:
        """0-1 programs go to OR-Tools CP-SAT (solvers.cpsat), far stronger than branch-and-bound on
        the narrow-band assignments the territory search hands it."""
        return cpsat.solve_boolean(program, seconds, seed, on_solution)

    @staticmethod
    def version() -> str:
        h = silent_highs()
        return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"

    def solve(
        self,
        model: ConcreteModel,
        options: SolverOptions,
        *,
        warm_start: Sequence[tuple[VarData, float]] | None = None,
        separate: Separate | None = None,
        progress: Callable[[Progress], None] | None = None,
        relax: bool = False,
        repair: Repair | None = None,
    ) -> SolveResult:
        """Solve to the requested gap or limit; load the best lazy-feasible solution into the model.
        `relax` solves the LP relaxation instead (integer columns made continuous). `repair` turns a
        solution that breaks lazy rows into one that keeps them; it is handed to HiGHS as an incumbent."""
        start = time.perf_counter()
        run = _Run(model, options, separate, progress, start)
        run.repair = repair
        if relax:
            run.relax()
        if warm_start:
            run.offer_start(warm_start)
        if not relax and _wants_partner(run, options, separate):
            run.partner = Partner.fork(run.second)
            if run.partner is not None:
                run.prove_only()
        try:
            run.loop()
        finally:
            run.end_partner()
        seconds = time.perf_counter() - start
        if run.best is not None:
            for col, var in enumerate(run.columns):
                var.set_value(float(run.best[col]), skip_validation=True)
        objective = None if run.best_obj is None else float(run.best_obj)
        gap = relative_gap(objective, run.bound)
        termination = run.termination
        if termination in (Termination.TIME_LIMIT, Termination.ERROR) and run.gap_closed(run.bound):
            termination = Termination.OPTIMAL  # the partner's bound proves the best plan
        if termination is Termination.OPTIMAL and (gap is None or gap > options.rel_gap * 1.0001 + 1e-9):
            # HiGHS proved its round, but the best lazy-feasible plan is further from the bound.
            termination = Termination.TIME_LIMIT
        return SolveResult(
            termination=termination,
            has_solution=run.best is not None,
            objective=objective,
            bound=run.bound,
            gap=gap,
            seconds=seconds,
            engine=self.name,
            version=self.version(),
            options=options,
            rounds=run.rounds,
            lazy_cuts=len(run.cut_keys),
            values={var.name: float(run.best[c]) for c, var in enumerate(run.columns)} if run.best is not None else {},
            reduced_costs=run.reduced_costs(),
            solver_status=run.status_text,
        )


def _wants_partner(run: _Run, options: SolverOptions, separate: Separate | None) -> bool:
    """A second process pays off on a MIP with lazy rows (rounds to cut short) and a few seconds to run."""
    long_enough = options.time_limit is None or options.time_limit >= PARTNER_MIN_SECONDS
    return options.threads >= 2 and separate is not None and run.has_integers and long_enough


def apply_options(h: highspy.Highs, o: SolverOptions) -> None:
    """Set the standard and pass-through options; a rejected one is a user error naming it. HiGHS itself
    runs on one thread: its branch-and-bound is serial, and `threads` buys a second process instead
    (solvers.portfolio), which a forked HiGHS with worker threads could not safely be."""
    settings = {"mip_rel_gap": float(o.rel_gap), "random_seed": int(o.seed), "threads": 1}
    if not o.improvement_heuristics:  # the scenario's own options (extra) still win
        settings.update(IMPROVEMENT_HEURISTICS_OFF)
    if o.interior_root:
        settings["mip_lp_solver"] = "ipm"
    for key, val in {**settings, **o.extra}.items():
        try:
            ok = h.setOptionValue(key, val) == highspy.HighsStatus.kOk
        except (TypeError, ValueError, RuntimeError):
            ok = False
        if not ok:
            raise SolverError(f"solver.options: HiGHS rejects {key} = {val!r}; check the name and type in the HiGHS option list")


class _Run:
    """State of one solve: the HiGHS object, the column map, the best lazy-feasible solution."""

    def __init__(self, model, options, separate, progress, start):
        self.options = options
        self.separate = separate
        self.progress = progress
        self.start = start
        self.highs = silent_highs()
        self.columns, self.offset = self._load(model)
        self.col_of = {id(v): c for c, v in enumerate(self.columns)}
        self.best: np.ndarray | None = None
        self.best_obj: float | None = None
        self.bound: float | None = None
        self.pending: list[LinearCut] = []
        self.cut_keys: set[tuple] = set()
        self.rounds = 0
        self.termination = Termination.ERROR
        self.status_text = ""
        self.repair: Repair | None = None
        self.queued: np.ndarray | None = None  # a repaired solution waiting to be handed to HiGHS
        self._last_report = 0.0
        # HiGHS checks its own time limit between steps, and some steps (a root cut round on 1,000
        # units) ran about 9 s past it; the callbacks stop it at the limit plus this grace instead.
        self.deadline = None if options.time_limit is None else start + options.time_limit + DEADLINE_GRACE
        self.past_deadline = False
        self.partner: Partner | None = None  # the second process (solvers.portfolio), on either side
        self.shared_rows: list[tuple] = []  # lazy rows the partner found, for the next round
        self.early_stops = 0  # rounds this process may still cut short (the partner's strategy)
        self.cut_short = False  # the round's new plan broke lazy rows: stop it at the next tick
        self.restarts_on_rows = 0  # rounds the prover may still cut short for the partner's new rows
        self.cut_for_rows = False  # the round is cut short for the partner's rows (not for its own plan)
        self.stop_asked = False  # the first process has finished: the partner stops
        self.is_partner = False  # this is the forked process
        self._last_heard = 0.0
        self._sent_bound: float | None = None
        self.presolve_off = False  # set after HiGHS returned a warm start's values with a better objective
        self._set_options()

    # --- model loading -------------------------------------------------
    def _load(self, model: ConcreteModel) -> tuple[list[VarData], float]:
        objectives = list(model.component_data_objects(Objective, active=True))
        if len(objectives) != 1 or objectives[0].sense != minimize:
            raise SolverError("the model needs exactly one active objective to minimise")
        info = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
        columns: list[VarData] = list(info.columns)
        n = len(columns)
        lower = np.array([-INF if v.lb is None else v.lb for v in columns], dtype=float)
        upper = np.array([INF if v.ub is None else v.ub for v in columns], dtype=float)
        cost = np.asarray(info.c.toarray()).ravel() if n else np.zeros(0)
        offset = float(np.asarray(info.c_offset).ravel()[0]) if np.size(info.c_offset) else 0.0
        a = info.A.tocsr()
        row_lower = np.full(a.shape[0], -INF)
        row_upper = np.full(a.shape[0], INF)
        for r, (_, kind) in enumerate(info.rows):  # kind: 1 is <=, -1 is >=, 0 is ==
            if kind >= 0:
                row_upper[r] = info.rhs[r]
            if kind <= 0:
                row_lower[r] = info.rhs[r]
        h = self.highs
        h.addVars(n, lower, upper)
        h.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
        h.changeObjectiveOffset(offset)
        integer = np.array([c for c, v in enumerate(columns) if not v.is_continuous()], dtype=np.int32)
        if len(integer):
            h.changeColsIntegrality(
                len(integer), integer, np.full(len(integer), highspy.HighsVarType.kInteger)
            )
        if a.shape[0]:
            h.addRows(
                a.shape[0], row_lower, row_upper, a.nnz,
                a.indptr[:-1].astype(np.int32), a.indices.astype(np.int32), a.data.astype(float),
            )
        self.has_integers = len(integer) > 0
        self.matrix, self.row_bounds, self.col_bounds, self.cost = a, (row_lower, row_upper), (lower, upper), cost
        return columns, offset

    def _set_options(self) -> None:
        o = self.options
        h = self.highs
        apply_options(h, o)
        if o.log_path:
            h.setOptionValue("log_file", o.log_path)
            h.setOptionValue("log_to_console", False)
            h.setOptionValue("output_flag", True)
        h.cbMipImprovingSolution.subscribe(self._on_incumbent)
        h.cbMipInterrupt.subscribe(self._on_tick)
        h.cbSimplexInterrupt.subscribe(self._on_poll)
        h.cbIpmInterrupt.subscribe(self._on_poll)
        h.cbMipUserSolution.subscribe(self._on_user_solution)

    def reduced_costs(self) -> dict[str, float]:
        """Column reduced costs of an LP solve (empty for a MIP)."""
        if self.has_integers:
            return {}
        sol = self.highs.getSolution()
        if not sol.dual_valid:
            return {}
        return {var.name: float(d) for var, d in zip(self.columns, sol.col_dual)}

    def relax(self) -> None:
        n = len(self.columns)
        self.highs.changeColsIntegrality(
            n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kContinuous)
        )
        self.has_integers = False

    # --- callbacks -----------------------------------------------------
    def _values_getter(self, x: np.ndarray) -> Callable[[VarData], float]:
        col_of = self.col_of

        def get(var: VarData) -> float:
            c = col_of.get(id(var))
            return float(x[c]) if c is not None else float(value(var))

        return get

    def _cuts_for(self, x: np.ndarray) -> list[LinearCut]:
        return list(self.separate(self._values_getter(x))) if self.separate else []

    def _accept(self, x: np.ndarray, objective: float) -> bool:
        """Keep x if it satisfies every lazy row; else queue the rows it violates."""
        cuts = self._cuts_for(x)
        if cuts:
            self.pending.extend(cuts)
            self.cut_short = self.early_stops > 0
            self._try_repair(x)
            return False
        if self.best_obj is None or objective < self.best_obj - 1e-9:
            self._keep(np.array(x, dtype=float), float(objective))
        return True

    def _keep(self, x: np.ndarray, objective: float, share: bool = True) -> None:
        """x is the best lazy-feasible solution so far; the partner hears of it."""
        self.best, self.best_obj = x, objective
        if share and self.partner is not None:
            self.partner.send("plan", x, objective)

    def _try_repair(self, x: np.ndarray) -> None:
        if self.repair is None:
            return
        fixed = self.repair(self._values_getter(x))
        if not fixed:
            return
        y = self._vector(fixed)
        if not self._row_feasible(y) or self._cuts_for(y):
            return
        objective = float(self.cost @ y) + self.offset
        if self.best_obj is None or objective < self.best_obj - 1e-9:
            self._keep(y, objective)
            self.queued = y

    def _on_user_solution(self, event: Any) -> None:
        if self.queued is not None:
            event.data_in.setSolution(self.queued)
            self.queued = None

    def _on_incumbent(self, event: Any) -> None:
        x = np.array(event.data_out.mip_solution, dtype=float)
        self._accept(x, float(self.cost @ x) + self.offset)
        self._report(event.data_out.mip_dual_bound)

    def _on_tick(self, event: Any) -> None:
        self._on_poll(event)
        bound = event.data_out.mip_dual_bound
        self._report(bound)
        self._share_bound(bound)
        if self.gap_closed(bound):  # no later round can beat the best plan by more than the gap: the loop ends
            self.bound = bound if self.bound is None else max(self.bound, bound)
            event.interrupt()
        elif self.cut_short:  # the partner's strategy: the next round starts with the new rows
            event.interrupt()

    def gap_closed(self, round_bound: float | None) -> bool:
        """The best lazy-feasible plan is within the relative gap of a round's dual bound. That bound is valid
        for the whole model (a round lacks only lazy rows), while HiGHS compares it with its own incumbent,
        which may break lazy rows and be cheaper: so it can go on for a plan that is already proven."""
        if self.best_obj is None or round_bound is None or not np.isfinite(round_bound):
            return False
        bound = round_bound if self.bound is None else max(self.bound, round_bound)
        gap = relative_gap(self.best_obj, bound)
        return gap is not None and gap <= self.options.rel_gap

    def _on_poll(self, event: Any) -> None:
        event.data_in.user_interrupt = False  # HiGHS keeps the flag of a round cut short into the next one
        self._hear()
        if interrupt.requested() or self.stop_asked:  # Ctrl-C: HiGHS stops and keeps what it found, like a time limit
            event.interrupt()
        elif self.deadline is not None and time.perf_counter() > self.deadline:
            self.past_deadline = True
            event.interrupt()

    def _report(self, round_bound: float | None) -> None:
        if self.progress is None:
            return
        now = time.perf_counter() - self.start
        if now - self._last_report < 0.25:
            return
        self._last_report = now
        bound = self.bound
        if round_bound is not None and np.isfinite(round_bound):
            bound = round_bound if bound is None else max(bound, round_bound)
        self.progress(Progress(now, self.best_obj, bound, self.rounds, len(self.cut_keys)))

    # --- driver --------------------------------------------------------
    def offer_start(self, start: Sequence[tuple[VarData, float]]) -> None:
        """Use a user plan as the first incumbent (checked against every row and lazy row)."""
        x = self._vector(start)
        if not self._row_feasible(x):
            return
        objective = float(self.cost @ x) + self.offset
        self._accept(x, objective)
        self.pending.clear()

    def _vector(self, pairs: Sequence[tuple[VarData, float]]) -> np.ndarray:
        x = np.zeros(len(self.columns))
        for var, val in pairs:
            c = self.col_of.get(id(var))
            if c is not None:
                x[c] = val
        return x

    def _row_feasible(self, x: np.ndarray, tol: float = 1e-6) -> bool:
        """x satisfies the bounds and rows of the compiled model."""
        (lo, up), (rlo, rup) = self.col_bounds, self.row_bounds
        act = self.matrix @ x
        return bool(
            np.all(x >= lo - tol) and np.all(x <= up + tol) and np.all(act >= rlo - tol) and np.all(act <= rup + tol)
        )

    def _add_pending(self) -> int:
        """Add the queued rows not seen before (and the partner's), in one call: one addRow per row took
        230 s for the 190,466 pocket-cut rows of a 9 x 9 grid's round, one addRows call about a second."""
        own = []
        for cut in self.pending:
            cols = np.array([self.col_of[id(v)] for v, _ in cut.terms], dtype=np.int32)
            vals = np.array([c for _, c in cut.terms], dtype=float)
            order = np.argsort(cols)
            own.append((cols[order], vals[order], cut.lower, cut.upper))
        self.pending.clear()
        lower, upper, starts, index, value, own_new = [], [], [0], [], [], []
        for mine, row in [(True, r) for r in own] + [(False, r) for r in self.shared_rows]:
            cols, vals, low, up = row
            key = _row_key(row)
            if key in self.cut_keys:
                continue
            self.cut_keys.add(key)
            if mine:
                own_new.append(row)
            lower.append(-INF if low == -np.inf else low)
            upper.append(INF if up == np.inf else up)
            index.append(cols)
            value.append(vals)
            starts.append(starts[-1] + len(cols))
        self.shared_rows = []
        if self.partner is not None and own_new:
            self.partner.send("rows", own_new)
        if lower:
            self.highs.addRows(len(lower), np.array(lower, dtype=float), np.array(upper, dtype=float),
                               starts[-1], np.array(starts[:-1], dtype=np.int32),
                               np.concatenate(index).astype(np.int32), np.concatenate(value))
        return len(lower)

    def loop(self) -> None:
        h = self.highs
        limit = self.options.time_limit
        while True:
            self.rounds += 1
            if limit is not None:
                remaining = limit - (time.perf_counter() - self.start)
                if remaining <= 0:
                    self.termination = Termination.TIME_LIMIT
                    return
                h.setOptionValue("time_limit", float(remaining))
            if self.best is not None:
                sol = highspy.HighsSolution()
                sol.col_value = list(self.best)
                sol.value_valid = True
                h.setSolution(sol)
            self.cut_short = self.cut_for_rows = False
            h.run()
            interrupted = interrupt.requested()
            status = h.getModelStatus()
            self.status_text = h.modelStatusToString(status)
            info = h.getInfo()
            round_bound = self._round_bound(status, info)
            if round_bound is not None:
                self.bound = round_bound if self.bound is None else max(self.bound, round_bound)
            self._share_bound(self.bound)
            self._hear(wait=False)
            if status == highspy.HighsModelStatus.kInfeasible:
                self.termination = Termination.INFEASIBLE if self.best is None else Termination.ERROR
                return
            if status == highspy.HighsModelStatus.kUnbounded:
                self.termination = Termination.UNBOUNDED
                return
            solution = h.getSolution()
            if solution.value_valid:
                x = np.array(solution.col_value, dtype=float)
                if (self.has_integers and self.best is not None and not self.presolve_off
                        and _start_kept_for_better(h, self.cost, x, self.offset)):
                    h.clearSolver()  # the values are the warm start's, not the reported optimum's: again without presolve
                    h.setOptionValue("presolve", "off")
                    self.presolve_off = True
                    self.rounds -= 1
                    continue
                self._accept(x, float(self.cost @ x) + self.offset)
            if self.gap_closed(self.bound):  # a round's bound (here or at a tick) already proves the best plan
                self.termination = Termination.OPTIMAL
                return
            if status == highspy.HighsModelStatus.kInterrupt and self.past_deadline and not interrupted:
                self.termination = Termination.TIME_LIMIT
                return
            if status == highspy.HighsModelStatus.kInterrupt and self.cut_short and not (interrupted or self.stop_asked):
                if self.cut_for_rows:  # the prover's: the next round starts with the partner's rows
                    self.restarts_on_rows -= 1
                else:  # the partner's strategy: the next round starts with the rows just found
                    self.early_stops -= 1
                self._add_pending()
                continue
            if interrupted or status == highspy.HighsModelStatus.kInterrupt:
                self.termination = Termination.INTERRUPTED
                return
            proven = status == highspy.HighsModelStatus.kOptimal
            if proven and not self.pending:
                self.termination = Termination.OPTIMAL
                return
            if not proven and status != highspy.HighsModelStatus.kTimeLimit and not self.pending:
                self.termination = Termination.ERROR
                return
            if status == highspy.HighsModelStatus.kTimeLimit:
                self.termination = Termination.TIME_LIMIT
                return
            self._add_pending()

    # --- the partner process (solvers.portfolio) -------------------------
    def prove_only(self) -> None:
        """The first process beside a partner: no primal heuristics (PROVER_SETTINGS; the scenario's own
        options still win), the partner finds the plans."""
        for key, value in PROVER_SETTINGS.items():
            if key not in self.options.extra:
                self.highs.setOptionValue(key, value)
        self.restarts_on_rows = PROVER_RESTARTS

    def second(self, partner: Partner) -> None:
        """The forked process's solve: another seed, rounds cut short at first; what it finds goes across."""
        self.partner = partner
        self.is_partner = True
        self.progress = None
        self.early_stops = PARTNER_EARLY_STOPS
        self.highs.setOptionValue("random_seed", int(self.options.seed) + PARTNER_SEED)
        self.loop()

    def end_partner(self) -> None:
        """On the first process: stop the partner and take in its last plans and bounds."""
        if self.partner is None:
            return
        partner, self.partner = self.partner, None
        wait = STOP_WAIT
        if self.deadline is not None:  # at the time limit there is no time to wait for a partner deep in a step:
            # GA k = 10 ±0.5% ended 1.8 s past its 60 s waiting for it (its plans already came as it found them)
            wait = min(STOP_WAIT, max(LATE_STOP_WAIT, self.deadline - DEADLINE_GRACE - time.perf_counter()))
        for message in partner.finish(wait):
            self._take(message)

    def _hear(self, wait: bool = True) -> None:
        """Take in what the partner sent (at most every HEAR_EVERY seconds from the callbacks)."""
        if self.partner is None:
            return
        now = time.perf_counter()
        if wait and now - self._last_heard < HEAR_EVERY:
            return
        self._last_heard = now
        for message in self.partner.received():
            self._take(message)
        if self.is_partner and self.partner.gone:
            self.stop_asked = True  # the first process has ended without a word (killed): nothing to work for

    def _take(self, message: tuple) -> None:
        """A better plan becomes the incumbent (handed to HiGHS too), a bound is folded in (every round
        of either process is a relaxation of the same model), lazy rows wait for the next round."""
        kind = message[0]
        if kind == "plan" and (self.best_obj is None or message[2] < self.best_obj - 1e-9):
            self._keep(message[1], float(message[2]), share=False)
            self.queued = message[1]
        elif kind == "bound":
            self.bound = message[1] if self.bound is None else max(self.bound, message[1])
        elif kind == "rows":
            self.shared_rows.extend(message[1])
            if self.restarts_on_rows > 0 and any(_row_key(row) not in self.cut_keys for row in message[1]):
                self.cut_short = self.cut_for_rows = True
        elif kind == "stop":
            self.stop_asked = True

    def _share_bound(self, bound: float | None) -> None:
        if self.partner is None or bound is None or not np.isfinite(bound):
            return
        if self._sent_bound is None or bound > self._sent_bound + 1e-9 * abs(bound):
            self._sent_bound = float(bound)
            self.partner.send("bound", float(bound))

    def _round_bound(self, status, info) -> float | None:
        if status == highspy.HighsModelStatus.kOptimal and not self.has_integers:
            return float(info.objective_function_value)
        bound = getattr(info, "mip_dual_bound", None)
        if bound is None or not np.isfinite(bound):
            return None
        return float(bound)


def _row_key(row: tuple) -> tuple:
    """A lazy row (columns, values, lower, upper) as a key, to add each row once."""
    cols, vals, low, up = row
    return tuple(cols), tuple(np.round(vals, 9)), low, up


def _solve_binary(cost: np.ndarray, matrix, col_bounds: tuple[np.ndarray, np.ndarray],
                  row_bounds: tuple[np.ndarray, np.ndarray], start: np.ndarray, time_limit: float) -> np.ndarray | None:
    """HighsEngine.solve_binary's solve itself."""
    h = _plain_lp(cost, matrix, col_bounds, row_bounds)
    h.changeColsIntegrality(len(cost), np.arange(len(cost), dtype=np.int32),
                            np.full(len(cost), highspy.HighsVarType.kInteger))
    h.setOptionValue("threads", 1)
    h.setOptionValue("time_limit", float(max(time_limit, 0.1)))
    h.setOptionValue("mip_rel_gap", 1e-6)
    # HiGHS 1.16 hung inside the presolve of its RENS sub-MIP (HPresolve::strengthenInequalities), past the
    # time limit and up to 24 GB, twice in three runs of windows on the ZIP cells' groups (not reproduced from
    # the saved programs alone); a window starts from a feasible plan, so that heuristic is not needed.
    h.setOptionValue("mip_heuristic_run_rens", BINARY_RENS)
    deadline = time.perf_counter() + max(time_limit, 0.1)
    solution = highspy.HighsSolution()
    solution.col_value = list(map(float, start))
    solution.value_valid = True
    h.setSolution(solution)
    h.run()
    if h.getInfo().primal_solution_status != 2:  # 2: a feasible solution is held
        return None
    x = np.rint(np.asarray(h.getSolution().col_value))
    if _start_kept_for_better(h, cost, x):
        h.clearSolver()
        h.setOptionValue("presolve", "off")
        h.setOptionValue("time_limit", float(max(deadline - time.perf_counter(), 0.1)))
        h.setSolution(solution)
        h.run()
        if h.getInfo().primal_solution_status == 2:
            x = np.rint(np.asarray(h.getSolution().col_value))
    return x


def _start_kept_for_better(h: highspy.Highs, cost: np.ndarray, x: np.ndarray, offset: float = 0.0) -> bool:
    """HiGHS 1.16.0 can report a better objective than the solution it hands back: when its presolve
    solves a warm-started MIP outright, the values returned are still the start's (a 12-column window
    program of model.star_windows: objective 2,000, values of the 2,800 start). Run again without
    presolve then."""
    reported = float(h.getInfo().objective_function_value)
    return float(cost @ x) + offset > reported + 1e-7 * max(1.0, abs(reported))


def _optimal_lp(cost: np.ndarray, matrix, col_bounds: tuple[np.ndarray, np.ndarray],
                row_bounds: tuple[np.ndarray, np.ndarray], time_limit: float | None):
    """The solution of the plain LP (one thread), or None if HiGHS ends without an optimum."""
    h = _plain_lp(cost, matrix, col_bounds, row_bounds)
    h.setOptionValue("threads", 1)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(max(time_limit, 0.1)))
    h.run()
    return h.getSolution() if h.getModelStatus() == highspy.HighsModelStatus.kOptimal else None


def _plain_lp(cost: np.ndarray, matrix, col_bounds: tuple[np.ndarray, np.ndarray],
              row_bounds: tuple[np.ndarray, np.ndarray]) -> highspy.Highs:
    """A silent HiGHS instance holding min cost.x, row_lower <= matrix x <= row_upper, column bounds."""
    matrix = matrix.tocsc()
    lp = highspy.HighsLp()
    lp.num_row_, lp.num_col_ = matrix.shape
    lp.col_cost_ = cost
    lp.col_lower_, lp.col_upper_ = col_bounds
    lp.row_lower_, lp.row_upper_ = row_bounds
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = matrix.indptr, matrix.indices, matrix.data
    lp.a_matrix_.num_row_, lp.a_matrix_.num_col_ = matrix.shape
    h = silent_highs()
    h.passModel(lp)
    return h
