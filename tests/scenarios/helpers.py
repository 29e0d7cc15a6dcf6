"""Write small scenario files and data for end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import GEORGIA, grid_frame


def write_scenario(folder: Path, name: str, body: dict) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def grid_units(folder: Path, rows: int, cols: int, values=None, name: str = "units.gpkg") -> Path:
    path = folder / name
    grid_frame(rows, cols, values).reset_index(drop=True).to_file(path)
    return path


def grid_scenario(folder: Path, name: str = "grid", k: int = 2, tol: float = 0.2, values=None, **extra) -> Path:
    grid_units(folder, 3, 4, values)
    body = {
        "units": {"path": "units.gpkg", "id": "uid"},
        "territories": {"count": k},
        "balance": [{"attribute": "pop", "tolerance": tol}],
        "objective": {"weight": "pop"},
        "solver": {"time_limit": 20},
    }
    for key, val in extra.items():
        body[key] = val
    return write_scenario(folder, name, body)


def georgia_body(**changes) -> dict:
    """A scenario on the real Georgia counties (4 territories, population ±5%), with `changes` laid over it."""
    body = {
        "units": {"path": str(GEORGIA), "id": "AreaKey", "crs": "EPSG:26916"},
        "territories": {"count": 4},
        "balance": [{"attribute": "TotPop90", "tolerance": 0.05}],
        "objective": {"weight": "TotPop90"},
        "solver": {"time_limit": 30},
    }
    body.update(changes)
    return body
