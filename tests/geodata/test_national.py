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


def test_zip_cells_share_their_county_potential_so_that_a_split_county_keeps_its_total(monkeypatch):
    """Two square counties; a city in A spreads over ZIP points of A and of B. `potential` follows the
    spread, `county_potential` shares each county's own potential among its cells."""
    from shapely.geometry import Point, box

    crs = national.CRS
    counties = gpd.GeoDataFrame({"fips": ["01001", "01003"], "potential": [110_000.0, 10_000.0]},
                                geometry=[box(0, 0, 100_000, 100_000), box(100_000, 0, 200_000, 100_000)], crs=crs)
    points = gpd.GeoSeries([Point(20_000, 50_000), Point(80_000, 50_000), Point(120_000, 50_000)], crs=crs).to_crs(4326)
    csv = "zip_code,latitude,longitude\n" + "".join(
        f"{z},{p.y},{p.x}\n" for z, p in zip(["10001", "10002", "10003"], points))
    monkeypatch.setattr(national, "npm_file", lambda package, member: csv.encode())
    city = gpd.GeoDataFrame({"city": ["Town"], "population": [75_000]}, geometry=[Point(79_000, 50_000)], crs=crs)
    monkeypatch.setattr(national, "cities", lambda: city)
    cells = national.zip_cells(counties).set_index("zip")
    assert cells["fips"].to_dict() == {"10001": "01001", "10002": "01001", "10003": "01003"}
    # the city's 75,000 people go to its 3 nearest ZIP points, one of them in county B
    assert cells["potential"].to_dict() == pytest.approx({"10001": 30_000, "10002": 30_000, "10003": 35_000})
    assert cells.groupby("fips")["county_potential"].sum().to_dict() == pytest.approx({"01001": 110_000, "01003": 10_000})
    assert cells.loc["10001", "county_potential"] == pytest.approx(55_000)
