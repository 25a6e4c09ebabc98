"""``GET /explanations?model=&q=``: search the stored explanations (with their simulators and scores)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from autointerp.api.schemas import MAX_INT, MAX_QUERY_CHARS, MAX_REF_CHARS, ExplanationHit, Text
from autointerp.api.state import ServiceState, get_service
from store.explanations import scores_of, search_explanations

router = APIRouter(tags=["explanations"])


def model_names(model: str) -> list[str]:
    """The stored names ``model`` may go by (see ``workers.tracked.model_names``)."""
    from workers.tracked import model_names as names

    return names(model)


@router.get("/explanations", response_model=list[ExplanationHit])
def search(
    model: Annotated[
        Text | None,
        Query(max_length=MAX_REF_CHARS, description="Only explanations of units of this model (name or folder)."),
    ] = None,
    q: Annotated[
        Text | None,
        Query(max_length=MAX_QUERY_CHARS, description="Case-insensitive substring of the label or the description."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    service: ServiceState = Depends(get_service),
) -> list[ExplanationHit]:
    """Stored explanations, newest first, filtered by model and by a substring of label or description."""
    engine = service.engine()
    hits = search_explanations(
        engine, model_names=model_names(model) if model else None, text=q, limit=limit, offset=offset
    )
    scores = scores_of(engine, [e.id for e, _, _ in hits if e.id is not None])
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
            code=explanation.code,
            scores=scores.get(explanation.id or 0, {}),
        )
        for explanation, subject, record in hits
    ]
