"""``POST /investigations`` (start one in the API process, or queue it on the workers) and
``GET /investigations/{id}``."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, status

from autointerp.api.schemas import MAX_INT, InvestigationAccepted, InvestigationRecordOut, InvestigationRequest
from autointerp.api.state import ServiceState, get_service
from store.db import session
from store.explanations import scores_of
from store.investigations import investigation_record
from store.models import Investigation, Subject

router = APIRouter(tags=["investigations"])
log = logging.getLogger(__name__)


@router.post("/investigations", response_model=InvestigationAccepted, status_code=status.HTTP_202_ACCEPTED)
def start(request: InvestigationRequest, service: ServiceState = Depends(get_service)) -> InvestigationAccepted:
    """Start an investigation; 202 at once.

    ``executor`` ``local`` (or the API's default, ``AUTOINTERP_API_EXECUTOR``): validate the subject,
    store a new investigation and run it in the API process, one at a time (later ones wait their
    turn); the reply's ``id`` is the investigation. ``celery``: store an investigate job and send it
    to the workers' ``cpu`` queue (as many run at once as workers take); the reply's ``job`` is the
    job, and ``GET /jobs/{job}`` names the investigation once a worker has started it. A bad agent or
    subject syntax is a 400 and stores nothing; a unit out of range fails the job (celery) or is a
    400 (local).
    """
    from agent.graph import Budget
    from agent.runner import make_brain

    executor = request.executor or service.investigation_executor
    service.check_models(request.model)
    if executor == "celery":
        from workers.service_jobs import submit_investigation

        params = request.model_dump(mode="json", exclude={"executor"})
        job_id = submit_investigation(service.settings, params)
        return InvestigationAccepted(id=None, job=job_id, status="queued", executor="celery")

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
    return InvestigationAccepted(id=investigation_id, status="running", executor="local")


@router.get("/investigations/{investigation_id}", response_model=InvestigationRecordOut)
def read(
    investigation_id: Annotated[int, Path(ge=1, le=MAX_INT, description="The investigation's id.")],
    service: ServiceState = Depends(get_service),
) -> InvestigationRecordOut:
    """The investigation (status, budget use), its experiments, hypotheses, evidence and explanation."""
    engine = service.engine()
    with session(engine) as db:
        row = db.get(Investigation, investigation_id)
        subject = db.get(Subject, row.subject_id) if row is not None else None
    if row is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND, detail=f"no investigation with id {investigation_id}"
        )
    record = InvestigationRecordOut.model_validate(investigation_record(engine, investigation_id))
    if subject is not None:
        record.subject, record.subject_kind = subject.address, subject.kind.value
    explanation_id = (record.explanation or {}).get("id")
    if isinstance(explanation_id, int):
        record.scores = scores_of(engine, [explanation_id]).get(explanation_id, {})
    return record
