import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Polygon

from geodata.build import build_geography
from geodata.distances import great_circle_km, read_matrix
from geodata.errors import GeodataError
from geodata.read_units import read_units
from tests.conftest import GEORGIA, NORTH_CAROLINA, grid_frame


@pytest.mark.parametrize("suffix,driver", [(".gpkg", "GPKG"), (".shp", "ESRI Shapefile"), (".geojson", "GeoJSON")])
def test_reads_each_polygon_format(tmp_path, suffix, driver):
    path = tmp_path / f"units{suffix}"
    grid_frame(2, 3).reset_index(drop=True).to_file(path, driver=driver)
    frame = read_units(path, "uid", ["pop"])
    assert list(frame.index) == [f"u{i}" for i in range(6)]
    assert frame.crs is not None


def test_reads_multipolygons(tmp_path):
    frame = grid_frame(2, 2).reset_index(drop=True)
    frame.loc[0, "geometry"] = frame.geometry.iloc[0].union(frame.geometry.iloc[3].buffer(-1000))
    path = tmp_path / "multi.gpkg"
    frame.to_file(path)
    assert "MultiPolygon" in set(read_units(path, "uid", ["pop"]).geom_type)


def test_reads_csv_points(tmp_path):
    path = tmp_path / "zips.csv"
    pd.DataFrame({"zip": ["30301", "30302"], "latitude": [33.7, 33.8], "longitude": [-84.4, -84.3], "pop": [5, 7]}).to_csv(path, index=False)
    frame = read_units(path, "zip", ["pop"])
    assert frame.crs.to_epsg() == 4326
    assert frame.loc["30302", "pop"] == 7


def test_shapefile_without_prj_needs_crs():
    with pytest.raises(GeodataError, match="crs"):
        read_units(GEORGIA, "AreaKey", ["TotPop90"])
    assert read_units(GEORGIA, "AreaKey", ["TotPop90"], crs="EPSG:26916").crs.to_epsg() == 26916


def test_geographic_crs_gives_great_circle_km():
    frame = read_units(NORTH_CAROLINA, "FIPS", ["BIR79"], crs="EPSG:4326")
    geo = build_geography(frame, ["BIR79"])
    assert geo.distance_unit == "km"
    pos = geo.index_of()
    # Mecklenburg (Charlotte, 37119) to Wake (Raleigh, 37183): about 210 km.
    assert 190 < geo.distance[pos["37119"], pos["37183"]] < 240


def test_great_circle_known_distance():
    d = great_circle_km(np.array([0.0, 0.0]), np.array([0.0, 1.0]))
    assert d[0, 1] == pytest.approx(111.2, abs=0.2)


def test_missing_file(tmp_path):
    with pytest.raises(GeodataError, match="not found"):
        read_units(tmp_path / "nope.gpkg", "id", [])


def test_missing_id_column(tmp_path):
    path = tmp_path / "u.gpkg"
    grid_frame(2, 2).reset_index(drop=True).to_file(path)
    with pytest.raises(GeodataError, match="id column 'code'"):
        read_units(path, "code", [])


def test_missing_attribute_column(tmp_path):
    path = tmp_path / "u.gpkg"
    grid_frame(2, 2).reset_index(drop=True).to_file(path)
    with pytest.raises(GeodataError, match="column 'potential' not found"):
        read_units(path, "uid", ["potential"])


def test_duplicate_ids(tmp_path):
    frame = grid_frame(2, 2).reset_index(drop=True)
    frame.loc[3, "uid"] = "u0"
    path = tmp_path / "u.gpkg"
    frame.to_file(path)
    with pytest.raises(GeodataError, match="duplicate unit ids.*u0"):
        read_units(path, "uid", [])


@pytest.mark.parametrize("bad,match", [(np.nan, "empty or not a number.*u1"), (-3.0, "negative.*u1")])
def test_null_or_negative_attribute(tmp_path, bad, match):
    frame = grid_frame(2, 2).reset_index(drop=True)
    frame.loc[1, "pop"] = bad
    path = tmp_path / "u.gpkg"
    frame.to_file(path)
    with pytest.raises(GeodataError, match=match):
        read_units(path, "uid", ["pop"])


def test_invalid_geometry_named_and_repairable(tmp_path):
    frame = grid_frame(2, 2).reset_index(drop=True)
    frame.loc[2, "geometry"] = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])  # a bow-tie
    path = tmp_path / "u.gpkg"
    frame.to_file(path)
    with pytest.raises(GeodataError, match="invalid geometry for units u2"):
        read_units(path, "uid", [])
    assert read_units(path, "uid", [], repair_geometry=True).is_valid.all()


def test_matrix_csv(tmp_path):
    (tmp_path / "m.csv").write_text("from,to,minutes\na,b,10\nb,c,5\na,c,12\n")
    d = read_matrix(tmp_path / "m.csv", ("a", "b", "c"), None)
    assert d[1, 0] == 10 and d[2, 1] == 5 and d[0, 2] == 12


def test_matrix_csv_with_gaps(tmp_path):
    (tmp_path / "m.csv").write_text("from,to,minutes\na,b,10\n")
    with pytest.raises(GeodataError, match="no value"):
        read_matrix(tmp_path / "m.csv", ("a", "b", "c"), None)


def test_matrix_csv_with_a_negative_value_names_the_pair(tmp_path):
    (tmp_path / "m.csv").write_text("from,to,minutes\na,b,10\nb,c,-5\na,c,12\n")
    with pytest.raises(GeodataError, match=r"must hold finite non-negative numbers in every row; it does not for b-c "
                                         r"\(row 3"):
        read_matrix(tmp_path / "m.csv", ("a", "b", "c"), None)
    (tmp_path / "m.csv").write_text("From,To,Minutes\na,b,10\nb,c,inf\na,c,12\n")  # unreachable is no distance
    with pytest.raises(GeodataError, match=r"it does not for b-c \(row 3"):
        read_matrix(tmp_path / "m.csv", ("a", "b", "c"), "minutes")


def test_csv_columns_are_found_in_any_case(tmp_path):
    """As in every other CSV input: ' FIPS ' and 'POP' in the file for the scenario's fips and pop."""
    path = tmp_path / "units.csv"
    path.write_text(" FIPS ,LAT,LON,POP\n001,33.7,-84.4,5\n002,33.8,-84.3,7\n")
    frame = read_units(path, "fips", ["pop"], lat="lat", lon="lon", label="Fips")
    assert list(frame.index) == ["001", "002"] and list(frame["pop"]) == [5.0, 7.0]


def test_a_csv_row_with_latitude_and_longitude_swapped_is_named(tmp_path):
    """North Carolina's county points with one row swapped (Hertford, line 7): refused, the row named; the
    same points as written are read."""
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(34, 36.5, 20), rng.uniform(-84, -76, 20)
    rows = [f"{i:03d},{a:.4f},{o:.4f},1" for i, (a, o) in enumerate(zip(lat, lon))]
    path = tmp_path / "points.csv"
    path.write_text("id,latitude,longitude,pop\n" + "\n".join(rows) + "\n")
    assert len(read_units(path, "id", ["pop"])) == 20
    rows[5] = f"005,{lon[5]:.4f},{lat[5]:.4f},1"
    path.write_text("id,latitude,longitude,pop\n" + "\n".join(rows) + "\n")
    with pytest.raises(GeodataError, match=r"points.csv: row 7 .*latitude and longitude swapped"):
        read_units(path, "id", ["pop"])


@pytest.mark.parametrize("rows, message", [
    ("from,to,minutes\na,b,10\nb,a,10\na,b,12\nb,c,5\na,c,12\n", r"a->b given twice with different values"),
    ("from,to,minutes\na,b,10\nb,c,5\na,c,12\na,a,3\n", r"a->a from a unit to itself must be 0"),
    ("from,to\na,b\n", r"no value column besides 'from' and 'to'"),
])
def test_matrix_csv_rows_that_contradict_each_other_are_named(tmp_path, rows, message):
    (tmp_path / "m.csv").write_text(rows)
    with pytest.raises(GeodataError, match=message):
        read_matrix(tmp_path / "m.csv", ("a", "b", "c"), None)
    (tmp_path / "ok.csv").write_text("from,to,minutes\na,b,10\na,b,10\nb,c,5\na,c,12\na,a,0\n")  # repeats that agree
    assert read_matrix(tmp_path / "ok.csv", ("a", "b", "c"), None)[0, 1] == 10


def test_coordinate_columns_on_a_polygon_file_are_refused(tmp_path):
    path = tmp_path / "units.gpkg"
    grid_frame(2, 2, [1, 2, 3, 4]).reset_index(drop=True).to_file(path, driver="GPKG")
    with pytest.raises(GeodataError, match="units.lat and units.lon name the coordinate columns of a CSV"):
        read_units(path, "uid", ["pop"], lat="y")
