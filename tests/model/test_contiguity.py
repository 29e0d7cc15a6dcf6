"""Contiguity cuts: pocket cuts checked against every connected territory of small grids."""

from __future__ import annotations

import numpy as np
import pytest

import model.territory_model as tm
from model.contiguity import connected_sets, pocket_separators, stray_parts
from tests.conftest import grid_spec


def grid_neighbours(rows: int, cols: int) -> list[list[int]]:
    """Rook neighbours of cells numbered row by row."""
    def cell(r, c):
        return r * cols + c
    return [[cell(r + dr, c + dc) for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
             if 0 <= r + dr < rows and 0 <= c + dc < cols] for r in range(rows) for c in range(cols)]


def test_connected_sets_of_a_path_smallest_first():
    path = [[1], [0, 2], [1, 3], [2]]
    sets = connected_sets({0, 1, 2, 3}, path, size=3)
    assert sorted(sorted(s) for s in sets) == sorted(
        [[0], [1], [2], [3], [0, 1], [1, 2], [2, 3], [0, 1, 2], [1, 2, 3]])
    assert [len(s) for s in sets] == sorted(len(s) for s in sets)
    assert len(connected_sets({0, 1, 2, 3}, path, size=3, most=5)) == 5
    assert all(len(s) <= 2 for s in connected_sets({0, 1, 2, 3}, path, size=3, most=6))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pocket_cuts_hold_for_every_connected_territory(seed):
    """Exhaustive on a 3 x 4 grid: for every centre, some stray pieces and a random set of units the
    centre may take, no cut removes a connected territory of those units that holds the centre."""
    rows, cols = 3, 4
    nbrs = grid_neighbours(rows, cols)
    n = rows * cols
    rng = np.random.default_rng(seed)
    for centre in range(n):
        usable = rng.random(n) < 0.8
        usable[centre] = True
        territories = [t for t in connected_sets({u for u in range(n) if usable[u]}, nbrs, n, most=10**6)
                       if centre in t]
        pieces = [p for p in connected_sets(set(range(n)) - {centre}, nbrs, 3) if all(usable[u] for u in p)]
        for piece in pieces[:: max(1, len(pieces) // 8)]:
            for unit, sep in pocket_separators(np.array(sorted(piece)), centre, nbrs, usable):
                assert unit != centre and centre not in sep
                for t in territories:
                    assert unit not in t or t & set(sep), (centre, sorted(piece), unit, sep, sorted(t))


def test_pocket_cuts_cut_off_the_piece_they_come_from():
    """u5 cut off from centre u0 in a 3 x 4 grid; the cuts hold a row the plan breaks, and per unit
    no separator includes another."""
    nbrs = grid_neighbours(3, 4)
    territory = {0, 5}
    cuts = pocket_separators(np.array([5]), 0, nbrs, np.ones(12, dtype=bool))
    assert any(unit == 5 and not territory & set(sep) for unit, sep in cuts)
    by_unit: dict[int, list[set[int]]] = {}
    for unit, sep in cuts:
        by_unit.setdefault(unit, []).append(set(sep))
    for seps in by_unit.values():
        assert not any(a < b for a in seps for b in seps)


FIRST_PIECE = [0, 3, 3, 3, 3, 3, 0, 3, 3, 3, 3, 3]  # u6 alone, away from centre u0 (queen neighbours)
SECOND_PIECE = [0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 3]  # u10 alone, away from centre u0


def two_centre_separator():
    """The contiguity routine of a 3 x 4 grid with two territories, and a maker of solver values for a plan."""
    spec = grid_spec(3, 4, np.ones(12), 2, None)
    m = tm.build_territory_model(spec)

    def values(centre_of):
        chosen = {id(m.assign[i, j]) for i, j in enumerate(centre_of)}
        return lambda var: 1.0 if id(var) in chosen else 0.0

    return spec, tm.contiguity_separator(m, spec), values


def test_pocket_cuts_come_with_the_second_piece_of_a_centre():
    """One stray piece gives only its own cuts; a different piece of the same centre adds the pocket's."""
    spec, separate, values = two_centre_separator()
    assert [(j, list(p)) for j, p in stray_parts(np.array(FIRST_PIECE), spec.geography.neighbours())] == [(0, [6])]
    assert len(separate(values(FIRST_PIECE))) == 1
    assert len(separate(values(FIRST_PIECE))) == 1  # the same piece again: still only its own cut
    assert len(separate(values(SECOND_PIECE))) > 1


def test_pocket_cuts_wait_when_a_call_has_spent_its_time(monkeypatch):
    """Past POCKET_SECONDS in one call a piece gets only its own cut (HiGHS waits for the routine), and its
    pocket's cuts come the next time it is seen."""
    _, separate, values = two_centre_separator()
    assert len(separate(values(FIRST_PIECE))) == 1
    monkeypatch.setattr(tm, "POCKET_SECONDS", -1.0)  # spent before it starts
    assert len(separate(values(SECOND_PIECE))) == 1
    monkeypatch.setattr(tm, "POCKET_SECONDS", 1.0)
    assert len(separate(values(SECOND_PIECE))) > 1
