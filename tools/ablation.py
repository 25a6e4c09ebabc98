"""Causal tools: ``ablate`` (knock units or sites out and measure a metric) and ``unit_logits``
(direct logit attribution: the tokens a neuron's output weights promote and suppress)."""

from __future__ import annotations

import random
from typing import Literal

import torch
from pydantic import BaseModel, Field, model_validator

from store.errors import ToolError
from tools.context import ToolContext
from tools.corpus import load_corpus
from tools.interventions import Intervention
from tools.metrics import MetricFn, MetricSpec
from tools.registry import tool
from tools.runtime import ModelRuntime

MODEL_DESCRIPTION = "Model: the embedded name (smollm2-135m), a local folder, a .gguf file or a hub id."
AblationMethod = Literal["zero", "mean", "resample"]
DATASET_CHARS = 400  # texts drawn from a dataset are cut to their first 400 characters


class AblateArgs(BaseModel):
    """Arguments of ``ablate``."""

    model: str = Field("smollm2-135m", description=MODEL_DESCRIPTION)
    targets: list[str] = Field(
        default_factory=list,
        max_length=256,
        description="Units (L3.mlp.17) or sites (L3.mlp_out) to ablate together; empty = no ablation (control).",
    )
    method: AblationMethod = Field(
        "zero",
        description="zero; mean (over every token of the given texts); resample (each text gets the targets' "
        "activations from another text, position by position).",
    )
    texts: list[str] | None = Field(None, max_length=512, description="Texts to measure on.")
    dataset: str | None = Field(None, description="Or a corpus: 'builtin', a .txt/.jsonl file.")
    n_texts: int = Field(16, ge=1, le=512, description="Texts drawn from the dataset.")
    metric: MetricSpec = Field(default_factory=MetricSpec)
    seed: int = 0

    @model_validator(mode="after")
    def _one_source(self) -> AblateArgs:
        if (self.texts is None) == (self.dataset is None):
            raise ValueError("give exactly one of 'texts' or 'dataset'")
        return self


class AblateOut(BaseModel):
    """Per-text baseline and ablated metric, their difference, and means."""

    model: str
    targets: list[str]
    method: AblationMethod
    metric: str
    texts: list[str]
    baseline: list[float]
    ablated: list[float]
    effects: list[float] = Field(description="ablated − baseline, per text.")
    mean_baseline: float
    mean_ablated: float
    mean_effect: float


def _texts(args: AblateArgs) -> list[str]:
    if args.texts is not None:
        return args.texts
    assert args.dataset is not None
    texts: list[str] = []
    for doc in load_corpus(args.dataset, seed=args.seed).texts():
        if doc.strip():
            texts.append(doc[:DATASET_CHARS])
        if len(texts) >= args.n_texts:
            break
    return texts


def _ablations(runtime: ModelRuntime, args: AblateArgs, texts: list[str]) -> list[Intervention]:
    addresses = [runtime.resolve(t).address for t in args.targets]
    if args.method == "zero":
        return [Intervention(a, "zero") for a in addresses]
    clean = runtime.run(texts, addresses)
    if args.method == "mean":
        return [Intervention(a, "mean", value=torch.cat(clean.captures[a]).mean(dim=0)) for a in addresses]
    if len(texts) < 2:
        raise ToolError("resample ablation needs at least two texts", tool="ablate", field="texts")
    order = list(range(len(texts)))
    rng = random.Random(args.seed)
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


def _measure(runtime: ModelRuntime, metric: MetricFn, texts: list[str], ivs: list[Intervention]) -> list[float]:
    run = runtime.run(texts, [], ivs, logits="all" if metric.needs_all_logits else "last")
    assert run.logits is not None
    return [metric(logits, ids) for logits, ids in zip(run.logits, run.tokens, strict=True)]


@tool(queue="gpu")
def ablate(ctx: ToolContext, args: AblateArgs) -> AblateOut:
    """Ablate units or sites (zero, mean or resample) and measure how a metric changes on each text:
    loss, logit(token), logit_diff(target, foil) or prob(token). The effect is ablated − baseline;
    ablating a unit that matters for the behaviour moves the metric, ablating nothing does not."""
    runtime = ctx.runtime(args.model)
    metric = MetricFn(args.metric, runtime.loaded.tokenizer)
    texts = _texts(args)
    if not texts:
        raise ToolError("the dataset gave no texts", tool="ablate", field="dataset")
    baseline = _measure(runtime, metric, texts, [])
    ablated = _measure(runtime, metric, texts, _ablations(runtime, args, texts)) if args.targets else baseline
    effects = [a - b for a, b in zip(ablated, baseline, strict=True)]
    n = len(texts)
    return AblateOut(
        model=args.model,
        targets=args.targets,
        method=args.method,
        metric=args.metric.describe(),
        texts=texts,
        baseline=baseline,
        ablated=ablated,
        effects=effects,
        mean_baseline=sum(baseline) / n,
        mean_ablated=sum(ablated) / n,
        mean_effect=sum(effects) / n,
    )


class UnitLogitsArgs(BaseModel):
    """Arguments of ``unit_logits``."""

    model: str = Field("smollm2-135m", description=MODEL_DESCRIPTION)
    subject: str = Field(description="An MLP neuron (L12.mlp.303) or a residual coordinate (L5.resid.7).")
    k: int = Field(15, ge=1, le=200, description="Tokens to list on each side.")


class TokenScore(BaseModel):
    """A token and its direct-logit-attribution score."""

    token: str
    token_id: int
    score: float


class UnitLogitsOut(BaseModel):
    """Tokens a unit's output direction promotes and suppresses through the unembedding."""

    model: str
    subject: str
    promoted: list[TokenScore]
    suppressed: list[TokenScore]


@tool(queue="gpu")
def unit_logits(ctx: ToolContext, args: UnitLogitsArgs) -> UnitLogitsOut:
    """Direct logit attribution of a unit: the tokens its output weights push up and push down
    through the final norm's scale and the unembedding (W_U · (gamma ⊙ w_out)). It tells what a
    neuron writes, whatever it reads; the norm's input-dependent scale is left out."""
    runtime = ctx.runtime(args.model)
    target = runtime.resolve(args.subject)
    adapter = runtime.adapter
    if target.index is None:
        raise ToolError(
            f"{args.subject} has no single output direction; give an MLP neuron or a resid coordinate",
            tool="unit_logits",
            field="subject",
        )
    with torch.no_grad():
        if target.site.kind == "mlp":
            direction = adapter.mlp_out_weight(target.site.layer)[target.index].float()
        else:
            direction = torch.zeros(runtime.shape.d_model)
            direction[target.index] = 1.0
        gamma = getattr(adapter.final_norm(), "weight", None)
        if gamma is not None:
            direction = direction * gamma.float()
        scores = adapter.unembedding().float() @ direction
    up, down = scores.topk(args.k), (-scores).topk(args.k)

    def listed(ids: torch.Tensor) -> list[TokenScore]:
        return [
            TokenScore(token=runtime.loaded.tokenizer.decode([int(i)]), token_id=int(i), score=float(scores[i]))
            for i in ids
        ]

    return UnitLogitsOut(
        model=args.model, subject=target.address, promoted=listed(up.indices), suppressed=listed(down.indices)
    )
