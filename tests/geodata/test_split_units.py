"""Mixed geography: units replaced by their finer units, and adjacency across the two levels."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from geodata.build import build_geography
from geodata.errors import GeodataError
from geodata.split_units import PARENT_COLUMN, split_parents, split_units


def row_of_squares() -> gpd.GeoDataFrame:
    """Three squares in a row, A B C; B is 10 across."""
    frame = gpd.GeoDataFrame({"pop": [1.0, 4.0, 1.0]},
                             geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10), box(20, 0, 30, 10)],
                             index=["A", "B", "C"], crs="EPSG:3857")
    frame.index.name = "unit"
    return frame


def halves_of_b() -> gpd.GeoDataFrame:
    """B cut into a left and a right half (b1 touches A, b2 touches C); plus a part of another unit."""
    frame = gpd.GeoDataFrame({"pop": [2.5, 2.0, 9.0], "county": ["B", "B", "X"]},
                             geometry=[box(10, 0, 15, 10), box(15, 0, 20, 10), box(50, 50, 60, 60)],
                             index=["b1", "b2", "x1"], crs="EPSG:3857")
    frame.index.name = "unit"
    return frame


def test_a_split_unit_is_replaced_by_its_parts_which_touch_its_neighbours():
    merged = split_units(row_of_squares(), halves_of_b(), "county", ["B"], "", "parts.gpkg")
    assert list(merged.index) == ["A", "C", "b1", "b2"]
    assert merged.loc["b1", "pop"] == 2.5 and merged.loc["A", "pop"] == 1.0
    assert list(merged[PARENT_COLUMN]) == ["", "", "B", "B"]
    assert split_parents(merged) == {"B": 2}
    geo = build_geography(merged, ["pop"])
    edges = {(geo.ids[a], geo.ids[b]) for a, b in geo.edges}
    assert edges == {("A", "b1"), ("b1", "b2"), ("C", "b2")}  # across the levels, from the polygons


def test_parts_in_another_crs_are_reprojected():
    parts = halves_of_b().to_crs("EPSG:4326")
    merged = split_units(row_of_squares(), parts, "county", ["B"], "", "parts.gpkg")
    assert merged.crs.equals(row_of_squares().crs)
    assert merged.loc["b2"].geometry.centroid.x == pytest.approx(17.5, abs=1e-6)


@pytest.mark.parametrize("parent, split, prefix, index, expected", [
    ("fips", ["B"], "", None, "parent column 'fips' not found"),
    ("county", ["C"], "", None, "units C must be split but no row of 'county' names them"),
    ("county", ["Q"], "", None, "units.split.units: Q not among the units"),
    ("county", ["B"], "", ["A", "b2", "x1"], "finer unit ids A are also unit ids; set units.split.prefix"),
])
def test_bad_parts_name_what_to_fix(parent, split, prefix, index, expected):
    parts = halves_of_b()
    if index is not None:
        parts.index = index
    with pytest.raises(GeodataError, match=expected):
        split_units(row_of_squares(), parts, parent, split, prefix, "parts.gpkg")


def test_a_part_inside_a_split_unit_naming_no_unit_is_refused_not_dropped():
    """b2 with a mistyped parent ('BB'): B's right half would vanish from the map and the totals; x1, outside the map
    with a parent that is no unit either, is a part of a unit the parts file covers beyond it and stays ignored."""
    parts = halves_of_b()
    parts.loc["b2", "county"] = "BB"
    with pytest.raises(GeodataError, match=r"finer units b2 lie inside a unit being split \(B\) but name parent BB in 'county'"):
        split_units(row_of_squares(), parts, "county", ["B"], "", "parts.gpkg")


def test_a_prefix_keeps_clashing_ids_apart():
    parts = halves_of_b()
    parts.index = ["A", "b2", "x1"]
    merged = split_units(row_of_squares(), parts, "county", ["B"], "Z", "parts.gpkg")
    assert list(merged.index) == ["A", "C", "ZA", "Zb2"]

