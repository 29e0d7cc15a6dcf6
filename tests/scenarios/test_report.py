"""report.html in a real headless Chromium from file:// (no network), and the GIS/CRM exports."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pandas as pd
import pytest
import yaml

from scenarios.cli import app
from tests.browser import CHROMIUM, open_page
from tests.conftest import REPO
from tests.scenarios.test_coverage_cli import grid_coverage
from tests.scenarios.test_redesign_cli import only_run
from tests.scenarios.helpers import georgia_body
from tests.scenarios.helpers import write_scenario
from typer.testing import CliRunner

runner = CliRunner()
ARTIFACTS = REPO / ".artifacts"
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")


@needs_chromium
def test_report_opens_offline_with_one_shape_per_unit(tmp_cwd):
    scenario = write_scenario(tmp_cwd, "ga4", georgia_body(territories={"count": 4}, solver={"time_limit": 10},
                                                           output={"gis": ["shp", "geojson"]}))
    result = runner.invoke(app, ["run", str(scenario)])
    assert result.exit_code == 0, result.output
    folder = only_run(tmp_cwd)
    report = folder / "report.html"
    assert report.stat().st_size < 20e6
    text = report.read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
    ARTIFACTS.mkdir(exist_ok=True)
    page = open_page(report, "#selftest", screenshot=ARTIFACTS / "report_georgia.png")
    assert page.body_attribute("ready") == "1", page.dom[:500]
    assert page.body_attribute("errors") is None and not page.console_errors, page.console_errors
    assert page.count(r'<path class="unit"') == 159
    assert page.count(r'<path class="territory[ "]') == 4  # one map, one outline per territory (one is hovered)
    panel = page.body_attribute("selftest")
    assert "territory T" in panel and "TotPop90_deviation_pct" in panel
    assert (ARTIFACTS / "report_georgia.png").stat().st_size > 10_000
    pdf = (folder / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 2  # map, then KPI table
    # GIS exports open in geopandas with the right rows; GeoJSON is WGS84.
    units = gpd.read_file(folder / "exports" / "units.geojson")
    assert len(units) == 159 and units.crs.to_epsg() == 4326
    assert len(gpd.read_file(folder / "exports" / "shapefile" / "territories.shp")) == 4
    crm = pd.read_csv(folder / "exports" / "units.csv", dtype=str)
    assert list(crm.columns) == ["unit_id", "territory"] and len(crm) == 159


@needs_chromium
def test_redesign_report_has_the_change_map_and_coverage(tmp_cwd):
    result = runner.invoke(app, ["run", str(grid_coverage(tmp_cwd))])
    assert result.exit_code == 0, result.output
    folder = only_run(tmp_cwd)
    page = open_page(folder / "report.html")
    assert page.body_attribute("ready") == "1" and not page.console_errors
    moves = pd.read_csv(folder / "moves.csv")
    assert page.count(r'<svg id="changes"') == 1
    assert page.count(r'<path class="marked"') == int((moves["kind"] == "unit").sum())
    assert "Coverage: channel and contacts per customer" in page.dom
    channels = page.dom[page.dom.index('<svg id="channels"'):]
    assert channels[: channels.index("</svg>")].count('<path class="unit"') == 12
    accounts = pd.read_csv(folder / "exports" / "accounts.csv", dtype=str)
    assert list(accounts.columns) == ["account_id", "rep_id", "channel", "contacts_per_year"] and len(accounts) == 24
    coverage = pd.read_csv(folder / "coverage.csv", dtype=str).set_index("customer")
    assert (accounts.set_index("account_id")["channel"] == coverage["channel"]).all()
