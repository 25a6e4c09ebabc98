"""Queries over stored explanations: the one an investigation wrote, and a search across them."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Engine, or_
from sqlmodel import col, select

from store.db import session
from store.models import Explanation, ModelRecord, Subject


class ExplanationHit(NamedTuple):
    """An explanation with its subject and the subject's model (None for functions)."""

    explanation: Explanation
    subject: Subject
    model: ModelRecord | None


def explanation_of(engine: Engine, investigation_id: int) -> Explanation | None:
    """The explanation an investigation wrote, if it has written one."""
    with session(engine) as db:
        return db.exec(select(Explanation).where(Explanation.investigation_id == investigation_id)).first()


def escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards (and the escape character) escaped by a backslash."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_explanations(
    engine: Engine, *, model_names: list[str] | None = None, text: str | None = None, limit: int = 50, offset: int = 0
) -> list[ExplanationHit]:
    """Explanations newest first, of units of a model stored under any of ``model_names``, whose
    label or description contains ``text`` (case-insensitive; LIKE wildcards in it are literal)."""
    query = (
        select(Explanation, Subject, ModelRecord)
        .join(Subject, col(Explanation.subject_id) == col(Subject.id))
        .join(ModelRecord, col(Subject.model_id) == col(ModelRecord.id), isouter=True)
    )
    if model_names is not None:
        query = query.where(col(ModelRecord.name).in_(model_names))
    if text:
        pattern = "%" + escape_like(text) + "%"
        query = query.where(
            or_(
                col(Explanation.label).ilike(pattern, escape="\\"),
                col(Explanation.description).ilike(pattern, escape="\\"),
            )
        )
    query = query.order_by(col(Explanation.created_at).desc(), col(Explanation.id).desc()).offset(offset).limit(limit)
    with session(engine) as db:
        return [ExplanationHit(e, s, m) for e, s, m in db.exec(query).all()]
