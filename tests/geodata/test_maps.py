"""The static map: a legend a manager can read at any number of territories."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box


@pytest.mark.parametrize("count, columns", [(10, None), (40, 2), (200, None)])
def test_a_national_plans_legend_goes_below_the_map_in_columns(count, columns):
    """Up to 30 territories the legend stands beside the map; more go in columns below it, so the map keeps the
    figure's width; above 60 (national plans) a line per territory would fill the page, so the legend only marks
    the centres and says where the totals are, and names that would overlap are left out."""
    import matplotlib.pyplot as plt

    from geodata.maps import _map_figure

    names = [f"T{i:03d}" for i in range(count)]
    units = gpd.GeoDataFrame({"territory": names}, geometry=[box(i, 0, i + 1, 1) for i in range(count)], crs="EPSG:3857")
    centres = gpd.GeoDataFrame({"territory": names}, geometry=units.centroid, crs="EPSG:3857")
    fig = _map_figure(units, centres, dict.fromkeys(names, "#4e79a7"), {n: f"{n} (1 unit)" for n in names}, "t")
    ax = fig.axes[0]
    legend = ax.get_legend()
    labels = [t for t in ax.texts if t.get_text().startswith("T")]
    plt.close(fig)
    if count > 60:
        texts = [t.get_text() for t in legend.get_texts()]
        assert len(texts) == 2 and "territory centre" in texts[0] and f"{count} territories" in texts[1]
        assert "kpis.csv" in texts[1] and legend._loc == 9  # 9: upper center
        assert 0 < len(labels) < count  # 200 names side by side on a 14-inch map cannot all fit
        return
    assert len(legend.get_texts()) == count and len(labels) == count
    assert legend._ncols == (columns or 1) and (legend._loc == 9) == (columns is not None)  # 9: upper center


def test_outlines_draw_each_border_once_and_no_holes_inside_a_territory():
    """A territory around a hole of nothing (the slivers a dissolve leaves) gets one ring, not two; a territory
    enclosed by another (an enclave) keeps its own ring."""
    from geodata.maps import outlines

    cells = [box(x, y, x + 1, y + 1) for x in range(3) for y in range(3) if (x, y) != (1, 1)]
    ring = gpd.GeoDataFrame({"territory": ["A"] * 8}, geometry=cells, crs="EPSG:3857")
    drawn = outlines(ring.dissolve(by="territory"))
    assert len(drawn.iloc[0].geoms) == 1 and drawn.iloc[0].length == pytest.approx(12.0)
    enclave = gpd.GeoDataFrame({"territory": ["A"] * 8 + ["B"]}, geometry=cells + [box(1, 1, 2, 2)], crs="EPSG:3857")
    drawn = outlines(enclave.dissolve(by="territory"))
    assert [round(g.length, 6) for g in drawn] == [12.0, 4.0]


def test_the_report_maps_outlines_leave_a_territorys_holes_out():
    """In report.html as in map.png: a territory around a hole (the slivers between its units) is outlined by its
    outer ring alone, while its units' own shapes keep their holes."""
    from shapely.geometry import Polygon

    from geodata.svg_map import _path

    ring = Polygon([(0, 0), (3, 0), (3, 3), (0, 3)], holes=[[(1, 1), (2, 1), (2, 2), (1, 2)]])
    assert _path(ring, 0.0, 3.0, 10.0).count("M") == 2
    assert _path(ring, 0.0, 3.0, 10.0, holes=False).count("M") == 1
