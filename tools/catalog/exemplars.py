"""``exemplars``: a unit's top corpus contexts, quantile samples and statistics (the exemplar cache)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from store.errors import CacheError
from tools.catalog.fields import model_field
from tools.context import ToolContext
from tools.exemplars.service import build_site_cache, cache_site_of, open_site_cache, sae_digest_of, unit_exemplars
from tools.registry import tool
from tools.schemas import ExemplarsResult


class ExemplarsArgs(BaseModel):
    """Arguments of ``exemplars``."""

    model: str = model_field()
    subject: str = Field(description="Unit address, e.g. L12.mlp.303, or an SAE latent, e.g. L6.sae.12.")
    k: int = Field(10, ge=1, le=100, description="How many top contexts to return.")
    per_quantile: int = Field(2, ge=0, le=20, description="Contexts from each of the 10 activation quantiles.")
    build_if_missing: bool = Field(
        True, description="Build the layer's (or the SAE's) exemplar cache when none exists yet."
    )
    max_tokens: int = Field(100_000, ge=1_000, description="Corpus tokens for a cache built here.")


@tool(queue="gpu")
def exemplars(ctx: ToolContext, args: ExemplarsArgs) -> ExemplarsResult:
    """Dataset exemplars of a model unit or SAE latent: the corpus contexts where it activates most,
    contexts sampled from 10 activation quantiles (weak to strong), and its activation statistics.
    Start an investigation here: the common ground of the top contexts suggests hypotheses."""
    runtime = ctx.runtime(args.model)
    site, _ = cache_site_of(runtime, args.subject)
    sae_digest = sae_digest_of(runtime, site)
    engine = ctx.engine()
    try:
        cache, _ = open_site_cache(engine, runtime.loaded, site, sae_digest=sae_digest)
    except CacheError:
        if not args.build_if_missing:
            raise
        build_site_cache(runtime, engine, ctx.settings, site, max_tokens=args.max_tokens, progress=False)
        cache, _ = open_site_cache(engine, runtime.loaded, site, sae_digest=sae_digest)
    return unit_exemplars(runtime, cache, args.subject, k=args.k, per_quantile=args.per_quantile)
