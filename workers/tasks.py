"""The worker's tasks and its per-process state.

`register_tasks(app, state)` adds the tasks to a Celery app (only worker processes need the code;
clients send by name). `WorkerState` holds what a worker process keeps between tasks — settings,
the tool context with its LRU of loaded models (loaded lazily on first use, never in
``worker_process_init``, whose handlers Celery kills after a few seconds), an in-process executor
and an agent session — created on first use, so after a prefork fork each child builds its own.

Tasks:

- ``autointerp.run_tools(calls)`` (queue of the tools: gpu or cpu): runs a batch of tool calls
  together with the process's `LocalExecutor`; returns one ToolResult (as JSON) per call. The
  process's tool context reads files only under the data roots (``evals.suite.service_files``).
- ``autointerp.label_prepare(job_id)`` (gpu): build or reuse the layer's exemplar cache and, for the
  layer plan, the shared experiments (``agent.layer_plan``), then send the unfinished units in chunks
  (`chunk_size`: up to ``LABEL_CHUNK``), one ``label_chunk`` each: a layer is ~100 tasks, not 1,536.
- ``autointerp.label_chunk(job_id, item_ids)`` (cpu): label each unit of the chunk in turn (each
  claimed exactly once, as ``label_unit``); a unit whose try fails goes back as its own ``label_unit``.
- ``autointerp.label_unit(job_id, item_id)`` (cpu): claim the unit and explain it. A worker that also
  serves ``gpu`` runs the agent's tools in-process; a cpu-only worker sends them to the gpu queue
  through a `CeleryExecutor` (so a single worker serving both queues never waits on itself).
- ``autointerp.investigate(job_id)`` (cpu): claim an investigate job (``POST /investigations`` with
  the celery executor) and run its investigation with this process's agent session (tools routed
  as for ``label_unit``).
- ``autointerp.sweep()`` (cpu, on beat's schedule): re-send work lost with the broker or held by a
  dead worker (label items; audit, eval and investigate jobs whose lease went stale).

A database that cannot be reached is logged as one line and the task retried with backoff (1 s,
doubling, at most 60 s); nothing is half-written because claims and results are single UPDATEs.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery, Task
from sqlalchemy import Engine

from agent.backends.factory import llm_chat_model
from agent.runner import Session
from evals.suite import service_files
from store.db import open_store
from store.errors import StoreError
from store.models import JobItem
from store.settings import Settings
from tools.catalog import default_registry
from tools.context import ModelCache, ToolContext
from tools.executor import Executor, LocalExecutor, ToolCall
from workers.celery_app import GPU_QUEUE, TaskNames
from workers.watch_settings import WatchSettings

__all__ = ["RETRY_BASE_S", "RETRY_MAX_S", "WorkerState", "register_tasks", "retry_delay"]

LABEL_CHUNK = 16
"""Most units per ``label_chunk`` task."""
MIN_CHUNKS = 8
"""Fewest chunks a job is cut into (small jobs: chunks of one), so its units spread over the workers
and a worker that dies holds little of it."""


def chunk_size(n_units: int) -> int:
    """Units per ``label_chunk`` task for a job of ``n_units``."""
    return max(1, min(LABEL_CHUNK, n_units // MIN_CHUNKS))


log = logging.getLogger("autointerp.workers")

RETRY_BASE_S = 1.0
RETRY_MAX_S = 60.0
#: Retries of a task whose database is unreachable (about 1.5 hours at the maximum delay).
STORE_RETRIES = 100


def retry_delay(retries: int) -> float:
    """Backoff before retry number ``retries + 1``: 1 s, 2 s, 4 s, ... capped at 60 s."""
    return float(min(RETRY_MAX_S, RETRY_BASE_S * 2 ** min(retries, 16)))


class WorkerState:
    """One worker process's resources (an explicit cache; everything is made on first use)."""

    def __init__(self, settings: Settings, queues: list[str], model_capacity: int = 2) -> None:
        """``queues`` are the queues this worker serves (they decide where an agent's tools run)."""
        self.settings = settings
        self.queues = list(queues)
        self.model_capacity = model_capacity
        self._lock = threading.Lock()
        self._ctx: ToolContext | None = None
        self._local: LocalExecutor | None = None
        self._session: Session | None = None

    def engine(self) -> Engine:
        """The store (opened and migrated once per process)."""
        if self.settings.db is None:
            self.settings.ensure_home()
        return open_store(self.settings.db_url())

    def ctx(self) -> ToolContext:
        """The tool context with this process's model cache; its files are confined to the data roots
        (a worker runs what the API and other clients send it, so it reads no file outside them)."""
        with self._lock:
            if self._ctx is None:
                files = service_files(self.settings, WatchSettings().model_roots())
                self._ctx = ToolContext(
                    settings=self.settings,
                    models=ModelCache(self.settings, self.model_capacity, files),
                    files=files,
                    chat_models=llm_chat_model,
                )
            return self._ctx

    def local_executor(self) -> LocalExecutor:
        """The in-process executor (shared model cache, on-disk result cache)."""
        ctx = self.ctx()
        with self._lock:
            if self._local is None:
                self._local = LocalExecutor(default_registry(), ctx)
            return self._local

    def session(self, app: Celery) -> Session:
        """The agent session: tools in-process on a gpu worker, through the gpu queue otherwise (made
        once per process; later calls return it)."""
        if self._session is not None:
            return self._session
        ctx = self.ctx()
        executor: Executor
        if GPU_QUEUE in self.queues:
            executor = self.local_executor()
        else:
            from workers.executor import CeleryExecutor

            executor = CeleryExecutor(app=app, settings=self.settings)
        with self._lock:
            if self._session is None:
                self._session = Session(self.settings, executor=executor, ctx=ctx)
            return self._session


def _retry_on_store_error(task: Task, exc: StoreError, what: str) -> Exception:
    delay = retry_delay(task.request.retries)
    log.warning("%s: %s; retrying in %.0fs", what, exc, delay)
    return task.retry(countdown=delay, max_retries=STORE_RETRIES, exc=exc)


def register_tasks(app: Celery, state: WorkerState) -> None:
    """Add the autointerp tasks to ``app``; they use ``state`` for models, store and executor."""
    from workers.claims import stamp_sent
    from workers.label import RetryItem, item_ids, prepare_label_job, run_item, sweep_jobs

    def send_unit(job_id: int, item_id: int) -> None:
        app.send_task(TaskNames.label_unit, args=[job_id, item_id])

    def send_prepare(job_id: int) -> None:
        app.send_task(TaskNames.label_prepare, args=[job_id])

    @app.task(name=TaskNames.run_tools, bind=True, shared=False)
    def run_tools(self: Task, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run a batch of tool calls together; failures are per call (ok=False), never raised."""
        batch = [ToolCall.model_validate(c) for c in calls]
        return [r.model_dump(mode="json") for r in state.local_executor().submit_batch(batch)]

    @app.task(name=TaskNames.label_prepare, bind=True, ignore_result=True, shared=False)
    def label_prepare(self: Task, job_id: int) -> None:
        """Build or reuse the job's exemplar cache (and the layer plan's shared experiments), then fan out
        the unfinished units in chunks (`chunk_size`)."""
        try:
            engine = state.engine()
            if not prepare_label_job(state.ctx(), engine, job_id):
                return
            ids = item_ids(engine, job_id)
            size = chunk_size(len(ids))
            for start in range(0, len(ids), size):
                app.send_task(TaskNames.label_chunk, args=[job_id, ids[start : start + size]])
            stamp_sent(engine, JobItem, ids)
        except StoreError as exc:
            raise _retry_on_store_error(self, exc, f"label_prepare job {job_id}") from exc

    def claim_and_label(task: Task, item_id: int) -> str:
        """`run_item` for this worker: the task's id is the claim's owner; attempts and staleness from
        the settings."""
        return run_item(
            state.session(task.app),
            item_id,
            owner=str(task.request.id),
            max_attempts=state.settings.max_attempts,
            stale_after=float(state.settings.visibility_timeout),
        )

    @app.task(name=TaskNames.label_chunk, bind=True, ignore_result=True, shared=False)
    def label_chunk(self: Task, job_id: int, item_ids: list[int]) -> dict[str, int]:
        """Claim and explain each unit of a chunk in turn (see ``label_unit``); a failed try of one unit
        is sent again as its own ``label_unit``, the others go on. A store that cannot be reached retries
        the chunk: units already labeled are skipped by their claims."""
        counts: dict[str, int] = {}
        for item_id in item_ids:
            try:
                outcome = claim_and_label(self, item_id)
            except StoreError as exc:
                raise _retry_on_store_error(self, exc, f"label_chunk job {job_id}") from exc
            except RetryItem as exc:
                log.warning("label_chunk job %s item %s failed (%s); sent again on its own", job_id, item_id, exc)
                app.send_task(TaskNames.label_unit, args=[job_id, item_id], countdown=retry_delay(0))
                outcome = "retried"
            counts[outcome] = counts.get(outcome, 0) + 1
        log.info("label_chunk job %s: %s", job_id, counts)
        return counts

    @app.task(name=TaskNames.label_unit, bind=True, ignore_result=True, shared=False)
    def label_unit(self: Task, job_id: int, item_id: int) -> str:
        """Claim one unit of a label job and explain it (exactly once; see workers/claims.py)."""
        try:
            outcome = claim_and_label(self, item_id)
        except StoreError as exc:
            raise _retry_on_store_error(self, exc, f"label_unit job {job_id} item {item_id}") from exc
        except RetryItem as exc:
            delay = retry_delay(self.request.retries)
            log.warning("label_unit job %s item %s failed (%s); retrying in %.0fs", job_id, item_id, exc, delay)
            raise self.retry(countdown=delay, max_retries=None) from exc
        log.info("label_unit job %s item %s: %s", job_id, item_id, outcome)
        return outcome

    @app.task(name=TaskNames.investigate, bind=True, ignore_result=True, shared=False)
    def investigate(self: Task, job_id: int) -> str:
        """Claim investigate job ``job_id`` and run its investigation (see workers/service_jobs.py)."""
        from workers.service_jobs import run_investigation_job

        try:
            outcome = run_investigation_job(state.session(self.app), int(job_id), owner=str(self.request.id))
        except StoreError as exc:
            raise _retry_on_store_error(self, exc, f"investigate job {job_id}") from exc
        log.info("investigate job %s: %s", job_id, outcome)
        return outcome

    def send_job(kind: str, job_id: int) -> None:
        from workers.service_jobs import task_of

        name, queue = task_of(kind)
        app.send_task(name, args=[job_id], queue=queue)

    @app.task(name=TaskNames.sweep, ignore_result=True, shared=False)
    def sweep() -> dict[str, int]:
        """Re-send work lost with the broker or left by a dead worker: label items, and audit, eval and
        investigate jobs (beat runs this every ``sweep_interval`` seconds)."""
        from workers.service_jobs import sweep_service_jobs

        stale_after = float(state.settings.visibility_timeout)
        try:
            engine = state.engine()
            counts = sweep_jobs(engine, stale_after=stale_after, send_prepare=send_prepare, send_unit=send_unit)
            resent = sweep_service_jobs(engine, stale_after=stale_after, send=send_job)
            counts.update({f"jobs_{k}": v for k, v in resent.items()})
        except StoreError as exc:
            log.warning("sweep: %s; next sweep on schedule", exc)
            return {}
        if any(counts.values()):
            log.info("sweep: %s", counts)
        return counts
