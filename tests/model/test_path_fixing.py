"""Path fixing: a unit can join a centre's territory only if some connected set holding both fits
under the territory's maximum. Checked against enumeration of connected sets on tiny grids, and on
Georgia, where it leaves Fulton County alone at 10 territories."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from model.contiguity import lightest_paths, reachable
from model.fixing import path_fixing
from model.lagrangian import lagrangian_bound
from tests.conftest import grid_spec, random_grid_specs
from tests.model.test_tree_partition import georgia_spec  # noqa: F401  (fixture)


def _fits_in_some_territory(spec, i: int, j: int) -> bool:
    """Some connected set of units holding i and j is within the maximum of every rule (enumeration)."""
    n, nbrs = spec.geography.n, spec.geography.neighbours()
    _, upper = spec.bounds()
    values = np.array([spec.geography.attributes[r.attribute] for r in spec.balance])
    for size in range(1, n + 1):
        for units in itertools.combinations(range(n), size):
            if i not in units or j not in units:
                continue
            inside = np.zeros(n, dtype=bool)
            inside[list(units)] = True
            if reachable(j, inside, nbrs).sum() == size and (values[:, inside].sum(axis=1) <= upper[:, j] + 1e-9).all():
                return True
    return False


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=random_grid_specs(min_rows=2, min_k=2))
def test_path_fixing_keeps_exactly_the_pairs_some_connected_territory_can_hold(spec):
    allowed = path_fixing(spec)
    n = spec.geography.n
    expected = np.array([[_fits_in_some_territory(spec, i, j) for j in range(n)] for i in range(n)])
    expected[np.arange(n), np.arange(n)] = True  # a centre's own pair always stays
    assert (allowed == expected).all()


def test_a_heavy_unit_blocks_paths_through_it():
    """Values 3, 5, 3 and a maximum of 6.05 (2 territories, ±10%): u1 joins no one, nothing crosses it:

        u0 u1 u2
    """
    spec = grid_spec(1, 3, [3, 5, 3], 2, 0.1)
    allowed = path_fixing(spec)
    assert not allowed[0, 2] and not allowed[2, 0]  # u0 and u2 only meet through u1
    assert not allowed[0, 1] and not allowed[1, 0]
    assert allowed[1, 1] and allowed[0, 0]
    assert path_fixing(replace(spec, contiguity=False)) is None


def test_fulton_county_is_a_territory_of_its_own_at_ten_territories(georgia_spec):  # noqa: F811
    """Fulton (648,951 people) with any neighbour is above the ±5% maximum of 680,213."""
    geo = georgia_spec.geography
    possible = path_fixing(georgia_spec)
    fulton = int(np.argmax(geo.attributes["TotPop90"]))
    assert possible[fulton].sum() == 1 and possible[fulton, fulton]
    assert possible[:, fulton].sum() == 1
    without = lagrangian_bound(georgia_spec, iterations=300).bound
    assert lagrangian_bound(georgia_spec, iterations=300, possible=possible).bound > without


def test_lightest_paths_match_enumeration_of_simple_paths():
    """On a 3 x 3 grid with per-source weights, the least path sums (source excluded, end included)
    equal the minimum over every simple path."""
    spec = grid_spec(3, 3, [1] * 9, 1, None)
    n, nbrs = 9, spec.geography.neighbours()
    rng = np.random.default_rng(3)
    weight = rng.integers(0, 5, size=(n, 2)).astype(float)
    sources = np.array([0, 4])
    got = lightest_paths(spec.geography.edges, n, weight, sources)

    def best(path: list[int], c: int, target: int) -> float:
        if path[-1] == target:
            return float(sum(weight[u, c] for u in path[1:]))
        return min((best(path + [v], c, target) for v in nbrs[path[-1]] if v not in path), default=np.inf)

    for c, s in enumerate(sources):
        for i in range(n):
            assert got[i, c] == pytest.approx(best([int(s)], c, i), abs=1e-6)
    shared = lightest_paths(spec.geography.edges, n, weight[:, 0], sources)
    assert shared[:, 0] == pytest.approx(got[:, 0], abs=1e-6)


def test_path_sums_of_reduced_costs_fix_more_pairs_on_georgia(georgia_spec):  # noqa: F811
    """Forcing a unit into a far territory forces a path of units with it: fixing on path sums of
    reduced costs removes more pairs than fixing on each pair's own reduced cost."""
    upper = 1.5445e10  # a valid plan's cost for 10 territories at ±5% (benchmark table)
    with_paths = lagrangian_bound(georgia_spec, upper=upper, iterations=300)
    pairwise = lagrangian_bound(replace(georgia_spec, contiguity=False), upper=upper, iterations=300)
    assert with_paths.bound == pytest.approx(pairwise.bound)
    assert with_paths.allowed.sum() < 0.9 * pairwise.allowed.sum()
