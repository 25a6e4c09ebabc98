"""Registered tools for circuits: ``patch`` (activation / attribution patching) and ``ioi_dataset``."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from tools.context import ToolContext
from tools.patching.ioi import IOIPair, generate_ioi, load_pairs_jsonl
from tools.patching.latents import DEFAULT_TOP, patch_latents
from tools.patching.patch import PatchMethod, PatchResult, PatchSite, patch, prepare_pairs
from tools.registry import tool


class PatchArgs(BaseModel):
    """Arguments of ``patch``: one clean/corrupt pair, or a JSONL file of pairs."""

    model: str = Field("smollm2-135m", description="Model reference.")
    clean: str | None = Field(None, description="Clean prompt (the behaviour to explain).")
    corrupt: str | None = Field(None, description="Corrupt prompt of the same token length.")
    target: str | None = Field(None, description="Answer token on the clean prompt, e.g. ' Mary' (one token).")
    foil: str | None = Field(None, description="Competing token, e.g. ' John' (one token).")
    pairs: str | None = Field(
        None,
        description="Or a JSONL file of {clean, corrupt, target, foil} pairs (over the API, a file under the "
        "data roots).",
    )
    site: PatchSite = "resid_pre"
    method: PatchMethod = "exact"
    sae: str | None = Field(
        None,
        description="Or an SAE's latents (L6.sae, L6.sae[NAME]): each latent patched at every position (error term "
        "kept); columns are the 'top' latents by attribution, scored exactly unless method=attribution.",
    )
    top: int = Field(DEFAULT_TOP, ge=1, le=1024, description="With sae: how many latents to score.")

    @model_validator(mode="after")
    def _one_source(self) -> PatchArgs:
        single = [self.clean, self.corrupt, self.target, self.foil]
        if self.pairs is None and any(v is None for v in single):
            raise ValueError("give clean, corrupt, target and foil, or a 'pairs' file")
        if self.pairs is not None and any(v is not None for v in single):
            raise ValueError("give either one pair (clean, corrupt, target, foil) or a 'pairs' file, not both")
        return self


@tool(queue="gpu")
def patch_activations(ctx: ToolContext, args: PatchArgs) -> PatchResult:
    """Activation patching: copy clean activations into the corrupt run one cell at a time and score
    how much of the clean logit difference (target − foil at the last token) each cell restores:
    (LD_patched − LD_corrupt) / (LD_clean − LD_corrupt). Cells are layer × position for resid_pre,
    attn_out and mlp_out, layer × head for heads. method=exact computes it exactly (fast);
    attribution is a first-order estimate from one backward pass. With 'sae' (L6.sae) the cells are
    the SAE's latents, each patched at every position: the latents that carry the behaviour."""
    runtime = ctx.runtime(args.model)
    if args.sae is not None:
        if args.pairs is not None:
            loaded = load_pairs_jsonl(args.pairs, files=ctx.files)
            prepared = prepare_pairs(
                runtime,
                [p.clean for p in loaded],
                [p.corrupt for p in loaded],
                [p.target for p in loaded],
                [p.foil for p in loaded],
            )
        else:
            assert args.clean and args.corrupt and args.target and args.foil
            prepared = prepare_pairs(runtime, args.clean, args.corrupt, args.target, args.foil)
        return patch_latents(runtime, prepared, args.sae, args.method, args.top)
    if args.pairs is not None:
        pairs = load_pairs_jsonl(args.pairs, files=ctx.files)
        return patch(
            runtime,
            [p.clean for p in pairs],
            [p.corrupt for p in pairs],
            args.site,
            [p.target for p in pairs],
            [p.foil for p in pairs],
            args.method,
        )
    assert args.clean and args.corrupt and args.target and args.foil
    return patch(runtime, args.clean, args.corrupt, args.site, args.target, args.foil, args.method)


class IOIArgs(BaseModel):
    """Arguments of ``ioi_dataset``."""

    model: str | None = Field(None, description="Keep only names that are one token for this model's tokenizer.")
    n: int = Field(20, ge=1, le=5000)
    seed: int = 0
    template: int | None = Field(None, ge=0, description="Use one template only (index); default: all.")
    same_length: bool = Field(
        False, description="Keep only pairs as long as the first (needs model), so they can be averaged."
    )


class IOIOut(BaseModel):
    """Generated indirect-object-identification pairs."""

    pairs: list[IOIPair]


@tool(queue="cpu")
def ioi_dataset(ctx: ToolContext, args: IOIArgs) -> IOIOut:
    """Generate indirect-object-identification prompt pairs ("When Mary and John went to the store,
    John gave a drink to" → " Mary"): templates × names × places × objects; the corrupt prompt swaps
    the names so the answer flips while the token length stays the same. Use with patch_activations."""
    tokenizer = ctx.runtime(args.model).loaded.tokenizer if args.model else None
    pairs = generate_ioi(
        args.n, seed=args.seed, tokenizer=tokenizer, template=args.template, same_length=args.same_length
    )
    return IOIOut(pairs=pairs)
