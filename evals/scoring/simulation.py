"""Explain–simulate–score for model units (REFERENCES: Bills et al. 2023, *Language models can explain
neurons in language models*): how well an explanation's simulator predicts the unit on held-out text.

**Held-out text** is delphi's (``evals.scoring.delphi``): a draw of the builtin corpus that no exemplar
cache is built from, cut into 512 windows of 64 tokens (32,768 tokens). `held_out_site` runs the model
over it once per *site* (the layer's MLP, residual stream, or SAE) and keeps every unit's activations,
so scoring the units of a layer costs one forward pass in all, then only the simulators.

**Scores** (position 0 of every window, the attention sink, is left out everywhere):

* ``sim_corr_top_random``: Pearson correlation between the simulated and the true activations over
  every token of the unit's 20 top-activating held-out contexts plus 20 random ones;
* ``sim_corr_random``: the same over 50 random contexts (the 20 above and 30 more; none of the top);
* ``sim_detection`` / ``sim_fuzzing``: delphi's detection and fuzzing (same sampling rules: activating
  contexts across 10 peak quantiles, quiet ones below 10 % of the unit's max; for fuzzing the tokens
  ≥ 30 % of the context's peak against as many quiet tokens of it) decided by ``SimulatorEvaluator``.

A correlation is 0 where either side has zero variance (a constant simulator explains nothing; a unit
that never varies on the sample cannot be predicted). A simulator that fails (bad spec, an exception in
sandboxed code) scores nothing: ``error`` says why.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from pydantic import BaseModel

from evals.judges.simulator import SimulatorEvaluator
from evals.scoring.delphi import ACTIVE, HELD_OUT_SEED, HIGHLIGHT, QUIET
from evals.scoring.scorers import balanced_accuracy
from store.errors import InputError
from tools.corpus.sources import load_corpus
from tools.corpus.windows import iter_windows
from tools.runtime.model_runtime import ModelRuntime

N_TOP = 20
N_RANDOM = 50
N_MIXED_RANDOM = 20
N_DETECTION = 20
METRICS = ("sim_corr_top_random", "sim_corr_random", "sim_detection", "sim_fuzzing")
"""The ``Score`` metrics a simulation score writes."""


class SimulationScore(BaseModel):
    """The simulation scores of one explanation of one unit (module docstring)."""

    sim_corr_top_random: float | None = None
    sim_corr_random: float | None = None
    sim_detection: float | None = None
    sim_fuzzing: float | None = None
    n_top: int = 0
    n_random: int = 0
    n_activating: int = 0
    n_quiet: int = 0
    seconds: float = 0.0
    error: str | None = None

    def metrics(self) -> dict[str, float]:
        """The scores that were computed, by metric name."""
        values = {m: getattr(self, m) for m in METRICS}
        return {m: float(v) for m, v in values.items() if v is not None}


@dataclass
class HeldOutUnit:
    """One unit's held-out contexts: token strings and the unit's activation at each token."""

    tokens: list[list[str]]
    acts: list[list[float]]


@dataclass
class HeldOutSite:
    """A site's held-out contexts, captured once: token strings and ``acts[context, position, unit]``."""

    tokens: list[list[str]]
    acts: torch.Tensor

    def unit(self, index: int) -> HeldOutUnit:
        """The held-out activations of unit ``index`` of the site."""
        return HeldOutUnit(self.tokens, self.acts[:, :, index].tolist())


_SITES: dict[tuple[str, str, str, int, int], HeldOutSite] = {}


def held_out_site(runtime: ModelRuntime, unit: str, *, tokens: int = 32_768, ctx_len: int = 64) -> HeldOutSite:
    """The held-out contexts of the site (or SAE) that holds ``unit``, with every unit's activations.

    Captured once per process, model weights (and SAE weights) and site (the last two sites are kept in
    memory, float32: 512 × 64 × 1,536 values, 200 MB, for an MLP layer of the embedded model). ``unit``
    must be a scalar unit.
    """
    target = runtime.resolve(unit)
    if not target.is_unit_scalar:
        raise InputError(f"{unit} is not a scalar unit: simulation scores need one activation per token")
    sae = target.sae.digest if target.sae is not None else ""
    key = (runtime.loaded.digest, sae, target.container, tokens, ctx_len)
    if key not in _SITES:
        corpus = load_corpus(f"builtin:seed={HELD_OUT_SEED}")
        windows = list(iter_windows(corpus, runtime.loaded.tokenizer, ctx_len, tokens))
        chunks = []
        for start in range(0, len(windows), 32):
            batch = windows[start : start + 32]
            captured, _ = runtime.forward(torch.tensor(batch), None, [target.container])
            chunks.append(captured[target.container].float().cpu())
        pieces = {i: runtime.token_strings([i])[0] for i in {t for w in windows for t in w}}
        while len(_SITES) >= 2:
            _SITES.pop(next(iter(_SITES)))
        _SITES[key] = HeldOutSite([[pieces[t] for t in w] for w in windows], torch.cat(chunks))
    return _SITES[key]


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation; 0.0 when either side has zero variance (or fewer than two values)."""
    if len(x) != len(y):
        raise ValueError("pearson needs two sequences of the same length")
    n = len(x)
    if n < 2:
        return 0.0
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx <= 0 or syy <= 0 or not math.isfinite(sxx * syy):
        return 0.0
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def _pooled(evaluator: SimulatorEvaluator, held: HeldOutUnit, chosen: list[int]) -> float:
    predicted = evaluator.predict([held.tokens[i] for i in chosen])
    sim = [v for row in predicted for v in row[1:]]
    true = [v for i in chosen for v in held.acts[i][1:]]
    return pearson(sim, true)


def simulation_score(code: str | None, held: HeldOutUnit, *, seed: int = 0) -> SimulationScore:
    """Score the simulator ``code`` against the unit's held-out activations (module docstring)."""
    started = time.perf_counter()
    if not code:
        return SimulationScore(error="the explanation has no simulator")
    rng = random.Random(seed)
    peaks = [max(a[1:], default=0.0) for a in held.acts]
    order = sorted(range(len(peaks)), key=lambda i: (-peaks[i], i))
    top = order[:N_TOP]
    rest = order[N_TOP:]
    randoms = rng.sample(rest, min(N_RANDOM, len(rest)))
    unit_max = peaks[order[0]] if order else 0.0
    ranked = sorted((p, i) for i, p in enumerate(peaks) if unit_max > 0 and p >= ACTIVE * unit_max)
    bins = [ranked[len(ranked) * q // 10 : len(ranked) * (q + 1) // 10] for q in range(10)]
    per_bin = max(1, N_DETECTION // 10)
    activating = [i for members in bins for _, i in rng.sample(members, min(per_bin, len(members)))]
    quiet_pool = [i for i, p in enumerate(peaks) if p < QUIET * unit_max]
    quiet = rng.sample(quiet_pool, min(len(activating), len(quiet_pool)))
    used = list(dict.fromkeys([*top, *randoms, *activating, *quiet]))
    try:
        evaluator = SimulatorEvaluator.calibrated(code, [held.tokens[i] for i in used])
        result = SimulationScore(
            sim_corr_top_random=_pooled(evaluator, held, top + randoms[:N_MIXED_RANDOM]),
            sim_corr_random=_pooled(evaluator, held, randoms),
            n_top=len(top),
            n_random=len(randoms),
            n_activating=len(activating),
            n_quiet=len(quiet),
        )
        if activating and quiet:
            predicted = evaluator.detect_tokens([held.tokens[i] for i in activating + quiet])
            result.sim_detection = balanced_accuracy(predicted, [True] * len(activating) + [False] * len(quiet))
        marked: list[list[int]] = []
        contexts: list[list[str]] = []
        truth: list[bool] = []
        for i in activating:
            acts = held.acts[i]
            peak = peaks[i]
            hot = [j for j in range(1, len(acts)) if peak > 0 and acts[j] >= HIGHLIGHT * peak]
            cold = [j for j in range(1, len(acts)) if acts[j] < QUIET * peak]
            if not hot or len(cold) < len(hot):
                continue
            marked += [hot, rng.sample(cold, len(hot))]
            contexts += [held.tokens[i], held.tokens[i]]
            truth += [True, False]
        if marked:
            result.sim_fuzzing = balanced_accuracy(evaluator.detect_marked(contexts, marked), truth)
    except InputError as exc:
        result = SimulationScore(error=str(exc))
    result.seconds = round(time.perf_counter() - started, 3)
    return result
