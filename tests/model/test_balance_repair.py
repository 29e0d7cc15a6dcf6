"""Ejection chains: they never make balance worse, keep every territory connected, and balance a
plan that is far out of its band."""

from __future__ import annotations

import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.balance_repair import _violation, repair_balance
from model.check import is_valid
from model.contiguity import reachable
from model.local_search import _State
from model.plan import Plan
from tests.conftest import grid_spec


def connected(spec, centre_of) -> bool:
    nbrs = spec.geography.neighbours()
    return all(reachable(int(c), centre_of == c, nbrs).sum() == (centre_of == c).sum() for c in np.unique(centre_of))


def test_balances_a_lopsided_plan():
    spec = grid_spec(4, 4, [1] * 16, 2, 0.1, centres=(0, 15))  # bounds 7.2 .. 8.8 units each
    lopsided = np.array([0 if col == 0 else 15 for row in range(4) for col in range(4)])  # 4 against 12
    fixed = repair_balance(spec, lopsided, time.perf_counter() + 10)
    assert is_valid(spec, Plan(tuple(int(c) for c in fixed)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.integers(1, 30), min_size=20, max_size=20), split=st.integers(1, 4))
def test_never_worse_and_always_connected(values, split):
    spec = grid_spec(4, 5, values, 2, 0.05, centres=(0, 19))
    start = np.array([0 if col < split else 19 for row in range(4) for col in range(5)])
    fixed = repair_balance(spec, start, time.perf_counter() + 10)
    assert connected(spec, fixed) and fixed[0] == 0 and fixed[19] == 19
    assert _violation(_State(spec, fixed)) <= _violation(_State(spec, start)) + 1e-12


def test_a_pull_chain_passes_on_what_a_whole_unit_took():
    """The middle territory gives the short one a whole unit, more than was asked; the next link must then
    make up all of it (it asked for the first shortfall only, and the chain left the middle one short)."""
    values = [2, 2, 6, 7, 7, 5, 5, 1, 4, 4, 5, 7, 7, 4, 2, 7, 7, 2, 5, 7, 4]
    spec = grid_spec(3, 7, values, 3, 0.08, centres=(0, 10, 20))
    start = np.array([0 if i % 7 < 1 else 10 if i % 7 < 4 else 20 for i in range(21)])
    fixed = repair_balance(spec, start, time.perf_counter() + 10)
    assert is_valid(spec, Plan(tuple(int(c) for c in fixed)))
