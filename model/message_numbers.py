"""Numbers in messages about a plan or a scenario: thousands separators, whole numbers whole, and enough
decimals that a total and the bound it breaks read differently (3,898,365 outside [3,492,648, 3,860,295],
not 3.89836e+06 outside [3.49265e+06, 3.8603e+06])."""

from __future__ import annotations

import math


def places_beside(value: float, bound: float) -> int:
    """Decimals to show `value` beside the `bound` it breaks: none from 1,000 up, else two, and more while
    the two would read alike (140.67, not 141 beside 140.6)."""
    places = 0 if abs(bound) >= 1000 else 2
    while places < 9 and round(value, places) == round(bound, places):
        places += 1
    return places


def message_number(value: float, places: int | None = None) -> str:
    """A number in a message: thousands separators, a whole number whole, else `places` decimals (default:
    none from 1,000 up, four significant digits below)."""
    if not math.isfinite(value):
        return str(value)  # inf (an unreachable pair of a matrix), nan
    whole = abs(value - round(value)) <= 1e-9 * max(1.0, abs(value))
    if places is None and not whole:
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.4g}"
    return f"{value:,.{0 if whole else places}f}"


def outside_band(total: float, lower: float, upper: float) -> str:
    """'total outside [lower, upper]', written so that the breached bound reads on the right side."""
    places = places_beside(total, lower if total < lower else upper)
    return f"{message_number(total, places)} outside [{message_number(lower, places)}, {message_number(upper, places)}]"
