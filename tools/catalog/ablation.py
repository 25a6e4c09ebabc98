"""``ablate``: knock units or sites out (zero, mean or resample) and measure a metric per text."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from store.errors import InputError
from tools.catalog.fields import model_field
from tools.context import ToolContext
from tools.effects.ablation import AblationMethod, ablations, corpus_texts, measure
from tools.effects.metrics import MetricFn, MetricSpec
from tools.registry import ToolError, tool


class AblateArgs(BaseModel):
    """Arguments of ``ablate``."""

    model: str = model_field()
    targets: list[str] = Field(
        default_factory=list,
        max_length=256,
        description="Units (L3.mlp.17), SAE latents (L6.sae.12; the SAE's error term is kept) or sites "
        "(L3.mlp_out) to ablate together; empty = no ablation (control).",
    )
    method: AblationMethod = Field(
        "zero",
        description="zero; mean (over every token of the given texts); resample (each text gets the targets' "
        "activations from another text, position by position).",
    )
    texts: list[str] | None = Field(None, max_length=512, description="Texts to measure on.")
    dataset: str | None = Field(
        None, description="Or a corpus: 'builtin', a .txt/.jsonl file (over the API, a file under the data roots)."
    )
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


@tool(queue="gpu")
def ablate(ctx: ToolContext, args: AblateArgs) -> AblateOut:
    """Ablate units or sites (zero, mean or resample) and measure how a metric changes on each text:
    loss, logit(token), logit_diff(target, foil) or prob(token). The effect is ablated − baseline;
    ablating a unit that matters for the behaviour moves the metric, ablating nothing does not."""
    runtime = ctx.runtime(args.model)
    metric = MetricFn(args.metric, runtime.loaded.tokenizer)
    texts = (
        args.texts
        if args.texts is not None
        else corpus_texts(args.dataset or "", args.n_texts, args.seed, files=ctx.files)
    )
    if not texts:
        raise ToolError("the dataset gave no texts", tool="ablate", field="dataset")
    baseline = measure(runtime, metric, texts, [])
    if args.targets:
        try:
            interventions = ablations(runtime, args.targets, args.method, texts, args.seed)
        except InputError as exc:
            raise ToolError(str(exc), tool="ablate", field="texts") from None
        ablated = measure(runtime, metric, texts, interventions)
    else:
        ablated = baseline
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
