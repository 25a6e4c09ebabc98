"""Least-squares fits of the FIND numeric families, for the builtin scientist's numeric policy
(``agent.builtin.numeric``).

Each fit takes samples (x, y) and returns a `Fit` — its family, parameters, residual sum of squares,
a predictor, a self-contained ``def f(x):`` as code, a formula (a Python expression in x) and words
for people — or None when the family does not apply. Families: constant, linear, quadratic and cubic
polynomials; a bend (abs and relu shapes); a step (with and without a linear trend); a sinusoid (with
and without a trend); exponential; log, sqrt and 1/x where the inputs allow; a box (rectangle: one
level inside an interval, another outside); a square wave (period and phase from the sign changes);
floor/ceil staircases; a Gaussian bump; a tanh (smooth step); a rational function (degree 2 over
degree 2, denominator without real roots on the range). ``agent.builtin.numeric_families`` adds
polynomials of degree 4 to 6, rational functions with poles inside the domain and a square wave searched
over period and shift (`fit_all` includes them; `Fit` lives in ``agent.builtin.numeric_fit``). Parameters
are searched over grids, solved by linear least squares, or refined by ``scipy.optimize.curve_fit``.
`fit_all` fits every family and `choose` picks one by BIC.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np

from agent.builtin.numeric_families import fit_poly_scaled, fit_rationals, fit_square_search
from agent.builtin.numeric_fit import Fit, num
from agent.builtin.protocol import fmt

__all__ = [
    "Fit",
    "choose",
    "fit_all",
    "fit_box",
    "fit_gaussian",
    "fit_rational",
    "fit_square",
    "fit_stairs",
    "fit_tanh",
    "num",
]


def _batched_rss(base: list[np.ndarray], extra: np.ndarray, y: np.ndarray) -> np.ndarray:
    """RSS of least squares on ``base`` columns plus one row of ``extra`` (K × n), for all K rows at once;
    residuals are computed explicitly (no cancellation when fits are exact)."""
    k = extra.shape[0]
    design = np.concatenate([np.broadcast_to(np.stack(base, axis=1), (k, len(y), len(base))), extra[..., None]], 2)
    scale = np.sqrt((design**2).sum(axis=1, keepdims=True)) + 1e-300  # unit columns: better conditioned
    unit = design / scale
    gram = unit.transpose(0, 2, 1) @ unit + 1e-12 * np.eye(len(base) + 1)
    coef = np.linalg.solve(gram, (unit.transpose(0, 2, 1) @ y)[..., None])
    residual = y[None, :] - (unit @ coef)[..., 0]
    result: np.ndarray = (residual**2).sum(axis=1)
    return result


def _lstsq(columns: list[np.ndarray], y: np.ndarray) -> tuple[np.ndarray, float]:
    design = np.stack(columns, axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    return coef, float(residual @ residual)


def _sum(terms: list[tuple[float, str, float]]) -> str:
    """A signed sum for people from (coefficient, body, typical size of body) terms, dropping terms
    too small to matter on [-128, 128]: ``0.1*x**2 - 3`` (Python-evaluable)."""
    scale = max([abs(c) * m for c, _, m in terms] + [1e-300])
    parts = []
    for c, body, size in terms:
        if abs(c) * size < 1e-4 * scale:
            continue
        magnitude = fmt(abs(c))
        text = body if (magnitude == "1" and body) else (f"{magnitude}*{body}" if body else magnitude)
        parts.append(("- " if c < 0 else "+ ") + text)
    if not parts:
        return "0"
    joined = " ".join(parts)
    return joined[2:] if joined.startswith("+ ") else "-" + joined[2:]


def _label(name: str, formula: str, fallback: str) -> str:
    text = f"{name}: f(x) ≈ {formula}"
    return text if len(text.split()) <= 8 else fallback


def _fit_poly(x: np.ndarray, y: np.ndarray, degree: int) -> Fit:
    coefs = [float(c) for c in np.polynomial.polynomial.polyfit(x, y, degree)]
    pred = np.polynomial.polynomial.polyval(x, coefs)
    rss = float(((y - pred) ** 2).sum())
    expr = " + ".join(
        f"{num(c)} * x ** {d}" if d > 1 else (f"{num(c)} * x" if d == 1 else num(c)) for d, c in enumerate(coefs)
    )
    names = {0: "constant", 1: "linear", 2: "quadratic", 3: "cubic"}
    bodies = {0: "", 1: "x"}
    formula = _sum([(coefs[d], bodies.get(d, f"x**{d}"), 128.0**d) for d in range(degree, -1, -1)])
    if degree == 0:
        words = f"constant: always about {fmt(coefs[0])}"
    elif degree == 1:
        words = f"linear: slope {fmt(coefs[1])}, intercept {fmt(coefs[0])}"
    elif degree == 2:
        vertex = -coefs[1] / (2 * coefs[2]) if coefs[2] else float("nan")
        shape = "opening upward" if coefs[2] > 0 else "opening downward"
        words = f"quadratic: a parabola {shape} with its vertex at x ≈ {fmt(vertex, 3)}"
    else:
        words = "cubic polynomial"

    def predict(t: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.polynomial.polynomial.polyval(t, coefs)
        return out

    return Fit(
        family=names[degree],
        params={f"c{d}": c for d, c in enumerate(coefs)},
        k=degree + 1,
        rss=rss,
        predict=predict,
        code=f"def f(x):\n    return {expr}\n",
        formula=formula,
        words=words,
        label=_label(names[degree], formula, f"{names[degree]} polynomial in x"),
    )


def _candidates_between(x: np.ndarray, limit: int = 260) -> np.ndarray:
    """Midpoints between consecutive distinct inputs (thresholds and bends), thinned to ``limit``."""
    ux = np.unique(x)
    mids = (ux[:-1] + ux[1:]) / 2
    if len(mids) > limit:
        mids = mids[np.linspace(0, len(mids) - 1, limit).astype(int)]
    return mids


def _shifted(knot: float) -> str:
    return "x" if abs(knot) < 1e-9 else (f"x - {fmt(knot)}" if knot > 0 else f"x + {fmt(-knot)}")


def _fit_bend(x: np.ndarray, y: np.ndarray) -> Fit | None:
    ux = np.unique(x)
    if len(ux) < 6:
        return None
    knots = np.concatenate([ux[2:-2], _candidates_between(x)[2:-2]])
    batch = _batched_rss([np.ones_like(x), x], np.maximum(0.0, x[None, :] - knots[:, None]), y)
    knot = float(knots[int(np.argmin(batch))])
    coef, rss = _lstsq([np.ones_like(x), x, np.maximum(0.0, x - knot)], y)
    a, b, c = (float(v) for v in coef)
    left, right = b, b + c
    code = f"def f(x):\n    return {num(a)} + {num(b)} * x + {num(c)} * max(0.0, x - {num(knot)})\n"
    at_knot = a + b * knot
    inner = _shifted(knot)
    if abs(left + right) <= 0.05 * max(abs(left), abs(right), 1e-12):
        formula = _sum([(right, f"abs({inner})", 128.0), (at_knot, "", 1.0)])
        words = f"absolute-value shape: a V with its tip at x ≈ {fmt(knot)}, slopes {fmt(left)} and {fmt(right)}"
        family, name = "abs", "absolute value"
    elif abs(left) <= 0.02 * max(abs(right), 1e-12):
        formula = _sum([(right, f"max(0, {inner})", 128.0), (at_knot, "", 1.0)])
        words = f"relu-like: flat at ≈ {fmt(at_knot)} below x ≈ {fmt(knot)}, then slope {fmt(right)}"
        family, name = "relu", "relu-like"
    elif abs(right) <= 0.02 * max(abs(left), 1e-12):
        formula = _sum([(left, f"min(0, {inner})", 128.0), (at_knot, "", 1.0)])
        words = f"slope {fmt(left)} below x ≈ {fmt(knot)}, then flat at ≈ {fmt(at_knot)}"
        family, name = "relu", "clipped linear"
    else:
        formula = _sum([(b, "x", 128.0), (c, f"max(0, {inner})", 128.0), (a, "", 1.0)])
        words = f"piecewise linear with a bend at x ≈ {fmt(knot)}: slope {fmt(left)} below, {fmt(right)} above"
        family, name = "bend", "piecewise linear"
    return Fit(
        family=family,
        params={"a": a, "b": b, "c": c, "knot": knot},
        k=4,
        rss=rss,
        predict=lambda t: a + b * t + c * np.maximum(0.0, t - knot),
        code=code,
        formula=formula,
        words=words,
        label=_label(name, formula, f"{name}, bend at x ≈ {fmt(knot)}"),
    )


def _fit_step(x: np.ndarray, y: np.ndarray, trend: bool) -> Fit | None:
    mids = _candidates_between(x)
    if len(mids) < 3:
        return None
    base = [np.ones_like(x)] + ([x] if trend else [])
    batch = _batched_rss(base, (x[None, :] > mids[:, None]).astype(float), y)
    threshold = float(mids[int(np.argmin(batch))])
    coef, rss = _lstsq([np.ones_like(x), (x > threshold).astype(float)] + ([x] if trend else []), y)
    low, jump = float(coef[0]), float(coef[1])
    slope = float(coef[2]) if trend else 0.0
    high = low + jump
    line = f" + {num(slope)} * x" if trend else ""
    code = f"def f(x):\n    return ({num(high)} if x > {num(threshold)} else {num(low)}){line}\n"
    formula = f"({fmt(high)} if x > {fmt(threshold)} else {fmt(low)})" + (f" + {fmt(slope)}*x" if trend else "")
    if trend:
        words = f"linear (slope {fmt(slope)}) with a jump of {fmt(jump)} at x ≈ {fmt(threshold)}"
        label = f"linear with a jump at x ≈ {fmt(threshold)}"
    else:
        words = f"step: ≈ {fmt(low)} for x < {fmt(threshold)}, ≈ {fmt(high)} above"
        label = f"step at x ≈ {fmt(threshold)}: {fmt(low)} to {fmt(high)}"
    return Fit(
        family="step+linear" if trend else "step",
        params={"low": low, "high": high, "threshold": threshold, "slope": slope},
        k=5 if trend else 3,
        rss=rss,
        predict=lambda t: np.where(t > threshold, high, low) + slope * t,
        code=code,
        formula=formula,
        words=words,
        label=label,
    )


def _sin_rss(
    x: np.ndarray, y: np.ndarray, omegas: np.ndarray, trend: bool, trig: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """RSS of ``c + [d·x] + a·sin(ωx) + b·cos(ωx)`` for every ω at once (batched normal equations built
    from sums, without materialising a design matrix per ω); ``trig`` = sin and cos of ω·x if known."""
    n = len(x)
    if trig is None:
        phase = np.outer(omegas, x)
        trig = (np.sin(phase), np.cos(phase))
    sin, cos = trig
    ones = np.ones(len(omegas))
    columns = [ones * n, sin.sum(axis=1), cos.sum(axis=1)]
    # Gram matrix entries, per ω: basis (1, sin, cos[, x])
    ss, cc, sc = (sin * sin).sum(axis=1), (cos * cos).sum(axis=1), (sin * cos).sum(axis=1)
    size = 4 if trend else 3
    gram = np.zeros((len(omegas), size, size))
    gram[:, 0, 0], gram[:, 0, 1], gram[:, 0, 2] = columns
    gram[:, 1, 1], gram[:, 1, 2], gram[:, 2, 2] = ss, sc, cc
    rhs = np.zeros((len(omegas), size))
    rhs[:, 0], rhs[:, 1], rhs[:, 2] = float(y.sum()), sin @ y, cos @ y
    if trend:
        gram[:, 0, 3], gram[:, 1, 3], gram[:, 2, 3] = float(x.sum()), sin @ x, cos @ x
        gram[:, 3, 3] = float(x @ x)
        rhs[:, 3] = float(x @ y)
    upper = np.triu_indices(size, 1)
    gram[:, upper[1], upper[0]] = gram[:, upper[0], upper[1]]
    gram += 1e-9 * np.eye(size)
    coef = np.linalg.solve(gram, rhs[..., None])[..., 0]
    result: np.ndarray = np.maximum(float(y @ y) - (coef * rhs).sum(axis=1), 0.0)
    return result


#: The largest angular frequency searched: samples every 0.5 tell frequencies apart up to 2π (periods ≥ 1);
#: a shorter period is indistinguishable on them from its alias in (0, 2π], and so on the scoring grid.
OMEGA_MAX = 2 * math.pi


_COARSE = np.linspace(0.005, OMEGA_MAX, 1800)


def _coarse_trig(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    phase = np.outer(_COARSE, x)
    return np.sin(phase), np.cos(phase)


def _fit_sin(
    x: np.ndarray, y: np.ndarray, trend: bool, trig: tuple[np.ndarray, np.ndarray] | None = None
) -> Fit | None:
    if len(np.unique(x)) < 8:
        return None
    coarse = _COARSE
    rss = _sin_rss(x, y, coarse, trend, trig)
    omega = float(coarse[int(np.argmin(rss))])
    fine = np.linspace(max(1e-4, omega - 0.006), omega + 0.006, 121)
    omega = float(fine[int(np.argmin(_sin_rss(x, y, fine, trend)))])
    columns = [np.ones_like(x), np.sin(omega * x), np.cos(omega * x)] + ([x] if trend else [])
    coef, best = _lstsq(columns, y)
    c, a, b = float(coef[0]), float(coef[1]), float(coef[2])
    slope = float(coef[3]) if trend else 0.0
    amplitude, phase = math.hypot(a, b), math.atan2(b, a)
    line = f" + {num(slope)} * x" if trend else ""
    code = (
        "def f(x):\n    import math\n"
        f"    return {num(c)} + {num(a)} * math.sin({num(omega)} * x) + {num(b)} * math.cos({num(omega)} * x)"
        f"{line}\n"
    )
    argument = f"{fmt(omega, 3)}*x" + (
        "" if abs(phase) < 1e-3 else (f" + {fmt(phase, 3)}" if phase > 0 else f" - {fmt(-phase, 3)}")
    )
    formula = _sum([(amplitude, f"sin({argument})", 1.0), (slope, "x", 128.0), (c, "", 1.0)])
    period = 2 * math.pi / omega
    words = (
        f"sinusoid: amplitude {fmt(amplitude)}, angular frequency {fmt(omega, 3)} (period ≈ {fmt(period, 3)}), "
        f"centred on {fmt(c if abs(c) >= 1e-3 * amplitude else 0.0)}"
        + (f", plus a linear trend of slope {fmt(slope)}" if trend else "")
    )
    return Fit(
        family="sin+linear" if trend else "sin",
        params={"c": c, "a": a, "b": b, "omega": omega, "slope": slope},
        k=6 if trend else 4,
        rss=best,
        predict=lambda t: c + a * np.sin(omega * t) + b * np.cos(omega * t) + slope * t,
        code=code,
        formula=formula,
        words=words,
        label=f"sinusoid, amplitude {fmt(amplitude, 3)}, period {fmt(period, 3)}" + (" plus trend" if trend else ""),
    )


def _fit_exp(x: np.ndarray, y: np.ndarray) -> Fit | None:
    rates = np.concatenate([-np.geomspace(0.2, 0.002, 60), np.geomspace(0.002, 0.2, 60)])
    best: tuple[float, float, np.ndarray] | None = None
    for rate in rates:
        column = np.exp(rate * x)
        if not np.all(np.isfinite(column)):
            continue
        coef, rss = _lstsq([np.ones_like(x), column], y)
        if best is None or rss < best[0]:
            best = (rss, float(rate), coef)
    if best is None:
        return None
    rss, rate, coef = best
    b, a = float(coef[0]), float(coef[1])
    formula = _sum([(a, f"exp({fmt(rate, 3)}*x)", math.exp(abs(rate) * 128)), (b, "", 1.0)])
    return Fit(
        family="exp",
        params={"a": a, "b": b, "rate": rate},
        k=3,
        rss=rss,
        predict=lambda t: b + a * np.exp(rate * t),
        code=f"def f(x):\n    import math\n    return {num(b)} + {num(a)} * math.exp({num(rate)} * x)\n",
        formula=formula,
        words=f"exponential {'growth' if rate > 0 else 'decay'} with rate {fmt(rate, 3)}",
        label=_label("exponential", formula, f"exponential, rate {fmt(rate, 3)}"),
    )


def _fit_transform(x: np.ndarray, y: np.ndarray, name: str) -> Fit | None:
    """``a + b·g(x)`` for g = log (x > 0), sqrt (x ≥ 0) or 1/x (x ≠ 0), where the inputs allow it."""
    if name == "log" and np.all(x > 0):
        column, expr, guard, body = np.log(x), "math.log(x)", "x <= 0", "log(x)"
    elif name == "sqrt" and np.all(x >= 0):
        column, expr, guard, body = np.sqrt(x), "math.sqrt(x)", "x < 0", "sqrt(x)"
    elif name == "reciprocal" and np.all(x != 0):
        column, expr, guard, body = 1.0 / x, "1.0 / x", "x == 0", "1/x"
    else:
        return None
    coef, rss = _lstsq([np.ones_like(x), column], y)
    a, b = float(coef[0]), float(coef[1])
    fns: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "log": np.log,
        "sqrt": np.sqrt,
        "reciprocal": np.reciprocal,
    }
    fn = fns[name]

    def predict(t: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            out: np.ndarray = a + b * fn(t)
        return out

    formula = _sum([(b, body, 1.0), (a, "", 1.0)])
    return Fit(
        family=name,
        params={"a": a, "b": b},
        k=2,
        rss=rss,
        predict=predict,
        code=(
            f"def f(x):\n    import math\n    if {guard}:\n        return float('nan')\n"
            f"    return {num(a)} + {num(b)} * {expr}\n"
        ),
        formula=formula,
        words=f"{name} of x, defined for {guard.replace('==', '!=').replace('<=', '>').replace('<', '>=')}",
        label=_label(name, formula, f"{name} of x"),
    )


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
    return Fit(
        family="rectangle",
        params={"lo": lo, "hi": hi, "inside": inside, "outside": outside},
        k=4,
        rss=best,
        predict=lambda t: np.where((t > lo) & (t < hi), inside, outside),
        code=f"def f(x):\n    return {num(inside)} if {num(lo)} < x < {num(hi)} else {num(outside)}\n",
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
    sh = f"x - {num(shift)}" if shift >= 0 else f"x + {num(-shift)}"
    code = (
        "def f(x):\n    import math\n"
        f"    s = math.sin(2 * math.pi / {num(period)} * ({sh}))\n"
        f"    return {num(c)} + {num(a)} * ((1.0 if s > 0 else 0.0) - (1.0 if s < 0 else 0.0))\n"
    )
    shown = f"x - {fmt(shift)}" if shift >= 0 else f"x + {fmt(-shift)}"
    formula = f"{fmt(c)} + {fmt(a)}*sign(sin(2*pi*({shown})/{fmt(period)}))"
    return Fit(
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
    widths = np.round(np.arange(20, 801) * 0.05, 2)  # rounded: 7.3, not 7.300000000000006
    steps = op(x[None, :] / widths[:, None])
    centred = steps - steps.mean(axis=1, keepdims=True)
    spread = (centred**2).sum(axis=1)
    slope = np.where(spread > 0, centred @ (y - y.mean()) / np.maximum(spread, 1e-300), 0.0)
    residual = (y - y.mean())[None, :] - slope[:, None] * centred
    pick = int(np.argmin((residual**2).sum(axis=1)))
    width = float(widths[pick])
    coef, rss = _lstsq([np.ones_like(x), op(x / width)], y)
    b, a = float(coef[0]), float(coef[1])
    return Fit(
        family=kind,
        params={"a": a, "b": b, "width": width},
        k=3,
        rss=rss,
        predict=lambda t: a * op(t / width) + b,
        code=f"def f(x):\n    import math\n    return {num(a)} * math.{kind}(x / {num(width)}) + {num(b)}\n",
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
    return Fit(
        family="gaussian",
        params={"amp": a, "mean": m, "sd": s, "offset": d},
        k=4,
        rss=rss,
        predict=lambda t: _gauss(t, a, m, s, d),
        code=(
            "def f(x):\n    import math\n"
            f"    return {num(a)} * math.exp(-0.5 * ((x - {num(m)}) / {num(s)}) ** 2) + {num(d)}\n"
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
    return Fit(
        family="tanh",
        params={"a": a, "c": c, "w": w, "d": d},
        k=4,
        rss=rss,
        predict=lambda t: _tanh(t, a, c, w, d),
        code=f"def f(x):\n    import math\n    return {num(a)} * math.tanh((x - {num(c)}) / {num(w)}) + {num(d)}\n",
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
    return Fit(
        family="rational",
        params={"a0": a0, "a1": a1, "a2": a2, "b1": b1, "b2": b2},
        k=5,
        rss=rss,
        predict=predict,
        code=(
            f"def f(x):\n    return ({num(a0)} + {num(a1)} * x + {num(a2)} * x ** 2) / "
            f"(1 + {num(b1)} * x + {num(b2)} * x ** 2)\n"
        ),
        formula=formula.replace("+ -", "- "),
        words="rational function (quadratic over quadratic)",
        label="rational function, quadratic over quadratic",
    )


def fit_all(x: np.ndarray, y: np.ndarray) -> list[Fit]:
    """Every candidate family fitted to (x, y)."""
    fits: list[Fit | None] = [_fit_poly(x, y, d) for d in range(4) if len(np.unique(x)) > d + 1]
    trig = _coarse_trig(x)
    sine = _fit_sin(x, y, False, trig)
    fits += [_fit_bend(x, y), _fit_step(x, y, False), _fit_step(x, y, True), sine]
    fits += [_fit_sin(x, y, True, trig), _fit_exp(x, y)]
    fits += [_fit_transform(x, y, name) for name in ("log", "sqrt", "reciprocal")]
    fits += [fit_box(x, y), fit_stairs(x, y, "floor"), fit_stairs(x, y, "ceil")]
    fits += [fit_gaussian(x, y), fit_tanh(x, y), fit_rational(x, y)]
    fits += [fit_poly_scaled(x, y, d) for d in (4, 5, 6)]
    fits += fit_rationals(x, y)
    fits.append(fit_square_search(x, y, sine.params["omega"] if sine is not None else None))
    return [f for f in fits if f is not None and math.isfinite(f.rss)]


def choose(fits: list[Fit], y: np.ndarray, noise_var: float) -> Fit:
    """The fit with the lowest BIC; the per-point variance is floored (exact fits tie, and then the
    simplest wins) at a tiny fraction of the signal or the measured noise, whichever is larger."""
    n = len(y)
    floor = max(1e-10 * float(np.mean(y**2)), 0.05 * noise_var, 1e-300)
    for f in fits:
        f.bic = n * math.log(max(f.rss / n, floor)) + f.k * math.log(n)
    return min(fits, key=lambda f: f.bic)
