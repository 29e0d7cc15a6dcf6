"""Realistically generated geographies for scale benchmarks: tract-like Voronoi cells inside the real
Georgia outline, denser where the 1990 county population is larger, with skewed (lognormal) potential."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import libpysal
import numpy as np
import shapely

from geodata.read_units import read_units


def georgia_cells(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    """About `n` Voronoi cells clipped to Georgia; points drawn county by county in proportion to
    population (so Atlanta gets many small cells), potential ~ population share x lognormal noise."""
    counties = read_units(Path(libpysal.examples.get_path("G_utm.shp")), "AreaKey", ["TotPop90"], crs="EPSG:26916")
    rng = np.random.default_rng(seed)
    pop = counties["TotPop90"].to_numpy()
    # Every county gets at least one cell; the rest follow population (square root: tracts are denser
    # in cities, but not as dense as people).
    share = np.sqrt(pop) / np.sqrt(pop).sum()
    counts = 1 + rng.multinomial(n - len(counties), share)
    points = []
    for geom, c in zip(counties.geometry, counts):
        minx, miny, maxx, maxy = geom.bounds
        got: list = []
        while len(got) < c:
            cand = shapely.points(rng.uniform(minx, maxx, 4 * c), rng.uniform(miny, maxy, 4 * c))
            got.extend(p for p in cand[shapely.contains(geom, cand)][: c - len(got)])
        points.extend(got)
    outline = shapely.union_all(counties.geometry.to_numpy()).buffer(0)
    cells = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=outline)
    cells = [c.intersection(outline) for c in shapely.get_parts(cells)]
    cells = [c for c in cells if not c.is_empty]
    frame = gpd.GeoDataFrame(geometry=cells, crs=counties.crs)
    frame = frame[frame.geometry.area > 1.0].reset_index(drop=True)
    county_of = gpd.sjoin(gpd.GeoDataFrame(geometry=frame.representative_point(), crs=counties.crs),
                          counties[["TotPop90", "geometry"]], how="left", predicate="within")
    county_of = county_of[~county_of.index.duplicated()]
    county = county_of[counties.index.name or "index_right"].reindex(frame.index)
    cells_in = county.map(county.value_counts()).fillna(1).to_numpy()
    base = county_of["TotPop90"].reindex(frame.index).fillna(pop.min()).to_numpy()
    # A cell's potential: its county's population shared among the county's cells, with skewed noise.
    frame["potential"] = np.round(base / cells_in * rng.lognormal(0.0, 0.6, len(frame))) + 1
    frame["unit"] = [f"c{i:05d}" for i in range(len(frame))]
    return frame.set_index("unit", drop=False)
