"""An index of earlier runs (SQLite, `<output.dir>/index.sqlite`) for `tplan runs`. The run folders are
the truth: the index is updated when a run lands, and re-synchronised with the folders whenever it is
read, so runs deleted by hand drop out and runs it missed are picked up."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from scenarios.errors import ScenarioError

COLUMNS = ("run", "scenario", "created_utc", "status", "objective", "gap", "territories", "units",
           "max_deviation_pct", "relationship_moved_pct", "coverage_margin", "path")


def summary(folder: Path) -> dict:
    """The index row of a run folder, from its manifest."""
    m = json.loads((folder / "manifest.json").read_text())
    plan = m.get("plan") or {}
    devs = [v for k, v in plan.items() if k.endswith("_max_abs_deviation_pct") and isinstance(v, (int, float))]
    red = plan.get("redesign") or {}
    cov = m.get("coverage") or {}
    return {
        "run": folder.name, "scenario": m.get("scenario"), "created_utc": m.get("created_utc"),
        "status": m.get("status"), "objective": m.get("objective"), "gap": m.get("gap"),
        "territories": plan.get("territories"), "units": (m.get("geography") or {}).get("units"),
        "max_deviation_pct": max(devs) if devs else None,
        "relationship_moved_pct": red.get("relationship_moved_pct"), "coverage_margin": cov.get("margin"),
        "path": str(folder.resolve()),
    }


def _connect(root: Path) -> sqlite3.Connection:
    """The index, created if missing; an unreadable one (not a database, damaged) is set aside as
    index.sqlite.damaged and rebuilt: it only mirrors the run folders, which `sync` reads again."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "index.sqlite"
    try:
        return _open(path)
    except sqlite3.OperationalError:
        raise  # locked by another run, or not openable: the file itself is sound
    except sqlite3.DatabaseError:
        path.replace(root / "index.sqlite.damaged")
        return _open(path)


def _open(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=30)
    try:
        con.execute(f"CREATE TABLE IF NOT EXISTS runs ({', '.join(COLUMNS)}, PRIMARY KEY (path))")
        con.execute("SELECT count(*) FROM runs").fetchone()
    except sqlite3.DatabaseError:
        con.close()
        raise
    return con


def record(root: Path, folder: Path) -> None:
    """Add (or refresh) one landed run."""
    row = summary(folder)
    with _connect(root) as con:
        con.execute(f"INSERT OR REPLACE INTO runs VALUES ({', '.join('?' * len(COLUMNS))})", [row[c] for c in COLUMNS])
    con.close()


def run_folders(root: Path) -> list[Path]:
    """Every landed run folder under root (hidden temporary folders of runs in progress excluded)."""
    return sorted(p.parent for p in root.glob("*/*/manifest.json") if not p.parent.name.startswith("."))


def sync(root: Path) -> tuple[list[dict], int, int]:
    """All rows, newest first, after dropping rows whose folder is gone and adding folders the index
    missed; also returns how many were dropped and added."""
    if root.is_file():
        raise ScenarioError(f"{root}: is a file; --dir takes the folder of run folders (the scenario's output.dir, "
                            "default runs)")
    if not root.is_dir():
        raise ScenarioError(f"{root}: no runs here yet; run a scenario first, or pass --dir with the folder the "
                            "scenario's output.dir names")
    folders = {str(f.resolve()): f for f in run_folders(root)}
    with _connect(root) as con:
        known = {r[0] for r in con.execute("SELECT path FROM runs")}
        gone = known - set(folders)
        con.executemany("DELETE FROM runs WHERE path = ?", [(p,) for p in gone])
        added = 0
        for path in set(folders) - known:
            try:
                row = summary(folders[path])
            except (OSError, ValueError):
                continue  # a folder without a readable manifest is not a run
            con.execute(f"INSERT OR REPLACE INTO runs VALUES ({', '.join('?' * len(COLUMNS))})", [row[c] for c in COLUMNS])
            added += 1
        rows = [dict(zip(COLUMNS, r)) for r in con.execute("SELECT * FROM runs ORDER BY created_utc DESC, run DESC")]
    con.close()
    return rows, len(gone), added
