"""Delphi-style scores for real model units that have no ground truth (REFERENCES: delphi).

Both are balanced accuracies of the evaluator, which reads only the explanation:

* **detection**: held-out *activating* contexts (sampled across the unit's activation quantiles in
  the exemplar cache, never its top-k, which the explainer saw) against *non-activating* contexts
  (other contexts of the cache on which this unit stays below 10 % of its maximum);
* **fuzzing**: for each activating context, the tokens that really activate (≥ 0.3 × the context's
  peak) against the same number of randomly chosen quiet tokens (< 0.1 × the peak) of the same
  context; the evaluator judges which highlighted token sets fit the explanation.
"""

from __future__ import annotations

import random

import torch
from pydantic import BaseModel
from safetensors import safe_open

from evals.scorers import Evaluator, balanced_accuracy
from tools.exemplars import ExemplarCache
from tools.runtime import ModelRuntime

HIGHLIGHT = 0.3
QUIET = 0.1


class DelphiScore(BaseModel):
    """Detection and fuzzing balanced accuracy, with the sample sizes behind them."""

    detection: float | None
    fuzzing: float | None
    n_activating: int
    n_quiet: int


def _contexts(cache: ExemplarCache, count: int, rng: random.Random) -> list[list[int]]:
    with safe_open(str(cache.path), framework="pt") as handle:
        table = handle.get_slice("contexts")
        total = table.get_shape()[0]
        picks = rng.sample(range(total), min(count, total))
        return [table[i].tolist() for i in picks]


def delphi_scores(
    runtime: ModelRuntime,
    cache: ExemplarCache,
    unit: str,
    description: str,
    evaluator: Evaluator,
    *,
    n: int = 20,
    seed: int = 0,
) -> DelphiScore:
    """Detection and fuzzing of ``description`` for ``unit`` (its site's cache must be ``cache``)."""
    rng = random.Random(seed)
    target = runtime.resolve(unit)
    assert target.index is not None
    unit_max = cache.stats(target.index)["max"]
    activating = [
        e for q in cache.quantiles(target.index, per_quantile=max(1, n // 10), seed=seed) for e in q.exemplars
    ][:n]
    candidates = _contexts(cache, 4 * n, rng)
    captured, _ = runtime.forward(torch.tensor(candidates), None, [target.address])
    maxima = captured[target.address][:, cache.spec.skip_first :].amax(dim=1)
    quiet = [c for c, m in zip(candidates, maxima.tolist(), strict=True) if m < QUIET * unit_max][:n]

    def text(ids: list[int]) -> str:
        return "".join(runtime.token_strings(ids))

    detection = None
    if activating and quiet:
        texts = [text(e.token_ids) for e in activating] + [text(c) for c in quiet]
        truth = [True] * len(activating) + [False] * len(quiet)
        detection = balanced_accuracy(evaluator.detect(description, texts), truth)

    right: list[str] = []
    wrong: list[str] = []
    for exemplar in activating:
        tokens = runtime.token_strings(exemplar.token_ids)
        peak = max(exemplar.activations)
        hot = [i for i, a in enumerate(exemplar.activations) if peak > 0 and a >= HIGHLIGHT * peak]
        cold = [i for i, a in enumerate(exemplar.activations) if a < QUIET * peak]
        if not hot or len(cold) < len(hot):
            continue
        right.append(" ".join(tokens[i].strip() for i in hot))
        wrong.append(" ".join(tokens[i].strip() for i in rng.sample(cold, len(hot))))
    fuzzing = None
    if right:
        judged = evaluator.detect(description, right + wrong)
        fuzzing = balanced_accuracy(judged, [True] * len(right) + [False] * len(wrong))
    return DelphiScore(detection=detection, fuzzing=fuzzing, n_activating=len(activating), n_quiet=len(quiet))
