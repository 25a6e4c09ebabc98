"""Queries over stored explanations: the one an investigation wrote, a search across them, and their
scores (``Score`` rows: one metric each)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from sqlalchemy import Engine, or_
from sqlmodel import col, select

from store.db import session
from store.models import Explanation, ModelRecord, Score, Subject


class ExplanationHit(NamedTuple):
    """An explanation with its subject and the subject's model (None for functions)."""

    explanation: Explanation
    subject: Subject
    model: ModelRecord | None


def explanation_of(engine: Engine, investigation_id: int) -> Explanation | None:
    """The explanation an investigation wrote (its newest version: a chat may revise it), if any."""
    query = select(Explanation).where(Explanation.investigation_id == investigation_id)
    with session(engine) as db:
        return db.exec(query.order_by(col(Explanation.id).desc())).first()


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


def set_scores(engine: Engine, explanation_id: int, scores: dict[str, float], details: dict[str, Any]) -> None:
    """Store ``scores`` (metric → value) of an explanation, each as a `Score` row with ``details``;
    rows of the same metrics stored before are replaced. Non-finite values are left out."""
    with session(engine, write=True) as db:
        for old in db.exec(
            select(Score).where(Score.explanation_id == explanation_id, col(Score.metric).in_(list(scores)))
        ).all():
            db.delete(old)
        for metric, value in scores.items():
            if math.isfinite(value):
                db.add(Score(explanation_id=explanation_id, metric=metric, value=float(value), details=details))


def scores_of(engine: Engine, explanation_ids: list[int]) -> dict[int, dict[str, float]]:
    """The stored scores of each explanation: id → {metric: value} (the newest row of a metric wins;
    explanations without scores are absent)."""
    if not explanation_ids:
        return {}
    out: dict[int, dict[str, float]] = {}
    with session(engine) as db:
        rows = db.exec(
            select(Score).where(col(Score.explanation_id).in_(explanation_ids)).order_by(col(Score.id))
        ).all()
    for row in rows:
        out.setdefault(row.explanation_id, {})[row.metric] = row.value
    return out
