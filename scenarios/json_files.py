"""JSON that every reader parses: Python's json module writes NaN and Infinity, which JSON has not (a browser's
JSON.parse throws on them); here they are written null, and numpy's scalars as plain numbers."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np


def strict_json(data: Any, default: Callable[[Any], Any] = str, **kwargs) -> str:
    """json.dumps with every non-finite number as null; `default` for what JSON has no type for."""
    return json.dumps(_finite(data), allow_nan=False, default=default, **kwargs)


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
