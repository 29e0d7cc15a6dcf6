"""Benchmark the territory engine at national scale: US counties and ZIP cells (issue 6).

    .venv/bin/python tests/benchmarks/bench_national.py [--time-limit 600] [--cases a,b,...] [--parallel 1]

Each case is a scenario extending a bundled one (`scenarios/us_counties.yaml`,
`scenarios/us_counties_mixed.yaml`: counties too large for a territory split into ZIP cells,
`scenarios/us_zips.yaml`; the ZIP cells come from `make zips`; the 200 reps' homes of the `zips-200-reps-*` cases
are `data/zip_homes_200.csv`, those of the `mixed-*-reps-*` cases `data/mixed_homes_*.csv`, written by
`--write-homes SET`), run by `tplan run` in its own process so that its peak memory
(maximum resident set, from os.wait4) is its own. Prints one Markdown row per case: status, objective,
bound, gap, when the first valid plan existed, wall time and peak memory; a case the tool refuses
(e.g. a ±5% band no plan can meet) shows the tool's message. With `--threads 2` a run has forks beside it
(windows' 0-1 programs, the bound): the last column is the peak of the whole process tree's memory, sampled each
second as the sum of proportional set sizes (shared pages counted once).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
ZIP_CELLS = ROOT / "geodata" / "data" / "us_zip_cells.gpkg"
COUNTIES = ROOT / "geodata" / "data" / "us_counties.gpkg"
DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class HomeSet:
    """Reps' homes for fixed-centre cases (written by write_homes, committed): the scenario they extend, its
    override, the number of reps and the file; `zips`: every unit is a ZIP cell (the file's column is `zip`), else
    the mixed map (counties by FIPS code, ZIP cells as Z + code; the column is `unit`)."""

    base: str
    extra: dict
    count: int
    path: Path
    zips: bool = False

    @property
    def column(self) -> str:
        return "zip" if self.zips else "unit"


# The mixed geographies are those of the free-centre cases mixed-100 and mixed-200.
MIXED_SPREAD = {"units": {"split": {"columns": {"potential": "potential"}}}}
HOME_SETS = {
    "zips-200": HomeSet("us_zips.yaml", {}, 200, DATA / "zip_homes_200.csv", zips=True),
    "mixed-100": HomeSet("us_counties_mixed.yaml", {}, 100, DATA / "mixed_homes_100.csv"),
    "mixed-200": HomeSet("us_counties_mixed.yaml", MIXED_SPREAD, 200, DATA / "mixed_homes_200.csv"),
}
TPLAN = Path(sys.executable).parent / "tplan"

# Twenty reps at home in large cities (lat/lon; each placed in the county that holds it): fixed centres crowded on
# the coasts, so the inland territories must stretch across the plains.
REPS_20 = [
    ("Seattle", 47.6062, -122.3321), ("Portland", 45.5152, -122.6784), ("San Francisco", 37.7749, -122.4194),
    ("Los Angeles", 34.0522, -118.2437), ("San Diego", 32.7157, -117.1611), ("Phoenix", 33.4484, -112.074),
    ("Denver", 39.7392, -104.9903), ("Salt Lake City", 40.7608, -111.891), ("Dallas", 32.7767, -96.797),
    ("Houston", 29.7604, -95.3698), ("Minneapolis", 44.9778, -93.265), ("Chicago", 41.8781, -87.6298),
    ("Kansas City", 39.0997, -94.5786), ("St Louis", 38.627, -90.1994), ("Atlanta", 33.749, -84.388),
    ("Miami", 25.7617, -80.1918), ("Charlotte", 35.2271, -80.8431), ("Washington", 38.9072, -77.0369),
    ("New York", 40.7128, -74.006), ("Boston", 42.3601, -71.0589),
]


def reps_case(tolerance: float, zips: bool = False) -> tuple[str, dict]:
    """The counties (or ZIP cells) with the twenty reps as fixed centres, Las Vegas and San Jose (their counties, or
    their ZIP cells of most potential) locked to Phoenix and San Francisco."""
    centres = [{"name": name, "lat": lat, "lon": lon} for name, lat, lon in REPS_20]
    locked = {"89101": "Phoenix", "95112": "San Francisco"} if zips else {"32003": "Phoenix", "06085": "San Francisco"}
    return ("us_zips.yaml" if zips else "us_counties.yaml",
            {"territories": {"count": 20, "centres": centres, "locked": locked},
             "balance": [{"attribute": "potential", "tolerance": tolerance}]})


def homes_case(tolerance: float, homes: str = "zips-200") -> tuple[str, Callable[[], dict]]:
    """The geography of `HOME_SETS[homes]` with its reps' homes as fixed centres (read when the case runs)."""
    home_set = HOME_SETS[homes]

    def override() -> dict:
        with home_set.path.open() as f:
            centres = [{"name": r["name"], "unit": r[home_set.column]} for r in csv.DictReader(f)]
        return {**home_set.extra, "territories": {"count": len(centres), "centres": centres},
                "balance": [{"attribute": "potential", "tolerance": tolerance}]}
    return home_set.base, override


def _city_population(ids: list[str], zips_only: bool) -> np.ndarray:
    """City population of each unit: on the ZIP map every id is a ZIP code; on the mixed map an id is a county's
    FIPS code, or Z and a ZIP code (ZIP and FIPS codes are both five digits)."""
    import geopandas as gpd  # (only this needs the units' files)

    cells = gpd.read_file(ZIP_CELLS, ignore_geometry=True).set_index("zip")["city_population"]
    if zips_only:
        return cells.loc[ids].to_numpy(float)
    counties = gpd.read_file(COUNTIES, ignore_geometry=True).set_index("fips")["city_population"]
    return np.array([cells[i[1:]] if i.startswith("Z") else counties[i] for i in ids], dtype=float)


def write_homes(name: str, seed: int = 0) -> None:
    """`HOME_SETS[name]`'s file: a home for each rep, each in the unit with the most city population (then
    potential) of one territory of a balanced (±5%), contiguous spanning-tree partition (model.tree_partition,
    free centres). Reps placed as a sales force would place them, and a ±5% plan exists by construction (the
    partition itself). Written once and committed, so the case stays the same while the engine changes."""
    from model.tree_partition import tree_partition
    from scenarios.loading import load_scenario
    from scenarios.prepare import prepare

    home_set = HOME_SETS[name]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "homes.yaml"
        path.write_text(yaml.safe_dump({"extends": str(SCENARIOS / home_set.base), **home_set.extra,
                                        "territories": {"count": home_set.count}}))
        spec = prepare(load_scenario(path)).spec
    part = tree_partition(spec, seed=seed, deadline=time.perf_counter() + 600)
    if part is None:
        raise SystemExit("no balanced spanning-tree partition in 600 s")
    ids = list(spec.geography.ids)
    city = _city_population(ids, zips_only=home_set.zips)
    potential = np.asarray(spec.geography.attributes["potential"], dtype=float)
    labels = part.labels[-1]
    homes = []
    for t in range(home_set.count):
        units = np.flatnonzero(labels == t)
        homes.append(ids[units[np.lexsort((potential[units], city[units]))[-1]]])
    home_set.path.parent.mkdir(exist_ok=True)
    with home_set.path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["name", home_set.column])
        out.writerows((f"R{i + 1:03d}", home) for i, home in enumerate(sorted(homes)))


CASES = {
    "counties-20": ("us_counties.yaml", {"territories": {"count": 20}}),
    "counties-20-reps-20pct": reps_case(0.20),
    "counties-20-reps-15pct": reps_case(0.15),
    "counties-20-reps-10pct": reps_case(0.10),
    "counties-4x5": ("us_counties.yaml", {"territories": {"count": 20, "nesting": [{"name": "region", "count": 4}]}}),
    "counties-100": ("us_counties.yaml", {"territories": {"count": 100}}),
    "mixed-100": ("us_counties_mixed.yaml", {"territories": {"count": 100}}),
    # At 200 territories one ZIP cell with the county's potential is too large (Z60006: 160 Chicago ZIP codes
    # share one point in the source data, so its cell covers most of Chicago; at 180 it is 0.94 of the
    # maximum): from 180 territories the spread potential is balanced (split counties lose their totals).
    "mixed-200": ("us_counties_mixed.yaml", {"territories": {"count": 200},
                                             "units": {"split": {"columns": {"potential": "potential"}}}}),
    # 180 territories with counties above half a territory's maximum split: no spanning-tree partition in
    # 2 x 40 s (two-territory parts left just above twice the minimum); above 0.3 of it: one in 1-2 s.
    "mixed-6x5x6": ("us_counties_mixed.yaml", {"territories": {"count": 180, "nesting": [
        {"name": "region", "count": 6}, {"name": "district", "count": 5}]},
        "units": {"split": {"columns": {"potential": "potential"}, "threshold": 0.3}}}),
    "zips-200": ("us_zips.yaml", {"territories": {"count": 200}}),
    "zips-20-reps-20pct": reps_case(0.20, zips=True),
    "zips-20-reps-10pct": reps_case(0.10, zips=True),
    "zips-200-reps-10pct": homes_case(0.10),
    "zips-200-reps-5pct": homes_case(0.05),
    "mixed-100-reps-5pct": homes_case(0.05, "mixed-100"),
    "mixed-200-reps-5pct": homes_case(0.05, "mixed-200"),
    "zips-6x5x6": ("us_zips.yaml", {"territories": {"count": 180, "nesting": [
        {"name": "region", "count": 6}, {"name": "district", "count": 5}]}}),
}
HEADER = ("| case | units | territories | status | objective | bound | gap % | first valid plan s | wall s "
          "| peak GB | levels | peak GB, all processes |")


def _tree_pss_gb(root: int) -> float:
    """Proportional set size of `root` and all its descendants, in GB (0 for processes already gone)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024 / 1024


class TreeMemory(threading.Thread):
    """Samples the process tree's memory of each running case once a second; `peak[pid]` is the largest seen."""

    def __init__(self):
        super().__init__(daemon=True)
        self.pids: set[int] = set()
        self.peak: dict[int, float] = {}

    def run(self) -> None:
        while True:
            for pid in list(self.pids):
                self.peak[pid] = max(self.peak.get(pid, 0.0), _tree_pss_gb(pid))
            time.sleep(1.0)


def start(name: str, seconds: float, folder: Path, threads: int = 1) -> tuple[subprocess.Popen, float]:
    base, override = CASES[name]
    override = override() if callable(override) else override
    scenario = {"extends": str(SCENARIOS / base), "description": f"benchmark {name}", **override}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(scenario))
    log = open(folder / f"{name}.log", "w")
    proc = subprocess.Popen([str(TPLAN), "run", str(path), "--time-limit", str(seconds),
                             "--threads", str(threads)], cwd=folder,
                            stdout=log, stderr=subprocess.STDOUT)
    return proc, time.perf_counter()


def row(name: str, folder: Path, wall: float, peak_gb: float, status: int, tree_gb: float) -> str:
    runs = sorted((folder / "runs" / name).glob("*/manifest.json"))
    if not runs:
        message = (folder / f"{name}.log").read_text().strip().splitlines()[-1:]
        return (f"| {name} | | | refused (exit {status}): {message[0] if message else ''} | | | | | {wall:.0f} "
                f"| {peak_gb:.2f} | | {tree_gb:.2f} |")
    m = json.loads(runs[-1].read_text())
    fmt = (lambda v: "-" if v is None else f"{v:.4g}")
    gap = "-" if m["gap"] is None else f"{100 * m['gap']:.2f}"
    first = "-" if m.get("first_plan_seconds") is None else f"{m['first_plan_seconds']:.0f}"
    plan = m.get("plan") or {}
    nesting = m["resolved_scenario"]["territories"].get("nesting") or []
    levels = "; ".join(f"{plan[lv['name'] + 's']} {lv['name']}s, worst {plan[lv['name'] + '_potential_max_abs_deviation_pct']:.1f}%"
                       f"{'' if plan[lv['name'] + 's_contiguous'] else ', NOT contiguous'}" for lv in nesting if plan)
    return (f"| {name} | {m['geography']['units']:,} | {plan.get('territories', '-')} | {m['status']} | "
            f"{fmt(m['objective'])} | {fmt(m['lower_bound'])} | {gap} | {first} | {wall:.0f} | {peak_gb:.2f} | "
            f"{levels or '-'} | {tree_gb:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--parallel", type=int, default=1, help="cases run at the same time (2 cores: at most 2)")
    parser.add_argument("--threads", type=int, default=1, help="cores each case may use (`tplan run --threads`)")
    parser.add_argument("--keep", type=Path, help="copy each case's run folder (manifest with stage timings) here")
    parser.add_argument("--write-homes", choices=sorted(HOME_SETS), help="write that set's homes file (see write_homes) "
                        "and stop")
    args = parser.parse_args()
    if args.write_homes:
        return write_homes(args.write_homes)
    names = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        raise SystemExit(f"unknown cases {unknown}; choose from {sorted(CASES)}")
    print(HEADER)
    print("|" + "---|" * 12, flush=True)
    memory = TreeMemory()
    memory.start()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pending, running = list(names), {}
        while pending or running:
            while pending and len(running) < args.parallel:
                name = pending.pop(0)
                running[name] = start(name, args.time_limit, folder, args.threads)
                memory.pids.add(running[name][0].pid)
            pid, status, usage = os.wait4(-1, 0)
            name = next(n for n, (p, _) in running.items() if p.pid == pid)
            proc, began = running.pop(name)
            proc.returncode = os.waitstatus_to_exitcode(status)
            memory.pids.discard(pid)
            print(row(name, folder, time.perf_counter() - began, usage.ru_maxrss / 1024 / 1024, proc.returncode,
                      memory.peak.get(pid, 0.0)), flush=True)
            if args.keep is not None and (folder / "runs" / name).is_dir():
                shutil.copytree(folder / "runs" / name, args.keep / name, dirs_exist_ok=True)


if __name__ == "__main__":
    main()
