"""Delphi-style scores for real model units that have no ground truth (REFERENCES: delphi).

Both are balanced accuracies of the evaluator, which reads only the explanation:

* **detection**: held-out *activating* contexts (from a draw of the builtin corpus that the
  explainer's exemplar cache did not see, sampled across 10 activation quantiles) against
  *non-activating* contexts (peak below 10 % of the unit's maximum);
* **fuzzing**: for each activating context, the tokens that really activate (≥ 0.3 × the context's
  peak) against the same number of randomly chosen quiet tokens (< 0.1 × the peak) of the same
  context; the evaluator judges which highlighted token sets fit the explanation.
"""

from __future__ import annotations

import random

import torch
from pydantic import BaseModel

from evals.scoring.scorers import Evaluator, balanced_accuracy
from tools.corpus.sources import load_corpus
from tools.corpus.windows import iter_windows
from tools.exemplars.cache import Exemplar
from tools.runtime.model_runtime import ModelRuntime

HIGHLIGHT = 0.3
QUIET = 0.1
ACTIVE = 0.2


class DelphiScore(BaseModel):
    """Detection and fuzzing balanced accuracy, with the sample sizes behind them."""

    detection: float | None
    fuzzing: float | None
    n_activating: int
    n_quiet: int


HELD_OUT_SEED = 1_000_003  # a builtin-corpus draw that no exemplar cache is built from by default


def held_out_contexts(
    runtime: ModelRuntime, unit: str, *, tokens: int = 32_768, ctx_len: int = 64, batch: int = 32
) -> list[tuple[list[int], list[float]]]:
    """Fresh contexts (a separate draw of the builtin corpus) with the unit's per-token activations."""
    corpus = load_corpus(f"builtin:seed={HELD_OUT_SEED}")
    target = runtime.resolve(unit)
    out: list[tuple[list[int], list[float]]] = []
    windows = list(iter_windows(corpus, runtime.loaded.tokenizer, ctx_len, tokens))
    for start in range(0, len(windows), batch):
        chunk = windows[start : start + batch]
        captured, _ = runtime.forward(torch.tensor(chunk), None, [target.address])
        out.extend((ids, acts) for ids, acts in zip(chunk, captured[target.address].tolist(), strict=True))
    return out


def delphi_scores(
    runtime: ModelRuntime,
    unit: str,
    description: str,
    evaluator: Evaluator,
    *,
    n: int = 20,
    tokens: int = 32_768,
    seed: int = 0,
) -> DelphiScore:
    """Detection and fuzzing of ``description`` for ``unit`` on held-out contexts.

    Activating contexts: those whose peak (position 0 left out, as in the exemplar cache) reaches 20 %
    of the unit's held-out maximum, sampled evenly across 10 equal-count quantiles of their peaks;
    quiet contexts: peak below 10 % of that maximum.
    """
    rng = random.Random(seed)
    contexts = held_out_contexts(runtime, unit, tokens=tokens)
    peaks = [max(acts[1:]) for _, acts in contexts]
    unit_max = max(peaks) if peaks else 0.0
    ranked = sorted((p, i) for i, p in enumerate(peaks) if unit_max > 0 and p >= ACTIVE * unit_max)
    bins = [ranked[len(ranked) * q // 10 : len(ranked) * (q + 1) // 10] for q in range(10)]
    per_bin = max(1, n // 10)
    chosen = [i for members in bins for _, i in rng.sample(members, min(per_bin, len(members)))]
    quiet_pool = [i for i, p in enumerate(peaks) if p < QUIET * unit_max]
    quiet = rng.sample(quiet_pool, min(len(chosen), len(quiet_pool)))
    activating = [Exemplar(contexts[i][0], contexts[i][1], peaks[i]) for i in chosen]

    def text(ids: list[int]) -> str:
        return "".join(runtime.token_strings(ids))

    detection = None
    if activating and quiet:
        texts = [text(e.token_ids) for e in activating] + [text(contexts[i][0]) for i in quiet]
        truth = [True] * len(activating) + [False] * len(quiet)
        detection = balanced_accuracy(evaluator.detect(description, texts), truth)

    right: list[str] = []
    wrong: list[str] = []
    for exemplar in activating:
        pieces = runtime.token_strings(exemplar.token_ids)
        peak = max(exemplar.activations)
        hot = [i for i, a in enumerate(exemplar.activations) if peak > 0 and a >= HIGHLIGHT * peak]
        cold = [i for i, a in enumerate(exemplar.activations) if a < QUIET * peak]
        if not hot or len(cold) < len(hot):
            continue
        right.append(" ".join(pieces[i].strip() for i in hot))
        wrong.append(" ".join(pieces[i].strip() for i in rng.sample(cold, len(hot))))
    fuzzing = None
    if right:
        judged = evaluator.detect(description, right + wrong)
        fuzzing = balanced_accuracy(judged, [True] * len(right) + [False] * len(wrong))
    return DelphiScore(detection=detection, fuzzing=fuzzing, n_activating=len(activating), n_quiet=len(quiet))
