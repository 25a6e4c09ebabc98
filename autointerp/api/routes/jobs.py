"""``POST /jobs`` (queue a label, audit, eval, shift or hdprobe job) and ``GET /jobs/{id}`` (its state).

Jobs go to the Celery workers through ``workers.service_jobs.submit_service_job`` (label jobs on to
``workers.label.submit_label_job``); their state comes from the store through ``workers.jobs.job_view``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status

from autointerp.api.schemas import MAX_INT, JobAccepted, JobOut, JobRequest
from autointerp.api.state import ServiceState, get_service
from store.repo import get_job

router = APIRouter(tags=["jobs"])


@router.post("/jobs", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED)
def submit(request: JobRequest, service: ServiceState = Depends(get_service)) -> JobAccepted:
    """Queue a job on the workers; 202 with its id. Poll ``GET /jobs/{id}``."""
    from workers.service_jobs import submit_service_job

    params = request.model_dump(mode="json", exclude={"kind"}, exclude_none=True)
    service.check_models(*(params.get(key) for key in ("model", "baseline", "candidate")))
    job_id = submit_service_job(service.settings, request.kind, params)
    return JobAccepted(id=int(job_id))


@router.get("/jobs/{job_id}", response_model=JobOut)
def read(
    job_id: Annotated[int, Path(ge=1, le=MAX_INT, description="The job's id.")],
    service: ServiceState = Depends(get_service),
) -> JobOut:
    """A job's kind, status (queued, running, succeeded, failed), progress and error; for an
    investigate job also its investigation (null until a worker starts it)."""
    from workers.jobs import job_view

    engine = service.engine()
    if get_job(engine, job_id) is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"no job with id {job_id}")
    view = job_view(engine, job_id)
    out = JobOut.model_validate(view.model_dump(mode="json"))
    if view.kind == "investigate":
        from store.jobs import job_investigation

        out.investigation = job_investigation(engine, job_id)
    return out
