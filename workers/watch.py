"""Scheduled checkpoint audits: watch a folder, audit every new checkpoint exactly once.

A **checkpoint** is a subfolder of the watched folder that holds a model (``config.json`` and a
``*.safetensors`` or ``*.bin`` weights file; write checkpoints under a temporary name and rename
them into place, so a half-written one is never seen). For every new checkpoint and every audit
kind in `AUDIT_KINDS`, `scan_checkpoints` stores an ``audit`` Job *and* its `AuditRun` row in one
transaction (``store.jobs.create_checkpoint_audit``); ``audit_run`` is unique on (model,
checkpoint, kind), so when two scans race (two beat processes, a re-run) the loser's insert fails
with an IntegrityError and it creates nothing — no check-then-insert. Only then is the job sent to
the workers.

Celery: `register_service_tasks` adds the tasks ``autointerp.audit``, ``autointerp.eval`` and
``autointerp.watch_checkpoints`` to a worker's app (the job tasks claim their job under their task
id, ``workers.claims``, and retry with backoff while the database is unreachable), and
`beat_entries` gives the beat schedule entry that runs the watcher every
``AUTOINTERP_WATCH_INTERVAL`` seconds when ``AUTOINTERP_WATCH_DIR``, ``AUTOINTERP_WATCH_MODEL`` and
``AUTOINTERP_WATCH_BASELINE`` are set (`workers.watch_settings.WatchSettings`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from store.db import open_store
from store.errors import InputError, StoreError
from store.jobs import create_checkpoint_audit
from store.models import JobKind
from store.settings import Settings
from workers.service_jobs import (
    AUDIT_TASK,
    EVAL_TASK,
    HDPROBE_TASK,
    SHIFT_TASK,
    TASK_QUEUE,
    WATCH_TASK,
    enqueue,
    run_service_job,
)
from workers.watch_settings import WatchSettings

#: The audits run on every new checkpoint (one AuditRun row per checkpoint and kind).
AUDIT_KINDS = ("units",)

Sender = Callable[[Settings, str, int], None]

log = logging.getLogger("autointerp.workers")


def is_checkpoint(folder: Path) -> bool:
    """True for a visible folder holding ``config.json`` and a weights file."""
    if not folder.is_dir() or folder.name.startswith("."):
        return False
    if not (folder / "config.json").is_file():
        return False
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))


def scan_checkpoints(
    settings: Settings,
    watch_dir: str | Path,
    model: str,
    baseline: str,
    *,
    units: list[str] | None = None,
    send: Sender | None = enqueue,
) -> list[int]:
    """Queue one audit per (new checkpoint, audit kind) under ``watch_dir``; return the new job ids.

    ``model`` is the name audits are filed under (and whose tracked units are audited unless
    ``units`` is given); ``baseline`` the checkpoint every candidate is compared with. ``send``
    enqueues a job on the workers (None: only store it). InputError when ``watch_dir`` is not a folder.
    """
    folder = Path(watch_dir).expanduser()
    if not folder.is_dir():
        raise InputError(f"watched checkpoint folder {folder} does not exist or is not a folder")
    if settings.db is None:
        settings.ensure_home()
    engine = open_store(settings.db_url())
    baseline_path = Path(baseline).expanduser()
    baseline_resolved = baseline_path.resolve() if baseline_path.exists() else None
    created: list[int] = []
    for candidate in sorted(p for p in folder.iterdir() if is_checkpoint(p)):
        checkpoint = str(candidate.resolve())
        if baseline_resolved is not None and candidate.resolve() == baseline_resolved:
            continue
        for kind in AUDIT_KINDS:
            params = {
                "model": model,
                "baseline": baseline,
                "candidate": checkpoint,
                "units": units,
                "tracked": not units,
                "audit_kind": kind,
            }
            job_id = create_checkpoint_audit(engine, model=model, checkpoint=checkpoint, kind=kind, params=params)
            if job_id is None:
                continue
            created.append(job_id)
            if send is not None:
                send(settings, JobKind.audit.value, job_id)
    return created


def watch_once(settings: Settings | None = None, watch: WatchSettings | None = None) -> list[int]:
    """One scan with the configured `WatchSettings` (nothing when the watcher is not configured)."""
    settings = settings or Settings()
    watch = watch or WatchSettings()
    if not watch.active():
        return []
    assert watch.dir is not None and watch.model is not None and watch.baseline is not None
    units = [u.strip() for u in watch.units.split(",") if u.strip()] if watch.units else None
    return scan_checkpoints(settings, watch.dir, watch.model, watch.baseline, units=units)


def beat_entries(watch: WatchSettings | None = None) -> dict[str, dict[str, Any]]:
    """Beat schedule entries to merge into ``app.conf.beat_schedule`` (empty when not configured)."""
    watch = watch or WatchSettings()
    if not watch.active():
        return {}
    return {"watch-checkpoints": {"task": WATCH_TASK, "schedule": watch.interval, "options": {"queue": "cpu"}}}


def register_service_tasks(app: Any, settings: Settings | None = None, watch: WatchSettings | None = None) -> None:
    """Register ``autointerp.audit``, ``autointerp.eval``, ``autointerp.shift``, ``autointerp.hdprobe`` and
    ``autointerp.watch_checkpoints`` on a Celery app, route the job tasks to the ``gpu`` queue and add
    the watcher's beat entry.

    ``watch`` defaults to `WatchSettings` read from the environment. The tasks are registered with
    ``shared=False`` (on this app only), so several apps in one process (tests) never cross over.
    """
    resolved = settings or Settings()
    watching = watch or WatchSettings()

    def run_job(task: Any, job_id: int) -> str:
        """Run the job as the task's owner (its task id: a redelivery re-claims it); retry with
        backoff while the database cannot be reached."""
        from workers.tasks import STORE_RETRIES, retry_delay

        try:
            return run_service_job(
                resolved, int(job_id), owner=str(task.request.id), model_roots=watching.model_roots()
            )
        except StoreError as exc:
            delay = retry_delay(task.request.retries)
            log.warning("%s job %s: %s; retrying in %.0fs", task.name, job_id, exc, delay)
            raise task.retry(countdown=delay, max_retries=STORE_RETRIES, exc=exc) from exc

    @app.task(name=AUDIT_TASK, bind=True, acks_late=True, shared=False)
    def audit_task(self: Any, job_id: int) -> str:
        return run_job(self, job_id)

    @app.task(name=EVAL_TASK, bind=True, acks_late=True, shared=False)
    def eval_task(self: Any, job_id: int) -> str:
        return run_job(self, job_id)

    @app.task(name=SHIFT_TASK, bind=True, acks_late=True, shared=False)
    def shift_task(self: Any, job_id: int) -> str:
        return run_job(self, job_id)

    @app.task(name=HDPROBE_TASK, bind=True, acks_late=True, shared=False)
    def hdprobe_task(self: Any, job_id: int) -> str:
        return run_job(self, job_id)

    @app.task(name=WATCH_TASK, shared=False)
    def watch_task() -> list[int]:
        return watch_once(resolved, watching)

    routes = dict(app.conf.task_routes or {})
    routes.update(
        {
            AUDIT_TASK: {"queue": TASK_QUEUE},
            EVAL_TASK: {"queue": TASK_QUEUE},
            SHIFT_TASK: {"queue": TASK_QUEUE},
            HDPROBE_TASK: {"queue": TASK_QUEUE},
            WATCH_TASK: {"queue": "cpu"},
        }
    )
    app.conf.task_routes = routes
    schedule = dict(app.conf.beat_schedule or {})
    schedule.update(beat_entries(watching))
    app.conf.beat_schedule = schedule
