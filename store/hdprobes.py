"""Trained hyperdimensional probes (``hd_probe``): record one, find the one to use, list them.

A probe is found by the *weights digest* of its model (so the embedded name and the same weights'
folder see the same probes) and the layers it reads; the newest matching row wins. Rows are only
ever added. Like `store.repo`, every function opens its own short session and returns read models;
database failures raise `StoreError`.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from store.db import session
from store.jsonsafe import jsonable
from store.models import HDProbeRecord, HDProbeRecordCreate, HDProbeRecordRead

__all__ = ["find_hd_probe", "list_hd_probes", "record_hd_probe"]


def record_hd_probe(engine: Engine, data: HDProbeRecordCreate) -> HDProbeRecordRead:
    """Store a trained probe (metrics JSON-safe); a ``job_id`` naming no job is a `ConstraintError`."""
    with session(engine, write=True) as db:
        row = HDProbeRecord(**{**data.model_dump(), "metrics": jsonable(data.metrics)})
        db.add(row)
        db.flush()
        return HDProbeRecordRead.model_validate(row)


def find_hd_probe(
    engine: Engine, model_digest: str, layers: tuple[int, int] | None = None, dim: int | None = None
) -> HDProbeRecordRead | None:
    """The newest probe trained on weights ``model_digest`` (reading ``layers`` = (start, stop) and of
    dimension ``dim`` when given), or None."""
    with session(engine) as db:
        query = select(HDProbeRecord).where(col(HDProbeRecord.model_digest) == model_digest)
        if layers is not None:
            query = query.where(col(HDProbeRecord.layer_start) == layers[0], col(HDProbeRecord.layer_stop) == layers[1])
        if dim is not None:
            query = query.where(col(HDProbeRecord.dim) == dim)
        row = db.exec(query.order_by(col(HDProbeRecord.id).desc())).first()
        return HDProbeRecordRead.model_validate(row) if row is not None else None


def list_hd_probes(engine: Engine, model_digest: str | None = None) -> list[HDProbeRecordRead]:
    """Every recorded probe (of weights ``model_digest`` when given), oldest first."""
    with session(engine) as db:
        query = select(HDProbeRecord)
        if model_digest is not None:
            query = query.where(col(HDProbeRecord.model_digest) == model_digest)
        rows = db.exec(query.order_by(col(HDProbeRecord.id))).all()
    return [HDProbeRecordRead.model_validate(row) for row in rows]
