"""``steer``: generate with and without pushing a unit or a direction, side by side."""

from __future__ import annotations

import torch
from pydantic import BaseModel, Field, model_validator

from store.errors import ToolError
from tools.context import ToolContext
from tools.interventions import Intervention
from tools.registry import tool
from tools.runtime import ModelRuntime


class SteerArgs(BaseModel):
    """Arguments of ``steer``: a unit, or a direction at a site."""

    model: str = Field("smollm2-135m", description="Model reference.")
    subject: str | None = Field(None, description="A unit to push, e.g. L12.mlp.303 (its activation += alpha).")
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


def _intervention(runtime: ModelRuntime, args: SteerArgs) -> Intervention:
    if args.subject is not None:
        target = runtime.resolve(args.subject)
        if target.index is None:
            raise ToolError(
                f"{args.subject} is not a single unit; give a unit or a direction", tool="steer", field="subject"
            )
        return Intervention(target.address, "add", value=args.alpha, rows=(1,))
    assert args.site is not None and args.direction is not None
    site = runtime.resolve(args.site)
    width = site.site.width(runtime.shape)
    if site.index is not None or len(args.direction) != width:
        raise ToolError(
            f"direction has {len(args.direction)} entries; site {args.site} needs a site address and {width} entries",
            tool="steer",
            field="direction",
        )
    return Intervention(site.address, "add", value=torch.tensor(args.direction) * args.alpha, rows=(1,))


@tool(queue="gpu")
def steer(ctx: ToolContext, args: SteerArgs) -> SteerOut:
    """Generate greedily from a prompt twice in one batch: unchanged, and with a unit's activation
    increased by alpha (or alpha × a direction added at a site) at every position. Compare the two
    continuations to see what the unit does to the model's output."""
    runtime = ctx.runtime(args.model)
    intervention = _intervention(runtime, args)
    tokenizer = runtime.loaded.tokenizer
    prompt_ids = runtime.tokenize([args.prompt])[0]
    rows = [list(prompt_ids), list(prompt_ids)]
    eos = tokenizer.eos_token_id
    finished = [False, False]
    for _ in range(args.max_new_tokens):
        if len(rows[0]) >= runtime.loaded.max_length:
            break
        input_ids, mask = runtime.pad(rows)
        lengths = [len(r) for r in rows]
        _, logits = runtime.forward(input_ids, mask, [], [intervention], logits=True, lengths=lengths)
        assert logits is not None
        for r in range(2):
            if finished[r]:
                continue
            token = int(logits[r, lengths[r] - 1].argmax())
            rows[r].append(token)
            finished[r] = token == eos
        if all(finished):
            break
    new = [tokenizer.decode(r[len(prompt_ids) :], skip_special_tokens=True) for r in rows]
    return SteerOut(
        model=args.model,
        target=args.subject or f"direction at {args.site}",
        alpha=args.alpha,
        prompt=args.prompt,
        unsteered=new[0],
        steered=new[1],
    )
