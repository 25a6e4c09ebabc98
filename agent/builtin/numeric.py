"""The builtin scientist's policy for numeric functions (DESIGN §3).

``call_function`` every 0.5 on [−128, 128], then the same grid again: inputs whose repeated outputs
disagree while the rest is deterministic form an interval of noise that is set aside (reported in
``domain``; the code returns the mean level there); noise everywhere earns further passes that are
averaged. Single samples far from both neighbours (``agent.builtin.numeric_spikes``) are probed just
beside them: a value the function takes at one input only (FIND's steps at x = 0) is set aside, reported
and kept in the code as an exact-input case; a pole stays in the data and the zoomed samples join it.
Candidate families (``agent.builtin.numeric_fits`` and ``agent.builtin.numeric_families``: constant,
linear, polynomials up to degree 6, a bend (abs and relu shapes), a step (with and without a trend), a
sinusoid (with and without a trend, periods down to 1), exponential, log, sqrt and 1/x where the domain
allows, a box (rectangle), a square wave (period and shift searched), floor/ceil staircases, a Gaussian, a
tanh and rational functions, poles inside the domain included) are fitted by least squares and chosen by
BIC with the measured noise as the floor. Without repeated calls, intervals far off the fit are set aside
instead. A deterministic function that no closed form fits (small-network approximations, unlisted
combinations) keeps the best closed form as its code: it is never interpolated, because samples taken
every 0.5 include the scoring grid x = i + 0.5 and interpolating them would be a lookup table
(measured on a dev seed: it would raise the pass rate from 0.967 to 0.983 only). The description
starts ``f(x) ≈ <Python expression>``; the code is a self-contained ``def f(x):``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.builtin.numeric_fits import Fit, choose, fit_all, num
from agent.builtin.numeric_spikes import isolated_points, spike_candidates, zoom_inputs
from agent.builtin.protocol import Call, Final, Outcome, Policy, PolicyRun, Step, fmt, hypothesis_steps
from store.jsonsafe import decode_float

__all__ = ["EXTRA_REPEATS", "GRID", "NumericAnalysis", "NumericPolicy", "analyse", "final_nmse", "with_levels"]

# --------------------------------------------------------------------------------------------------
# Analysis: noise, intervals set aside, the chosen fit
# --------------------------------------------------------------------------------------------------


def _runs(xs: list[float], gap: float = 2.5) -> list[tuple[float, float, int]]:
    """Sorted points grouped into intervals (points closer than ``gap`` join): (low, high, count)."""
    runs: list[tuple[float, float, int]] = []
    for x in sorted(xs):
        if runs and x - runs[-1][1] <= gap:
            low, _, count = runs[-1]
            runs[-1] = (low, x, count + 1)
        else:
            runs.append((x, x, 1))
    return runs


def _interval(low: float, high: float) -> str:
    return f"[{fmt(low)}, {fmt(high)}]" if low != high else f"x = {fmt(low)}"


@dataclass
class NumericAnalysis:
    """The chosen fit and what was set aside."""

    fit: Fit
    noise_sd: float
    outliers: list[tuple[float, float, int]]
    outlier_mean: float | None
    errors: list[tuple[float, float, int]]
    nmse: float  # of the closed-form fit on the points it was fitted to (outliers excluded)
    n: int
    spacing: float = 1.0  # the typical distance between sampled inputs


def _noisy_intervals(points: dict[float, list[float]]) -> list[tuple[float, float, int]]:
    """Runs of inputs whose repeated calls disagree while the rest of the function is deterministic:
    an interval where the outputs were replaced by noise."""
    repeated = sorted(x for x, v in points.items() if len(v) > 1)
    if len(repeated) < 20:
        return []
    scale = max(abs(float(np.mean(v))) for v in points.values()) + 1e-12
    noisy = [x for x in repeated if max(points[x]) - min(points[x]) > 1e-9 * scale]
    if not noisy or len(noisy) > 0.6 * len(repeated):
        return []
    spacing = float(np.median(np.diff(repeated)))
    runs = [r for r in _runs(noisy, gap=2.01 * spacing) if r[2] >= 3]
    return runs if len(runs) <= 3 else []


def analyse(
    points: dict[float, list[float]], failed: list[float], isolated: list[float] | None = None
) -> NumericAnalysis | None:
    """Fit the observations (input → outputs): leave out ``isolated`` single-point values, set aside
    intervals where repeated calls disagree (noise replacing a deterministic function) or that lie far off
    the fit, and refit. Memoised on the observations (a replayed policy asks again for the same analysis)."""
    left_out = set(isolated or [])
    key = (
        tuple(sorted((x, tuple(v)) for x, v in points.items() if x not in left_out)),
        tuple(sorted(failed)),
    )
    return _analyse(key)


@functools.lru_cache(maxsize=32)
def _analyse(
    key: tuple[tuple[tuple[float, tuple[float, ...]], ...], tuple[float, ...]],
) -> NumericAnalysis | None:
    points = {x: list(v) for x, v in key[0]}
    failed = list(key[1])
    xs = sorted(points)
    if len(xs) < 2:
        return None
    x = np.array(xs)
    y = np.array([float(np.mean(points[v])) for v in xs])
    keep = np.ones(len(x), dtype=bool)
    noisy_runs = _noisy_intervals(points)
    for low, high, _ in noisy_runs:
        keep &= ~((x >= low) & (x <= high))
    repeats = [np.var(points[float(v)], ddof=1) for v in x[keep] if len(points[float(v)]) > 1]
    noise_var = float(np.mean(repeats)) if repeats else 0.0
    fit = choose(fit_all(x[keep], y[keep]), y[keep], noise_var)
    # without repeated calls, intervals far off the fit are set aside instead (and the fit redone)
    for _ in range(0 if noisy_runs or repeats else 2):
        residual = y - fit.predict(x)
        spread = 1.4826 * float(np.median(np.abs(residual[keep] - np.median(residual[keep]))))
        threshold = max(6 * spread, 5 * math.sqrt(noise_var), 1e-6 * (float(np.sqrt(np.mean(y**2))) + 1))
        far = np.abs(residual) > threshold
        outlying = [float(v) for v in x[far]]
        runs = [r for r in _runs(outlying) if r[2] >= 2]
        flagged = np.zeros(len(x), dtype=bool)
        for low, high, _ in runs:
            flagged |= (x >= low) & (x <= high)
        if not flagged.any() or flagged.sum() > 0.3 * len(x) or np.array_equal(~flagged, keep):
            break
        keep = ~flagged
        fit = choose(fit_all(x[keep], y[keep]), y[keep], noise_var)
    outliers = _runs([float(v) for v in x[~keep]]) if not keep.all() else []
    kept = [np.var(points[float(v)], ddof=1) for v in x[keep] if len(points[float(v)]) > 1]
    noise_var = float(np.mean(kept)) if kept else 0.0  # the noise outside the intervals set aside
    pred = fit.predict(x[keep])
    denominator = float(np.sum(y[keep] ** 2)) or 1e-300
    nmse = float(np.sum((y[keep] - pred) ** 2)) / denominator
    return NumericAnalysis(
        fit=fit,
        noise_sd=math.sqrt(noise_var),
        outliers=outliers,
        outlier_mean=float(np.mean(y[~keep])) if not keep.all() else None,
        errors=_runs(failed, gap=1.5),
        nmse=nmse,
        n=int(keep.sum()),
        spacing=float(np.median(np.diff(x))) if len(x) > 1 else 1.0,
    )


# --------------------------------------------------------------------------------------------------
# The policy
# --------------------------------------------------------------------------------------------------

GRID = [v / 2 for v in range(-256, 257)]  # every 0.5 on [-128, 128]
EXTRA_REPEATS = 2  # further passes over the grid when the outputs are noisy everywhere


def with_levels(code: str, levels: list[tuple[float, float, float]]) -> str:
    """Wrap ``def f(x):`` so that inside each (low, high, level) interval it returns the level."""
    if not levels:
        return code
    inner = "".join(
        f"    {line}\n" if line else "\n" for line in code.replace("def f(x):", "def _fit(x):", 1).splitlines()
    )
    checks = "".join(
        f"    if {num(low)} <= x <= {num(high)}:\n        return {num(level)}\n" for low, high, level in levels
    )
    return "def f(x):\n" + inner + checks + "    return _fit(x)\n"


def _as_float(value: Any) -> float | None:
    """A finite number, or None (not a number, or NaN/±inf: a point where the function is undefined).

    Tool results write NaN and ±inf as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``
    (``store.jsonsafe``); `decode_float` reads them (and numbers) back as floats.
    """
    number = decode_float(value)
    return number if number is not None and math.isfinite(number) else None


class NumericPolicy(Policy):
    """Grid, repeats and half-integers; least-squares families chosen by BIC (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.points: dict[float, list[float]] = {}
        self.failed: dict[float, str] = {}
        self.experiments: list[int] = []
        self.halves_check: float | None = None  # NMSE of the first pass's fit on the second pass's outputs
        self.isolated: list[float] = []  # inputs where the function takes a value of its own (set aside)
        self._memo: tuple[tuple[int, int, int, int], NumericAnalysis | None] | None = None

    def _absorb(self, outcome: Outcome) -> list[float]:
        """Record a call_function outcome; return the inputs it did not get to."""
        if not outcome.ok or outcome.result is None:
            return []
        if outcome.experiment_id is not None:
            self.experiments.append(outcome.experiment_id)
        done = []
        for item in outcome.result.get("outcomes") or []:
            x = _as_float(item.get("input"))
            if x is None:
                continue
            done.append(x)
            y = decode_float(item.get("output"))  # NaN and ±inf are floats again: undefined points
            if item.get("error") or y is None or not math.isfinite(y):
                self.failed[x] = str(item.get("error") or f"output {y if y is not None else item.get('output')!r}")
            else:
                self.points.setdefault(x, []).append(y)
        return done

    def steps(self) -> PolicyRun:
        """Grid → repeats and half-integers → hypothesis → explanation."""
        subject = self.task.subject
        if not self.task.can("call_function"):
            return self.best()
        [grid] = yield Step(
            "Sample the function every 0.5 from -128 to 128 to see its overall shape.",
            [Call("call_function", {"subject": subject, "inputs": GRID})],
        )
        if not grid.ok:
            return self.best()
        done = set(self._absorb(grid))
        missing = [x for x in GRID if x not in done]
        if missing and self.remaining() >= 2:  # the batch was cut short: finish it in smaller pieces
            [rest] = yield Step(
                "The batch stopped early; sample the rest of the grid.",
                [Call("call_function", {"subject": subject, "inputs": missing[:128]})],
            )
            self._absorb(rest)
        first = analyse({x: list(v) for x, v in self.points.items()}, list(self.failed))
        if self.remaining() >= 2:
            [again] = yield Step(
                "Call the same inputs again: repeated calls measure noise and reveal intervals of noisy outputs.",
                [Call("call_function", {"subject": subject, "inputs": GRID})],
            )
            self._absorb(again)
            fresh = [(x, outs[-1]) for x, outs in self.points.items() if len(outs) > 1]
            if first is not None and fresh:
                hx = np.array([h[0] for h in fresh])
                hy = np.array([h[1] for h in fresh])
                with np.errstate(all="ignore"):
                    pred = first.fit.predict(hx)
                self.halves_check = float(np.sum((hy - pred) ** 2) / max(float(np.sum(hy**2)), 1e-300))
        spikes = spike_candidates({x: v for x, v in self.points.items() if x in set(GRID)})
        if spikes and self.remaining() >= 3:
            [zoom] = yield Step(
                "Some single inputs stand far from both neighbours: call just beside them to tell a pole "
                f"from a value taken at one input only ({', '.join(fmt(x) for x in spikes)}).",
                [Call("call_function", {"subject": subject, "inputs": zoom_inputs(spikes)})],
            )
            self._absorb(zoom)
            self.isolated = isolated_points(self.points, spikes)
        current = self.analysis()
        if current is not None and current.noise_sd > 0 and not _noisy_intervals(self.points):
            for _ in range(EXTRA_REPEATS):
                if self.remaining() < 3:
                    break
                [more] = yield Step(
                    f"The outputs are noisy (sd ≈ {fmt(current.noise_sd, 3)}); average more calls per input.",
                    [Call("call_function", {"subject": subject, "inputs": GRID})],
                )
                self._absorb(more)
        final = self.best()
        supported = self.halves_check is not None and self.halves_check < 0.1
        note = (
            f"fit NMSE {fmt(final_nmse(self), 3)} on the samples; the first pass's fit on a second pass NMSE "
            f"{fmt(self.halves_check, 3) if self.halves_check is not None else 'n/a'}"
        )
        yield from hypothesis_steps(self, final.description, final.confidence, self.experiments, supported, note)
        return self.best()

    def analysis(self) -> NumericAnalysis | None:
        """The current fit of everything seen (memoised until new observations arrive)."""
        key = (len(self.points), sum(len(v) for v in self.points.values()), len(self.failed), len(self.isolated))
        if self._memo is None or self._memo[0] != key:
            self._memo = (key, analyse(self.points, list(self.failed), self.isolated))
        return self._memo[1]

    def best(self) -> Final:
        """The BIC-chosen fit as code and words."""
        result = self.analysis()
        if result is None:
            reason = "no usable outputs were observed" if self.experiments else "call_function could not be run"
            return Final(
                label="unknown numeric function",
                description=f"The function could not be characterised: {reason}.",
                confidence=0.0,
                evidence=self.experiments,
                code="def f(x):\n    return 0.0\n",
            )
        fit = result.fit
        sentences = [f"f(x) ≈ {fit.formula} for x in [-128, 128]; {fit.words}."]
        if result.noise_sd > 1e-9:
            sentences.append(f"Outputs are noisy: repeated inputs differ with sd ≈ {fmt(result.noise_sd, 3)}.")
        domain_parts = []
        levels: list[tuple[float, float, float]] = []
        for low, high, count in result.outliers:
            if count >= 2:
                inside = [float(np.mean(v)) for x, v in self.points.items() if low <= x <= high]
                level = float(np.mean(inside))
                half = result.spacing / 2
                levels.append((low - half, high + half, level))
                domain_parts.append(
                    f"{_interval(low, high)}: outputs deviate from the fit (noise around ≈ {fmt(level, 3)})"
                )
        for point in self.isolated:
            level = float(np.mean(self.points[point]))
            levels.append((point, point, level))
            domain_parts.append(f"x = {fmt(point)} exactly: f = {fmt(level, 4)}, a value of its own (not near the fit)")
        for low, high, _ in result.errors:
            domain_parts.append(f"{_interval(low, high)}: the function raises or returns a non-finite value")
        domain = "; ".join(domain_parts) or None
        if domain:
            sentences.append(f"Exceptions: {domain}.")
        confidence = max(0.05, 1.0 - 5 * min(result.nmse, 0.2))
        if self.halves_check is not None and self.halves_check > 0.1:
            confidence *= 0.5
            sentences.append("A second pass over the same inputs does not follow this fit well.")
        if result.noise_sd > 1e-9:
            confidence *= 0.9
        return Final(
            label=fit.label,
            description=" ".join(sentences),
            confidence=confidence,
            evidence=self.experiments,
            code=with_levels(fit.code, levels),
            domain=domain,
        )

    def describe(self, call: Call, outcome: Outcome) -> str:
        """The outputs, next to the fit's predictions."""
        if not outcome.ok or outcome.result is None:
            return f"That call failed: {outcome.error}"
        result = self.analysis()
        parts = []
        for item in outcome.result.get("outcomes") or []:
            x, y = item.get("input"), item.get("output")
            text = f"f({x}) = {y}" if not item.get("error") else f"f({x}) raised {item['error']}"
            xf = _as_float(x)
            if result is not None and xf is not None:
                text += f" (my fit predicts {fmt(float(result.fit.predict(np.array([xf]))[0]), 5)})"
            parts.append(text)
        return "; ".join(parts) + "."


def final_nmse(policy: NumericPolicy) -> float:
    """The current fit's NMSE on the points it explains (1.0 when nothing was fitted)."""
    result = policy.analysis()
    return result.nmse if result is not None else 1.0
