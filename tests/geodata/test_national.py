"""The national counties file built by geodata/national.py from the registries, and its scenario."""

from __future__ import annotations

import io
import json
import tarfile

import geopandas as gpd
import pytest
import yaml
from typer.testing import CliRunner

from geodata import national
from geodata.errors import GeodataError
from scenarios.cli import app
from tests.conftest import REPO

COUNTIES = REPO / "geodata" / "data" / "us_counties.gpkg"


def test_committed_counties_file():
    frame = gpd.read_file(COUNTIES)
    assert len(frame) == 3107 and frame["fips"].is_unique
    assert frame.crs.to_epsg() == 5070 and frame.geometry.is_valid.all()
    assert set(frame.geom_type) <= {"Polygon", "MultiPolygon"}
    assert not frame["fips"].str[:2].isin(["02", "15", "72"]).any()  # contiguous states and DC only
    assert (frame["potential"] >= national.COUNTY_FLOOR).all()
    assert frame.loc[frame["potential"].idxmax(), "fips"] == "06037"  # Los Angeles County


def test_national_scenario_validates_and_100_territories_name_the_blocking_county(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(REPO / "scenarios" / "us_counties.yaml")])
    assert result.exit_code == 0, result.output
    assert "3107 units" in result.output
    wide = tmp_path / "us100.yaml"
    wide.write_text(yaml.safe_dump({"extends": str(REPO / "scenarios" / "us_counties.yaml"), "territories": {"count": 100}}))
    result = runner.invoke(app, ["validate", str(wide)])
    assert result.exit_code == 2
    assert "unit 06037 alone has" in result.output and "or use fewer territories" in result.output


def test_a_tarball_that_does_not_match_the_registry_is_refused(monkeypatch):
    blob = io.BytesIO()
    with tarfile.open(fileobj=blob, mode="w:gz") as tar:
        data = b"{}"
        info = tarfile.TarInfo("package/counties-10m.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    answers = {"meta": json.dumps({"dist": {"tarball": "tarball", "integrity": "sha512-AAAA"}}).encode(),
               "tarball": blob.getvalue()}

    class Reply(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(national.urllib.request, "urlopen",
                        lambda url, timeout=0: Reply(answers["tarball" if url == "tarball" else "meta"]))
    with pytest.raises(GeodataError, match="does not match the registry's sha512"):
        national.npm_file(national.US_ATLAS, "counties-10m.json")
