"""Benchmark report.html on the largest benchmark instance: does it open in headless Chromium in
under 5 s and stay under 20 MB?

    .venv/bin/python tests/benchmarks/bench_report.py [units, default 1000] [seconds of search, default 60]

Generates the tract-like Georgia cells of bench_territories.py --scale, runs `tplan run` on them
(10 territories, potential ±5%), then opens report.html from file:// in Debian's chromium and prints its
size, the time Chromium took to load and render it (no network, scripts run), and the shapes it drew.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.synthetic import georgia_cells  # noqa: E402
from tests.browser import CHROMIUM, open_page  # noqa: E402


def main(units: int, seconds: float) -> None:
    if CHROMIUM is None:
        raise SystemExit("install Debian's chromium first (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        cells = georgia_cells(units)
        cells.reset_index(drop=True).to_file(Path(tmp) / "cells.gpkg")
        scenario = {"units": {"path": "cells.gpkg", "id": "unit"}, "territories": {"count": 10},
                    "balance": [{"attribute": "potential", "tolerance": 0.05}], "objective": {"weight": "potential"},
                    "solver": {"time_limit": seconds}}
        (Path(tmp) / "cells.yaml").write_text(yaml.safe_dump(scenario))
        subprocess.run([str(Path(sys.executable).parent / "tplan"), "run", "cells.yaml"], cwd=tmp, check=True,
                       capture_output=True)
        [report] = list(Path(tmp).glob("runs/cells/*/report.html"))
        size = report.stat().st_size / 1e6
        loads = [open_page(report) for _ in range(3)]
        page = loads[-1]
        shapes = page.count(r'<path class="unit"')
        print("| units | report MB | Chromium load s (3 runs) | unit shapes | territory outlines | console errors |")
        print("|---|---|---|---|---|---|")
        print(f"| {len(cells):,} | {size:.2f} | {', '.join(f'{p.seconds:.2f}' for p in loads)} | {shapes:,} "
              f"| {page.count(r'<path class=.territory')} | {len(page.console_errors)} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, float(sys.argv[2]) if len(sys.argv) > 2 else 60.0)
