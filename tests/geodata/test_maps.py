"""The static map: a legend a manager can read at any number of territories."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box


@pytest.mark.parametrize("count, columns", [(10, None), (40, 2), (200, 4)])
def test_a_national_plans_legend_goes_below_the_map_in_columns(count, columns):
    """Up to 30 territories the legend stands beside the map; more (national plans after splitting) go in
    columns below it, so the map keeps the figure's width."""
    import matplotlib.pyplot as plt

    from geodata.maps import _map_figure

    names = [f"T{i:03d}" for i in range(count)]
    units = gpd.GeoDataFrame({"territory": names}, geometry=[box(i, 0, i + 1, 1) for i in range(count)], crs="EPSG:3857")
    centres = gpd.GeoDataFrame({"territory": names}, geometry=units.centroid, crs="EPSG:3857")
    fig = _map_figure(units, centres, dict.fromkeys(names, "#4e79a7"), {n: f"{n} (1 unit)" for n in names}, "t")
    legend = fig.axes[0].get_legend()
    plt.close(fig)
    assert len(legend.get_texts()) == count
    assert legend._ncols == (columns or 1) and (legend._loc == 9) == (columns is not None)  # 9: upper center
