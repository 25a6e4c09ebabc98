"""The Celery application: Redis broker and result backend, queues ``gpu`` and ``cpu``, reliable delivery.

Built by `create_app` from `Settings` (no module-level app, so every process, test and client
configures its own). The delivery settings follow Celery's advice for tasks that must not be lost
or run twice:

- ``task_acks_late``: a task is acknowledged when it has finished, not when it is received, so a
  worker that dies mid-task leaves it in Redis;
- ``task_reject_on_worker_lost``: when a pool process dies (``kill -9``, out of memory), the parent
  requeues its task at once instead of marking it failed;
- ``worker_prefetch_multiplier = 1``: a worker process holds one task at a time (a long task does
  not sit on messages another worker could run);
- ``visibility_timeout`` (Redis transport) > ``task_time_limit`` (hard limit): an unacknowledged task
  is handed to another worker only after its first holder is certainly gone (killed by the limit
  or dead); `Settings` refuses a configuration where this does not hold;
- tasks are idempotent: label job items and audit, eval and investigate jobs are claimed through
  one module (workers/claims.py) with a fenced conditional UPDATE with an attempts counter and an
  owner lease (columns of the row), so a redelivered task never labels a unit or runs a job twice
  and a task that keeps killing its worker is poisoned after ``max_attempts``.

Queues: ``gpu`` (model work: the model tools, exemplar-cache builds) and ``cpu`` (suite functions,
scoring, agent steps, the sweeper). Task names live in `TaskNames`.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue

from store.settings import Settings

__all__ = ["CPU_QUEUE", "GPU_QUEUE", "QUEUES", "TaskNames", "create_app"]

GPU_QUEUE = "gpu"
CPU_QUEUE = "cpu"
QUEUES = (GPU_QUEUE, CPU_QUEUE)


class TaskNames:
    """The registered task names (clients send by name; only workers import the task code)."""

    run_tools = "autointerp.run_tools"
    label_prepare = "autointerp.label_prepare"
    label_unit = "autointerp.label_unit"
    label_chunk = "autointerp.label_chunk"
    sweep = "autointerp.sweep"
    investigate = "autointerp.investigate"


def transport_options(settings: Settings) -> dict[str, Any]:
    """Redis transport options: the visibility timeout, how often abandoned tasks are looked for, and
    the key prefix when one is set."""
    # Scan for abandoned (unacknowledged, older than the visibility timeout) messages every few seconds
    # rather than kombu's default ~100 s, so a dead worker's task moves on soon after the timeout.
    options: dict[str, Any] = {
        "visibility_timeout": settings.visibility_timeout,
        "unacked_restore_interval": max(1, min(10, settings.visibility_timeout // 10)),
        "unacked_restore_throttle": 1,
    }
    if settings.broker_prefix:
        options["global_keyprefix"] = settings.broker_prefix
    return options


def create_app(settings: Settings | None = None) -> Celery:
    """A Celery app configured from ``settings`` (environment ``AUTOINTERP_*`` by default).

    The app knows the queues and routes but no task code: `workers.tasks.register_tasks` adds the
    tasks in worker processes; clients send tasks by name (`TaskNames`).
    """
    settings = settings or Settings()
    app = Celery("autointerp", broker=settings.broker_url, backend=settings.backend_url(), set_as_current=False)
    result_options: dict[str, Any] = {}
    if settings.broker_prefix:
        result_options["global_keyprefix"] = settings.broker_prefix
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.task_time_limit,
        task_soft_time_limit=max(1, settings.task_time_limit - max(1, settings.task_time_limit // 20)),
        task_track_started=True,
        broker_transport_options=transport_options(settings),
        result_backend_transport_options=result_options,
        result_expires=24 * 3600,
        task_queues=[Queue(GPU_QUEUE), Queue(CPU_QUEUE)],
        task_default_queue=CPU_QUEUE,
        task_routes={
            TaskNames.label_prepare: {"queue": GPU_QUEUE},
            TaskNames.label_unit: {"queue": CPU_QUEUE},
            TaskNames.label_chunk: {"queue": CPU_QUEUE},
            TaskNames.sweep: {"queue": CPU_QUEUE},
            TaskNames.investigate: {"queue": CPU_QUEUE},
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
        beat_schedule={
            "sweep-jobs": {
                "task": TaskNames.sweep,
                "schedule": settings.sweep_interval,
                "options": {"queue": CPU_QUEUE},
            }
        },
    )
    return app
