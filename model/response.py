"""Response to contact frequency: the share of a customer's potential that n contacts a year return.
Non-decreasing concave curves give diminishing returns per extra contact, as in CALLPLAN (Lodish 1971)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ResponseCurve:
    """`saturating`: 1 - exp(-n / scale); `adbudg`: floor + (ceiling - floor) n^shape / (half^shape + n^shape);
    `table`: (contacts, share) points, linear between them and flat after the last."""

    kind: str = "saturating"
    scale: float = 6.0
    floor: float = 0.0
    ceiling: float = 1.0
    shape: float = 1.0
    half: float = 6.0
    points: tuple[tuple[float, float], ...] = ()

    def share(self, n, scale=None) -> np.ndarray:
        """Share of potential at `n` contacts; `scale` (per customer, saturating only) overrides the curve's."""
        n = np.asarray(n, dtype=float)
        if self.kind == "saturating":
            s = self.scale if scale is None else np.where(np.isfinite(scale), scale, self.scale)
            return 1.0 - np.exp(-n / s)
        if self.kind == "adbudg":
            nc = np.power(n, self.shape)
            return self.floor + (self.ceiling - self.floor) * nc / (self.half ** self.shape + nc)
        xs, ys = zip(*sorted(self.points))
        return np.interp(n, xs, ys)

    def shape_problem(self, levels) -> str | None:
        """Why the curve is not non-decreasing and concave over the levels (None if it is)."""
        grid = np.unique(np.concatenate([np.asarray(levels, float), [p[0] for p in self.points],
                                         np.linspace(0, max(levels), 200)]))
        grid = grid[(grid >= 0) & (grid <= max(levels))]
        y = self.share(grid)
        slopes = np.diff(y) / np.diff(grid)
        if (slopes < -1e-9).any():
            at = grid[1:][slopes < -1e-9][0]
            return f"decreases near {at:.3g} contacts"
        if (np.diff(slopes) > 1e-9 * max(1.0, float(np.abs(slopes).max()))).any():
            at = grid[1:-1][np.diff(slopes) > 1e-9 * max(1.0, float(np.abs(slopes).max()))][0]
            return f"is not concave near {at:.3g} contacts (the gain of an extra contact grows there)"
        return None
