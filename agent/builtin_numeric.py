"""Extra numeric families for the builtin scientist's numeric policy (``agent.builtin_functions``).

Each ``fit_*`` takes samples (x, y) and returns a :class:`agent.builtin_functions.Fit` (least squares,
parameters searched over grids or refined by ``scipy.optimize.curve_fit``) or None when the family does
not apply: a box (rectangle: one level inside an interval, another outside), a square wave (period and
phase from the sign changes), floor/ceil staircases, a Gaussian bump, a tanh (smooth step), a rational
function (degree 2 over degree 2, denominator without real roots on the range).
Every fit's ``code`` is a self-contained ``def f(x):``; every ``formula`` is a Python expression in x.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from agent.builtin import fmt

if TYPE_CHECKING:
    from agent.builtin_functions import Fit


def _fit_cls() -> type[Fit]:
    from agent.builtin_functions import Fit

    return Fit


def _num(value: float) -> str:
    return repr(float(value))


def _lstsq(columns: list[np.ndarray], y: np.ndarray) -> tuple[np.ndarray, float]:
    design = np.stack(columns, axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    return coef, float(residual @ residual)


def fit_box(x: np.ndarray, y: np.ndarray) -> Fit | None:
    """``inside if lo < x < hi else outside``: every pair of thresholds between samples, by cumulative sums."""
    n = len(x)
    if n < 8:
        return None
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    c1 = np.concatenate([[0.0], np.cumsum(ys)])
    c2 = np.concatenate([[0.0], np.cumsum(ys**2)])
    i = np.arange(1, n - 1)[:, None]  # inside = [i, j)
    j = np.arange(2, n)[None, :]
    valid = j > i
    m_in = np.maximum(j - i, 1)
    s_in, q_in = c1[j] - c1[i], c2[j] - c2[i]
    m_out = np.maximum(n - (j - i), 1)
    s_out, q_out = c1[n] - s_in, c2[n] - q_in
    rss = (q_in - s_in**2 / m_in) + (q_out - s_out**2 / m_out)
    rss = np.where(valid, rss, np.inf)
    a, b = np.unravel_index(int(np.argmin(rss)), rss.shape)
    lo_i, hi_j = int(i[a, 0]), int(j[0, b])
    lo = float((xs[lo_i - 1] + xs[lo_i]) / 2)
    hi = float((xs[hi_j - 1] + xs[hi_j]) / 2) if hi_j < n else float(xs[-1] + 1)
    inside = float(np.mean(ys[lo_i:hi_j]))
    outside = float(np.mean(np.concatenate([ys[:lo_i], ys[hi_j:]])))
    best = float(rss[a, b])
    return _fit_cls()(
        family="rectangle",
        params={"lo": lo, "hi": hi, "inside": inside, "outside": outside},
        k=4,
        rss=best,
        predict=lambda t: np.where((t > lo) & (t < hi), inside, outside),
        code=f"def f(x):\n    return {_num(inside)} if {_num(lo)} < x < {_num(hi)} else {_num(outside)}\n",
        formula=f"({fmt(inside)} if {fmt(lo)} < x < {fmt(hi)} else {fmt(outside)})",
        words=f"rectangle (box): ≈ {fmt(inside)} for x between {fmt(lo)} and {fmt(hi)}, ≈ {fmt(outside)} elsewhere",
        label=f"rectangle on [{fmt(lo, 3)}, {fmt(hi, 3)}]",
    )


def _square(t: np.ndarray, period: float, shift: float) -> np.ndarray:
    s = np.sin(2 * np.pi / period * (t - shift))
    out: np.ndarray = np.sign(np.where(np.abs(s) < 1e-12, 0.0, s))
    return out


def fit_square(x: np.ndarray, y: np.ndarray) -> Fit | None:
    """``offset + amplitude·sign(sin(2π(x − shift)/period))``: the period from the spacing of sign changes,
    then a local search over period and shift."""
    if len(x) < 16:
        return None
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    mid = (float(np.max(ys)) + float(np.min(ys))) / 2
    sign = ys > mid
    flips = np.nonzero(sign[1:] != sign[:-1])[0]
    if len(flips) < 2:
        return None
    edges = (xs[flips] + xs[flips + 1]) / 2
    half = float(np.median(np.diff(edges)))
    if half <= 0.5:
        return None
    best: tuple[float, float, float, np.ndarray] | None = None
    rising = [float(e) for f, e in zip(flips, edges, strict=True) if not sign[f]]
    starts = rising[:3] or [float(edges[0]) - half]
    for period in np.linspace(2 * half * 0.97, 2 * half * 1.03, 61):
        for start in starts:
            for shift in np.linspace(start - 0.5, start + 0.5, 11):
                coef, rss = _lstsq([np.ones_like(xs), _square(xs, float(period), float(shift))], ys)
                if best is None or rss < best[0]:
                    best = (rss, float(period), float(shift), coef)
    assert best is not None
    rss, period, shift, coef = best
    c, a = float(coef[0]), float(coef[1])
    sh = f"x - {_num(shift)}" if shift >= 0 else f"x + {_num(-shift)}"
    code = (
        "def f(x):\n    import math\n"
        f"    s = math.sin(2 * math.pi / {_num(period)} * ({sh}))\n"
        f"    return {_num(c)} + {_num(a)} * ((1.0 if s > 0 else 0.0) - (1.0 if s < 0 else 0.0))\n"
    )
    shown = f"x - {fmt(shift)}" if shift >= 0 else f"x + {fmt(-shift)}"
    formula = f"{fmt(c)} + {fmt(a)}*sign(sin(2*pi*({shown})/{fmt(period)}))"
    return _fit_cls()(
        family="square_wave",
        params={"a": a, "c": c, "period": period, "shift": shift},
        k=4,
        rss=rss,
        predict=lambda t: c + a * _square(t, period, shift),
        code=code,
        formula=formula,
        words=f"square wave: alternates between ≈ {fmt(c + a)} and ≈ {fmt(c - a)} with period ≈ {fmt(period, 3)}",
        label=f"square wave, period {fmt(period, 3)}, amplitude {fmt(abs(a), 3)}",
    )


def fit_stairs(x: np.ndarray, y: np.ndarray, kind: str) -> Fit | None:
    """``a·floor(x / s) + b`` or ``a·ceil(x / s) + b`` for step widths s on a 0.05 grid."""
    if len(x) < 16:
        return None
    op = np.floor if kind == "floor" else np.ceil
    best: tuple[float, float, np.ndarray] | None = None
    for width in np.round(np.arange(20, 801) * 0.05, 2):  # rounded: 7.3, not 7.300000000000006
        coef, rss = _lstsq([np.ones_like(x), op(x / width)], y)
        if best is None or rss < best[0]:
            best = (rss, float(width), coef)
    assert best is not None
    rss, width, coef = best
    b, a = float(coef[0]), float(coef[1])
    return _fit_cls()(
        family=kind,
        params={"a": a, "b": b, "width": width},
        k=3,
        rss=rss,
        predict=lambda t: a * op(t / width) + b,
        code=f"def f(x):\n    import math\n    return {_num(a)} * math.{kind}(x / {_num(width)}) + {_num(b)}\n",
        formula=f"{fmt(a)}*{kind}(x / {fmt(width, 3)}) + {fmt(b)}",
        words=f"staircase ({kind}): jumps by {fmt(a)} every {fmt(width, 3)} units of x",
        label=f"{kind} staircase, steps of width {fmt(width, 3)}",
    )


def _curve(
    model: Callable[..., np.ndarray], x: np.ndarray, y: np.ndarray, starts: list[list[float]]
) -> tuple[float, np.ndarray] | None:
    from scipy.optimize import curve_fit

    best: tuple[float, np.ndarray] | None = None
    for p0 in starts:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                params, _ = curve_fit(model, x, y, p0=p0, maxfev=2000)
                rss = float(np.sum((y - model(x, *params)) ** 2))
        except Exception:
            continue
        if math.isfinite(rss) and (best is None or rss < best[0]):
            best = (rss, np.asarray(params, dtype=float))
    return best


def _gauss(t: np.ndarray, amp: float, mean: float, sd: float, offset: float) -> np.ndarray:
    out: np.ndarray = amp * np.exp(-0.5 * ((t - mean) / sd) ** 2) + offset
    return out


def fit_gaussian(x: np.ndarray, y: np.ndarray) -> Fit | None:
    """``amp·exp(−½((x − mean)/sd)²) + offset``, started at the largest deviation from the median."""
    if len(x) < 8:
        return None
    base = float(np.median(y))
    peak = int(np.argmax(np.abs(y - base)))
    amp = float(y[peak] - base)
    starts = [[amp, float(x[peak]), sd, base] for sd in (2.0, 6.0, 15.0, 35.0)]
    found = _curve(_gauss, x, y, starts)
    if found is None:
        return None
    rss, (a, m, s, d) = found
    s = abs(s)
    formula = f"{fmt(a)}*exp(-0.5*((x - {fmt(m)})/{fmt(s)})**2) + {fmt(d)}"
    return _fit_cls()(
        family="gaussian",
        params={"amp": a, "mean": m, "sd": s, "offset": d},
        k=4,
        rss=rss,
        predict=lambda t: _gauss(t, a, m, s, d),
        code=(
            "def f(x):\n    import math\n"
            f"    return {_num(a)} * math.exp(-0.5 * ((x - {_num(m)}) / {_num(s)}) ** 2) + {_num(d)}\n"
        ),
        formula=formula,
        words=f"Gaussian bump: peak {fmt(a)} above a baseline of {fmt(d)} at x ≈ {fmt(m)}, width (sd) ≈ {fmt(s)}",
        label=f"Gaussian bump at x ≈ {fmt(m, 3)}, sd {fmt(s, 3)}",
    )


def _tanh(t: np.ndarray, a: float, c: float, w: float, d: float) -> np.ndarray:
    out: np.ndarray = a * np.tanh((t - c) / w) + d
    return out


def fit_tanh(x: np.ndarray, y: np.ndarray) -> Fit | None:
    """``a·tanh((x − c)/w) + d``, started at the steepest point."""
    if len(x) < 8:
        return None
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    steep = int(np.argmax(np.abs(np.diff(ys))))
    centre = float((xs[steep] + xs[steep + 1]) / 2)
    d = (float(np.max(ys)) + float(np.min(ys))) / 2
    a = (float(ys[-1]) - float(ys[0])) / 2 or 1.0
    starts = [[a, centre, w, d] for w in (1.0, 4.0, 12.0, 30.0)]
    found = _curve(_tanh, xs, ys, starts)
    if found is None:
        return None
    rss, (a, c, w, d) = found
    formula = f"{fmt(a)}*tanh((x - {fmt(c)})/{fmt(w)}) + {fmt(d)}"
    return _fit_cls()(
        family="tanh",
        params={"a": a, "c": c, "w": w, "d": d},
        k=4,
        rss=rss,
        predict=lambda t: _tanh(t, a, c, w, d),
        code=f"def f(x):\n    import math\n    return {_num(a)} * math.tanh((x - {_num(c)}) / {_num(w)}) + {_num(d)}\n",
        formula=formula,
        words=f"smooth step (tanh) centred at x ≈ {fmt(c)}, from ≈ {fmt(d - a)} to ≈ {fmt(d + a)}",
        label=f"tanh smooth step at x ≈ {fmt(c, 3)}",
    )


def fit_rational(x: np.ndarray, y: np.ndarray) -> Fit | None:
    """``(a0 + a1·x + a2·x²) / (1 + b1·x + b2·x²)`` by linearised least squares; rejected when the
    denominator comes near zero on [-128, 128]."""
    if len(x) < 10:
        return None
    coef, _ = _lstsq([np.ones_like(x), x, x**2, -y * x, -y * x**2], y)
    a0, a1, a2, b1, b2 = (float(v) for v in coef)
    grid = np.linspace(-128, 128, 2049)
    den = 1 + b1 * grid + b2 * grid**2
    if np.min(np.abs(den)) < 1e-3:
        return None

    def predict(t: np.ndarray) -> np.ndarray:
        out: np.ndarray = (a0 + a1 * t + a2 * t**2) / (1 + b1 * t + b2 * t**2)
        return out

    rss = float(np.sum((y - predict(x)) ** 2))
    formula = f"({fmt(a0)} + {fmt(a1)}*x + {fmt(a2)}*x**2) / (1 + {fmt(b1)}*x + {fmt(b2)}*x**2)"
    return _fit_cls()(
        family="rational",
        params={"a0": a0, "a1": a1, "a2": a2, "b1": b1, "b2": b2},
        k=5,
        rss=rss,
        predict=predict,
        code=(
            f"def f(x):\n    return ({_num(a0)} + {_num(a1)} * x + {_num(a2)} * x ** 2) / "
            f"(1 + {_num(b1)} * x + {_num(b2)} * x ** 2)\n"
        ),
        formula=formula.replace("+ -", "- "),
        words="rational function (quadratic over quadratic)",
        label="rational function, quadratic over quadratic",
    )
