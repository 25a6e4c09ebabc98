"""``unit_logits``: direct logit attribution, the tokens a unit's output weights promote and suppress."""

from __future__ import annotations

from pydantic import BaseModel, Field

from store.errors import InputError
from tools.catalog.fields import model_field
from tools.context import ToolContext
from tools.effects.logit_attribution import TokenScore, logit_attribution
from tools.registry import ToolError, tool


class UnitLogitsArgs(BaseModel):
    """Arguments of ``unit_logits``."""

    model: str = model_field()
    subject: str = Field(
        description="An MLP neuron (L12.mlp.303), a residual coordinate (L5.resid.7) or an SAE latent (L6.sae.12)."
    )
    k: int = Field(15, ge=1, le=200, description="Tokens to list on each side.")


class UnitLogitsOut(BaseModel):
    """Tokens a unit's output direction promotes and suppresses through the unembedding."""

    model: str
    subject: str
    promoted: list[TokenScore]
    suppressed: list[TokenScore]


@tool(queue="gpu")
def unit_logits(ctx: ToolContext, args: UnitLogitsArgs) -> UnitLogitsOut:
    """Direct logit attribution of a unit: the tokens its output weights push up and push down
    through the final norm's scale and the unembedding (W_U · (gamma ⊙ w_out)); for an SAE latent
    w_out is its decoder row W_dec[j]. It tells what a unit writes, whatever it reads; the norm's
    input-dependent scale is left out."""
    runtime = ctx.runtime(args.model)
    try:
        address, promoted, suppressed = logit_attribution(runtime, args.subject, args.k)
    except InputError as exc:
        raise ToolError(str(exc), tool="unit_logits", field="subject") from None
    return UnitLogitsOut(model=args.model, subject=address, promoted=promoted, suppressed=suppressed)
