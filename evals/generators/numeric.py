"""Generate a FIND-style suite of numeric functions (REFERENCES "FIND", DESIGN §3).

FIND's recipe: 85% single primitives from 16 families, 15% sums or products of two primitives drawn
from {linear, polynomial, step, relu, constant, ceil, floor, rectangle, square wave}; parameters rounded
to 0.1; exactly one complication per function in FIND's proportions (150 small-MLP approximations,
191 corrupted intervals, 176 noised, 483 clean per 1000).

Every item is a :class:`evals.suite.NumericItem` whose ``code`` is a self-contained ``def f(x):`` (imports
inside) that never raises on the scoring grid x = i + 0.5, i ∈ [-128, 128), and returns ``nan`` outside a
restricted ``domain``. Extra metadata: ``family``, ``complication``, ``interval`` (corrupted items),
``base_code`` (the clean function the description and unit tests are about) and five 3-way
``unit_tests`` whose options are claims "f(12.5) ≈ 7.31", exactly one true of the clean function.

Generation is deterministic for a seed: ``random.Random(seed)`` for structure and parameters and
``numpy.random.default_rng(seed)`` for the MLP's first layer; no global state is read or written.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from evals.suite import NumericItem, UnitTest

FULL_DOMAIN: tuple[float, float] = (-128.0, 128.0)
POSITIVE_DOMAIN: tuple[float, float] = (0.0, 128.0)

# FIND's complication counts per 1000 functions.
COMPLICATION_WEIGHTS: dict[str, int] = {"mlp": 150, "interval": 191, "noise": 176, "none": 483}
NOISE_KINDS = ("noise:normal", "noise:uniform", "noise:poisson")
INTERVAL_KINDS = ("interval:inside", "interval:left", "interval:right")
COMBO_FRACTION = 0.15
MLP_HIDDEN = 64


class Primitive(NamedTuple):
    """One primitive: a Python expression in ``x`` (may use ``math``), its description, its domain."""

    expr: str
    description: str
    domain: tuple[float, float] = FULL_DOMAIN


# ----------------------------------------------------------------------------- number helpers


def _r(value: float) -> float:
    """Round a parameter to 0.1 (and normalise -0.0)."""
    out = round(value, 1)
    return 0.0 if out == 0 else out


def _nz(rng: random.Random, lo: float, hi: float) -> float:
    """A parameter in ±[lo, hi] (random sign), rounded to 0.1, never 0."""
    value = _r(rng.uniform(lo, hi))
    value = value if value != 0 else 0.1
    return value if rng.random() < 0.5 else -value


def _t(value: float) -> str:
    """A number as text for descriptions and code ("2.5", "-3", "0.1")."""
    return f"{value:g}"


def _lit(value: float) -> str:
    """A float literal for code, to 6 significant digits."""
    return repr(float(f"{value:.6g}"))


def _shift(c: float) -> str:
    """ "x - c" written readably in code."""
    return f"(x - {c!r})" if c >= 0 else f"(x + {-c!r})"


def _poly_desc(coeffs: list[float]) -> str:
    """a_k x^k + ... + a_0 as text (coeffs from the highest degree)."""
    deg = len(coeffs) - 1
    parts = []
    for power, coef in zip(range(deg, -1, -1), coeffs, strict=True):
        if coef == 0:
            continue
        term = _t(coef) + ("" if power == 0 else "x" if power == 1 else f"x^{power}")
        parts.append(term)
    return " + ".join(parts).replace("+ -", "- ") or "0"


def _poly_expr(coeffs: list[float]) -> str:
    """The polynomial as a Horner expression in x."""
    expr = repr(coeffs[0])
    for coef in coeffs[1:]:
        expr = f"({expr}) * x + {coef!r}"
    return expr


# ----------------------------------------------------------------------------- family builders


def _linear(rng: random.Random) -> Primitive:
    a, b = _nz(rng, 0.1, 5), _r(rng.uniform(-20, 20))
    return Primitive(f"{a!r} * x + {b!r}", f"linear function {_poly_desc([a, b])}")


def _polynomial(rng: random.Random) -> Primitive:
    deg = rng.choice([2, 3])
    top = _nz(rng, 0.1, 1.0) if deg == 3 else _nz(rng, 0.1, 3.0)
    coeffs = [top] + [_r(rng.uniform(-5, 5)) for _ in range(deg - 1)] + [_r(rng.uniform(-20, 20))]
    return Primitive(_poly_expr(coeffs), f"polynomial of degree {deg}: {_poly_desc(coeffs)}")


def _rational(rng: random.Random) -> Primitive:
    num = [_r(rng.uniform(-3, 3)), _nz(rng, 0.1, 5), _r(rng.uniform(-10, 10))]
    while True:  # denominator b2 x^2 + b1 x + b0 with no real root
        den = [_r(rng.uniform(0.1, 1)) or 0.1, _r(rng.uniform(-1, 1)), _r(rng.uniform(1, 20))]
        if den[1] ** 2 < 4 * den[0] * den[2]:
            break
    expr = f"({_poly_expr(num)}) / ({_poly_expr(den)})"
    return Primitive(expr, f"rational function ({_poly_desc(num)}) / ({_poly_desc(den)})")


def _absolute(rng: random.Random) -> Primitive:
    a, c, b = _nz(rng, 0.1, 5), _r(rng.uniform(-60, 60)), _r(rng.uniform(-20, 20))
    return Primitive(f"{a!r} * abs{_shift(c)} + {b!r}", f"absolute value {_t(a)}·|x - {_t(c)}| + {_t(b)}")


def _root(rng: random.Random) -> Primitive:
    n = rng.choice([1, 2])
    a, b = _nz(rng, 0.1, 10), _r(rng.uniform(-20, 20))
    if n == 1:
        return Primitive(f"{a!r} * x + {b!r}", f"root with n = 1 (so linear): {_t(a)}·x + {_t(b)}")
    return Primitive(
        f"({a!r} * math.sqrt(x) + {b!r}) if x >= 0 else float('nan')",
        f"square root {_t(a)}·sqrt(x) + {_t(b)}, defined for x >= 0",
        POSITIVE_DOMAIN,
    )


def _logarithm(rng: random.Random) -> Primitive:
    base = rng.choice([2.0, math.e, 10.0])
    a, b = _nz(rng, 0.5, 10), _r(rng.uniform(-20, 20))
    name = {2.0: "2", math.e: "e", 10.0: "10"}[base]
    log = "math.log(x)" if base == math.e else f"math.log(x, {base!r})"
    return Primitive(
        f"({a!r} * {log} + {b!r}) if x > 0 else float('nan')",
        f"logarithm {_t(a)}·log_{name}(x) + {_t(b)}, defined for x > 0",
        POSITIVE_DOMAIN,
    )


def _reciprocal(rng: random.Random) -> Primitive:
    a = _nz(rng, 0.1, 2)
    return Primitive(
        f"1.0 / ({a!r} * x) if x != 0 else float('nan')", f"reciprocal 1 / ({_t(a)}·x), undefined at x = 0"
    )


def _periodic(name: str) -> Callable[[random.Random], Primitive]:
    """Builder for a·name((2π/b)(x − c)) + d (sin, cos, tanh)."""

    def build(rng: random.Random) -> Primitive:
        a, b = _nz(rng, 0.5, 10), _r(rng.uniform(4, 100))
        c, d = _r(rng.uniform(-50, 50)), _r(rng.uniform(-10, 10))
        expr = f"{a!r} * math.{name}(2 * math.pi / {b!r} * {_shift(c)}) + {d!r}"
        if name == "tanh":
            form = f"{_t(a)}·tanh(2π(x - {_t(c)}) / {_t(b)}) + {_t(d)}"
            desc = f"hyperbolic tangent {form}: a smooth step centred at x = {_t(c)}"
        else:
            kind = "sine" if name == "sin" else "cosine"
            desc = f"{kind} with amplitude {_t(a)}, period {_t(b)}, shifted right by {_t(c)}, offset {_t(d)}"
        return Primitive(expr, desc)

    return build


def _gaussian(rng: random.Random) -> Primitive:
    mean, std = _r(rng.uniform(-80, 80)), _r(rng.uniform(2, 40))
    scale = _r(rng.uniform(1, 10) * std * math.sqrt(2 * math.pi))
    expr = f"{scale!r} * math.exp(-0.5 * ({_shift(mean)} / {std!r}) ** 2) / ({std!r} * math.sqrt(2 * math.pi))"
    return Primitive(expr, f"Gaussian (normal pdf) with mean {_t(mean)} and std {_t(std)}, scaled by {_t(scale)}")


def _step(rng: random.Random) -> Primitive:
    a, b = _nz(rng, 0.5, 20), _r(rng.uniform(-20, 20))
    return Primitive(f"({a!r} if x >= 0 else 0.0) + {b!r}", f"step function: {_t(b)} for x < 0, {_t(a + b)} for x >= 0")


def _relu(rng: random.Random) -> Primitive:
    a, b = _nz(rng, 0.1, 5), _r(rng.uniform(-20, 20))
    leak = 0.0 if rng.random() < 0.5 else _r(rng.uniform(0.1, 0.5))
    kind = "ReLU" if leak == 0 else f"leaky ReLU (negative slope {_t(leak)})"
    return Primitive(f"{a!r} * (x if x > 0 else {leak!r} * x) + {b!r}", f"{kind} scaled by {_t(a)}, plus {_t(b)}")


def _rectangle(rng: random.Random) -> Primitive:
    w, c = _r(rng.uniform(5, 60)), _r(rng.uniform(-80, 80))
    a, b = _nz(rng, 0.5, 10), _r(rng.uniform(-5, 5))
    expr = f"({a!r} if abs{_shift(c)} <= {w / 2!r} else 0.0) + {b!r}"
    desc = f"rectangle of width {_t(w)} centred at {_t(c)}: {_t(a + b)} inside, {_t(b)} outside"
    return Primitive(expr, desc)


def _square_wave(rng: random.Random) -> Primitive:
    period, shift, a = _r(rng.uniform(4, 100)), _r(rng.uniform(-50, 50)), _nz(rng, 0.5, 10)
    s = f"math.sin(2 * math.pi / {period!r} * {_shift(shift)})"
    expr = f"{a!r} * ((1.0 if {s} > 0 else 0.0) - (1.0 if {s} < 0 else 0.0))"
    return Primitive(expr, f"square wave ±{_t(abs(a))} with period {_t(period)}, shifted right by {_t(shift)}")


def _constant(rng: random.Random) -> Primitive:
    c = _r(rng.uniform(-20, 20))
    return Primitive(f"{c!r}", f"constant {_t(c)}")


def _rounding(name: str) -> Callable[[random.Random], Primitive]:
    """Builder for a·name(x / s) + b (ceil, floor): a staircase with steps of width s."""

    def build(rng: random.Random) -> Primitive:
        a, s, b = _nz(rng, 0.5, 5), _r(rng.uniform(2, 30)), _r(rng.uniform(-10, 10))
        return Primitive(
            f"{a!r} * math.{name}(x / {s!r}) + {b!r}",
            f"{name} staircase {_t(a)}·{name}(x / {_t(s)}) + {_t(b)} (steps of width {_t(s)})",
        )

    return build


FAMILIES: dict[str, Callable[[random.Random], Primitive]] = {
    "linear": _linear,
    "polynomial": _polynomial,
    "rational": _rational,
    "absolute": _absolute,
    "root": _root,
    "logarithm": _logarithm,
    "reciprocal": _reciprocal,
    "sin": _periodic("sin"),
    "cos": _periodic("cos"),
    "tanh": _periodic("tanh"),
    "gaussian": _gaussian,
    "step": _step,
    "relu": _relu,
    "rectangle": _rectangle,
    "square_wave": _square_wave,
    "constant": _constant,
    "ceil": _rounding("ceil"),
    "floor": _rounding("floor"),
}
SINGLE_FAMILIES = tuple(name for name in FAMILIES if name not in ("ceil", "floor"))
COMBO_FAMILIES = ("linear", "polynomial", "step", "relu", "constant", "ceil", "floor", "rectangle", "square_wave")


# ----------------------------------------------------------------------------- code assembly


def _code(expr: str, domain: tuple[float, float], tail: list[str] | None = None) -> str:
    """A self-contained ``def f(x)`` computing ``expr``, nan outside a restricted domain, then ``tail``."""
    lines = ["def f(x):", "    import math", "    import random", "", "    x = float(x)"]
    if domain != FULL_DOMAIN:
        lines += [f"    if not ({domain[0]!r} <= x <= {domain[1]!r}):", "        return float('nan')"]
    lines.append(f"    y = float({expr})")
    lines += tail or []
    lines.append("    return y")
    return "\n".join(lines) + "\n"


def compile_f(code: str) -> Callable[[float], float]:
    """Exec generated code (our own) in a fresh namespace and return its ``f``."""
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    fn: Callable[[float], float] = namespace["f"]
    return fn


def grid(domain: tuple[float, float]) -> list[float]:
    """The scoring grid x = i + 0.5, i ∈ [-128, 128), restricted to ``domain``."""
    return [i + 0.5 for i in range(-128, 128) if domain[0] <= i + 0.5 <= domain[1]]


def _noise_tail(kind: str) -> list[str]:
    if kind == "noise:normal":
        return ["    y = y + random.gauss(0.0, 1.0)"]
    if kind == "noise:uniform":
        return ["    y = y + random.uniform(-1.0, 1.0)"]
    return [  # Poisson(1) by Knuth's product of uniforms
        "    limit, k, p = math.exp(-1.0), 0, random.random()",
        "    while p > limit:",
        "        k += 1",
        "        p *= random.random()",
        "    y = y + k",
    ]


def _interval(kind: str, rng: random.Random, domain: tuple[float, float]) -> tuple[float | None, float | None]:
    """The corrupted interval [a, b] (None for an open end)."""
    lo, hi = domain
    span = hi - lo
    if kind == "interval:inside":
        width = _r(rng.uniform(5, 25))
        a = _r(rng.uniform(lo + 2, hi - width - 2))
        return a, _r(a + width)
    if kind == "interval:left":
        return None, _r(lo + rng.uniform(0.1, 0.4) * span)
    return _r(hi - rng.uniform(0.1, 0.4) * span), None


def _interval_tail(bounds: tuple[float | None, float | None], mean: float) -> list[str]:
    a, b = bounds
    cond = " and ".join(
        c for c in (f"x >= {a!r}" if a is not None else "", f"x <= {b!r}" if b is not None else "") if c
    )
    return [f"    if {cond}:", f"        y = random.gauss({_lit(mean)}, 0.1)"]


def _interval_text(bounds: tuple[float | None, float | None]) -> str:
    a, b = bounds
    if a is None:
        return f"x <= {_t(b or 0.0)}"
    if b is None:
        return f"x >= {_t(a)}"
    return f"{_t(a)} <= x <= {_t(b)}"


def fit_mlp(fn: Callable[[float], float], domain: tuple[float, float], np_rng: np.random.Generator) -> dict[str, Any]:
    """Fit a 1→64→ReLU→1 network to ``fn`` on ``domain``, deterministically.

    Inputs are scaled to z = (x − centre) / half-width ∈ [−1, 1]; the hidden layer is random (kinks at
    uniform points of [−1, 1], slopes of random sign and size), rounded to 6 significant digits; the
    output layer is a ridge least-squares fit on a dense grid, also rounded. Returns the weights.
    """
    lo, hi = domain
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    xs = np.concatenate([np.linspace(lo, hi, 2049), np.array(grid(domain))])
    ys = np.array([fn(float(x)) for x in xs])
    keep = np.isfinite(ys)
    z, ys = (xs[keep] - centre) / half, ys[keep]
    knots = np.sort(np.concatenate([np.linspace(-1, 1, MLP_HIDDEN // 2), np_rng.uniform(-1, 1, MLP_HIDDEN // 2)]))
    w1 = np_rng.uniform(0.5, 2.0, MLP_HIDDEN) * np_rng.choice([-1.0, 1.0], MLP_HIDDEN)
    w1 = np.array([float(_lit(v)) for v in w1])
    b1 = np.array([float(_lit(v)) for v in -w1 * knots])
    feats = np.concatenate([np.maximum(np.outer(z, w1) + b1, 0.0), np.ones((len(z), 1))], axis=1)
    gram = feats.T @ feats + 1e-8 * len(z) * np.eye(MLP_HIDDEN + 1)
    sol = np.linalg.solve(gram, feats.T @ ys)
    return {
        "centre": centre,
        "half": half,
        "w1": [float(_lit(v)) for v in w1],
        "b1": [float(_lit(v)) for v in b1],
        "w2": [float(_lit(v)) for v in sol[:-1]],
        "b2": float(_lit(sol[-1])),
    }


def _mlp_code(weights: dict[str, Any], domain: tuple[float, float]) -> str:
    def arr(values: list[float]) -> str:
        return "[" + ", ".join(_lit(v) for v in values) + "]"

    lines = ["def f(x):", "    x = float(x)"]
    if domain != FULL_DOMAIN:
        lines += [f"    if not ({domain[0]!r} <= x <= {domain[1]!r}):", "        return float('nan')"]
    lines += [
        f"    w1 = {arr(weights['w1'])}",
        f"    b1 = {arr(weights['b1'])}",
        f"    w2 = {arr(weights['w2'])}",
        f"    z = (x - {weights['centre']!r}) / {weights['half']!r}",
        f"    y = {_lit(weights['b2'])}",
        "    for w, b, v in zip(w1, b1, w2):",
        "        h = w * z + b",
        "        if h > 0:",
        "            y += v * h",
        "    return y",
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- unit tests


def _fmt(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 and decimals == 0 else text.replace("-0.000000", "0.000000")


def value_scale(values: list[float]) -> float:
    """The scale false claims are measured in: the function's range on the grid (or |value| when flat)."""
    finite = [v for v in values if math.isfinite(v)]
    spread = max(finite) - min(finite) if finite else 0.0
    if spread > 1e-9:
        return spread
    return max(1.0, max((abs(v) for v in finite), default=1.0))


def _unit_tests(fn: Callable[[float], float], domain: tuple[float, float], rng: random.Random) -> list[UnitTest]:
    """Five 3-way claims "f(x) ≈ y": one true of the clean function, two off by ≥ 25% of its range."""
    points = [(x, fn(x)) for x in grid(domain)]
    points = [(x, y) for x, y in points if math.isfinite(y)]
    scale = value_scale([y for _, y in points])
    decimals = max(0, min(8, math.ceil(-math.log10(0.005 * scale))))
    tests = []
    for x, y in rng.sample(points, 5):
        d1, d2 = rng.uniform(0.25, 0.5) * scale, rng.uniform(0.75, 1.2) * scale
        false = [y + rng.choice([-1, 1]) * d1, y + rng.choice([-1, 1]) * d2]
        answer = rng.randrange(3)
        values = [*false[:answer], y, *false[answer:]]
        tests.append(UnitTest(options=[f"f({x:g}) ≈ {_fmt(v, decimals)}" for v in values], answer=answer))
    return tests


# ----------------------------------------------------------------------------- the suite


def _counts(n: int, weights: dict[str, float]) -> dict[str, int]:
    """Split n by weights, largest remainder (so proportions are as exact as n allows)."""
    total = sum(weights.values())
    raw = {k: n * w / total for k, w in weights.items()}
    counts = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - counts[k], reverse=True)[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def _plan(n: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """Shuffled family and complication labels for n items."""
    n_combo = round(n * COMBO_FRACTION)
    singles = [SINGLE_FAMILIES[i % len(SINGLE_FAMILIES)] for i in range(n - n_combo)]
    combos = []
    for _ in range(n_combo):
        first, second = rng.sample(COMBO_FAMILIES, 2)
        combos.append(f"{rng.choice(['sum', 'product'])}:{first}+{second}")
    families = singles + combos
    rng.shuffle(families)
    comps: list[str] = []
    for kind, count in _counts(n, {k: float(v) for k, v in COMPLICATION_WEIGHTS.items()}).items():
        subkinds = {"noise": NOISE_KINDS, "interval": INTERVAL_KINDS}.get(kind, (kind,))
        comps += [subkinds[i % len(subkinds)] for i in range(count)]
    rng.shuffle(comps)
    return families, comps


def _base(family: str, rng: random.Random) -> Primitive:
    """The clean primitive (or sum / product of two) for a family label."""
    if ":" not in family:
        return FAMILIES[family](rng)
    op, pair = family.split(":")
    first, second = (FAMILIES[name](rng) for name in pair.split("+"))
    sym = "+" if op == "sum" else "*"
    return Primitive(
        f"({first.expr}) {sym} ({second.expr})", f"{op} of [{first.description}] and [{second.description}]"
    )


def make_item(
    index: int, family: str, complication: str, rng: random.Random, np_rng: np.random.Generator
) -> NumericItem:
    """One suite item: the family's clean function, its complication, description and unit tests."""
    base = _base(family, rng)
    base_code = _code(base.expr, base.domain)
    clean = compile_f(base_code)
    extra: dict[str, Any] = {}
    description = base.description
    if complication == "none":
        code = base_code
    elif complication.startswith("noise:"):
        code = _code(base.expr, base.domain, _noise_tail(complication))
        noun = {"noise:normal": "Gaussian noise (sd 1)", "noise:uniform": "uniform noise in [-1, 1]"}
        description += "; plus " + noun.get(complication, "Poisson noise (λ = 1)")
    elif complication.startswith("interval:"):
        bounds = _interval(complication, rng, base.domain)
        values = [y for y in map(clean, grid(base.domain)) if math.isfinite(y)]
        mean = sum(values) / len(values)
        code = _code(base.expr, base.domain, _interval_tail(bounds, mean))
        extra["interval"] = list(bounds)
        description += f"; except for {_interval_text(bounds)}, where it is noise around {_t(round(mean, 2))} (sd 0.1)"
    else:
        code = _mlp_code(fit_mlp(clean, base.domain, np_rng), base.domain)
        description = f"an approximation (small 1→64→ReLU→1 network) of {base.description}"
    description = description.replace("+ -", "- ").replace("- -", "+ ")
    return NumericItem(
        id=f"num-{index:05d}",
        kind="numeric",
        code=code,
        description=description,
        domain=base.domain,
        unit_tests=_unit_tests(clean, base.domain, rng),
        family=family,
        complication=complication,
        base_code=base_code,
        **extra,
    )


def generate_numeric(n: int, seed: int) -> list[NumericItem]:
    """n FIND-style numeric functions, deterministic for ``seed`` (see the module docstring)."""
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    families, comps = _plan(n, rng)
    return [make_item(i, fam, comp, rng, np_rng) for i, (fam, comp) in enumerate(zip(families, comps, strict=True))]
