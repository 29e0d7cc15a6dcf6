"""Static territory maps for managers: distinct colours, centres marked, a legend with totals."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from shapely.geometry import MultiLineString  # noqa: E402

LEGEND_BESIDE = 30  # legend lines beside the map; more go in columns below it
LEGEND_TERRITORIES = 60  # above this a legend line per territory would fill the page: the map gets it instead
MIN_STAR = 18  # smallest centre star (points squared) on such maps
UNIT_EDGES_MAX = 5_000  # above this many units white edges would grey the map out: territory outlines only
PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5",
]


def territory_colours(territory_edges: set[tuple[str, str]], names: list[str]) -> dict[str, str]:
    """A colour per territory: all distinct while the palette lasts (so the legend identifies each
    territory); beyond that, a greedy colouring keeps touching territories apart."""
    if len(names) <= len(PALETTE):
        return {name: PALETTE[i] for i, name in enumerate(sorted(names))}
    nbrs: dict[str, set[str]] = {n: set() for n in names}
    for a, b in territory_edges:
        nbrs[a].add(b)
        nbrs[b].add(a)
    colours: dict[str, str] = {}
    for name in sorted(names, key=lambda n: (-len(nbrs[n]), n)):
        used = {colours[m] for m in nbrs[name] if m in colours}
        free = [c for c in PALETTE if c not in used]
        colours[name] = free[len(colours) % len(free)] if free else PALETTE[len(colours) % len(PALETTE)]
    return colours


LABEL_OFFSETS = ((5, 4), (5, -12), (-8, 8), (-8, -14), (8, -4))  # points, tried in turn beside each star


def _label_centres(ax, centres: gpd.GeoDataFrame, crowded: bool = False) -> None:
    """Each star's territory name beside it, in white-haloed bold, on the first side where it overlaps no
    label placed before (close centres, Atlanta's, printed their names on top of each other). `crowded`
    (national plans): smaller type, and a name that fits on no side is left out rather than printed over
    another (200 territories' names over the US north-east were one black blot)."""
    from matplotlib import patheffects

    to_points = 72.0 / ax.figure.dpi
    size = 6.0 if crowded else 8.0
    placed: list[tuple[float, float, float, float]] = []
    for _, row in centres.iterrows():
        text = str(row["territory"])
        x, y = (v * to_points for v in ax.transData.transform((row.geometry.x, row.geometry.y)))
        w, h = 0.65 * size * len(text), 1.1 * size  # bold type, roughly
        for dx, dy in LABEL_OFFSETS:
            left = x + dx - (w if dx < 0 else 0)
            box = (left, y + dy, left + w, y + dy + h)
            free = not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed)
            if free:
                break
        if crowded and not free:
            continue
        placed.append(box)
        ax.annotate(text, xy=(row.geometry.x, row.geometry.y), xytext=(dx, dy), textcoords="offset points",
                    ha="right" if dx < 0 else "left", fontsize=size, fontweight="bold", zorder=6,
                    path_effects=[patheffects.withStroke(linewidth=2.5 * size / 8, foreground="white")])


def _centres_and_legend(ax, centres: gpd.GeoDataFrame, colours: dict[str, str], legend: dict[str, str],
                        extra: list, title: str) -> None:
    """Centres as stars labelled with their territory's name, and a legend with each territory's line; with more
    territories than LEGEND_TERRITORIES the map gets the page and the legend says where each territory's totals
    are (kpis.csv, the PDF's table pages, report.html's map on hover)."""
    crowded = len(legend) > LEGEND_TERRITORIES
    stars = max(MIN_STAR, 140 * LEGEND_TERRITORIES / len(legend)) if crowded else 140
    centres.plot(ax=ax, marker="*", color="black", markersize=stars, zorder=5)
    _label_centres(ax, centres, crowded)
    if crowded:
        star = Line2D([], [], marker="*", color="black", linestyle="", markersize=8, label="territory centre")
        note = Patch(facecolor="none", edgecolor="none", label=f"{len(legend)} territories, each its own colour "
                     "among its neighbours; names where they fit; totals per territory in kpis.csv and report.html")
        ax.legend(handles=[star] + extra + [note], loc="upper center", bbox_to_anchor=(0.5, -0.01), fontsize=8,
                  frameon=False, ncol=len(extra) + 2)
        return
    handles = [Patch(facecolor=colours[n], edgecolor="#222222", label=legend[n]) for n in sorted(legend)] + extra
    if len(handles) <= LEGEND_BESIDE:
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False,
                  title=title)
    else:  # in columns below the map, which keeps the figure's width
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), fontsize=7, frameon=False,
                  title=title, ncol=min(4, math.ceil(len(handles) / LEGEND_BESIDE)))


def outlines(dissolved: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """The outer rings of each dissolved group's pieces: every border between groups is the outer ring of one of
    them (an enclave's is its own), while the slivers between units of one group that their dissolve leaves as
    holes (ZIP cells clipped to their counties: dashes along every county line) are not drawn."""
    def rings(geometry):
        parts = getattr(geometry, "geoms", [geometry])
        return MultiLineString([p.exterior for p in parts if p.geom_type == "Polygon" and not p.is_empty])
    return gpd.GeoSeries([rings(g) for g in dissolved.geometry], crs=dissolved.crs)


def _map_figure(units: gpd.GeoDataFrame, centres: gpd.GeoDataFrame, colours: dict[str, str],
                legend: dict[str, str], title: str, levels: tuple[str, ...] = ()):
    """Units filled by territory colour, territory outlines, centres as stars labelled with the
    territory's name (the rep's name in a redesign), and a legend with totals. `levels` names columns
    of `units` holding nesting groups (coarsest first), outlined thicker than the territories."""
    crowded = len(legend) > LEGEND_TERRITORIES
    fig, ax = plt.subplots(figsize=(14, 9) if crowded else (11, 9), dpi=110)
    extra = []
    if set(units.geom_type) == {"Point"}:
        units.plot(ax=ax, color=units["territory"].map(colours), markersize=30, edgecolor="#222222", linewidth=0.3)
    else:
        many = len(units) > UNIT_EDGES_MAX  # (edges in the fill colour close the slivers between cells)
        units.plot(ax=ax, color=units["territory"].map(colours), edgecolor="face" if many else "white", linewidth=0.3)
        outlines(units.dissolve(by="territory")).plot(ax=ax, color="#222222", linewidth=0.6 if crowded else 1.1)
        for depth, level in enumerate(levels):  # coarsest solid and thickest, the finer ones dashed
            style = dict(color="black", linewidth=1.6 + 1.4 * (len(levels) - depth),
                         linestyle="-" if depth == 0 else (0, (4, 2 * depth)))
            outlines(units.dissolve(by=level)).plot(ax=ax, **style)
            extra.append(Line2D([], [], label=f"{level} boundary", **style))
    _centres_and_legend(ax, centres, colours, legend, extra, "Territory (centre star)")
    ax.set_title(title, fontsize=12)
    ax.set_axis_off()
    fig.tight_layout()
    return fig


def draw_map_and_report(units: gpd.GeoDataFrame, centres: gpd.GeoDataFrame, colours: dict[str, str],
                        legend: dict[str, str], title: str, table, png: Path, pdf: Path,
                        levels: tuple[str, ...] = (), rows_per_page: int = 28) -> None:
    """map.png and its printable twin: a PDF with the same map on an A4-landscape page, then the KPI table.
    The map is drawn once for both (on 32,984 ZIP cells drawing it and dissolving the outlines took 5-6 s
    of the 20 s both files took; see the benchmarks README)."""
    from matplotlib.backends.backend_pdf import PdfPages

    fig = _map_figure(units, centres, colours, legend, title, levels)
    fig.savefig(png, bbox_inches="tight")
    with PdfPages(pdf) as pages:
        fig.set_size_inches(11.69, 8.27)
        pages.savefig(fig, bbox_inches="tight")
        plt.close(fig)
        cells = [[f"{v:,.0f}" if isinstance(v, float) and abs(v) >= 1000 else f"{v:,.2f}" if isinstance(v, float)
                  else str(v) for v in row] for row in table.itertuples(index=False)]
        for start in range(0, max(len(cells), 1), rows_per_page):
            fig, ax = plt.subplots(figsize=(11.69, 8.27))
            ax.set_axis_off()
            ax.set_title(f"{title}: territory KPIs", fontsize=11)
            chunk = cells[start:start + rows_per_page] or [[""] * len(table.columns)]
            shown = ax.table(cellText=chunk, colLabels=[c.replace("_", " ") for c in table.columns], loc="upper center",
                             cellLoc="right")
            shown.auto_set_font_size(False)
            shown.set_fontsize(6.5)
            shown.scale(1, 1.3)
            pages.savefig(fig)  # a full A4 page: the table lies inside the axes, and a tight box costs a second draw
            plt.close(fig)


def draw_change_map(
    units: gpd.GeoDataFrame,
    moved: "list[bool]",
    centres: gpd.GeoDataFrame,
    colours: dict[str, str],
    legend: dict[str, str],
    title: str,
    path: Path,
) -> None:
    """Write a PNG of the new territories where units that change rep are hatched and outlined,
    and units that stay are faded: what changes is what catches the eye."""
    fig, ax = plt.subplots(figsize=(11, 9), dpi=110)
    moved_mask = units.index.isin(units.index[list(moved)])
    stay, move = units[~moved_mask], units[moved_mask]
    points = set(units.geom_type) == {"Point"}
    if points:
        stay.plot(ax=ax, color=stay["territory"].map(colours), markersize=20, alpha=0.35)
        if len(move):
            move.plot(ax=ax, color=move["territory"].map(colours), markersize=45, edgecolor="black", linewidth=1.0)
    else:
        stay.plot(ax=ax, color=stay["territory"].map(colours), alpha=0.35, edgecolor="white", linewidth=0.3)
        if len(move):
            move.plot(ax=ax, color=move["territory"].map(colours), edgecolor="black", linewidth=0.9, hatch="///")
        outlines(units.dissolve(by="territory")).plot(ax=ax, color="#222222", linewidth=1.1)
    _centres_and_legend(ax, centres, colours, legend,
                        [Patch(facecolor="white", edgecolor="black", hatch="///", label="unit changes rep (hatched)")],
                        "New territory (home star)")
    ax.set_title(title, fontsize=12)
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
