"""``GET /explanations?model=&q=``: search the stored explanations."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy import or_
from sqlmodel import col, select

from autointerp.api.schemas import ExplanationHit
from autointerp.api.state import ServiceState, get_service
from store.db import session
from store.models import Explanation, ModelRecord, Subject

router = APIRouter(tags=["explanations"])


def model_names(model: str) -> list[str]:
    """The stored names ``model`` may go by (see ``workers.tracked.model_names``)."""
    from workers.tracked import model_names as names

    return names(model)


def escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards (and the escape character) escaped by a backslash."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@router.get("/explanations", response_model=list[ExplanationHit])
def search(
    model: str | None = Query(None, description="Only explanations of units of this model (name or folder)."),
    q: str | None = Query(None, description="Case-insensitive substring of the label or the description."),
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    service: ServiceState = Depends(get_service),
) -> list[ExplanationHit]:
    """Stored explanations, newest first, filtered by model and by a substring of label or description."""
    query = (
        select(Explanation, Subject, ModelRecord)
        .join(Subject, col(Explanation.subject_id) == col(Subject.id))
        .join(ModelRecord, col(Subject.model_id) == col(ModelRecord.id), isouter=True)
    )
    if model:
        query = query.where(col(ModelRecord.name).in_(model_names(model)))
    if q:
        pattern = "%" + escape_like(q) + "%"
        query = query.where(
            or_(
                col(Explanation.label).ilike(pattern, escape="\\"),
                col(Explanation.description).ilike(pattern, escape="\\"),
            )
        )
    query = query.order_by(col(Explanation.created_at).desc(), col(Explanation.id).desc()).offset(offset).limit(limit)
    with session(service.engine()) as db:
        rows = db.exec(query).all()
    return [
        ExplanationHit(
            id=explanation.id or 0,
            subject=subject.address,
            subject_kind=subject.kind.value,
            model=record.name if record is not None else None,
            label=explanation.label,
            description=explanation.description,
            confidence=explanation.confidence,
            investigation_id=explanation.investigation_id,
            created_at=explanation.created_at,
        )
        for explanation, subject, record in rows
    ]
