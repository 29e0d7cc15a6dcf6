"""How a run's messages, maps and files write their numbers and names: readable, exact enough, complete."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box
from typer.testing import CliRunner

from model.check import plan_violations
from model.plan import Plan
from model.spec import BalanceRule
from scenarios.cli import app
from scenarios.loading import load_scenario
from scenarios.outputs import shapefile_fields, unit_names, whole_as_int
from scenarios.prepare import prepare
from tests.conftest import grid_spec
from tests.scenarios.helpers import grid_scenario, write_scenario
from tests.scenarios.test_redesign_cli import only_run

runner = CliRunner()


def breach(values, lower: float, upper: float) -> str:
    """The balance message for a 1 x 4 strip in two territories (u0 u1 | u2 u3) between the bounds."""
    spec = replace(grid_spec(1, 4, values, 2, None), balance=(BalanceRule("pop", lower, upper),))
    [message] = [p for p in plan_violations(spec, Plan((0, 0, 3, 3))) if "outside" in p]
    return message


def test_balance_messages_show_totals_and_bounds_readably_on_the_right_side():
    assert breach([1_949_000, 1_949_365, 1_800_000, 1_800_000], 3_492_648.3, 3_860_295.4) == (
        "territory of u0: pop = 3,898,365 outside [3,492,648, 3,860,295]")
    assert breach([60, 64, 100, 100], 140.667, 211) == "territory of u0: pop = 124 outside [140.67, 211]"
    # Two decimals would read 0.50 for both: a third shows the breach.
    assert breach([0.25, 0.254, 0.2, 0.2], 0.1, 0.5) == "territory of u0: pop = 0.504 outside [0.100, 0.500]"


def test_whole_number_columns_are_integers_and_shapefile_names_stay_unique():
    frame = pd.DataFrame({"accounts": [3.0, 2.0], "potential": [1.5, 2.0], "gaps": [1.0, np.nan], "rep": ["R1", "R2"]})
    whole = whole_as_int(frame)
    assert whole.to_csv(index=False).splitlines() == ["accounts,potential,gaps,rep", "3,1.5,1,R1", "2,2.0,,R2"]
    fields = shapefile_fields(["Sales Potential", "Sales Potential_target", "Sales Po_2", "compactness", "centre"])
    assert fields == {"Sales Potential": "Sales Pote", "Sales Potential_target": "Sales Po_3", "Sales Po_2": "Sales Po_2",
                      "compactness": "compactnes", "centre": "centre"}


def test_shapefile_names_cut_inside_a_word_end_without_a_space():
    """GDAL drops a cut's trailing space: the field map must name the field as written ('Ünïcode', 10 bytes cut)."""
    assert shapefile_fields(["Ünïcode näme"]) == {"Ünïcode näme": "Ünïcode"}


def test_a_run_shows_every_balance_attribute_stars_its_centres_and_exports_whole_numbers(tmp_cwd):
    scenario = grid_scenario(tmp_cwd, balance=[{"attribute": "pop", "tolerance": 0.2},
                                               {"attribute": "accounts", "tolerance": 0.5}],
                             output={"gis": ["shp", "geojson"]})
    result = runner.invoke(app, ["run", str(scenario)])
    assert result.exit_code == 0, result.output
    folder = only_run(tmp_cwd)
    page = (folder / "report.html").read_text()
    [title] = re.findall(r"<h1>(.*?)</h1>", page)
    assert re.search(r"max deviation pop \d+\.\d\d%, accounts \d+\.\d\d%", title), title
    legend = re.findall(r"</i>(T0\d  \(.*?\))</span>", page)
    assert len(legend) == 2 and all(", pop 6 " in line and ", accounts " in line for line in legend), legend
    svg = page[page.index('<svg id="map"'):]
    svg = svg[:svg.index("</svg>")]
    assert svg.count('<path class="centre"') == 2
    assert sorted(re.findall(r'class="centre-label"[^>]*>([^<]*)</text>', svg)) == ["T01", "T02"]
    # Whole-number inputs stay whole in the exports.
    features = json.loads((folder / "exports" / "units.geojson").read_text())["features"]
    assert all(isinstance(f["properties"]["accounts"], int) for f in features)
    assert ",6," in (folder / "kpis.csv").read_text().splitlines()[1]  # 6 units of pop 1: 6, not 6.0
    # Shapefile fields: cut to 10 characters, unique, mapped back to every column.
    shp = gpd.read_file(folder / "exports" / "shapefile" / "territories.shp")
    fields = pd.read_csv(folder / "exports" / "shapefile" / "territories_fields.csv")
    kpis = pd.read_csv(folder / "kpis.csv")
    assert set(fields["column"]) == {"territory", *kpis.columns}
    assert list(fields["field"]) == [c for c in shp.columns if c != "geometry"]
    assert fields["field"].is_unique and fields["field"].str.len().max() <= 10
    assert {"compactnes", "pop_deviat", "pop_target"} <= set(shp.columns)


def test_finer_units_without_a_label_go_by_their_prefixed_id(tmp_path):
    """Unit A of A B is cut in two halves, 0410 and 0411 (squares of 10 km, in EPSG:3857's metres)."""
    gpd.GeoDataFrame({"uid": ["A", "B"], "pop": [1.0, 1.0], "name": ["Alba", "Bute"]}, crs="EPSG:3857",
                     geometry=[box(0, 0, 1e4, 1e4), box(1e4, 0, 2e4, 1e4)]).to_file(tmp_path / "units.gpkg")
    gpd.GeoDataFrame({"uid": ["0410", "0411"], "pop": [0.5, 0.5], "parent": ["A", "A"]}, crs="EPSG:3857",
                     geometry=[box(0, 0, 5e3, 1e4), box(5e3, 0, 1e4, 1e4)]).to_file(tmp_path / "parts.gpkg")
    split = {"path": "parts.gpkg", "id": "uid", "parent": "parent", "units": ["A"], "prefix": "Z",
             "threshold": 1.0}
    body = {"units": {"path": "units.gpkg", "id": "uid", "label": "name", "split": split},
            "territories": {"count": 2}, "balance": [{"attribute": "pop", "tolerance": 0.5}]}
    prepared = prepare(load_scenario(write_scenario(tmp_path, "split", body)))
    assert dict(zip(prepared.geography.ids, unit_names(prepared))) == {"B": "Bute", "Z0410": "Z0410", "Z0411": "Z0411"}


def test_json_written_for_readers_has_no_nan_and_no_script_end():
    """NaN and infinities are null (JSON has neither; a browser's JSON.parse throws on them), numpy scalars numbers;
    JSON inside the report's <script> cannot end it whatever a name holds."""
    from scenarios.json_files import strict_json
    from scenarios.report import _script_json

    text = strict_json({"gap": float("nan"), "limit": np.inf, "n": np.int64(3), "ok": np.bool_(True), "x": [np.float32(0.5)]})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in JSON")) == {
        "gap": None, "limit": None, "n": 3, "ok": True, "x": [0.5]}
    names = {"</script><b>X": 1.0}
    inside = _script_json(names)
    assert "</" not in inside and json.loads(inside) == names
