"""Coverage plans: brute force on tiny instances, exact rules and capacities on random ones."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.coverage import CHANNELS, Channel, CoverageInputs, CoveragePlan, Rule, build_options, check_coverage, evaluate
from model.coverage_search import solve_coverage
from model.response import ResponseCurve
from model.spec import ModelError
from solvers import SolverOptions
from solvers.highs import HighsEngine

LEVELS = (0.0, 1.0, 2.0, 4.0, 8.0)


def tiny(n: int, seed: int, rep_hours=(20.0, 12.0), tele_hours: float | None = 3.0, key_min: float = 1.0,
         keep_first: bool = False) -> CoverageInputs:
    rng = np.random.default_rng(seed)
    segment = np.array(["key" if i % 3 == 0 else "normal" for i in range(n)], dtype=object)
    current = np.full(n, -1)
    keep = np.zeros(n, dtype=bool)
    if keep_first:
        current[1 % n], keep[1 % n] = 1, True
    return CoverageInputs(
        ids=tuple(f"c{i}" for i in range(n)), segment=segment,
        rep=np.array([i % len(rep_hours) for i in range(n)]), potential=rng.uniform(1_000, 20_000, n),
        scale=np.where(rng.random(n) < 0.5, rng.uniform(1, 6, n), np.nan), travel_hours=rng.uniform(0.2, 2.0, n),
        keep=keep, current_channel=current, current_contacts=np.full(n, np.nan),
        curves={"key": ResponseCurve("saturating", scale=4.0),
                "normal": ResponseCurve("adbudg", floor=0.0, ceiling=0.8, shape=0.8, half=3.0)},
        rules={"key": Rule(("field", "tele"), key_min, 8.0), "normal": Rule(CHANNELS, 0.0, 8.0)},
        channels={"field": Channel(300.0, 1.0, 60.0), "tele": Channel(40.0, 0.5, 20.0), "online": Channel(5.0, 0.15, 0.0)},
        levels=LEVELS, rep_ids=tuple(f"R{r}" for r in range(len(rep_hours))), rep_hours=np.array(rep_hours),
        tele_hours=tele_hours,
    )


def brute_force(inputs: CoverageInputs) -> float:
    """Best profit over every combination of (channel, contacts) the rules allow, written out plainly."""
    per_customer = []
    for c in range(inputs.n):
        rule = inputs.rules[inputs.segment[c]]
        pairs = []
        for ch, name in enumerate(CHANNELS):
            for k in inputs.levels:
                if k > 0 and (name not in rule.channels or (name == "field" and inputs.rep[c] < 0)):
                    continue
                if not rule.min_contacts <= k <= rule.max_contacts or (k == 0 and name not in rule.channels):
                    continue
                if inputs.keep[c] and k > 0 and ch != inputs.current_channel[c]:
                    continue
                pairs.append((ch, k))
        per_customer.append(pairs)

    def plan_of(combo) -> CoveragePlan:
        return CoveragePlan(np.array([p[0] for p in combo]), np.array([p[1] for p in combo]))

    def fits(ev) -> bool:
        return bool((ev.rep_hours_used <= inputs.rep_hours + 1e-9).all()) and (
            inputs.tele_hours is None or ev.tele_hours_used <= inputs.tele_hours + 1e-9)

    # A plan's profit and hours are sums over its customers, so each combination is first valued by adding
    # each customer's change from a base plan (an evaluation per pair instead of one per combination);
    # then the combinations are evaluated whole, best first, until one fits: that one is the optimum.
    base = [pairs[0] for pairs in per_customer]
    base_ev = evaluate(inputs, plan_of(base))
    deltas = []
    for c, pairs in enumerate(per_customer):
        row = []
        for pair in pairs:
            ev = evaluate(inputs, plan_of(base[:c] + [pair] + base[c + 1:]))
            row.append((ev.profit - base_ev.profit, ev.rep_hours_used - base_ev.rep_hours_used,
                        ev.tele_hours_used - base_ev.tele_hours_used))
        deltas.append(row)
    candidates = []
    for picks in itertools.product(*(range(len(pairs)) for pairs in per_customer)):
        chosen = [deltas[c][p] for c, p in enumerate(picks)]
        used = base_ev.rep_hours_used + sum(d[1] for d in chosen)
        tele = base_ev.tele_hours_used + sum(d[2] for d in chosen)
        if (used <= inputs.rep_hours + 1e-6).all() and (inputs.tele_hours is None or tele <= inputs.tele_hours + 1e-6):
            candidates.append((base_ev.profit + sum(d[0] for d in chosen), picks))
    for _, picks in sorted(candidates, reverse=True):
        ev = evaluate(inputs, plan_of([per_customer[c][p] for c, p in enumerate(picks)]))
        if fits(ev):
            return ev.profit
    return -np.inf


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kwargs", [{}, {"tele_hours": None}, {"keep_first": True}, {"rep_hours": (6.0, 4.0)}])
def test_matches_brute_force(seed, kwargs):
    inputs = tiny(4, seed, **kwargs)
    optimum = brute_force(inputs)
    out = solve_coverage(build_options(inputs), HighsEngine(), SolverOptions(time_limit=30, rel_gap=1e-9))
    ev = check_coverage(inputs, out.plan)
    assert ev.profit == pytest.approx(out.result.objective, rel=1e-9, abs=1e-6)
    assert ev.profit == pytest.approx(optimum, rel=1e-7, abs=1e-6)
    assert out.result.bound >= optimum - 1e-6 * max(1.0, abs(optimum))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(5, 60), seed=st.integers(0, 10_000), reps=st.integers(1, 4),
       tele=st.one_of(st.none(), st.floats(0.0, 40.0)), hours=st.floats(5.0, 200.0))
def test_every_plan_respects_rules_and_capacities(n, seed, reps, tele, hours):
    """Whatever the instance, the plan passes the independent check and the bound is above it."""
    inputs = tiny(n, seed, rep_hours=tuple([hours] * reps), tele_hours=tele, key_min=0.0, keep_first=True)
    out = solve_coverage(build_options(inputs), HighsEngine(), SolverOptions(time_limit=20, rel_gap=1e-6))
    ev = check_coverage(inputs, out.plan)
    assert out.result.bound >= ev.profit - 1e-6 * max(1.0, abs(ev.profit))


def test_minimum_visits_beyond_a_reps_time_name_the_rep():
    """Each key customer of R0 fits its time alone, the two together do not: R0 is named with the shortfall."""
    inputs = tiny(9, 1, rep_hours=(100.0, 100.0), tele_hours=0.0, key_min=4.0)
    keys = np.array([0, 6])  # key customers of rep R0
    need, _ = inputs.hours(keys, np.zeros(2, dtype=int), np.full(2, 4.0))
    inputs = replace(inputs, rep_hours=np.array([need.max() + 0.5 * need.min(), 100.0]))
    with pytest.raises(ModelError, match=r"rep R0: .*short by"):
        solve_coverage(build_options(inputs), HighsEngine(), SolverOptions(time_limit=10))


def test_customer_with_no_allowed_channel_is_named():
    inputs = tiny(3, 2)
    inputs.rules["key"] = Rule(("field",), 1.0, 8.0)
    inputs.rep[0] = -1
    with pytest.raises(ModelError, match=r"customer c0 .*no allowed channel.*no rep"):
        build_options(inputs)


def test_the_checker_catches_broken_plans():
    inputs = tiny(4, 3)
    out = solve_coverage(build_options(inputs), HighsEngine(), SolverOptions(time_limit=10))
    bad = CoveragePlan(out.plan.channel.copy(), out.plan.contacts.copy())
    bad.channel[0], bad.contacts[0] = 2, 4.0  # a key customer online
    with pytest.raises(ModelError, match="not allowed"):
        check_coverage(inputs, bad)
    over = CoveragePlan(np.zeros(4, dtype=int), np.full(4, 8.0))
    with pytest.raises(ModelError, match="h available"):
        check_coverage(inputs, over)


def test_concavity_check():
    assert ResponseCurve("saturating", scale=3).shape_problem(LEVELS) is None
    assert "not concave" in ResponseCurve("adbudg", shape=2.0, half=3.0).shape_problem(LEVELS)
    assert "decreases" in ResponseCurve("table", points=((0, 0), (2, 0.5), (4, 0.4))).shape_problem(LEVELS)


def test_repair_can_move_field_customers_to_tele():
    """An instance (found in review) where the only repair is field -> tele: the result must match the
    full MIP solved directly."""
    from model.coverage_model import build_coverage_model, chosen

    inputs = tiny(19, 291, rep_hours=(6.86, 6.86), tele_hours=2.70, key_min=1.0)
    problem = build_options(inputs)
    out = solve_coverage(problem, HighsEngine(), SolverOptions(time_limit=30, rel_gap=1e-9))
    check_coverage(inputs, out.plan)
    m = build_coverage_model(problem, np.arange(len(problem.profit)), problem.capacity)
    full = HighsEngine().solve(m, SolverOptions(time_limit=60, rel_gap=1e-9))
    assert out.result.objective == pytest.approx(-full.objective, rel=1e-7)
    assert len(chosen(m)) == inputs.n


def test_no_contact_is_worth_the_same_in_every_channel():
    """The curve's value at 0 contacts is the customer's baseline; a channel's response scales only
    what contacts add."""
    inputs = replace(tiny(3, 4), curves={"key": ResponseCurve("adbudg", floor=0.3, half=3.0),
                                          "normal": ResponseCurve("adbudg", floor=0.3, half=3.0)})
    idx = np.zeros(3, dtype=int)
    zero = [inputs.contribution(idx, np.full(3, c), np.zeros(3))[0] for c in range(3)]
    assert zero[0] == pytest.approx(zero[1]) == pytest.approx(zero[2]) == pytest.approx(0.3 * inputs.potential[0])
    one = inputs.contribution(idx, np.array([0, 1, 2]), np.ones(3))
    gain = one - zero[0]
    assert gain[1] == pytest.approx(0.5 * gain[0]) and gain[2] == pytest.approx(0.15 * gain[0])


def test_customers_without_a_rep_can_go_uncontacted_in_their_channel():
    """A vacant territory's customer who must keep field gets no visit (not an error), and the plan's
    evaluation leaves it out of every rep's time."""
    inputs = tiny(4, 5, keep_first=True)
    inputs.current_channel[1] = 0  # field, and it must keep it
    inputs.rep[1] = -1
    out = solve_coverage(build_options(inputs), HighsEngine(), SolverOptions(time_limit=10))
    ev = check_coverage(inputs, out.plan)
    assert out.plan.contacts[1] == 0
    assert ev.rep_hours_used.sum() == pytest.approx(ev.hours[(out.plan.channel == 0) & (inputs.rep >= 0)].sum())


def test_minimums_beyond_reps_and_tele_together_are_a_clear_error():
    """Each customer's 4 contacts fit some rep or the tele team alone; all six do not fit together
    (a rep holds two, tele one). A clear error, quickly, not a search that never ends."""
    import time

    inputs = tiny(6, 1, rep_hours=(12.0, 12.0), tele_hours=1.4, key_min=4.0)
    inputs.rules["normal"] = Rule(("field", "tele"), 4.0, 8.0)
    start = time.perf_counter()
    with pytest.raises(ModelError, match="minimums need more hours than the reps and the tele team have together"):
        solve_coverage(build_options(inputs), HighsEngine(), SolverOptions(time_limit=10))
    assert time.perf_counter() - start < 20


@pytest.mark.parametrize("seed", range(3))
def test_the_first_hour_of_an_empty_tele_team_is_priced(seed):
    """With no tele hours its options are pruned and its multiplier said 0. Customers who may only be called
    or served online make the value of h tele hours exact: the price at 0 h is the best margin per hour
    that h hours add, attained at one call plan's hours (1, 2, 4 or 8 calls of 20 minutes)."""
    rules = {"key": Rule(("tele", "online"), 0.0, 8.0), "normal": Rule(("tele", "online"), 0.0, 8.0)}

    def margin(hours: float) -> tuple[float, np.ndarray]:
        inputs = replace(tiny(6, seed, tele_hours=hours), rules=rules)
        out = solve_coverage(build_options(inputs), HighsEngine(), SolverOptions(time_limit=30, rel_gap=1e-9))
        assert out.result.gap is not None and out.result.gap <= 1e-9
        return out.result.objective, out.prices

    empty, prices = margin(0.0)
    first_hour = prices[-1]  # reps first, then the tele team
    slopes = [(margin(h)[0] - empty) / h for h in (1 / 3, 2 / 3, 4 / 3, 8 / 3)]
    assert first_hour > 0 and first_hour == pytest.approx(max(slopes), rel=1e-6)
