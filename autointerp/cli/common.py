"""Shared CLI plumbing: settings from flags, loading a model, opening the store."""

from __future__ import annotations

from sqlalchemy import Engine

from store.db import open_store
from store.settings import Settings, get_settings
from tools.runtime.loading import LoadedModel, load_model
from tools.runtime.model_runtime import ModelRuntime
from tools.sae.registry import store_sae_source

JSON_HELP = "Write the result as JSON to PATH ('-' for stdout)."
DB_HELP = "Database URL (default: AUTOINTERP_DB, else SQLite in the cache home)."
JOB_EXECUTOR_HELP = "local (here) or celery (a job on the workers; returns its id)."
MODEL_HELP = "Embedded name (smollm2-135m), a local HF folder, a .gguf file, or a hub id."


def settings_from(db: str | None = None, device: str | None = None, dtype: str | None = None) -> Settings:
    """Settings from the environment with CLI flags on top."""
    return get_settings(db=db, device=device, dtype=dtype)


def open_runtime(model: str, settings: Settings, *, batch_size: int = 16) -> ModelRuntime:
    """Load a model and wrap it in a runtime that sees the SAEs registered for it (read from the
    store only when an address names an SAE)."""
    loaded: LoadedModel = load_model(model, settings)
    runtime = ModelRuntime(loaded, batch_size=batch_size)
    runtime.sae_source = store_sae_source(lambda: store_for(settings), home=settings.home)
    return runtime


def store_for(settings: Settings) -> Engine:
    """Open (and migrate) the store named by the settings."""
    if settings.db is None:
        settings.ensure_home()
    return open_store(settings.db_url())
