"""Single-point spikes in a sampled numeric function, for the builtin scientist's numeric policy
(``agent.builtin.numeric``).

A sample far from both of its neighbours while they agree with each other is either a pole (the function
really is large near there) or a value the function takes at that one input only (FIND's step writes
``c if x == 0`` into an otherwise flat function). `spike_candidates` finds such samples on the grid,
`zoom_inputs` lists inputs just beside them to call, and `isolated_points` tells the two apart from the
answers: a point is isolated when even 0.001 away on either side the function is nowhere near the spike's
value. Isolated points are set aside from fitting and reported (and kept, as exact-input cases, in the code).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ZOOM_OFFSETS", "isolated_points", "spike_candidates", "zoom_inputs"]

ZOOM_OFFSETS = (0.001, 0.01, 0.05, 0.1, 0.25)
MAX_SPIKES = 6


def _means(points: dict[float, list[float]]) -> tuple[np.ndarray, np.ndarray]:
    xs = sorted(points)
    return np.array(xs), np.array([float(np.mean(points[x])) for x in xs])


def spike_candidates(points: dict[float, list[float]], spacing: float = 0.5) -> list[float]:
    """Inputs whose (mean) output is far from both neighbours ``spacing`` away while the neighbours are
    close to each other, the largest first (at most six)."""
    x, y = _means(points)
    if len(x) < 8:
        return []
    step = np.abs(np.diff(y))
    base = float(np.median(step)) + 1e-9 * (float(np.sqrt(np.mean(y**2))) + 1e-300)
    found: list[tuple[float, float]] = []
    for i in range(1, len(x) - 1):
        if abs(x[i] - x[i - 1] - spacing) > 1e-9 or abs(x[i + 1] - x[i] - spacing) > 1e-9:
            continue
        near = min(abs(y[i] - y[i - 1]), abs(y[i] - y[i + 1]))
        across = abs(y[i + 1] - y[i - 1])
        if near > 3 * across and near > 20 * base:
            found.append((near, float(x[i])))
    return [x0 for _, x0 in sorted(found, reverse=True)[:MAX_SPIKES]]


def zoom_inputs(candidates: list[float]) -> list[float]:
    """Inputs just beside each candidate, on both sides."""
    return [round(x0 + sign * d, 6) for x0 in candidates for d in ZOOM_OFFSETS for sign in (-1.0, 1.0)]


def isolated_points(points: dict[float, list[float]], candidates: list[float]) -> list[float]:
    """The candidates whose neighbourhood (the zoomed inputs, when observed) stays far from the spike value:
    more than half the spike's height away from it everywhere, on both sides."""
    isolated = []
    for x0 in candidates:
        if x0 not in points:
            continue
        y0 = float(np.mean(points[x0]))
        sides = [points.get(round(x0 - 0.5, 6)), points.get(round(x0 + 0.5, 6))]
        if any(s is None for s in sides):
            continue
        height = min(abs(y0 - float(np.mean(s))) for s in sides if s is not None)
        beside = [float(np.mean(points[z])) for z in zoom_inputs([x0]) if z in points]
        if len(beside) >= len(ZOOM_OFFSETS) and all(abs(v - y0) > 0.5 * height for v in beside):
            isolated.append(x0)
    return isolated
