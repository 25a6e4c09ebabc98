"""``steer``: generate with and without pushing a unit or a direction, side by side."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from store.errors import InputError
from tools.catalog.fields import model_field
from tools.context import ToolContext
from tools.effects.steering import direction_push, steered_generations, unit_push
from tools.registry import ToolError, tool


class SteerArgs(BaseModel):
    """Arguments of ``steer``: a unit, or a direction at a site."""

    model: str = model_field()
    subject: str | None = Field(
        None,
        description="A unit to push, e.g. L12.mlp.303 (its activation += alpha), or an SAE latent, e.g. L6.sae.12 "
        "(alpha × its decoder direction added at the SAE's site).",
    )
    direction: list[float] | None = Field(None, description="Or a vector added (times alpha) at 'site'.")
    site: str | None = Field(None, description="Site of 'direction', e.g. L10.resid_post.")
    alpha: float = Field(description="Strength; negative values push the other way.")
    prompt: str = Field(min_length=1)
    max_new_tokens: int = Field(24, ge=1, le=128)

    @model_validator(mode="after")
    def _one_target(self) -> SteerArgs:
        if (self.subject is None) == (self.direction is None):
            raise ValueError("give exactly one of 'subject' or 'direction'")
        if self.direction is not None and self.site is None:
            raise ValueError("'direction' needs 'site'")
        return self


class SteerOut(BaseModel):
    """Greedy continuations of the prompt, unsteered and steered."""

    model: str
    target: str
    alpha: float
    prompt: str
    unsteered: str
    steered: str


@tool(queue="gpu")
def steer(ctx: ToolContext, args: SteerArgs) -> SteerOut:
    """Generate greedily from a prompt twice in one batch: unchanged, and with a unit's activation
    increased by alpha (or alpha × a direction added at a site) at every position. Compare the two
    continuations to see what the unit does to the model's output."""
    runtime = ctx.runtime(args.model)
    try:
        if args.subject is not None:
            intervention = unit_push(runtime, args.subject, args.alpha)
        else:
            assert args.site is not None and args.direction is not None
            intervention = direction_push(runtime, args.site, args.direction, args.alpha)
    except InputError as exc:
        raise ToolError(str(exc), tool="steer", field="subject" if args.subject else "direction") from None
    unsteered, steered = steered_generations(runtime, args.prompt, intervention, args.max_new_tokens)
    return SteerOut(
        model=args.model,
        target=args.subject or f"direction at {args.site}",
        alpha=args.alpha,
        prompt=args.prompt,
        unsteered=unsteered,
        steered=steered,
    )
