import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from geodata.adjacency import join_islands, polygon_edges, read_edges
from geodata.build import build_geography, locate
from geodata.errors import GeodataError
from tests.conftest import GEORGIA, grid_frame
from geodata.read_units import read_units


def test_queen_and_rook_on_a_grid():
    """u0 u1 u2 / u3 u4 u5 / u6 u7 u8: rook has 12 edges, queen adds the 8 diagonals."""
    frame = grid_frame(3, 3)
    rook = polygon_edges(frame, "rook")
    queen = polygon_edges(frame, "queen")
    assert len(rook) == 12
    assert len(queen) == 20
    assert (0, 4) in queen and (0, 4) not in rook
    assert (0, 1) in rook and (0, 3) in rook and (0, 2) not in queen


def test_island_is_joined_to_its_nearest_unit():
    """Two touching cells and one far away: the island joins the nearer cell."""
    cells = [box(0, 0, 1, 1), box(1, 0, 2, 1), box(5, 0, 6, 1)]
    frame = gpd.GeoDataFrame({"pop": [1.0, 1.0, 1.0]}, geometry=cells, crs="EPSG:3857", index=["a", "b", "c"])
    geo = build_geography(frame, ["pop"])
    assert geo.joined == (("b", "c"),)
    assert (1, 2) in geo.edges


def test_join_islands_connects_every_component():
    d = np.array([[0, 1, 5, 9], [1, 0, 4, 8], [5, 4, 0, 3], [9, 8, 3, 0]], dtype=float)
    added = join_islands(4, {(0, 1)}, d)
    assert len(added) == 2


def test_edge_list_replaces_derived_adjacency(tmp_path):
    (tmp_path / "e.csv").write_text("a,b\nu0,u8\nu1,u2\nu3,u4\n")
    edges = read_edges(tmp_path / "e.csv", tuple(f"u{i}" for i in range(9)))
    assert edges == {(0, 8), (1, 2), (3, 4)}  # 6 of 9 units listed: the other three are islands, joined later


def test_edge_list_naming_few_units_is_refused(tmp_path):
    """An edge list that names fewer than half of the units is a partial file, not a map of islands."""
    (tmp_path / "e.csv").write_text("a,b\nu0,u8\nu1,u2\n")
    with pytest.raises(GeodataError, match=r"e.csv: 5 of 9 units are in no row \(u3, .*every pair"):
        read_edges(tmp_path / "e.csv", tuple(f"u{i}" for i in range(9)))


@pytest.mark.parametrize("key", ["adjacency.edges", "adjacency.remove"])
def test_a_unit_paired_with_itself_is_named(tmp_path, key):
    """Such a row is a slip (a neighbour or barrier meant elsewhere): it was dropped without a word."""
    (tmp_path / "e.csv").write_text("a,b\nu0,u1\nu1,u1\nu1,u2\n")
    with pytest.raises(GeodataError, match=rf"e.csv \({key}\): rows pair units with themselves: u1; fix or remove"):
        read_edges(tmp_path / "e.csv", ("u0", "u1", "u2"), key=key)


def test_edge_list_with_unknown_unit(tmp_path):
    (tmp_path / "e.csv").write_text("a,b\nu0,zz\n")
    with pytest.raises(GeodataError, match="zz"):
        read_edges(tmp_path / "e.csv", ("u0", "u1"))


def test_points_need_an_edge_list():
    frame = gpd.GeoDataFrame({"pop": [1.0]}, geometry=gpd.points_from_xy([0], [0]), crs="EPSG:4326")
    with pytest.raises(GeodataError, match="adjacency.edges"):
        polygon_edges(frame, "queen")


def test_georgia_counties_are_one_connected_graph():
    frame = read_units(GEORGIA, "AreaKey", ["TotPop90"], crs="EPSG:26916")
    geo = build_geography(frame, ["TotPop90"])
    assert geo.n == 159
    assert geo.joined == ()
    assert geo.distance_unit == "km"
    # Fulton (13121) and DeKalb (13089) share a border.
    pos = geo.index_of()
    assert (min(pos["13121"], pos["13089"]), max(pos["13121"], pos["13089"])) in geo.edges
    # Atlanta (Fulton) to Savannah (Chatham, 13051) is roughly 350 km as the crow flies.
    assert 330 < geo.distance[pos["13121"], pos["13051"]] < 380


def test_home_location_maps_to_containing_county():
    frame = read_units(GEORGIA, "AreaKey", ["TotPop90"], crs="EPSG:26916")
    # Downtown Atlanta lies in Fulton County.
    assert locate(frame, -84.39, 33.75) == "13121"


def test_barriers_that_cut_off_most_units_are_refused():
    """adjacency.remove given the whole edge list: every unit would be an island."""
    from geodata.adjacency import remove_barriers

    ids = tuple(f"u{i}" for i in range(4))
    edges = {(0, 1), (1, 2), (2, 3)}
    assert remove_barriers(edges, {(1, 2)}, "cut.csv", ids) == {(0, 1), (2, 3)}
    with pytest.raises(GeodataError, match=r"cut.csv: removing these 3 edges leaves 4 of 4 units with no neighbour"):
        remove_barriers(edges, set(edges), "cut.csv", ids)
