"""Numbers as people read them in tables, legends and messages."""

from __future__ import annotations


def amount(value: float) -> str:
    """An attribute's value: whole numbers with thousands separators from 100 up, three significant digits
    below (a county's area of 0.114 is not 0)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def three_decimals(value: float) -> str:
    """A bound exactly enough to tell what breaks it: 1,259.825 and 3,492,648 (trailing zeros dropped)."""
    return f"{value:,.3f}".rstrip("0").rstrip(".")
