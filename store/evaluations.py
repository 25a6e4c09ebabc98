"""What an eval run writes: a subject's ground truth (once per suite), the explanation when the
agent did not store one itself, and the explanation's scores — in one transaction."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from store.db import session
from store.models import Explanation, GroundTruth, Score


def record_scored_explanation(
    engine: Engine,
    *,
    subject_id: int,
    suite: str,
    spec: dict[str, Any],
    explanation_id: int | None,
    explanation: dict[str, Any],
    scores: dict[str, Any],
    details: dict[str, Any],
) -> int:
    """Store one scored item; returns the explanation's id.

    The ground truth is added unless the subject already has one for ``suite``; the explanation
    (fields of ``explanation``) is added when ``explanation_id`` is None; every finite numeric or
    boolean score becomes a ``Score`` row with ``details``. Non-numeric scores are left out.
    """
    with session(engine, write=True) as db:
        existing = db.exec(
            select(GroundTruth).where(GroundTruth.subject_id == subject_id, GroundTruth.suite == suite)
        ).first()
        if existing is None:
            db.add(GroundTruth(subject_id=subject_id, suite=suite, spec=spec))
        if explanation_id is None:
            row = Explanation(subject_id=subject_id, **explanation)
            db.add(row)
            db.flush()
            explanation_id = row.id
        assert explanation_id is not None
        for metric, value in scores.items():
            if isinstance(value, bool):
                value = float(value)
            if isinstance(value, int | float) and math.isfinite(value):
                db.add(Score(explanation_id=explanation_id, metric=metric, value=float(value), details=details))
    return explanation_id
