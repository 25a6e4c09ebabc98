"""``POST /jobs`` (queue a label, audit, eval, shift or hdprobe job), ``GET /jobs`` (the newest),
``GET /jobs/{id}`` (its state) and ``GET /jobs/{id}/report`` (a finished audit's report).

Jobs go to the Celery workers through ``workers.service_jobs.submit_service_job`` (label jobs on to
``workers.label.submit_label_job``); their state comes from the store through ``workers.jobs.job_view``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import ValidationError

from autointerp.api.schemas import MAX_INT, JobAccepted, JobOut, JobRequest
from autointerp.api.state import ServiceState, get_service
from store.models import JobKind
from store.repo import get_job
from workers.audit import AuditReport, audit_folder

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


@router.get("/jobs", response_model=list[JobOut])
def listing(
    kind: Annotated[
        Literal["label", "audit", "eval", "investigate", "shift", "hdprobe"] | None,
        Query(description="Only jobs of this kind."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    service: ServiceState = Depends(get_service),
) -> list[JobOut]:
    """The newest ``limit`` jobs (of ``kind`` when given), newest first."""
    from workers.jobs import list_jobs

    views = list_jobs(service.engine(), kind=kind, limit=limit)
    return [JobOut.model_validate(view.model_dump(mode="json")) for view in views]


@router.get("/jobs/{job_id}/report", response_model=AuditReport)
def report(
    job_id: Annotated[int, Path(ge=1, le=MAX_INT, description="An audit job's id.")],
    service: ServiceState = Depends(get_service),
) -> AuditReport:
    """A finished audit job's report: every unit's statistics under both checkpoints, mean shift,
    exemplar overlap, whether it changed and its labels (what ``report.json`` holds). 404 for
    another kind of job or before the report is written."""
    row = get_job(service.engine(), job_id)
    if row is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"no job with id {job_id}")
    if row.kind is not JobKind.audit:
        raise HTTPException(
            status_code=404, detail=f"job {job_id} is a {row.kind.value} job; only audits have a report"
        )
    path = audit_folder(service.settings, job_id) / "report.json"
    try:
        return AuditReport.model_validate_json(path.read_bytes())
    except OSError:
        raise HTTPException(
            status_code=404, detail=f"audit job {job_id} has no report yet ({row.status.value})"
        ) from None
    except ValidationError:
        raise HTTPException(status_code=404, detail=f"audit job {job_id}'s report cannot be read") from None
