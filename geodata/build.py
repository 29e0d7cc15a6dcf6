"""Assemble a Geography from a checked units frame: coordinates, distances, adjacency, islands."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np

from geodata.adjacency import join_islands, polygon_edges, read_edges
from geodata.distances import great_circle_km, planar, read_matrix
from geodata.instance import Geography
from geodata.read_units import representative_xy


def build_geography(
    frame: gpd.GeoDataFrame,
    attributes: list[str],
    adjacency: str = "queen",
    edges_path: Path | None = None,
    matrix_path: Path | None = None,
    matrix_column: str | None = None,
    matrix_unit: str = "minutes",
) -> Geography:
    """Turn units into arrays: the only place geometry becomes numbers."""
    ids = tuple(str(u) for u in frame.index)
    x, y, geographic = representative_xy(frame)
    if matrix_path is not None:
        distance, unit = read_matrix(matrix_path, ids, matrix_column), matrix_unit
    elif geographic:
        distance, unit = great_circle_km(x, y), "km"
    else:
        distance, unit = planar(x, y, frame.crs)
    edges = read_edges(edges_path, ids) if edges_path is not None else polygon_edges(frame, adjacency)
    added = join_islands(len(ids), edges, distance)
    all_edges = tuple(sorted(edges | set(added)))
    return Geography(
        ids=ids,
        attributes={a: frame[a].to_numpy(dtype=float) for a in attributes},
        x=x,
        y=y,
        edges=all_edges,
        distance=distance,
        distance_unit=unit,
        joined=tuple((ids[a], ids[b]) for a, b in added),
        frame=frame,
    )


def locate(frame: gpd.GeoDataFrame, lon: float, lat: float) -> str:
    """The unit that contains a WGS84 point (e.g. a rep's home), or else the nearest unit."""
    point = gpd.GeoSeries(gpd.points_from_xy([lon], [lat]), crs="EPSG:4326").to_crs(frame.crs)
    geom = point.iloc[0]
    if set(frame.geom_type) != {"Point"}:
        inside = frame.index[frame.geometry.contains(geom)]
        if len(inside):
            return str(inside[0])
    metric = frame if not frame.crs.is_geographic else frame.to_crs(frame.estimate_utm_crs())
    geom = point.to_crs(metric.crs).iloc[0]
    return str(metric.index[int(np.argmin(metric.geometry.distance(geom).to_numpy()))])
