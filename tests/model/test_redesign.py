"""Redesign terms against brute force: priced disruption, each disruption limit, locked accounts;
and moves.csv against the difference of the two alignments."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.check import is_valid
from model.plan import Plan
from model.redesign import (
    Accounts,
    DisruptionLimit,
    DisruptionTerms,
    Redesign,
    Rep,
    aggregate,
    disruption,
    locked_offsets,
    moves,
    with_disruption,
)
from model.search import solve_territories
from model.spec import BalanceRule, balance_bounds
from solvers import SolverOptions, Termination
from solvers.highs import HighsEngine
from tests.conftest import grid_spec
from tests.model.bruteforce import brute_force_plan

ENGINE = HighsEngine()
OPTIONS = SolverOptions(time_limit=30, rel_gap=1e-9)


def tiny_redesign(rows: int, cols: int, homes: list[int], current: list[int], seed: int, per_unit: int = 2,
                  locked_every: int = 0, leaving: tuple[int, ...] = ()) -> Redesign:
    """Reps R0.. at `homes`, units aligned as `current`, `per_unit` accounts per unit mostly with the
    unit's rep (every third with a random rep, as after ad-hoc changes)."""
    rng = np.random.default_rng(seed)
    n = rows * cols
    reps = tuple(Rep(f"R{r}", f"Rep {r}", h, "leaving" if r in leaving else "active") for r, h in enumerate(homes))
    unit = np.repeat(np.arange(n), per_unit)
    rep = np.array([current[u] for u in unit])
    odd = np.arange(len(unit)) % 3 == 2
    rep[odd] = rng.integers(len(homes), size=int(odd.sum()))
    m = len(unit)
    values = {"accounts": np.ones(m), "potential": rng.integers(1, 20, m).astype(float),
              "relationship": np.round(rng.pareto(1.5, m) * 10 + 1, 2)}
    locked = np.zeros(m, dtype=bool)
    if locked_every:
        locked[::locked_every] = True
        locked &= ~np.isin(rep, list(leaving))
    accounts = Accounts(tuple(f"A{a}" for a in range(m)), unit, rep, values, locked, np.zeros(m, dtype=bool))
    return Redesign(reps, np.asarray(current), accounts)


def base_spec(rows, cols, redesign, tolerance=0.3):
    spec = grid_spec(rows, cols, None, len(redesign.territory_reps), None, centres=redesign.centres)
    potential = aggregate(redesign.accounts, spec.geography.n, "potential")
    geo = replace(spec.geography, attributes={"pop": spec.geography.attributes["pop"], "potential": potential})
    spec = replace(spec, geography=geo)
    offsets = locked_offsets(redesign, replace(spec, balance=(BalanceRule("potential", 0, 1),)), {"potential": "potential"})
    total = potential.sum() + (offsets.sum() if offsets is not None else 0.0)
    lo, hi = balance_bounds(np.array([total]), spec.count, tolerance)
    return replace(spec, balance=(BalanceRule("potential", lo, hi, tolerance),), offsets=offsets)


def assert_optimal(spec):
    outcome = solve_territories(spec, ENGINE, OPTIONS)
    expected = brute_force_plan(spec)
    if expected is None:
        assert outcome.plan is None
        return None
    assert outcome.plan is not None and is_valid(spec, outcome.plan)
    assert outcome.plan.objective(spec.cost()) == pytest.approx(expected[1], rel=1e-6, abs=1e-6)
    return outcome.plan


CURRENT = [0, 0, 1, 1, 0, 0, 0, 1]  # 2 x 4 grid: rep 0 holds five units today, rep 1 three


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0, 5.0])
@pytest.mark.parametrize("measure", ["relationship", "accounts"])
def test_priced_disruption_matches_brute_force(weight, measure):
    redesign = tiny_redesign(2, 4, [0, 3], CURRENT, seed=1)
    spec = with_disruption(base_spec(2, 4, redesign), redesign, DisruptionTerms(weight, measure))
    assert_optimal(spec)


def test_a_high_weight_keeps_relationships():
    redesign = tiny_redesign(2, 4, [0, 3], CURRENT, seed=2)
    plain = base_spec(2, 4, redesign, tolerance=0.9)
    cheap = assert_optimal(with_disruption(plain, redesign, DisruptionTerms(0.0)))
    dear = assert_optimal(with_disruption(plain, redesign, DisruptionTerms(100.0)))
    moved = [disruption(redesign, redesign.new_reps(p))["relationship_moved"] for p in (cheap, dear)]
    assert moved[1] <= moved[0]


@pytest.mark.parametrize("measure", ["accounts", "potential", "relationship"])
@pytest.mark.parametrize("per_rep", [False, True])
@pytest.mark.parametrize("share", [0.1, 0.25])
def test_each_limit_is_honoured_and_optimal(measure, per_rep, share):
    redesign = tiny_redesign(2, 4, [0, 3], CURRENT, seed=3)
    spec = with_disruption(base_spec(2, 4, redesign, tolerance=0.4), redesign,
                           DisruptionTerms(0.0, limits=(DisruptionLimit(measure, share, per_rep),)))
    plan = assert_optimal(spec)
    if plan is None:
        return
    new = redesign.new_reps(plan)
    acc = redesign.accounts
    moved = new != acc.rep
    values = acc.values[measure]
    if per_rep:
        for r in range(2):
            mine = acc.rep == r
            assert values[moved & mine].sum() <= share * values[mine].sum() + 1e-9
    else:
        assert values[moved].sum() <= share * values.sum() + 1e-9


def test_locked_accounts_count_for_their_rep():
    redesign = tiny_redesign(3, 3, [0, 2, 7], [0, 0, 1, 0, 1, 1, 2, 2, 2], seed=4, locked_every=4)
    spec = with_disruption(base_spec(3, 3, redesign, tolerance=0.5), redesign, DisruptionTerms(0.5))
    plan = assert_optimal(spec)
    assert plan is not None
    new = redesign.new_reps(plan)
    acc = redesign.accounts
    assert (new[acc.locked] == acc.rep[acc.locked]).all()
    # Each rep's potential, counted account by account, is within the bounds.
    rule = spec.balance[0]
    totals = np.bincount(new, weights=acc.values["potential"], minlength=3)
    assert ((totals >= rule.lower - 1e-6) & (totals <= rule.upper + 1e-6)).all()


def test_a_leaving_rep_moves_all_accounts_but_counts_in_no_limit():
    redesign = tiny_redesign(2, 4, [0, 3, 6], [0, 0, 1, 1, 2, 2, 2, 1], seed=5, leaving=(2,))
    spec = with_disruption(base_spec(2, 4, redesign, tolerance=0.4), redesign,
                           DisruptionTerms(1.0, limits=(DisruptionLimit("accounts", 0.3),)))
    plan = assert_optimal(spec)
    assert plan is not None
    report = disruption(redesign, redesign.new_reps(plan))
    assert report["accounts_moved_because_rep_leaves"] == (redesign.accounts.rep == 2).sum()


def test_impossible_limit_is_infeasible():
    redesign = tiny_redesign(2, 4, [0, 3], [0, 0, 0, 0, 0, 0, 0, 1], seed=6)
    spec = with_disruption(base_spec(2, 4, redesign, tolerance=0.1), redesign,
                           DisruptionTerms(0.0, limits=(DisruptionLimit("accounts", 0.0),)))
    assert brute_force_plan(spec) is None
    outcome = solve_territories(spec, ENGINE, OPTIONS)
    assert outcome.plan is None and outcome.result.termination is Termination.INFEASIBLE


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), labels=st.lists(st.integers(0, 2), min_size=9, max_size=9))
def test_moves_are_exactly_the_difference_of_the_alignments(seed, labels):
    redesign = tiny_redesign(3, 3, [0, 4, 8], [0, 0, 1, 0, 1, 2, 1, 2, 2], seed=seed, locked_every=5)
    homes = [0, 4, 8]
    labels = list(labels)
    for t, h in enumerate(homes):
        labels[h] = t
    plan = Plan(tuple(homes[t] for t in labels))
    spec = base_spec(3, 3, redesign)
    table = moves(redesign, spec, plan)
    rep_index = {rep.id: r for r, rep in enumerate(redesign.reps)}
    # Units: applying the moves to today's alignment gives the new one, and nothing else moves.
    units = redesign.current.copy()
    for _, row in table[table.kind == "unit"].iterrows():
        i = spec.geography.ids.index(row.unit)
        assert units[i] == rep_index[row.from_rep]
        units[i] = rep_index[row.to_rep]
    assert (units == redesign.unit_reps(plan)).all()
    # Accounts likewise.
    accounts = redesign.accounts.rep.copy()
    for _, row in table[table.kind == "account"].iterrows():
        a = redesign.accounts.ids.index(row.id)
        assert accounts[a] == rep_index[row.from_rep]
        accounts[a] = rep_index[row.to_rep]
    assert (accounts == redesign.new_reps(plan)).all()
    # The moved values add up to the plan-level disruption.
    report = disruption(redesign, redesign.new_reps(plan))
    acc_rows = table[table.kind == "account"]
    for m in ("accounts", "potential", "relationship"):
        assert acc_rows[m].sum() == pytest.approx(report[f"{m}_moved"])
