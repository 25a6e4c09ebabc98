"""Which units of a model are *tracked*: those with a stored explanation (Subject + Explanation)."""

from __future__ import annotations

import contextlib

from sqlalchemy import Engine

from store.db import open_store
from store.errors import AutointerpError
from store.jobs import explained_units
from store.jobs import latest_labels as stored_latest_labels
from store.settings import Settings


def model_names(model: str) -> list[str]:
    """The names ``model`` may be stored under: as given, and as the loader resolves it (a folder's
    absolute path, the embedded model's hub id), without loading anything."""
    from tools.runtime.loading import resolve_source

    names = [model.strip()]
    with contextlib.suppress(AutointerpError):
        names.append(resolve_source(model)[1])
    return list(dict.fromkeys(names))


def tracked_units(engine: Engine, model: str) -> list[str]:
    """Addresses of ``model``'s units with at least one stored explanation, sorted by layer and index."""
    return sorted(explained_units(engine, model_names(model)), key=_address_key)


def latest_labels(engine: Engine, model: str, addresses: list[str]) -> dict[str, str]:
    """The newest stored label of each of ``addresses`` of ``model`` (units without one are left out)."""
    return stored_latest_labels(engine, model_names(model), addresses)


def stored_labels(settings: Settings, model: str, addresses: list[str]) -> dict[str, str]:
    """`latest_labels` on the store named by ``settings``."""
    if settings.db is None:
        settings.ensure_home()
    return latest_labels(open_store(settings.db_url()), model, addresses)


def _address_key(address: str) -> tuple[int, str, int, str]:
    layer, _, rest = address.partition(".")
    kind, _, index = rest.rpartition(".")
    number = index.lstrip("h")
    return (
        int(layer[1:]) if layer[1:].isdigit() else 0,
        kind,
        int(number) if number.isdigit() else 0,
        address,
    )
