"""Hdprobe jobs: train a hyperdimensional probe for a model (``POST /jobs`` kind ``hdprobe``,
``autointerp hdprobe train --executor celery``).

The job trains (or resumes, or reuses) the probe described by its parameters with
``tools.hdprobe.probe.train_probe``: the artifact goes to ``<home>/hdprobes/<run>/``, the store record
(``hd_probe``) names the job, and ``<home>/hdprobe/job-<id>/report.json`` holds what training did.
Progress is one step for the capture, one per epoch and one for the evaluation.

The job runs on the ``gpu`` queue as one task, claimed like audit, eval and shift jobs
(``workers.service_jobs``); ``autointerp hdprobe train`` runs the same training in-process.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ConfigDict, Field
from sqlalchemy import Engine

from store.repo import update_job_progress
from store.settings import Settings
from tools.context import ToolContext
from tools.hdprobe.probe import HDProbeSpec, ProbeTraining, train_probe

__all__ = ["HDPROBE_TASK", "HDProbeJobParams", "execute_hdprobe_job", "hdprobe_folder"]

#: The Celery task that runs an hdprobe job (queue ``gpu``).
HDPROBE_TASK = "autointerp.hdprobe"


class HDProbeJobParams(HDProbeSpec):
    """An hdprobe job: the model and the probe's spec."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    model: str = Field(min_length=1, max_length=4096)

    def spec(self) -> HDProbeSpec:
        """The probe's own fields."""
        return HDProbeSpec.model_validate({name: getattr(self, name) for name in HDProbeSpec.model_fields})


def hdprobe_folder(settings: Settings, job_id: int) -> Path:
    """Where an hdprobe job writes its report: ``<home>/hdprobe/job-<id>/``."""
    return settings.home.expanduser() / "hdprobe" / f"job-{job_id}"


def execute_hdprobe_job(
    settings: Settings,
    engine: Engine,
    job_id: int,
    params: dict[str, object],
    ctx: ToolContext | None = None,
    *,
    progress: bool = False,
) -> ProbeTraining:
    """Train the probe of a stored hdprobe job's ``params`` with progress on job ``job_id``; write its
    report. Status changes are the caller's (``workers.service_jobs.run_service_job``)."""
    from evals.suite import service_files

    parsed = HDProbeJobParams.model_validate(params)
    if ctx is None:
        ctx = ToolContext(settings=settings, _engine=engine, files=service_files(settings))
    runtime = ctx.runtime(parsed.model)

    def step(done: int, total: int) -> None:
        update_job_progress(engine, job_id, done=done, total=total)

    result = train_probe(
        runtime,
        engine,
        settings.home,
        parsed.spec(),
        model=parsed.model,
        job_id=job_id,
        progress=progress,
        on_step=step,
    )
    folder = hdprobe_folder(settings, job_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(result.model_dump_json(indent=2))
    return result
