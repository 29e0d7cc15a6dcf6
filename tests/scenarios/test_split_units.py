"""Mixed geography end to end: `units.split` replaces units too large for a territory by finer units."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import box
from typer.testing import CliRunner

from scenarios.cli import app
from scenarios.loading import load_scenario
from scenarios.prepare import prepare
from tests.conftest import GEORGIA
from tests.scenarios.helpers import georgia_body, write_scenario

runner = CliRunner()
FULTON = "13121"  # 648,951 people in 1990: above a territory's maximum at 12 territories, ±5%


def fulton_quarters(folder: Path) -> Path:
    """Fulton County (Georgia) cut into four bands from south to north, people shared by area: a stand-in
    for its ZIP cells, cut from the real county polygon as ZIP cells are."""
    counties = gpd.read_file(GEORGIA).set_crs("EPSG:26916")
    fulton = counties[counties["AreaKey"].astype(str) == FULTON].iloc[0]
    x0, y0, x1, y1 = fulton.geometry.bounds
    rows = []
    for q in range(4):
        part = shapely.intersection(fulton.geometry, box(x0, y0 + q * (y1 - y0) / 4, x1, y0 + (q + 1) * (y1 - y0) / 4))
        rows.append({"cell": f"{FULTON}-{q}", "county": FULTON, "geometry": part,
                     "TotPop90": fulton.TotPop90 * part.area / fulton.geometry.area})
    path = folder / "fulton_cells.gpkg"
    gpd.GeoDataFrame(rows, crs="EPSG:26916").to_file(path)
    return path


def georgia_12(folder: Path, split: bool, threshold: float = 1.0) -> Path:
    body = georgia_body(territories={"count": 12}, solver={"time_limit": 15})
    if split:
        body["units"]["split"] = {"path": fulton_quarters(folder).name, "id": "cell", "parent": "county",
                                  "threshold": threshold}
    return write_scenario(folder, "georgia_12", body)


def test_without_splitting_the_largest_county_is_named_and_with_it_the_plan_shares_it(tmp_cwd):
    refused = runner.invoke(app, ["validate", str(georgia_12(tmp_cwd, split=False))])
    assert refused.exit_code == 2 and f"unit {FULTON} alone has" in refused.output
    halves = runner.invoke(app, ["validate", str(georgia_12(tmp_cwd, split=True, threshold=0.5))])
    assert halves.exit_code == 2  # DeKalb, Cobb, Gwinnett are above half a territory's maximum too; no parts given
    assert "units 13067, 13089, 13135 must be split" in halves.output and "units.split.threshold" in halves.output
    path = georgia_12(tmp_cwd, split=True)  # threshold 1: only Fulton, which has parts
    checked = runner.invoke(app, ["validate", str(path)])
    assert checked.exit_code == 0, checked.output
    assert f"split: 1 unit into 4 finer units ({FULTON})" in checked.output and "162 units" in checked.output
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    folder = next((tmp_cwd / "runs" / "georgia_12").iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["plan_checked"] and manifest["geography"]["units_split"] == {FULTON: 4}
    assert "units.split" in manifest["inputs"]
    assignment = pd.read_csv(folder / "assignment.csv", dtype=str, keep_default_na=False)
    quarters = assignment[assignment["parent_unit"] == FULTON]
    assert sorted(quarters["unit"]) == [f"{FULTON}-{q}" for q in range(4)]
    assert FULTON not in set(assignment["unit"]) and len(assignment) == 162
    assert quarters["territory"].nunique() >= 2  # 648,951 people do not fit in one territory
    units = gpd.read_file(folder / "territories.gpkg", layer="units")
    assert (units["parent_unit"] == FULTON).sum() == 4


def squares(folder: Path, name: str, ids, values, parents=None, x0: float = 0.0, width: float = 10.0) -> Path:
    """A row of squares (or of half squares, `width` 5) named by `ids`."""
    frame = gpd.GeoDataFrame({"uid": ids, "pop": values}, crs="EPSG:3857",
                             geometry=[box(x0 + i * width, 0, x0 + (i + 1) * width, 10) for i in range(len(ids))])
    if parents is not None:
        frame["parent"] = parents
    frame.to_file(folder / name)
    return folder / name


def test_splitting_goes_on_while_the_new_totals_leave_a_unit_too_large(tmp_path):
    """A (20) is too large for 4 territories at ±5%; its halves add up to 10, so the maximum falls to
    10.68 and D (10.7) is then too large too; D's halves (10.6) leave B and C (10) within it."""
    squares(tmp_path, "units.gpkg", ["A", "B", "C", "D"], [20, 10, 10, 10.7])
    halves = {"A": (0, [5.0, 5.0]), "B": (10, [5.0, 5.0]), "C": (20, [5.0, 5.0]), "D": (30, [5.3, 5.3])}
    rows = [(f"{u}{h}", v, u, x0 + 5 * h) for u, (x0, vs) in halves.items() for h, v in enumerate(vs)]
    frame = gpd.GeoDataFrame({"uid": [r[0] for r in rows], "pop": [r[1] for r in rows], "parent": [r[2] for r in rows]},
                             geometry=[box(r[3], 0, r[3] + 5, 10) for r in rows], crs="EPSG:3857")
    frame.to_file(tmp_path / "halves.gpkg")
    path = write_scenario(tmp_path, "row", {
        "units": {"path": "units.gpkg", "id": "uid",
                  "split": {"path": "halves.gpkg", "id": "uid", "parent": "parent", "threshold": 1.0}},
        "territories": {"count": 4},
        "balance": [{"attribute": "pop", "tolerance": 0.05}],
    })
    prepared = prepare(load_scenario(path))
    assert prepared.geography.ids == ("A0", "A1", "B", "C", "D0", "D1")


def test_named_units_are_split_whatever_their_size_and_unknown_ones_are_named(tmp_path):
    squares(tmp_path, "units.gpkg", ["A", "B"], [1, 1])
    squares(tmp_path, "parts.gpkg", ["a", "b"], [0.5, 0.5], parents=["A", "A"], width=5)
    body = {"units": {"path": "units.gpkg", "id": "uid",
                      "split": {"path": "parts.gpkg", "id": "uid", "parent": "parent", "units": ["A"],
                                "threshold": 1.0}},
            "territories": {"count": 2}, "balance": [{"attribute": "pop", "tolerance": 0.5}]}
    prepared = prepare(load_scenario(write_scenario(tmp_path, "named", body)))
    assert prepared.geography.ids == ("B", "a", "b")
    assert list(prepared.geography.attributes["pop"]) == [1.0, 0.5, 0.5]
    shares = gpd.read_file(tmp_path / "parts.gpkg").assign(share=[0.4, 0.6])
    shares.to_file(tmp_path / "parts.gpkg")
    body["units"]["split"]["columns"] = {"pop": "share"}  # the finer file's column that holds pop
    prepared = prepare(load_scenario(write_scenario(tmp_path, "renamed", body)))
    assert list(prepared.geography.attributes["pop"]) == [1.0, 0.4, 0.6]
    body["units"]["split"]["columns"] = {"people": "share"}
    result = runner.invoke(app, ["validate", str(write_scenario(tmp_path, "wrong", body))])
    assert result.exit_code == 2 and "units.split.columns: 'people' is not an attribute" in result.output
    body["units"]["split"]["units"], body["units"]["split"]["columns"] = ["Q"], {}
    result = runner.invoke(app, ["validate", str(write_scenario(tmp_path, "unknown", body))])
    assert result.exit_code == 2 and "units.split.units: Q not among the units" in result.output


def test_a_missing_finer_units_file_is_named_even_when_nothing_needs_splitting(tmp_path):
    squares(tmp_path, "units.gpkg", ["A", "B"], [1, 1])
    body = {"units": {"path": "units.gpkg", "id": "uid", "split": {"path": "nope.gpkg", "id": "uid", "parent": "p"}},
            "territories": {"count": 2}, "balance": [{"attribute": "pop", "tolerance": 0.5}]}
    result = runner.invoke(app, ["validate", str(write_scenario(tmp_path, "missing", body))])
    assert result.exit_code == 2 and "nope.gpkg: file not found; check units.split.path" in result.output


def test_messages_about_the_finer_units_file_name_the_split_keys(tmp_path):
    squares(tmp_path, "units.gpkg", ["A", "B"], [1, 1])
    squares(tmp_path, "parts.gpkg", ["a", "b"], [0.5, 0.5], parents=["A", "A"], width=5)
    body = {"units": {"path": "units.gpkg", "id": "uid",
                      "split": {"path": "parts.gpkg", "id": "code", "parent": "parent", "units": ["A"]}},
            "territories": {"count": 2}, "balance": [{"attribute": "pop", "tolerance": 0.5}]}
    result = runner.invoke(app, ["validate", str(write_scenario(tmp_path, "bad_id", body))])
    assert result.exit_code == 2 and "id column 'code' not found; set units.split.id to one of" in result.output
