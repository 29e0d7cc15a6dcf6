"""Generate the bundled redesign example on the real Georgia counties, deterministically.

    python -m scenarios.example_data            # rewrites scenarios/data/georgia_redesign/*.csv

- Reps: 10, living at the centroid of a populous county, picked largest first at least 35 km apart.
- Today's alignment, as after years of ad-hoc changes: every rep's territory grew from their home
  at a rep-specific random speed (the county goes to whichever rep reaches it first along the
  adjacency, travel time = centroid distance / speed), so territories are contiguous but their
  potential is far from even.
- Accounts: about 3,000, spread over counties in proportion to population ** 0.8 (at least one per
  county), at random points inside the county. Potential is log-normal (a few large accounts hold
  much of it); relationship value = potential x relationship strength (beta-distributed) x tenure
  factor; the top 5% by potential are key accounts, and the 30 key accounts with the strongest
  relationship are locked to their rep (named accounts). About 4% of accounts are served today by
  the rep of a neighbouring territory (old exceptions).
- Coverage (coverage.csv, from its own seeded stream so the files above do not change): today's
  channel and contacts as habit left them, last year's revenue, a visit value for 60% of accounts
  and a keep-channel flag on 2% of field and tele accounts (see `coverage_columns`).
Seeded with numpy's default_rng(2026); the files are committed and a test regenerates them.
"""

from __future__ import annotations

import heapq
from pathlib import Path

import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
from shapely.geometry import Point

from geodata.adjacency import polygon_edges

OUT = Path(__file__).parent / "data" / "georgia_redesign"
SEED = 2026
REPS = 10
ACCOUNTS = 3000
SPACING = 35_000  # metres between homes: reps live where the customers are, Atlanta gets several
NAMES = ("Avery Brooks", "Jordan Ellis", "Morgan Reyes", "Casey Patel", "Riley Chen", "Taylor Okafor",
         "Jamie Novak", "Quinn Alvarez", "Drew Larsen", "Skyler Moreau")


def georgia() -> gpd.GeoDataFrame:
    frame = gpd.read_file(libpysal.examples.get_path("G_utm.shp")).set_crs("EPSG:26916")
    return frame.assign(AreaKey=frame["AreaKey"].astype(str)).set_index("AreaKey", drop=False)


def pick_homes(frame: gpd.GeoDataFrame) -> list[int]:
    """Populous counties, largest first, each at least 35 km from the homes already picked."""
    xy = np.c_[frame.geometry.centroid.x, frame.geometry.centroid.y]
    homes: list[int] = []
    for i in np.argsort(-frame["TotPop90"].to_numpy(), kind="stable"):
        if all(np.hypot(*(xy[i] - xy[h])) >= SPACING for h in homes):
            homes.append(int(i))
        if len(homes) == REPS:
            break
    return homes


def grow_alignment(frame: gpd.GeoDataFrame, homes: list[int], rng: np.random.Generator) -> np.ndarray:
    """Multi-source Dijkstra over the adjacency with rep-specific speeds: contiguous, uneven."""
    n = len(frame)
    xy = np.c_[frame.geometry.centroid.x, frame.geometry.centroid.y]
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for a, b in sorted(polygon_edges(frame, "queen")):
        nbrs[a].append(b)
        nbrs[b].append(a)
    speed = rng.lognormal(0.0, 0.45, size=len(homes))
    owner = np.full(n, -1)
    heap = [(0.0, r, h) for r, h in enumerate(homes)]
    heapq.heapify(heap)
    while heap:
        d, r, u = heapq.heappop(heap)
        if owner[u] >= 0:
            continue
        owner[u] = r
        for v in nbrs[u]:
            if owner[v] < 0:
                heapq.heappush(heap, (d + float(np.hypot(*(xy[u] - xy[v]))) / speed[r], r, v))
    return owner


def random_points(polygon, count: int, rng: np.random.Generator) -> list[Point]:
    minx, miny, maxx, maxy = polygon.bounds
    points: list[Point] = []
    while len(points) < count:
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if polygon.contains(p):
            points.append(p)
    return points


def coverage_columns(accounts: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Today's coverage as habit left it: 70% of accounts visited in the field whatever their value
    (2-12 visits, about what the reps' time allows), the rest on tele or online; revenue last year; a
    visit value known for 60% of accounts (5-30% of potential per visit); 2% of field and tele accounts
    must keep their channel (contract terms)."""
    m = len(accounts)
    potential = accounts["potential"].to_numpy(dtype=float)
    channel = rng.choice(["field", "tele", "online"], size=m, p=[0.7, 0.2, 0.1])
    visits = np.select([channel == "field", channel == "tele"],
                       [rng.choice([2, 4, 6, 12], size=m, p=[0.3, 0.35, 0.25, 0.1]), rng.choice([6, 12], size=m)], 12)
    known = rng.random(m) < 0.6
    visit_value = np.where(known, np.round(potential * rng.uniform(0.05, 0.3, m), 0), np.nan)
    return pd.DataFrame({
        "account_id": accounts["account_id"], "revenue": np.round(potential * rng.uniform(0.1, 0.6, m), 0).astype(int),
        "visit_value": pd.array(visit_value, dtype="Int64"), "channel": channel, "visits": visits,
        "keep_channel": np.where((rng.random(m) < 0.02) & (channel != "online"), "true", "false"),
    })


def build(out: Path = OUT) -> None:
    rng = np.random.default_rng(SEED)
    frame = georgia()
    homes = pick_homes(frame)
    owner = grow_alignment(frame, homes, rng)
    n = len(frame)
    ids = frame.index.tolist()
    rep_ids = [f"R{r + 1:02d}" for r in range(REPS)]
    centroids = gpd.GeoSeries(frame.geometry.centroid, crs=frame.crs).to_crs("EPSG:4326")
    reps = pd.DataFrame({
        "rep_id": rep_ids, "name": NAMES[:REPS],
        "lat": [round(centroids.iloc[h].y, 5) for h in homes], "lon": [round(centroids.iloc[h].x, 5) for h in homes],
        "status": "active", "working_days": 200,
    })
    alignment = pd.DataFrame({"unit": ids, "rep_id": [rep_ids[r] for r in owner]})

    weights = frame["TotPop90"].to_numpy(dtype=float) ** 0.8
    per_county = np.maximum(1, np.floor(weights / weights.sum() * ACCOUNTS)).astype(int)
    rows = []
    edges = sorted(polygon_edges(frame, "queen"))
    foreign = [[] for _ in range(n)]
    for a, b in edges:
        if owner[a] != owner[b]:
            foreign[a].append(owner[b])
            foreign[b].append(owner[a])
    for i in range(n):
        for p in random_points(frame.geometry.iloc[i], int(per_county[i]), rng):
            rep = owner[i]
            if foreign[i] and rng.random() < 0.04:
                rep = foreign[i][int(rng.integers(len(foreign[i])))]
            rows.append((i, p, rep))
    points = gpd.GeoSeries([p for _, p, _ in rows], crs=frame.crs).to_crs("EPSG:4326")
    m = len(rows)
    potential = np.round(rng.lognormal(9.0, 1.1, size=m), 0)
    strength = rng.beta(2.0, 2.5, size=m)
    tenure = rng.uniform(0.5, 1.5, size=m)
    relationship = np.round(potential * strength * tenure * 0.3, 0)
    key = potential >= np.quantile(potential, 0.95)
    locked = np.zeros(m, dtype=bool)
    locked[np.argsort(-(strength * key), kind="stable")[:30]] = True
    accounts = pd.DataFrame({
        "account_id": [f"A{a + 1:05d}" for a in range(m)],
        "lat": np.round(points.y.to_numpy(), 5), "lon": np.round(points.x.to_numpy(), 5),
        "rep_id": [rep_ids[r] for _, _, r in rows],
        "potential": potential.astype(int), "relationship": relationship.astype(int),
        "key_account": np.where(key, "true", "false"), "keep_rep": np.where(locked, "true", "false"),
    })
    coverage = coverage_columns(accounts, np.random.default_rng(SEED + 1))
    out.mkdir(parents=True, exist_ok=True)
    coverage.to_csv(out / "coverage.csv", index=False)
    reps.to_csv(out / "reps.csv", index=False)
    alignment.to_csv(out / "alignment.csv", index=False)
    accounts.to_csv(out / "accounts.csv", index=False)


if __name__ == "__main__":
    build()
    print(f"wrote {OUT}")
