"""The transportation LP with shortest-path rows (model.path_transport): its trees, its pairs, and the first plan
it gives where the plain LP gives none."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import model.first_plans as first_plans
from model.check import plan_violations
from model.path_transport import path_assignment, path_pairs, tree_parents
from model.spec import BalanceRule, TerritorySpec, balance_bounds
from solvers import SolverOptions
from solvers.highs import HighsEngine
from tests.model.test_large_scale import crowded_centres_spec


def _path_to_root(parents: np.ndarray, unit: int) -> list[int]:
    path = [unit]
    while parents[path[-1]] >= 0:
        path.append(int(parents[path[-1]]))
    return path


def test_each_tree_reaches_its_centre_around_the_other_centres_and_foreign_locks():
    spec = crowded_centres_spec(10)  # six centres in a corner, the far corner locked to the first territory
    centres = np.asarray(sorted(spec.centres))
    parents = tree_parents(spec, centres)
    locked = {u: spec.centres[t] for u, t in spec.locks}
    for j, c in enumerate(centres):
        for u in np.flatnonzero(parents[j] >= 0):
            path = _path_to_root(parents[j], int(u))
            assert path[-1] == c
            assert not set(path[:-1]) & (set(centres.tolist()) - {c})
            assert all(locked.get(v, c) == c for v in path)
        for other in set(centres.tolist()) - {c}:
            assert parents[j, other] == -1


def test_pairs_are_closed_under_the_trees_and_keep_the_locks():
    spec = crowded_centres_spec(10)
    centres = np.asarray(sorted(spec.centres))
    parents = tree_parents(spec, centres)
    rows, units = path_pairs(spec, centres, parents, nearest=3)
    pairs = set(zip(rows.tolist(), units.tolist()))
    for j, u in pairs:
        if parents[j, u] >= 0:
            assert (j, int(parents[j, u])) in pairs
        else:
            assert centres[j] == u  # only a centre has no parent among the pairs
    for unit, territory in spec.locks:
        assert {j for j, u in pairs if u == unit} == {int(np.searchsorted(centres, spec.centres[territory]))}
    assert {u for _, u in pairs} == set(range(spec.geography.n))


def test_a_locked_path_the_trees_cannot_balance_falls_back_to_the_plain_lp():
    spec = crowded_centres_spec(10)  # the far corner's path walls a centre in: the path LP has no solution
    assert path_assignment(spec, HighsEngine()) is None
    plan, fallback = first_plans.transport_first_plan(spec, HighsEngine(), SolverOptions(seed=0), 30)
    assert plan is not None and fallback is None and plan_violations(spec, plan) == []


@pytest.fixture(scope="module")
def georgia_eight_homes() -> TerritorySpec:
    """The 159 Georgia counties, eight reps at home in counties drawn at random (seed 0), ±5% population."""
    import libpysal

    from geodata.build import build_geography
    from geodata.read_units import read_units

    frame = read_units(Path(libpysal.examples.get_path("G_utm.shp")), "AreaKey", ["TotPop90"], crs="EPSG:26916")
    geo = build_geography(frame, ["TotPop90"])
    pop = geo.attributes["TotPop90"]
    lo, hi = balance_bounds(pop, 8, 0.05)
    centres = tuple(sorted(int(c) for c in np.random.default_rng(0).choice(geo.n, 8, replace=False)))
    return TerritorySpec(geo, 8, (BalanceRule("TotPop90", lo, hi, 0.05),), weight=pop, centres=centres)


def test_the_path_lp_gives_a_first_plan_where_the_plain_lp_gives_none(georgia_eight_homes, monkeypatch):
    """Both repaired by local search and ejection chains alone (the balance windows left out)."""
    spec = georgia_eight_homes
    monkeypatch.setattr(first_plans, "balance_windows", lambda spec, engine, plan, zone, deadline: plan)
    heard = []
    plan, _ = first_plans.transport_first_plan(spec, HighsEngine(), SolverOptions(seed=0), 20, on_plan=heard.append)
    assert plan is not None and plan_violations(spec, plan) == []
    assert heard and heard[-1] == plan  # shown (and kept on Ctrl-C) as soon as found
    monkeypatch.setattr(first_plans, "usable_for_paths", lambda s: False)
    plain, near = first_plans.transport_first_plan(spec, HighsEngine(), SolverOptions(seed=0), 20)
    assert plain is None and near is not None and plan_violations(spec, near) != []


def test_balance_windows_repair_the_plain_lp_where_the_chains_cannot(georgia_eight_homes, monkeypatch):
    spec = georgia_eight_homes
    monkeypatch.setattr(first_plans, "usable_for_paths", lambda s: False)
    plain, near = first_plans.transport_first_plan(spec, HighsEngine(), SolverOptions(seed=0), 20)
    assert plain is not None and near is None and plan_violations(spec, plain) == []


def test_the_path_lp_is_not_used_without_a_distance_matrix_or_with_a_distance_limit(georgia_eight_homes):
    from model.path_transport import usable_for_paths

    assert usable_for_paths(georgia_eight_homes)
    assert not usable_for_paths(replace(georgia_eight_homes, max_distance=100.0))
    assert not usable_for_paths(replace(georgia_eight_homes, centres=None))
