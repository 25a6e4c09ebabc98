"""``POST /investigations`` (start one in the API process) and ``GET /investigations/{id}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status

from autointerp.api.schemas import InvestigationAccepted, InvestigationRecordOut, InvestigationRequest
from autointerp.api.state import ServiceState, get_service
from store.db import session
from store.investigations import investigation_record
from store.models import Investigation

router = APIRouter(tags=["investigations"])
log = logging.getLogger(__name__)


@router.post("/investigations", response_model=InvestigationAccepted, status_code=status.HTTP_202_ACCEPTED)
def start(request: InvestigationRequest, service: ServiceState = Depends(get_service)) -> InvestigationAccepted:
    """Validate the subject, store a new investigation and run it in the background; 202 with its id.

    A bad subject, model or agent is a 400 and stores nothing. Investigations run in the API process,
    one at a time (later ones wait their turn); for many units, queue a ``label`` job instead.
    """
    from agent.graph import Budget
    from agent.runner import make_brain

    brain = make_brain(request.agent)
    run = service.session()
    budget = Budget.model_validate(request.budget.model_dump())
    investigation_id, first = run.create(request.subject, request.model, request.agent, budget)

    def go() -> Any:
        try:
            return run.run(investigation_id, brain, first)
        except Exception:  # the runner already marked it failed; the record says so
            log.exception("investigation %s failed", investigation_id)
            return None

    service.submit(go)
    return InvestigationAccepted(id=investigation_id, status="running")


@router.get("/investigations/{investigation_id}", response_model=InvestigationRecordOut)
def read(investigation_id: int, service: ServiceState = Depends(get_service)) -> InvestigationRecordOut:
    """The investigation (status, budget use), its experiments, hypotheses, evidence and explanation."""
    engine = service.engine()
    with session(engine) as db:
        found = db.get(Investigation, investigation_id) is not None
    if not found:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND, detail=f"no investigation with id {investigation_id}"
        )
    return InvestigationRecordOut.model_validate(investigation_record(engine, investigation_id))
