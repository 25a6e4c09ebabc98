"""``activations``: a unit's per-token activations on texts the agent writes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from store.errors import AddressError
from tools.catalog.fields import model_field
from tools.context import ToolContext
from tools.registry import ToolError, tool
from tools.runtime.queries import unit_series


class ActivationsArgs(BaseModel):
    """Arguments of ``activations``."""

    model: str = model_field()
    subject: str = Field(
        description="Unit address, e.g. L12.mlp.303 (MLP neuron), L5.resid.7, or L6.sae.12 (latent 12 of layer "
        "6's SAE; L6.sae[NAME].12 when the layer has several)."
    )
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
    should not. Heads (L{l}.attn.h{h}) report the norm of the head's output per token; SAE latents
    (L{l}.sae.{j}) their value in the SAE's encoding of the site it reads."""
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
