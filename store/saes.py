"""Registered SAEs (``sae_record``): record one, find them by model, list them.

An SAE is registered for a *model record* (a model name + weights digest); a runtime looks its SAEs up
by the weights digest alone (`saes_for_weights`), so the same weights loaded under another reference
(the embedded name, its folder) see the same SAEs. Names are unique per model record; registering the
same name again with the same SAE is a no-op, with another SAE an error. Rows are never changed. Like
`store.repo`, every function opens its own short session and returns detached rows or read models;
database failures raise `StoreError`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from store.db import session
from store.errors import ConstraintError
from store.models import ModelRecord, SAERecord, SAERecordCreate, SAERecordRead

__all__ = [
    "create_sae_record",
    "find_sae_record",
    "list_sae_records",
    "saes_for_weights",
    "saes_named",
]


def _read(row: SAERecord, model: ModelRecord | None) -> SAERecordRead:
    out = SAERecordRead.model_validate(row)
    if model is not None:
        out.model = model.name
        out.model_digest = model.weights_digest
    return out


def create_sae_record(engine: Engine, data: SAERecordCreate) -> tuple[SAERecordRead, bool]:
    """Record an SAE registration; returns (the record, whether it is new).

    The same name with the same ``digest`` returns the existing record; with another digest it is a
    `ConstraintError` naming both, since a registered name always means the same SAE.
    """

    def existing(db: Session) -> SAERecordRead | None:
        query = select(SAERecord, ModelRecord).join(ModelRecord, col(ModelRecord.id) == col(SAERecord.model_id))
        found = db.exec(query.where(col(SAERecord.model_id) == data.model_id, col(SAERecord.name) == data.name)).first()
        if found is None:
            return None
        row, model = found
        if row.digest != data.digest:
            raise ConstraintError(
                f"an SAE named {data.name!r} is already registered for {model.name} (L{row.layer}.sae[{row.name}], "
                f"digest {row.digest[:12]}, from {row.source_path}); choose another --name"
            )
        return _read(row, model)

    with session(engine) as db:
        found = existing(db)
    if found is not None:
        return found, False
    try:
        with session(engine, write=True) as db:
            row = SAERecord(**data.model_dump())
            db.add(row)
            db.flush()
            model = db.get(ModelRecord, data.model_id)
            stored = _read(row, model)
    except ConstraintError:  # another registration took the name in between
        with session(engine) as db:
            found = existing(db)
        if found is None:
            raise
        return found, False
    return stored, True


def find_sae_record(engine: Engine, model_id: int, name: str) -> SAERecordRead | None:
    """The SAE named ``name`` registered for model record ``model_id``, or None."""
    with session(engine) as db:
        query = select(SAERecord, ModelRecord).join(ModelRecord, col(ModelRecord.id) == col(SAERecord.model_id))
        found = db.exec(query.where(col(SAERecord.model_id) == model_id, col(SAERecord.name) == name)).first()
        return _read(*found) if found is not None else None


def saes_for_weights(engine: Engine, weights_digest: str) -> list[SAERecordRead]:
    """The SAEs registered for any model record with these weights, one per name (the oldest
    registration of a name wins), in registration order."""
    with session(engine) as db:
        query = (
            select(SAERecord, ModelRecord)
            .join(ModelRecord, col(ModelRecord.id) == col(SAERecord.model_id))
            .where(col(ModelRecord.weights_digest) == weights_digest)
            .order_by(col(SAERecord.id))
        )
        rows = db.exec(query).all()
    by_name: dict[str, SAERecordRead] = {}
    for row, model in rows:
        by_name.setdefault(row.name, _read(row, model))
    return list(by_name.values())


def list_sae_records(
    engine: Engine, *, model_names: Sequence[str] | None = None, weights_digest: str | None = None
) -> list[SAERecordRead]:
    """Every registered SAE (of models stored under one of ``model_names``, or with weights
    ``weights_digest``, when given), in registration order."""
    with session(engine) as db:
        query = select(SAERecord, ModelRecord).join(ModelRecord, col(ModelRecord.id) == col(SAERecord.model_id))
        if model_names is not None and weights_digest is not None:
            query = query.where(
                col(ModelRecord.name).in_(list(model_names)) | (col(ModelRecord.weights_digest) == weights_digest)
            )
        elif model_names is not None:
            query = query.where(col(ModelRecord.name).in_(list(model_names)))
        elif weights_digest is not None:
            query = query.where(col(ModelRecord.weights_digest) == weights_digest)
        rows = db.exec(query.order_by(col(SAERecord.id))).all()
    return [_read(row, model) for row, model in rows]


def saes_named(engine: Engine, model_names: Sequence[str], name: str) -> list[SAERecordRead]:
    """The SAEs called ``name`` of the model stored under any of ``model_names``, or of any model
    record with the same weights as one stored under them (an SAE registered through the model's
    folder is found through its embedded name once the model has been recorded under both)."""
    names = list(model_names)
    with session(engine) as db:
        same_weights = select(ModelRecord.weights_digest).where(col(ModelRecord.name).in_(names))
        query = (
            select(SAERecord, ModelRecord)
            .join(ModelRecord, col(ModelRecord.id) == col(SAERecord.model_id))
            .where(
                col(SAERecord.name) == name,
                col(ModelRecord.name).in_(names) | col(ModelRecord.weights_digest).in_(same_weights),
            )
            .order_by(col(SAERecord.id))
        )
        rows = db.exec(query).all()
    return [_read(row, model) for row, model in rows]
