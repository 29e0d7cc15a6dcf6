"""Benchmark a 12-point sweep on the demo data: does it take about slowest point x 12 / workers?

    .venv/bin/python tests/benchmarks/bench_sweep.py [seconds per point, default 10] [workers, default 2]

Runs `tplan sweep scenarios/georgia.yaml --set territories.count=4..9 --set objective.power=1,2` (12 points;
above 10 territories the largest county alone breaks the ±5% band) in a temporary folder and prints
the wall time, the slowest point, the sum of point times and the ideal (sum / workers).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]


def main(seconds: float, workers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "tplan"), "sweep", str(REPO / "scenarios" / "georgia.yaml"),
                        "--set", "territories.count=4..9", "--set", "objective.power=1,2", "--time-limit", str(seconds), "--workers", str(workers)],
                       cwd=tmp, check=True, capture_output=True)
        wall = time.perf_counter() - start
        [folder] = list(Path(tmp).glob("runs/georgia/sweeps/*"))
        table = pd.read_csv(folder / "sweep.csv")
        meta = yaml.safe_load((folder / "sweep.yaml").read_text())
    total = table["seconds"].sum()
    print("| points | workers | time limit s | slowest point s | sum of points s | slowest x 12 / workers s "
          "| sum / workers s | sweep wall s | command wall s | failed |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {len(table)} | {workers} | {seconds:g} | {table['seconds'].max():.1f} | {total:.1f} "
          f"| {table['seconds'].max() * 12 / workers:.1f} | {total / workers:.1f} | {meta['wall_seconds']:.1f} "
          f"| {wall:.1f} | {meta['failed']} |")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0, int(sys.argv[2]) if len(sys.argv) > 2 else 2)
