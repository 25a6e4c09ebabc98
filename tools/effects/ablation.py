"""Ablation: knock units or sites out (zero, mean or resample) and measure a metric per text."""

from __future__ import annotations

import random
from typing import Literal

import torch

from store.errors import InputError
from tools.corpus.sources import load_corpus
from tools.effects.metrics import MetricFn
from tools.files import FileAccess
from tools.runtime.interventions import Intervention
from tools.runtime.model_runtime import ModelRuntime

AblationMethod = Literal["zero", "mean", "resample"]
DATASET_CHARS = 400  # texts drawn from a dataset are cut to their first 400 characters


def corpus_texts(dataset: str, count: int, seed: int = 0, *, files: FileAccess | None = None) -> list[str]:
    """The first ``count`` non-empty documents of a corpus spec, each cut to ``DATASET_CHARS``; a file
    is read through ``files`` (None: unrestricted, the local user's own call)."""
    texts: list[str] = []
    for doc in load_corpus(dataset, seed=seed, files=files).texts():
        if doc.strip():
            texts.append(doc[:DATASET_CHARS])
        if len(texts) >= count:
            break
    return texts


def ablations(
    runtime: ModelRuntime, targets: list[str], method: AblationMethod, texts: list[str], seed: int = 0
) -> list[Intervention]:
    """Interventions that ablate ``targets`` together on ``texts``.

    ``mean`` replaces a target by its mean over every token of the texts; ``resample`` gives each
    text the targets' activations from another text (a derangement drawn with ``seed``), position
    by position. InputError when resampling has fewer than two texts.
    """
    addresses = [runtime.resolve(t).address for t in targets]
    if method == "zero":
        return [Intervention(a, "zero") for a in addresses]
    if method == "resample" and len(texts) < 2:
        raise InputError("resample ablation needs at least two texts")
    clean = runtime.run(texts, addresses)
    if method == "mean":
        return [Intervention(a, "mean", value=torch.cat(clean.captures[a]).mean(dim=0)) for a in addresses]
    order = list(range(len(texts)))
    rng = random.Random(seed)
    while any(i == j for i, j in enumerate(order)):  # a derangement: no text keeps its own activations
        rng.shuffle(order)
    interventions = []
    for address in addresses:
        sources = []
        for row, donor in enumerate(order):
            values = clean.captures[address][donor]
            n = len(clean.tokens[row])
            index = torch.arange(n).clamp_max(values.shape[0] - 1)  # a shorter donor repeats its last token
            sources.append(values[index])
        interventions.append(Intervention(address, "patch", source=sources))
    return interventions


def measure(runtime: ModelRuntime, metric: MetricFn, texts: list[str], ivs: list[Intervention]) -> list[float]:
    """The metric on each text, with the interventions applied."""
    run = runtime.run(texts, [], ivs, logits="all" if metric.needs_all_logits else "last")
    assert run.logits is not None
    return [metric(logits, ids) for logits, ids in zip(run.logits, run.tokens, strict=True)]
