"""Exemplar caches with their store index: build-or-reuse a site's cache, find it, read a unit from it.

A site is a model site (``L6.mlp``, ``L6.resid_post``) or an SAE's code (``L6.sae[name]``: every
latent of the SAE); a latent's exemplars come from its SAE's cache, which records the SAE's digest."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from store.errors import AddressError, CacheError
from store.models import ExemplarCacheCreate, ExemplarCacheRecord, ModelRecord, ModelRecordCreate
from store.repo import find_exemplar_cache, record_exemplar_cache, upsert_model_record
from store.settings import Settings
from tools.corpus.sources import load_corpus
from tools.exemplars.cache import CacheSpec, Exemplar, ExemplarCache, build_exemplar_cache, cache_path, scoring_skip
from tools.runtime.digests import sha256_file_cached
from tools.runtime.loading import LoadedModel
from tools.runtime.model_runtime import ModelRuntime
from tools.schemas import CacheBuildResult, ExemplarOut, ExemplarsResult, QuantileOut


def register_model(engine: Engine, loaded: LoadedModel) -> ModelRecord:
    """Record a loaded model in the store (idempotent on name + weights digest)."""
    return upsert_model_record(
        engine,
        ModelRecordCreate(
            name=loaded.name,
            source=loaded.source,
            revision=loaded.path,
            config_digest=loaded.config_digest,
            weights_digest=loaded.digest,
        ),
    )


def cache_site_of(runtime: ModelRuntime, unit: str) -> tuple[str, int]:
    """The site whose cache holds ``unit`` (an SAE latent's: its SAE, ``L6.sae[name]``), and the
    unit's column in it."""
    target = runtime.resolve(unit)
    if target.index is None:
        raise AddressError(
            f"{unit} has no scalar activation to rank contexts by; exemplars exist for MLP neurons "
            "(L{l}.mlp.{i}), residual coordinates (L{l}.resid.{i}) and SAE latents (L{l}.sae.{j})"
        )
    return target.container, target.index


def sae_digest_of(runtime: ModelRuntime, site: str) -> str | None:
    """The digest of the SAE whose code ``site`` is (``L6.sae[name]``), None for a model site."""
    target = runtime.resolve(site)
    return target.sae.digest if target.sae is not None else None


def build_site_cache(
    runtime: ModelRuntime,
    engine: Engine,
    settings: Settings,
    site: str,
    *,
    corpus: str = "builtin",
    max_tokens: int = 200_000,
    ctx_len: int = 64,
    k: int = 20,
    batch_size: int = 32,
    progress: bool = True,
) -> CacheBuildResult:
    """Build (or resume, or reuse) the exemplar cache of ``site`` and index it in the store."""
    loaded = runtime.loaded
    target = runtime.resolve(site)
    site = target.address
    source = load_corpus(corpus)
    record = register_model(engine, loaded)
    spec = CacheSpec(
        model_name=loaded.name,
        model_digest=loaded.digest,
        site=site,
        corpus=source.spec,
        corpus_digest=source.digest(),
        ctx_len=ctx_len,
        max_tokens=max_tokens,
        k=k,
        skip_first=scoring_skip(loaded.tokenizer),
        sae_digest=target.sae.digest if target.sae is not None else None,
    )
    path = cache_path(settings.ensure_home(), spec)
    report = build_exemplar_cache(runtime, spec, source, path, batch_size=batch_size, progress=progress)
    cache = ExemplarCache(path)
    assert record.id is not None
    row = record_exemplar_cache(
        engine,
        ExemplarCacheCreate(
            model_id=record.id,
            site=site,
            corpus=spec.corpus,
            corpus_digest=spec.corpus_digest,
            ctx_len=ctx_len,
            n_tokens=cache.n_contexts * ctx_len,
            k=k,
            path=str(path),
            digest=report.digest,
        ),
    )
    assert row.id is not None
    return CacheBuildResult(
        model=loaded.name,
        site=site,
        corpus=spec.corpus,
        path=str(path),
        digest=report.digest,
        cache_id=row.id,
        n_contexts=cache.n_contexts,
        n_tokens=cache.n_contexts * ctx_len,
        ctx_len=ctx_len,
        seconds=round(report.seconds, 3),
        tokens_per_second=None if report.reused else round(report.n_tokens / max(report.seconds, 1e-9), 1),
        resumed_from=report.resumed_from,
        reused=report.reused,
    )


def open_site_cache(
    engine: Engine, loaded: LoadedModel, site: str, *, sae_digest: str | None = None
) -> tuple[ExemplarCache, ExemplarCacheRecord]:
    """The newest indexed cache of ``site`` for this exact model, checked against its digest (and, for
    an SAE's code, against the SAE's digest ``sae_digest``: `sae_digest_of`)."""
    record = register_model(engine, loaded)
    assert record.id is not None
    row = find_exemplar_cache(engine, record.id, site)
    layer = site.split(".")[0][1:]
    rebuild = f"autointerp cache build --model {loaded.name} --layer {layer}" + (
        "" if site.endswith(".mlp") else f" --site {site}"
    )
    if row is None:
        raise CacheError(f"no exemplar cache for {site} of {loaded.name}; build one with `{rebuild}`")
    path = Path(row.path)
    if not path.is_file():
        raise CacheError(f"exemplar cache file {path} for {site} is gone; rebuild it with `{rebuild}`")
    if sha256_file_cached(path) != row.digest:
        raise CacheError(f"exemplar cache file {path} does not match its recorded digest; rebuild it with `{rebuild}`")
    cache = ExemplarCache(path)
    if cache.spec.sae_digest != sae_digest:
        raise CacheError(f"the exemplar cache of {site} was built for another SAE; rebuild it with `{rebuild}`")
    return cache, row


def _exemplar_out(runtime: ModelRuntime, exemplar: Exemplar) -> ExemplarOut:
    tokens = runtime.token_strings(exemplar.token_ids)
    return ExemplarOut(
        text="".join(tokens),
        tokens=tokens,
        token_ids=exemplar.token_ids,
        activations=exemplar.activations,
        max=exemplar.max,
    )


def unit_exemplars(
    runtime: ModelRuntime, cache: ExemplarCache, unit: str, *, k: int = 10, per_quantile: int = 4
) -> ExemplarsResult:
    """A unit's top-k contexts, contexts from each activation quantile, and its statistics."""
    _, index = cache_site_of(runtime, unit)
    return ExemplarsResult(
        model=runtime.loaded.name,
        unit=runtime.resolve(unit).address,
        cache=str(cache.path),
        exemplars=[_exemplar_out(runtime, e) for e in cache.top(index, k)],
        quantiles=[
            QuantileOut(
                quantile=q.quantile,
                low=q.low,
                high=q.high,
                exemplars=[_exemplar_out(runtime, e) for e in q.exemplars],
            )
            for q in cache.quantiles(index, per_quantile)
        ],
        stats=cache.stats(index),
    )
