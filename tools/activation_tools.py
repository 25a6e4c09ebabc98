"""Registered tools over the runtime and the exemplar cache: ``activations`` and ``exemplars``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from store.errors import AddressError, CacheError, ToolError
from tools.cache_service import build_site_cache, cache_site_of, open_site_cache, unit_exemplars
from tools.context import ToolContext
from tools.embedded import EMBEDDED_NAME
from tools.queries import unit_series
from tools.registry import tool
from tools.schemas import ExemplarsResult

MODEL_FIELD = Field(EMBEDDED_NAME, description="Model: the embedded name, a local folder, a .gguf file or a hub id.")


class ActivationsArgs(BaseModel):
    """Arguments of ``activations``."""

    model: str = MODEL_FIELD
    subject: str = Field(description="Unit address, e.g. L12.mlp.303 (MLP neuron) or L5.resid.7.")
    texts: list[str] = Field(min_length=1, max_length=256, description="Texts to run, each on its own.")


class TextActivations(BaseModel):
    """One text's per-token activations."""

    text: str
    tokens: list[str]
    activations: list[float]
    max: float
    argmax: int = Field(description="Position of the largest activation.")


class ActivationsOut(BaseModel):
    """Result of ``activations``."""

    model: str
    subject: str
    results: list[TextActivations]


@tool(queue="gpu")
def activations(ctx: ToolContext, args: ActivationsArgs) -> ActivationsOut:
    """Per-token activations of a model unit on each text you give. Use it to test a hypothesis with
    texts you write: texts with the feature should activate the unit strongly, texts without it
    should not. Heads (L{l}.attn.h{h}) report the norm of the head's output per token."""
    runtime = ctx.runtime(args.model)
    try:
        address, token_lists, series = unit_series(runtime, args.subject, args.texts)
    except AddressError as exc:
        raise ToolError(str(exc), tool="activations", field="subject") from None
    results = []
    for text, ids, values in zip(args.texts, token_lists, series, strict=True):
        floats = [round(v, 6) for v in values]
        peak = max(range(len(floats)), key=floats.__getitem__)
        results.append(
            TextActivations(
                text=text, tokens=runtime.token_strings(ids), activations=floats, max=floats[peak], argmax=peak
            )
        )
    return ActivationsOut(model=args.model, subject=address, results=results)


class ExemplarsArgs(BaseModel):
    """Arguments of ``exemplars``."""

    model: str = MODEL_FIELD
    subject: str = Field(description="Unit address, e.g. L12.mlp.303.")
    k: int = Field(10, ge=1, le=100, description="How many top contexts to return.")
    per_quantile: int = Field(2, ge=0, le=20, description="Contexts from each of the 10 activation quantiles.")
    build_if_missing: bool = Field(True, description="Build the layer's exemplar cache when none exists yet.")
    max_tokens: int = Field(100_000, ge=1_000, description="Corpus tokens for a cache built here.")


@tool(queue="gpu")
def exemplars(ctx: ToolContext, args: ExemplarsArgs) -> ExemplarsResult:
    """Dataset exemplars of a model unit: the corpus contexts where it activates most, contexts
    sampled from 10 activation quantiles (weak to strong), and its activation statistics. Start an
    investigation here: the common ground of the top contexts suggests hypotheses."""
    runtime = ctx.runtime(args.model)
    site, _ = cache_site_of(runtime, args.subject)
    engine = ctx.engine()
    try:
        cache, _ = open_site_cache(engine, runtime.loaded, site)
    except CacheError:
        if not args.build_if_missing:
            raise
        build_site_cache(runtime, engine, ctx.settings, site, max_tokens=args.max_tokens, progress=False)
        cache, _ = open_site_cache(engine, runtime.loaded, site)
    return unit_exemplars(runtime, cache, args.subject, k=args.k, per_quantile=args.per_quantile)
