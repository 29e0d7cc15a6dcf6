"""Maps as inline SVG for the HTML report: one <path> per unit (filled by territory) and one outline per
territory, with data attributes the report's script reads for hover details. No tiles, no web fonts,
no JavaScript library: the page works from file:// with no network."""

from __future__ import annotations

from html import escape

import geopandas as gpd
import numpy as np
from shapely.geometry.base import BaseGeometry

WIDTH = 900.0
STAR = 7.0  # outer radius of a centre's star (px)
LEVEL_STROKE = 1.4  # extra outline width per nesting level (px)


def _frame(units: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, float, float, float, float]:
    """Units in a planar CRS, and the transform (x0, y1, scale, height) to SVG pixels (y down)."""
    if units.crs is not None and units.crs.is_geographic:
        units = units.to_crs(units.estimate_utm_crs())
    x0, y0, x1, y1 = units.total_bounds
    scale = WIDTH / max(x1 - x0, 1e-9)
    return units, x0, y1, scale, (y1 - y0) * scale


def _path(geom: BaseGeometry, x0: float, y1: float, scale: float, digits: int = 1, holes: bool = True) -> str:
    """SVG path data of a (multi)polygon's rings, or a small square for a point. Outlines of dissolved groups leave
    the holes out (`holes`): the slivers between a group's units (ZIP cells clipped to their counties) would
    draw dashes along every county line, and every border between groups is the outer ring of one of them."""
    if geom is None or geom.is_empty:
        return ""
    if geom.geom_type in ("Point", "MultiPoint"):  # point units (CSV lat/lon): a small square each
        return "".join(f"M{(p.x - x0) * scale - 3:.{digits}f} {(y1 - p.y) * scale - 3:.{digits}f}h6v6h-6Z"
                       for p in getattr(geom, "geoms", [geom]))
    parts = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon"]
    out = []
    for poly in parts:
        for ring in [poly.exterior, *(poly.interiors if holes else ())]:
            xy = np.asarray(ring.coords)
            px = np.round((xy[:, 0] - x0) * scale, digits)
            py = np.round((y1 - xy[:, 1]) * scale, digits)
            keep = np.ones(len(px), dtype=bool)
            keep[1:] = (np.diff(px) != 0) | (np.diff(py) != 0)  # drop points that round together
            pts = [f"{a:g} {b:g}" for a, b in zip(px[keep], py[keep])]
            if len(pts) >= 3:
                out.append("M" + "L".join(pts) + "Z")
    return "".join(out)


def _centre_marks(planar: gpd.GeoDataFrame, territory: list[str], centres: list[int], x0: float, y1: float,
                  scale: float) -> str:
    """A black star on each centre unit (as on map.png) with its territory's name beside it in white-haloed
    bold, and that name again on hover."""
    angles = np.pi / 2 + np.arange(10) * np.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, STAR, STAR * 0.42)
    marks = []
    for k in centres:
        point = planar.geometry.iloc[k].representative_point()
        x, y = (point.x - x0) * scale, (y1 - point.y) * scale
        star = "L".join(f"{x + r * np.cos(a):.1f} {y - r * np.sin(a):.1f}" for r, a in zip(radii, angles))
        name = escape(territory[k])
        marks.append(f'<path class="centre" data-territory="{name}" d="M{star}Z" fill="#000" stroke="#fff" '
                     f'stroke-width="0.8"><title>{name} (centre)</title></path>'
                     f'<text class="centre-label" x="{x + STAR:.1f}" y="{y - 2:.1f}" font-size="11" font-weight="bold" '
                     f'stroke="#fff" stroke-width="3" paint-order="stroke" pointer-events="none">{name}</text>')
    return f'<g class="centres">{"".join(marks)}</g>'


def svg_map(units: gpd.GeoDataFrame, territory: list[str], colours: dict[str, str], unit_titles: list[str],
            territory_titles: dict[str, str], map_id: str, marked: list[bool] | None = None,
            simplify: float = 0.4, fills: list[str] | None = None,
            levels: dict[str, list[str]] | None = None, centres: list[int] | None = None) -> str:
    """An SVG map: class `unit` paths (data-territory, a <title> per unit) and class `territory`
    outlines (a <title> with the territory's KPIs). `marked` units are hatched (e.g. units that
    change rep). `simplify` is the tolerance in pixels. `fills` colour units by something else than
    their territory (the outlines stay the territories'). `levels` (name -> each unit's group, coarsest
    first, e.g. regions then districts) adds thicker class `level` outlines, the coarsest thickest.
    `centres` (positions of the centre units) are marked with stars labelled with their territory's name."""
    planar, x0, y1, scale, height = _frame(units)
    geoms = planar.geometry.simplify(simplify / scale, preserve_topology=True)
    hatch = (f'<defs><pattern id="{map_id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
             f'patternTransform="rotate(45)"><rect width="6" height="6" fill="none"/>'
             f'<line x1="0" y1="0" x2="0" y2="6" stroke="#111" stroke-width="1.6"/></pattern></defs>')
    rows = []
    for k, (geom, t, title) in enumerate(zip(geoms, territory, unit_titles)):
        d = _path(geom, x0, y1, scale)
        fill = fills[k] if fills is not None else colours.get(t, "#cccccc")
        rows.append(f'<path class="unit" data-territory="{escape(t)}" data-i="{k}" d="{d}" fill="{fill}" '
                    f'fill-rule="evenodd"><title>{escape(title)}</title></path>')
        if marked is not None and marked[k]:
            rows.append(f'<path class="marked" d="{d}" fill="url(#{map_id}-hatch)" fill-rule="evenodd" '
                        f'pointer-events="none"/>')
    outlines = []
    dissolved = planar.assign(territory=territory)[["territory", "geometry"]].dissolve(by="territory")
    for name, geom in zip(dissolved.index, dissolved.geometry.simplify(simplify / scale)):
        d = _path(geom, x0, y1, scale, holes=False)
        outlines.append(f'<path class="territory" data-territory="{escape(str(name))}" d="{d}" fill="none" '
                        f'stroke="#222" stroke-width="1.6"><title>{escape(territory_titles.get(name, name))}'
                        f'</title></path>')
    for depth, (level, codes) in enumerate((levels or {}).items()):
        width = LEVEL_STROKE * (len(levels) - depth) + 1.6  # coarsest solid and thickest, the finer ones dashed
        dashes = f' stroke-dasharray="8 {4 * depth}"' if depth else ""
        groups = planar.assign(group=list(codes))[["group", "geometry"]].dissolve(by="group")
        for geom in groups.geometry.simplify(simplify / scale):
            d = _path(geom, x0, y1, scale, holes=False)
            outlines.append(f'<path class="level" data-level="{escape(level)}" d="{d}" '
                            f'fill="none" stroke="#000" stroke-width="{width:g}"{dashes} pointer-events="none"/>')
    return (f'<svg id="{map_id}" class="map" viewBox="-5 -5 {WIDTH + 10:.0f} {height + 10:.0f}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img">{hatch}<g class="units" stroke="#fff" '
            f'stroke-width="0.4">{"".join(rows)}</g><g class="outlines">{"".join(outlines)}</g>'
            f'{_centre_marks(planar, territory, centres or [], x0, y1, scale)}</svg>')
