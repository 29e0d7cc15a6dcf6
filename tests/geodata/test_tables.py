"""CSV inputs as spreadsheets write them: encodings, separators, decimal commas, ids that lost their zeros."""

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from geodata.adjacency import read_edges
from geodata.errors import GeodataError
from geodata.read_units import read_units
from geodata.tables import as_known_ids, read_text_csv, to_numbers


def test_ids_a_spreadsheet_rewrote_are_read_back():
    known = ("01001", "01003", "13121", "u5")
    given = pd.Series(["1001", "13121.0", "01003", "u5", "99"])
    assert as_known_ids(given, known).tolist() == ["01001", "13121", "01003", "u5", "99"]


def test_numbers_with_thousands_separators_and_decimal_commas():
    plain = to_numbers(pd.Series(["1,234", "1,234,567.5", " 3 ", "12.5", "n/a", ""])).tolist()
    assert plain[:4] == [1234, 1234567.5, 3, 12.5] and all(v != v for v in plain[4:])  # NaN where no number
    assert to_numbers(pd.Series(["1,5"])).isna().all()  # ambiguous in a ',' file: not guessed
    european = pd.Series(["1.234,5", "37,5", "379.063", "-78,26"])
    assert to_numbers(european, "european").tolist() == [1234.5, 37.5, 379063, -78.26]
    assert to_numbers(pd.Series(["379.063", "1.200"]), "european").tolist() == [379063, 1200]  # whole, grouped
    assert to_numbers(pd.Series(["39.123", "39.2"]), "european").tolist() == [39.123, 39.2]  # a column with points
    with pytest.raises(GeodataError, match=r"units.csv: column 'Sales': '1.200' may be 1.2 or 1,200"):
        to_numbers(pd.Series(["1.200", "15.000"]), "semicolon", "units.csv: column 'Sales'")


def test_a_european_excel_file_is_read(tmp_path):
    path = tmp_path / "units.csv"
    text = "\ufeffFIPS Code ;Name;Latitude;Longitude;Sales\r\n01069;Frederick – Winchester;39,2;-78,26;379.063\r\n;;;;\r\n"
    path.write_bytes(text.encode("utf-8"))
    table = read_text_csv(path, "units.path")
    assert list(table.columns) == ["FIPS Code", "Name", "Latitude", "Longitude", "Sales"]
    assert len(table) == 1 and table.attrs["numbers"] == "european"
    path.write_bytes(text.replace("\ufeff", "").encode("cp1252"))
    assert read_text_csv(path, "units.path").at[0, "Name"] == "Frederick – Winchester"


def test_points_csv_keeps_leading_zeros_and_reads_windows_files(tmp_path):
    path = tmp_path / "units.csv"
    rows = ["FIPS;Name;Latitude;Longitude;Sales", "01001;Accomack – East;37,77;-75,63;1.234", "01003;Albemarle;38,02;-78,55;2.000,5"]
    path.write_bytes("\r\n".join(rows).encode("cp1252"))
    frame = read_units(path, "FIPS", ["Sales"])
    assert list(frame.index) == ["01001", "01003"]
    assert frame["Sales"].tolist() == [1234, 2000.5]
    assert frame.geometry.x.tolist() == pytest.approx([-75.63, -78.55])


def test_a_latitude_out_of_range_names_its_row(tmp_path):
    path = tmp_path / "units.csv"
    path.write_text("id,lat,lon,pop\na,37.5,-77.5,1\n\nb,37.6,-77.4,1\nc,95,-77.45,1\n")  # line 4 is blank
    with pytest.raises(GeodataError, match=r"row 5 has a latitude beyond"):
        read_units(path, "id", ["pop"])


def test_whole_number_ids_stored_as_floats_are_read_as_integers(tmp_path):
    frame = gpd.GeoDataFrame({"fips": [51001.0, 51003.0], "pop": [1, 2]},
                             geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:4326")
    path = tmp_path / "units.geojson"
    frame.to_file(path, driver="GeoJSON")
    assert list(read_units(path, "fips", ["pop"]).index) == ["51001", "51003"]


def test_edge_list_headers_in_any_case_and_ids_without_zeros(tmp_path):
    path = tmp_path / "edges.csv"
    path.write_text("\ufeffA,B\r\n1001,01003\r\n01003,1005\r\n,\r\n", encoding="utf-8")
    assert read_edges(path, ("01001", "01003", "01005")) == {(0, 1), (1, 2)}


def test_crs_mistakes_and_layers_are_named(tmp_path):
    """Degrees given a projected CRS; a GeoJSON without a crs member in metres; a GeoPackage of two layers."""
    cells = [box(-80 + i, 35, -79 + i, 36) for i in range(3)]
    degrees = gpd.GeoDataFrame({"id": ["a", "b", "c"], "pop": [1, 2, 3]}, geometry=cells, crs=None)
    degrees.to_file(tmp_path / "nocrs.shp")
    with pytest.raises(GeodataError, match=r"look like longitude/latitude in degrees, not EPSG:26917's metres"):
        read_units(tmp_path / "nocrs.shp", "id", ["pop"], crs="EPSG:26917")
    metres = gpd.GeoDataFrame({"id": ["a", "b"], "pop": [1, 2]},
                              geometry=[box(500_000, 4e6, 510_000, 4.01e6), box(510_000, 4e6, 520_000, 4.01e6)])
    (tmp_path / "utm.geojson").write_text(metres.to_json())  # no crs member: read as WGS84
    assert read_units(tmp_path / "utm.geojson", "id", ["pop"], crs="EPSG:32617").crs.to_epsg() == 32617
    two = tmp_path / "two.gpkg"
    degrees.set_crs("EPSG:4326").to_file(two, layer="counties")
    degrees.set_crs("EPSG:4326").assign(geometry=degrees.centroid).to_file(two, layer="offices")
    with pytest.raises(GeodataError, match=r"the file has 2 layers \(counties, offices\); name the units' layer"):
        read_units(two, "id", ["pop"])
    assert len(read_units(two, "id", ["pop"], layer="counties")) == 3
