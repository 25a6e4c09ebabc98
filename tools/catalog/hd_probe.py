"""``hd_probe``: decode what a model's later-layer states encode about a key–value / analogy prompt
with a trained hyperdimensional probe (``tools.hdprobe``), beside the model's own next tokens."""

from __future__ import annotations

from pydantic import BaseModel, Field

from store.errors import InputError
from tools.catalog.fields import model_field
from tools.context import ToolContext
from tools.hdprobe.probe import Decoding, probe_for
from tools.registry import ToolError, tool

_TOOL = "hd_probe"


class HDProbeArgs(BaseModel):
    """Arguments of ``hd_probe``."""

    model: str = model_field()
    texts: list[str] = Field(
        min_length=1,
        max_length=64,
        description="Key-value or analogy prompts ending with a query key, e.g. 'France : Paris = Italy :', "
        "'France is to Paris as Italy is to', 'France: Paris, Italy: Rome, Spain:'. Every word must be a concept "
        "of the probe's codebook (countries, capitals, nouns and plurals, verbs and past tenses, ...).",
    )
    layers: str | None = Field(
        None, description="The probe's layers, START:STOP (default: the newest probe trained for the model)."
    )
    k: int = Field(5, ge=1, le=50, description="Concepts (and model tokens) listed per prompt.")
    candidates: list[str] | None = Field(
        None, max_length=512, description="Rank only these concepts (default: the whole codebook)."
    )


class HDProbeOut(BaseModel):
    """Decoded concepts per prompt, the model's next tokens, and how often the two agree."""

    model: str
    probe_id: int | None
    layers: str
    dim: int
    results: list[Decoding]
    agreement_top1: float = Field(
        description="Fraction of prompts whose top concept begins with the model's top token."
    )
    agreement_topk: float = Field(description="Fraction whose top concept begins with one of the model's top-k tokens.")


@tool(queue="gpu", cacheable=False)
def hd_probe(ctx: ToolContext, args: HDProbeArgs) -> HDProbeOut:
    """Hyperdimensional (VSA) probe: decode which concept the model's later-layer states encode as the
    answer of a key-value or analogy prompt ('France : Paris = Italy :' -> Rome), from the last-token
    residual states of the probe's layers (k-means summary -> trained MLP encoder -> bipolar hypervector,
    unbound with the prompt's query key, ranked against the concept codebook by cosine similarity).
    Each result also lists the model's own top next tokens and whether the decoded concept agrees with
    them. Use it to test whether the model internally represents the right relational answer even when
    its output is wrong (or the reverse), or which relation it applies. Needs a probe trained for the
    model (`autointerp hdprobe train`); the prompt's words must be codebook concepts."""
    runtime = ctx.runtime(args.model)
    try:
        probe = probe_for(ctx.engine(), runtime, args.model, args.layers)
    except InputError as exc:
        raise ToolError(str(exc), tool=_TOOL, field="layers") from None
    try:
        for concept in args.candidates or []:
            probe.codebook.canonical(concept)
    except InputError as exc:
        raise ToolError(str(exc), tool=_TOOL, field="candidates") from None
    try:
        results = probe.decode(runtime, args.texts, args.k, args.candidates)
    except InputError as exc:
        raise ToolError(str(exc), tool=_TOOL, field="texts") from None
    n = len(results)
    return HDProbeOut(
        model=args.model,
        probe_id=probe.record.id if probe.record is not None else None,
        layers=f"{probe.layers[0]}:{probe.layers[1]}",
        dim=probe.codebook.dim,
        results=results,
        agreement_top1=sum(r.agrees_top1 for r in results) / n,
        agreement_topk=sum(r.in_model_topk for r in results) / n,
    )
