"""Pydantic models of what the runtime's queries and the exemplar cache return (CLI JSON, tool results, HTTP)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ModelInfo(BaseModel):
    """A loaded model's identity and shape, with every site address it has."""

    name: str
    source: str
    path: str
    digest: str
    family: str
    n_layers: int
    d_model: int
    d_mlp: int
    n_heads: int
    head_dim: int
    sites: list[str]


class FetchResult(BaseModel):
    """Where a fetched (and converted) model lives."""

    name: str
    source: str
    path: str
    digest: str


class ActivationsResult(BaseModel):
    """One value per token of the tokenizer's default encoding of ``text``.

    For a head (``L{l}.attn.h{h}``) the value is the L2 norm of the head's output vector.
    """

    model: str
    unit: str
    text: str
    tokens: list[str]
    token_ids: list[int]
    activations: list[float]


class ExemplarOut(BaseModel):
    """A context from the exemplar cache with its per-token activations for one unit."""

    text: str
    tokens: list[str]
    token_ids: list[int]
    activations: list[float]
    max: float


class QuantileOut(BaseModel):
    """Contexts sampled from one of the 10 activation quantiles (0 weakest, 9 strongest)."""

    quantile: int
    low: float
    high: float
    exemplars: list[ExemplarOut]


class ExemplarsResult(BaseModel):
    """A unit's top exemplars, quantile samples, and activation statistics."""

    model: str
    unit: str
    cache: str
    exemplars: list[ExemplarOut]
    quantiles: list[QuantileOut]
    stats: dict[str, Any]


class CacheBuildResult(BaseModel):
    """What ``cache build`` produced."""

    model: str
    site: str
    corpus: str
    path: str
    digest: str
    cache_id: int
    n_contexts: int
    n_tokens: int
    ctx_len: int
    seconds: float
    tokens_per_second: float | None = Field(None, description="null when the cache was reused")
    resumed_from: int
    reused: bool
