"""The territory model against brute force on tiny grids, and each constraint family pinned."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from model.check import check_plan, is_valid, plan_violations
from model.plan import Plan
from model.search import solve_territories
from model.spec import BalanceRule
from solvers import SolverOptions, Termination
from solvers.highs import HighsEngine
from tests.conftest import grid_spec, random_grid_specs
from tests.model.bruteforce import brute_force

ENGINE = HighsEngine()
OPTIONS = SolverOptions(time_limit=30, rel_gap=1e-9)


def solve(spec):
    return solve_territories(spec, ENGINE, OPTIONS)


@pytest.mark.parametrize(
    "rows,cols,values,k,tol",
    [
        (2, 4, [5, 1, 1, 5, 1, 3, 3, 1], 2, 0.1),
        (3, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9], 3, 0.2),
        (3, 3, [9, 1, 1, 1, 1, 1, 1, 1, 9], 2, 0.05),
        (2, 5, [1, 1, 8, 1, 1, 1, 1, 1, 1, 4], 3, 0.5),
    ],
)
def test_free_centres_match_brute_force(rows, cols, values, k, tol):
    spec = grid_spec(rows, cols, values, k, tol)
    outcome = solve(spec)
    expected = brute_force(spec)
    assert expected is not None
    assert outcome.result.termination is Termination.OPTIMAL
    check_plan(spec, outcome.plan)
    assert outcome.plan.objective(spec.cost()) == pytest.approx(expected, rel=1e-6)
    assert outcome.result.bound == pytest.approx(expected, rel=1e-6)


def test_fixed_centres_match_brute_force():
    spec = grid_spec(3, 3, [3, 1, 2, 1, 4, 1, 2, 1, 3], 3, 0.34, centres=(0, 4, 8))
    outcome = solve(spec)
    assert outcome.plan.objective(spec.cost()) == pytest.approx(brute_force(spec), rel=1e-6)
    assert set(outcome.plan.centres) == {0, 4, 8}


def test_contiguity_changes_the_optimum():
    """Two heavy corners in a 1 x 5 strip: without contiguity the best plan pairs the corners."""
    values = [10, 1, 1, 1, 10]
    loose = grid_spec(1, 5, values, 2, 0.6, contiguity=False)
    tight = grid_spec(1, 5, values, 2, 0.6, contiguity=True)
    a, b = solve(loose), solve(tight)
    assert a.plan.objective(loose.cost()) == pytest.approx(brute_force(loose), rel=1e-6)
    assert b.plan.objective(tight.cost()) == pytest.approx(brute_force(tight), rel=1e-6)
    check_plan(tight, b.plan)


def test_power_one_matches_brute_force():
    spec = grid_spec(2, 4, [1, 2, 3, 4, 4, 3, 2, 1], 2, 0.2, power=1)
    assert solve(spec).plan.objective(spec.cost()) == pytest.approx(brute_force(spec), rel=1e-6)


def test_absolute_bounds_and_second_attribute():
    spec = grid_spec(2, 4, [1, 2, 3, 4, 4, 3, 2, 1], 2, None)
    accounts = spec.geography.attributes["pop"] * 0 + np.array([1, 1, 1, 1, 3, 3, 3, 3])
    geo = replace(spec.geography, attributes={"pop": spec.geography.attributes["pop"], "accounts": accounts})
    spec = replace(spec, geography=geo, balance=(BalanceRule("pop", 8, 12), BalanceRule("accounts", 7, 9)))
    outcome = solve(spec)
    check_plan(spec, outcome.plan)
    assert outcome.plan.objective(spec.cost()) == pytest.approx(brute_force(spec), rel=1e-6)


def test_locked_units_fixed_centres():
    spec = grid_spec(2, 4, [1] * 8, 2, 0.5, centres=(0, 7), )
    spec = replace(spec, locks=((3, 0), (4, 1)))  # u3 to the territory of u0, u4 to that of u7
    outcome = solve(spec)
    assert outcome.plan.centre_of[3] == 0 and outcome.plan.centre_of[4] == 7
    assert outcome.plan.objective(spec.cost()) == pytest.approx(brute_force(spec), rel=1e-6)


def test_locked_units_free_centres_grouped():
    spec = replace(grid_spec(2, 4, [1] * 8, 2, 0.5), locks=((0, 0), (7, 0)))
    outcome = solve(spec)
    assert outcome.plan.centre_of[0] == outcome.plan.centre_of[7]
    check_plan(spec, outcome.plan)


def test_locks_broken_with_free_centres_are_named_group_by_group():
    """Two lock groups (u0, u7) and (u1, u6) on a 2 x 4 grid: one split across territories, then both inside one."""
    spec = replace(grid_spec(2, 4, [1] * 8, 2, None), locks=((0, 0), (7, 0), (1, 1), (6, 1)))
    ids = spec.geography.ids
    split = Plan((0, 0, 0, 0, 7, 7, 7, 7))  # u0 and u7 apart, u1 and u6 apart
    said = plan_violations(spec, split)
    assert f"units locked together lie in different territories: {ids[0]}, {ids[7]}" in said
    assert f"units locked together lie in different territories: {ids[1]}, {ids[6]}" in said
    together = Plan((0, 0, 0, 0, 4, 4, 0, 0))  # both groups in u0's territory
    assert plan_violations(spec, together) == [f"units locked apart share a territory: {ids[0]}, {ids[1]}"]


def test_infeasible_balance_is_reported_not_crashed():
    """Strip 3 3 1 1, two territories of exactly 4: each 3 needs a 1 it does not touch."""
    spec = grid_spec(1, 4, [3, 3, 1, 1], 2, 0.01)
    outcome = solve(spec)
    assert outcome.plan is None
    assert outcome.result.termination is Termination.INFEASIBLE
    loose = solve(replace(spec, contiguity=False))
    check_plan(replace(spec, contiguity=False), loose.plan)


def test_checker_catches_each_violation():
    spec = grid_spec(1, 4, [1, 1, 1, 1], 2, 0.01)
    assert is_valid(spec, Plan((0, 0, 3, 3)))
    assert any("not contiguous" in p for p in plan_violations(spec, Plan((0, 3, 0, 3))))
    assert any("outside" in p for p in plan_violations(spec, Plan((0, 0, 0, 3))))
    assert any("territories" in p for p in plan_violations(spec, Plan((0, 0, 0, 0))))
    assert any("own territory" in p for p in plan_violations(spec, Plan((1, 1, 3, 2))))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=random_grid_specs())
def test_every_plan_passes_the_checker_and_is_optimal(spec):
    outcome = solve(spec)
    expected = brute_force(spec)
    if expected is None:
        assert outcome.plan is None
        return
    check_plan(spec, outcome.plan)
    assert outcome.plan.objective(spec.cost()) == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_separators_up_front_give_the_same_optimum():
    """The neighbour separator rows are valid contiguity cuts: adding them changes no optimum."""
    from model.search import solve_exact

    spec = grid_spec(3, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9], 3, 0.2)
    plain = solve_exact(spec, ENGINE, OPTIONS)[1]
    import model.territory_model as tm

    m = tm.build_territory_model(spec, separators_up_front=True)
    assert hasattr(m, "neighbours_separate") and len(m.neighbours_separate) > 0
    strong = ENGINE.solve(m, OPTIONS, separate=tm.contiguity_separator(m, spec))
    assert strong.objective * m.cost_scale == pytest.approx(plain.objective, rel=1e-6)
    assert plain.objective == pytest.approx(brute_force(spec), rel=1e-6)


@pytest.mark.parametrize("values,k,limit,centres", [
    ([5, 4, 3, 2, 2, 1, 1, 1], 3, 10.5, None),
    ([5, 5, 2, 1, 3, 5, 4, 1], 3, 10.5, None),
    ([2, 5, 3, 1, 4, 4, 5, 1], 3, 10.5, None),
    ([3, 1, 2, 1, 4, 1, 2, 1], 2, 21.0, (0, 7)),
])
def test_max_distance_matches_brute_force(values, k, limit, centres):
    """No unit farther than `limit` km from its centre (grid cells are 10 km apart); the free-centre
    cases are ones where the limit changes the optimum."""
    spec = replace(grid_spec(2, 4, values, k, 0.6, centres=centres), max_distance=limit)
    expected = brute_force(spec)
    outcome = solve(spec)
    assert outcome.result.termination is Termination.OPTIMAL
    check_plan(spec, outcome.plan)
    assert outcome.plan.objective(spec.cost()) == pytest.approx(expected, rel=1e-6)
    if centres is None:
        assert brute_force(replace(spec, max_distance=None)) < expected - 1e-6  # the limit binds


def test_max_distance_the_checker_and_the_precheck_name_units():
    from model.precheck import precheck
    from model.spec import ModelError

    spec = replace(grid_spec(2, 3, [1] * 6, 2, 0.5, centres=(0, 1)), max_distance=12.0)
    with pytest.raises(ModelError, match=r"unit u5 is farther than 12 km from every centre; raise max_distance to at least 14.1"):
        precheck(spec)
    alone = replace(grid_spec(2, 3, [1] * 6, 2, 0.5), max_distance=9.0)  # cells are 10 km apart
    with pytest.raises(ModelError, match=r"unit u0 has no other unit within 9 km \(the nearest is 10 km away\)"):
        precheck(alone)
    free = replace(grid_spec(2, 3, [1] * 6, 2, 0.5), max_distance=12.0)
    assert any("beyond max_distance" in p for p in plan_violations(free, Plan((0, 0, 0, 0, 0, 0))))


def test_without_improvement_heuristics_highs_skips_its_sub_mips_unless_the_scenario_says_otherwise():
    """The solver-neutral switch maps to HiGHS's sub-MIP heuristics; a scenario's own option still wins."""
    import highspy

    from solvers.highs import apply_options

    h = highspy.Highs()
    apply_options(h, SolverOptions(improvement_heuristics=False))
    assert [h.getOptionValue(k)[1] for k in ("mip_heuristic_run_rins", "mip_heuristic_run_rens",
                                             "mip_heuristic_run_root_reduced_cost")] == [False, False, False]
    h = highspy.Highs()
    apply_options(h, SolverOptions(improvement_heuristics=False, extra={"mip_heuristic_run_rins": True}))
    assert h.getOptionValue("mip_heuristic_run_rins")[1] is True
    h = highspy.Highs()
    apply_options(h, SolverOptions())
    assert h.getOptionValue("mip_heuristic_run_rens")[1] is True
    assert h.getOptionValue("mip_lp_solver")[1] == "choose"
    apply_options(h, SolverOptions(interior_root=True))
    assert h.getOptionValue("mip_lp_solver")[1] == "ipm"


def test_a_large_warm_started_model_is_proven_without_the_engines_heuristics(monkeypatch):
    """Above PROOF_PAIRS_MIN pairs the final solve asks the engine for no improvement heuristics and an
    interior-point root (the search's plan is its start) and still proves the brute-force optimum; below
    it, the engine's defaults stay."""
    import model.search as search

    spec = grid_spec(3, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9], 3, 0.2)
    seen = []
    real = search.solve_exact

    def spy(sub, engine, options, warm=None, progress=None, allowed=None):
        if sub is spec:
            seen.append((warm is not None, options.improvement_heuristics, options.interior_root))
        return real(sub, engine, options, warm, progress, allowed)

    monkeypatch.setattr(search, "solve_exact", spy)
    for threshold, expected in ((0, False), (10**9, True)):
        monkeypatch.setattr(search, "PROOF_PAIRS_MIN", threshold)
        seen.clear()
        outcome = solve_territories(spec, ENGINE, OPTIONS)
        assert seen == [(True, expected, not expected)]
        check_plan(spec, outcome.plan)
        assert outcome.result.termination is Termination.OPTIMAL
        assert outcome.plan.objective(spec.cost()) == pytest.approx(brute_force(spec), rel=1e-6)


def test_the_engine_prints_nothing_of_its_own_on_standard_output():
    """HiGHS's constructor writes a banner below Python (file descriptor 1); in `tplan run` it landed in
    the middle of the display. A fresh process (the banner comes once per process) solves a tiny model."""
    import subprocess
    import sys

    code = ("from tests.conftest import grid_spec\n"
            "from model.search import solve_territories\n"
            "from solvers import SolverOptions\n"
            "from solvers.highs import HighsEngine\n"
            "out = solve_territories(grid_spec(2, 3, [1] * 6, 2, 0.5), HighsEngine(), SolverOptions(time_limit=10))\n"
            "assert out.plan is not None\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def test_a_plan_is_called_optimal_only_within_the_gap_of_its_bound():
    """The solver's "optimal" is about its own incumbent; the run's is about the plan it writes (HiGHS 1.16.0 once
    reported an optimum's objective with another solution's values: solvers.highs)."""
    from model.search import final_termination

    assert final_termination(Termination.OPTIMAL, 0.2, 1e-4) is Termination.TIME_LIMIT
    assert final_termination(Termination.OPTIMAL, None, 1e-4) is Termination.TIME_LIMIT
    assert final_termination(Termination.OPTIMAL, 1.00005e-4, 1e-4) is Termination.OPTIMAL  # the solver's own rounding
    assert final_termination(Termination.TIME_LIMIT, 0.0, 1e-4) is Termination.OPTIMAL
    assert final_termination(Termination.INTERRUPTED, 0.05, 1e-4) is Termination.INTERRUPTED


def test_a_unit_with_no_pair_left_means_no_plan_not_a_crash():
    """The neighbourhood search redraws groups of an invalid plan on the pairs fixing left, which may leave a
    unit no centre (the bundled georgia_reps run ended in Pyomo's 'trivial Boolean' error that way): no plan."""
    from model.search import solve_exact

    spec = grid_spec(2, 2, [1, 1, 1, 1], 2, None, centres=(0, 3))
    allowed = np.ones((4, 4), dtype=bool)
    allowed[1, :] = False
    plan, result, _ = solve_exact(spec, HighsEngine(), SolverOptions(time_limit=5), allowed=allowed)
    assert plan is None and result.termination is Termination.INFEASIBLE and not result.has_solution
    plan, result, _ = solve_exact(spec, HighsEngine(), SolverOptions(time_limit=5))
    assert plan is not None and result.termination is Termination.OPTIMAL


def test_locks_that_wall_in_a_centre_or_cannot_be_joined_are_named_before_solving():
    """3 x 3 grid (queen: corners touch), centres u0 and u8:  u0 u1 u2 / u3 u4 u5 / u6 u7 u8; and a row u0 .. u4."""
    from model.precheck import precheck
    from model.spec import ModelError

    walled = replace(grid_spec(3, 3, [1] * 9, 2, 0.2, centres=(0, 8)), locks=((1, 1), (3, 1), (4, 1)))  # to T02
    with pytest.raises(ModelError, match=r"territory T01 is walled in by units of other territories \(u1, u3, u4 "
                                         r"locked elsewhere, and their centres\): the units it can reach hold 1, below"):
        precheck(walled)
    apart = replace(grid_spec(1, 5, [1] * 5, 2, 0.1), locks=((0, 0), (4, 0)))  # the row's two ends in one territory
    with pytest.raises(ModelError, match=r"units u0 and u4 must share the territory of unit u0, but the lightest "
                                         r"connected path between them holds 5, above its maximum 2.75"):
        precheck(apart)
    cut = replace(grid_spec(1, 5, [1] * 5, 2, 0.9), locks=((0, 0), (4, 0), (2, 1)))
    with pytest.raises(ModelError, match=r"unit u4 is locked to the territory of unit u0, but every connected path"):
        precheck(cut)
    centre = replace(grid_spec(1, 5, [1] * 5, 2, 0.5, centres=(0, 4)), locks=((4, 0),))  # T02's centre to T01
    with pytest.raises(ModelError, match=r"unit u4 is the centre of another territory and cannot be locked to T01"):
        precheck(centre)
    row = replace(grid_spec(1, 7, [1] * 7, 2, 0.2, centres=(0, 6)), locks=((1, 1), (5, 1)))
    with pytest.raises(ModelError, match=r"walled in by units of other territories \(u1 locked"):  # not u5, far off
        precheck(row)
    precheck(replace(grid_spec(3, 3, [1] * 9, 2, 0.2, centres=(0, 8)), locks=((1, 0), (5, 1))))  # fine


def test_the_neighbourhood_search_skips_a_group_whose_unit_is_locked_elsewhere():
    """A plan that breaks a lock (the search's fallback when no valid plan is known) is no crash."""
    from model.neighbourhood import _resolve

    spec = replace(grid_spec(2, 3, [1] * 6, 3, 0.5, centres=(0, 2, 4)), locks=((1, 1),))  # u1 locked to T02 (u2)
    current = [0, 0, 2, 4, 4, 2]  # u1 with u0: the lock is broken
    assert _resolve(spec, current, [0, 4], lambda *a: None, 1.0, set()) is False


def test_an_infeasible_max_distance_is_named_not_the_balance():
    """One territory over a row of six cells 10 km apart cannot keep every cell within 10.5 km of its centre."""
    from scenarios.diagnose import diagnose_infeasible

    spec = replace(grid_spec(1, 6, [1] * 6, 1, None), max_distance=10.5)
    assert diagnose_infeasible(spec, HighsEngine(), SolverOptions(time_limit=10)).startswith("territories.max_distance")


def test_a_bound_below_zero_is_reported_as_zero(monkeypatch):
    """Every plan costs at least 0: an early Lagrangian bound of -5.7e12 (the ZIP cells) said 'gap 566%'."""
    import model.search as search
    from model.search import SearchOutcome
    from solvers.result import SolveResult

    spec = grid_spec(2, 2, [1] * 4, 2, 0.5)
    below = SolveResult(termination=Termination.TIME_LIMIT, has_solution=True, objective=10.0, bound=-57.0, gap=6.7,
                        seconds=1.0, engine="heuristic", version="", options=SolverOptions())
    monkeypatch.setattr(search, "_search", lambda *a: SearchOutcome(Plan((0, 0, 3, 3)), below, 10.0, {}))
    outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=5))
    assert outcome.result.bound == 0.0 and outcome.result.gap == 1.0


def test_a_trial_without_a_rule_that_ends_with_nothing_says_so_not_that_time_ran_out(monkeypatch):
    """Fixed centres on the US counties: the re-solve without max_distance found no plan in its time either."""
    import scenarios.diagnose as diagnose
    from model.search import SearchOutcome
    from solvers.result import SolveResult

    nothing = SolveResult(termination=Termination.TIME_LIMIT, has_solution=False, objective=None, bound=None, gap=None,
                          seconds=30.0, engine="heuristic", version="", options=SolverOptions())
    monkeypatch.setattr(diagnose, "solve_territories", lambda *a: SearchOutcome(None, nothing, None, {}))
    spec = replace(grid_spec(1, 6, [1] * 6, 1, None), max_distance=10.5)
    said = diagnose.diagnose_infeasible(spec, HighsEngine(), SolverOptions(time_limit=10), seconds=60)
    assert said.startswith("re-solved without territories.max_distance for 30 s, the search found neither a plan")
