"""Shared fixtures: tiny grids drawn in docstrings, and the real county files libpysal ships."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import libpysal
import numpy as np
import pytest
from hypothesis import strategies as st
from shapely.geometry import box

from geodata.build import build_geography
from model.spec import BalanceRule, TerritorySpec, balance_bounds
from solvers.portfolio import Partner

GEORGIA = Path(libpysal.examples.get_path("G_utm.shp"))
NORTH_CAROLINA = Path(libpysal.examples.get_path("sids2.shp"))
REPO = Path(__file__).resolve().parents[1]


def grid_frame(rows: int, cols: int, values=None, crs: str = "EPSG:3857", size: float = 10_000.0) -> gpd.GeoDataFrame:
    """Square cells numbered row by row, e.g. 3 x 3:

        u0 u1 u2
        u3 u4 u5
        u6 u7 u8
    """
    n = rows * cols
    values = np.ones(n) if values is None else np.asarray(values, dtype=float)
    cells = [box(c * size, -r * size, (c + 1) * size, -(r - 1) * size) for r in range(rows) for c in range(cols)]
    return gpd.GeoDataFrame(
        {"uid": [f"u{i}" for i in range(n)], "pop": values, "accounts": np.arange(n) % 3 + 1.0},
        geometry=cells,
        crs=crs,
    ).set_index("uid", drop=False)


def grid_spec(rows: int, cols: int, values, k: int, tolerance: float | None, contiguity: bool = True,
              power: int = 2, centres=None) -> TerritorySpec:
    frame = grid_frame(rows, cols, values).rename_axis("unit")
    frame.index = frame["uid"]
    geo = build_geography(frame, ["pop"])
    pop = geo.attributes["pop"]
    balance = ()
    if tolerance is not None:
        lo, hi = balance_bounds(pop, k, tolerance)
        balance = (BalanceRule("pop", lo, hi, tolerance),)
    return TerritorySpec(geo, k, balance, weight=pop, power=power, contiguity=contiguity, centres=centres)


@pytest.fixture
def tmp_cwd(tmp_path, monkeypatch):
    """Run in a fresh directory so runs/ lands in tmp."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@st.composite
def random_grid_specs(draw, min_rows: int = 1, min_k: int = 1) -> TerritorySpec:
    """Seeded random grids (up to 3 x 3) with k up to 3 and a balance tolerance, for property tests."""
    rows, cols = draw(st.integers(min_rows, 3)), draw(st.integers(2, 3))
    k = min(draw(st.integers(min_k, 3)), rows * cols)
    values = np.random.default_rng(draw(st.integers(0, 10_000))).integers(1, 10, size=rows * cols)
    return grid_spec(rows, cols, values, k, draw(st.sampled_from([0.1, 0.3, 0.6])))


class CountedPartner(Partner):
    """Partner.fork, counted (patched in where a test checks how many forks a solve made)."""

    made = 0

    @classmethod
    def fork(cls, child_main):
        cls.made += 1
        return super().fork(child_main)
