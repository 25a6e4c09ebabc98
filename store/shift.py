"""SHIFT annotations (``shift_annotation``): record a judge's scores of SAE latents, read them back.

One row per (latent, concept) a judge scored: the 0–4 score, the judge, its rationale and the
evidence it saw. Rows are only ever added (a second annotation of the same latent is a second row,
e.g. by another judge). Like `store.repo`, every function opens its own short session and returns
read models; database failures raise `StoreError`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from store.db import session
from store.jsonsafe import jsonable
from store.models import ShiftAnnotation, ShiftAnnotationCreate, ShiftAnnotationRead

__all__ = ["annotations_for", "record_annotations"]


def record_annotations(engine: Engine, rows: Sequence[ShiftAnnotationCreate]) -> list[ShiftAnnotationRead]:
    """Store ``rows`` in one transaction (all or none); the stored rows, in the order given.

    Evidence is stored JSON-safe (a non-finite float becomes ``"NaN"``/``"Infinity"``: `store.jsonsafe`).
    A ``job_id`` naming no job is a `ConstraintError`.
    """
    if not rows:
        return []
    with session(engine, write=True) as db:
        stored = [ShiftAnnotation(**{**row.model_dump(), "evidence": jsonable(row.evidence)}) for row in rows]
        db.add_all(stored)
        db.flush()
        return [ShiftAnnotationRead.model_validate(row) for row in stored]


def annotations_for(
    engine: Engine, model: str, sae: str | None = None, job_id: int | None = None
) -> list[ShiftAnnotationRead]:
    """The annotations of ``model`` (as the annotating call named it), oldest first; only those of
    SAE ``sae`` (its name or its digest) and of job ``job_id`` when given."""
    with session(engine) as db:
        query = select(ShiftAnnotation).where(col(ShiftAnnotation.model) == model)
        if sae is not None:
            query = query.where((col(ShiftAnnotation.sae) == sae) | (col(ShiftAnnotation.sae_digest) == sae))
        if job_id is not None:
            query = query.where(col(ShiftAnnotation.job_id) == job_id)
        rows = db.exec(query.order_by(col(ShiftAnnotation.id))).all()
    return [ShiftAnnotationRead.model_validate(row) for row in rows]
