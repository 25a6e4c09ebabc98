"""More least-squares families for the builtin numeric scientist (``agent.builtin.numeric_fits`` holds the
others and `fit_all`): polynomials of degree 4 to 6, rational functions ``p(x)/q(x)`` whose denominator may
vanish inside the domain (poles), and a square wave searched over period and shift directly (short
periods included, where sign changes are too close together to read the period from).

Polynomials and rationals are fitted in the scaled variable ``t = x / 128`` so that high powers stay well
conditioned; their code computes ``t`` first. A rational function is fitted for every pair of degrees
``deg p < deg q ≤ 5`` by linearised least squares (``p(t) − y·q(t) ≈ 0``) with Sanathanan–Koerner
reweighting (each row divided by the previous denominator, so that the linear residual approaches the
true one); `choose` then weighs them by BIC like every other family.
"""

from __future__ import annotations

import math

import numpy as np

from agent.builtin.numeric_fit import Fit
from agent.builtin.protocol import fmt

__all__ = ["SCALE", "fit_poly_scaled", "fit_rationals", "fit_square_search"]

SCALE = 128.0  # inputs are divided by this before powers are taken


def _poly_source(coefs: list[float], var: str = "t") -> str:
    """Horner form of Σ c_j·var^j as Python source."""
    text = repr(float(coefs[-1]))
    for c in reversed(coefs[:-1]):
        text = f"({text}) * {var} + {float(c)!r}"
    return text


def _poly_words(coefs: list[float]) -> str:
    """Σ c_j·x^j for people, with the coefficients of x (not t) and negligible terms dropped."""
    terms = []
    for d, c in enumerate(coefs):
        cx = c / SCALE**d
        if abs(c) < 1e-6 * max(abs(v) for v in coefs):
            continue
        body = "" if d == 0 else ("x" if d == 1 else f"x**{d}")
        terms.append((cx, body))
    parts = []
    for cx, body in reversed(terms):
        mag = fmt(abs(cx), 4)
        parts.append(("- " if cx < 0 else "+ ") + (f"{mag}*{body}" if body else mag))
    joined = " ".join(parts) or "+ 0"
    return joined[2:] if joined.startswith("+ ") else "-" + joined[2:]


def fit_poly_scaled(x: np.ndarray, y: np.ndarray, degree: int) -> Fit | None:
    """A polynomial of ``degree`` (4 to 6) fitted in t = x/128."""
    if len(np.unique(x)) <= degree + 2:
        return None
    t = x / SCALE
    coefs = [float(c) for c in np.polynomial.polynomial.polyfit(t, y, degree)]
    pred = np.polynomial.polynomial.polyval(t, coefs)
    rss = float(np.sum((y - pred) ** 2))

    def predict(u: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.polynomial.polynomial.polyval(u / SCALE, coefs)
        return out

    formula = _poly_words(coefs)
    return Fit(
        family=f"polynomial{degree}",
        params={f"c{d}": c / SCALE**d for d, c in enumerate(coefs)},
        k=degree + 1,
        rss=rss,
        predict=predict,
        code=f"def f(x):\n    t = x / {SCALE!r}\n    return {_poly_source(coefs)}\n",
        formula=formula,
        words=f"polynomial of degree {degree}",
        label=f"polynomial of degree {degree}",
    )


def _rational_coefs(t: np.ndarray, y: np.ndarray, m: int, n: int, rounds: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Numerator (m + 1) and denominator (n + 1) coefficients in t, ``q`` normalised to unit norm."""
    num_cols = np.stack([t**j for j in range(m + 1)], axis=1)
    den_cols = np.stack([t**j for j in range(n + 1)], axis=1)
    design = np.concatenate([num_cols, -y[:, None] * den_cols], axis=1)
    scale = float(np.median(np.abs(y))) + 1e-12
    weights = 1.0 / np.maximum(1.0, np.abs(y) / scale)
    p = np.zeros(m + 1)
    q = np.zeros(n + 1)
    for _ in range(rounds):
        _, _, vt = np.linalg.svd(design * weights[:, None], full_matrices=False)
        solution = vt[-1]
        p, q = solution[: m + 1], solution[m + 1 :]
        den = np.abs(den_cols @ q)
        if not np.all(np.isfinite(den)) or float(np.max(den)) == 0.0:
            break
        weights = 1.0 / np.maximum(den, 1e-8 * float(np.max(den)))
    return p, q


def _one_rational(x: np.ndarray, y: np.ndarray, m: int, n: int) -> Fit | None:
    t = x / SCALE
    p, q = _rational_coefs(t, y, m, n)
    if not np.any(q):
        return None
    lead = q[int(np.argmax(np.abs(q)))]
    p, q = p / lead, q / lead
    pc, qc = [float(v) for v in p], [float(v) for v in q]

    def predict(u: np.ndarray) -> np.ndarray:
        s = u / SCALE
        with np.errstate(all="ignore"):
            out: np.ndarray = np.polynomial.polynomial.polyval(s, pc) / np.polynomial.polynomial.polyval(s, qc)
        return out

    pred = predict(x)
    if not np.all(np.isfinite(pred)):
        return None
    rss = float(np.sum((y - pred) ** 2))
    grid = np.linspace(-SCALE, SCALE, 4097) / SCALE
    den = np.polynomial.polynomial.polyval(grid, qc)
    roots = [float(r.real * SCALE) for r in np.roots(qc[::-1]) if abs(r.imag) < 1e-9 and abs(r.real) <= 1.0]
    if not _poles_show(x, y, roots):
        return None
    poles = sorted(roots) if np.any(np.sign(den[:-1]) != np.sign(den[1:])) or roots else []
    pole_words = (", poles near x ≈ " + ", ".join(fmt(r, 4) for r in poles[:4])) if poles else ""
    code = (
        f"def f(x):\n    t = x / {SCALE!r}\n    q = {_poly_source(qc)}\n"
        f"    if q == 0:\n        return float('nan')\n    return ({_poly_source(pc)}) / q\n"
    )
    return Fit(
        family="rational",
        params={**{f"p{j}": v for j, v in enumerate(pc)}, **{f"q{j}": v for j, v in enumerate(qc)}},
        k=m + n + 1,
        rss=rss,
        predict=predict,
        code=code,
        formula=f"({_poly_words(pc)}) / ({_poly_words(qc)})",
        words=f"rational function: degree {m} over degree {n}{pole_words}",
        label=f"rational function, degree {m} over {n}",
    )


def _poles_show(x: np.ndarray, y: np.ndarray, poles: list[float]) -> bool:
    """Whether the samples bear out every real pole: some sample within 1 of it is large (5 × the median
    size). A pole where the data stay moderate is spurious, bought to bend the fit around outliers."""
    typical = 5 * float(np.median(np.abs(y))) + 1e-300
    for pole in poles:
        near = np.abs(x - pole) <= 1.0
        if not near.any() or float(np.max(np.abs(y[near]))) < typical:
            return False
    return True


def fit_rationals(x: np.ndarray, y: np.ndarray, max_den: int = 5) -> list[Fit]:
    """A rational function for every pair of degrees ``0 ≤ deg p < deg q ≤ max_den`` (poles allowed)."""
    if len(np.unique(x)) < 2 * max_den + 4 or not np.all(np.isfinite(y)):
        return []
    fits: list[Fit] = []
    for n in range(1, max_den + 1):
        for m in range(n):
            fit = _one_rational(x, y, m, n)
            if fit is not None:
                fits.append(fit)
    return fits


def _square_rss(
    x: np.ndarray, y: np.ndarray, periods: np.ndarray, shifts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RSS, level and amplitude of ``c + a·sq`` for every (period, shift) pair; sq = ±1 as FIND writes it
    (``1 if sin(2π(x − shift)/period) > 0 else −1``)."""
    phase = (x[None, None, :] - shifts[None, :, None]) * (2 * np.pi / periods[:, None, None])
    sq = np.where(np.sin(phase) > 0, 1.0, -1.0)
    n = len(x)
    s1 = sq.sum(axis=2)
    sy = (sq * y).sum(axis=2)
    mean_y = float(np.mean(y))
    var_s = n - s1**2 / n
    cov = sy - s1 * mean_y
    a = np.where(var_s > 1e-9, cov / np.maximum(var_s, 1e-9), 0.0)
    c = mean_y - a * s1 / n
    total = float(np.sum((y - mean_y) ** 2))
    rss = total - a * cov
    return rss, a, c


def fit_square_search(x: np.ndarray, y: np.ndarray, omega: float | None = None) -> Fit | None:
    """A square wave ``c + a·(1 if sin(2π(x − s)/P) > 0 else −1)``: the period from the sinusoid's angular
    frequency ``omega`` (its fundamental), refined with the shift over a grid, twice."""
    if len(x) < 16 or omega is None or omega <= 0:
        return None
    period0 = 2 * math.pi / omega
    best: tuple[float, float, float, float, float] | None = None
    span = float(np.max(x) - np.min(x)) or 1.0
    width = max(0.004 * period0, 2 * period0**2 / span)
    centre_p, centre_s, s_width = period0, period0 / 2, period0 / 2
    for round_ in range(3):
        periods = np.linspace(centre_p - width, centre_p + width, 31 if round_ == 0 else 15)
        periods = periods[periods > 0.2]
        shifts = np.linspace(centre_s - s_width, centre_s + s_width, 48 if round_ == 0 else 15)
        rss_grid, a_grid, c_grid = _square_rss(x, y, periods, shifts)
        i, j = np.unravel_index(int(np.argmin(rss_grid)), rss_grid.shape)
        best = (
            float(rss_grid[i, j]),
            float(periods[i]),
            float(shifts[j]),
            float(a_grid[i, j]),
            float(c_grid[i, j]),
        )
        centre_p, centre_s = best[1], best[2]
        width = 2.5 * float(periods[1] - periods[0]) if len(periods) > 1 else width / 10
        s_width = 2.5 * float(shifts[1] - shifts[0])
    assert best is not None
    rss_best, period, shift, a, c = best
    shift = shift % period

    def predict(u: np.ndarray) -> np.ndarray:
        out: np.ndarray = c + a * np.where(np.sin((u - shift) * (2 * np.pi / period)) > 0, 1.0, -1.0)
        return out

    rss_value = float(np.sum((y - predict(x)) ** 2))
    code = (
        "def f(x):\n    import math\n"
        f"    s = math.sin((x - {shift!r}) * (2 * math.pi / {period!r}))\n"
        f"    return {c!r} + {a!r} * (1.0 if s > 0 else -1.0)\n"
    )
    return Fit(
        family="square_wave",
        params={"a": a, "c": c, "period": period, "shift": shift},
        k=4,
        rss=min(rss_value, rss_best) if math.isfinite(rss_value) else rss_best,
        predict=predict,
        code=code,
        formula=f"{fmt(c)} + {fmt(a)}*sign(sin(2*pi*(x - {fmt(shift, 4)})/{fmt(period, 4)}))",
        words=(
            f"square wave: alternates between ≈ {fmt(c + a)} and ≈ {fmt(c - a)} with period ≈ {fmt(period, 4)}"
            f" (shift {fmt(shift, 4)})"
        ),
        label=f"square wave, period {fmt(period, 3)}, amplitude {fmt(abs(a), 3)}",
    )
