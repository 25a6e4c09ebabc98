"""`CeleryExecutor`: the Executor seam (tools/executor.py) over Celery workers.

Same contract as `LocalExecutor`: ``submit`` returns the result model or raises `ToolError`;
``submit_batch``/``run`` report failures per call (``ok=False`` and the message), never raise; an
unknown tool or bad arguments are refused here, before anything is sent. Calls are routed by the
tool's registered queue (``gpu`` for model tools, ``cpu`` for suite functions and the IOI dataset);
one task carries a whole batch per queue, and the worker runs it with its own `LocalExecutor`
(its per-process model cache and the shared on-disk result cache). A task that is lost (its worker
died and no other took it within ``timeout``) or fails comes back as ``ok=False`` with the reason.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult
from pydantic import BaseModel

from store.settings import Settings
from tools.catalog import default_registry
from tools.executor import ArgsLike, CallHandle, ToolCall, ToolResult
from tools.registry import ToolError, ToolRegistry
from workers.celery_app import TaskNames, create_app

__all__ = ["CeleryExecutor"]


def _failure(call: ToolCall, message: str, field: str | None = None, seconds: float = 0.0) -> ToolResult:
    return ToolResult(call_id=call.id, tool=call.tool, ok=False, error=message, field=field, seconds=seconds)


class CeleryExecutor:
    """Runs tool calls on Celery workers (queue per tool: ``gpu`` or ``cpu``)."""

    def __init__(
        self,
        registry: ToolRegistry | None = None,
        app: Celery | None = None,
        *,
        settings: Settings | None = None,
        timeout: float | None = None,
    ) -> None:
        """``app`` defaults to one built from ``settings``; ``timeout`` (seconds a call may wait for
        its result) defaults to the visibility timeout plus the hard time limit."""
        self.registry = registry or default_registry()
        self.settings = settings or Settings()
        self.app = app or create_app(self.settings)
        self.timeout = timeout or float(self.settings.visibility_timeout + self.settings.task_time_limit)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="autointerp-celery-wait")
        self._lock = threading.Lock()
        self._tasks: dict[str, AsyncResult] = {}

    # -- sending ------------------------------------------------------------------------------------

    def _prepare(self, call: ToolCall) -> tuple[str, dict[str, Any]] | ToolResult:
        """(queue, wire form of the call) or the ToolResult refusing it (unknown tool, bad arguments)."""
        try:
            spec = self.registry.get(call.tool)
            args = spec.parse_args(call.args).model_dump(mode="json")
        except ToolError as exc:
            return _failure(call, str(exc), exc.field)
        return spec.queue, {"tool": call.tool, "args": args, "id": call.id}

    def _send(self, queue: str, wires: list[dict[str, Any]]) -> AsyncResult:
        return self.app.send_task(TaskNames.run_tools, args=[wires], queue=queue)

    def _collect(self, task: AsyncResult, calls: list[ToolCall], started: float) -> list[ToolResult]:
        """Wait for a batch task and turn its outcome into one ToolResult per call."""
        try:
            payload = task.get(timeout=self.timeout, propagate=False, disable_sync_subtasks=False, interval=0.02)
        except CeleryTimeout:
            message = f"no worker finished the call within {self.timeout:.0f}s (is a worker serving the queue?)"
            return [_failure(c, message, seconds=time.perf_counter() - started) for c in calls]
        finally:
            with self._lock:
                self._tasks.pop(task.id, None)
        if task.state == "REVOKED":
            return [_failure(c, "cancelled") for c in calls]
        if not task.successful() or not isinstance(payload, list) or len(payload) != len(calls):
            reason = f"{type(payload).__name__}: {payload}" if isinstance(payload, BaseException) else str(payload)
            message = f"the worker failed to run the call ({reason[:300]})"
            return [_failure(c, message, seconds=time.perf_counter() - started) for c in calls]
        task.forget()
        return [ToolResult.model_validate(item) for item in payload]

    # -- the Executor protocol ----------------------------------------------------------------------

    def run(self, call: ToolCall) -> ToolResult:
        """Run one call on a worker; every failure becomes ok=False with a message the agent can act on."""
        return self.submit_batch([call])[0]

    def submit(self, tool: str, args: ArgsLike) -> BaseModel:
        """Run one call and return its result model; raise ToolError on failure."""
        spec = self.registry.get(tool)
        raw = spec.parse_args(args).model_dump(mode="json")
        outcome = self.run(ToolCall(tool=tool, args=raw))
        if not outcome.ok:
            raise ToolError(outcome.error or "tool failed", tool=tool, field=outcome.field)
        return spec.result_model.model_validate(outcome.result)

    def submit_batch(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Run several calls: one task per queue carries all of that queue's calls; results in order."""
        started = time.perf_counter()
        results: dict[int, ToolResult] = {}
        by_queue: dict[str, list[tuple[int, ToolCall, dict[str, Any]]]] = {}
        for index, call in enumerate(calls):
            prepared = self._prepare(call)
            if isinstance(prepared, ToolResult):
                results[index] = prepared
            else:
                queue, wire = prepared
                by_queue.setdefault(queue, []).append((index, call, wire))
        sent = [(entries, self._send(queue, [w for _, _, w in entries])) for queue, entries in by_queue.items()]
        for entries, task in sent:
            outcomes = self._collect(task, [c for _, c, _ in entries], started)
            for (index, _, _), outcome in zip(entries, outcomes, strict=True):
                results[index] = outcome
        return [results[i] for i in range(len(calls))]

    def start(self, call: ToolCall) -> CallHandle:
        """Send a call now and return a handle; ``result()`` waits for it."""
        future: Future[ToolResult] = Future()
        prepared = self._prepare(call)
        if isinstance(prepared, ToolResult):
            future.set_result(prepared)
            return CallHandle(call, future)
        queue, wire = prepared
        task = self._send(queue, [wire])
        with self._lock:
            self._tasks[call.id] = task
        self._pool.submit(self._wait, call, task, future)
        return CallHandle(call, future)

    def _wait(self, call: ToolCall, task: AsyncResult, future: Future[ToolResult]) -> None:
        started = time.perf_counter()
        deadline = started + self.timeout
        while not future.cancelled():
            if task.ready():
                outcome = self._collect(task, [call], started)[0]
                if future.set_running_or_notify_cancel():
                    future.set_result(outcome)
                return
            if time.perf_counter() > deadline:
                if future.set_running_or_notify_cancel():
                    future.set_result(_failure(call, f"no worker finished the call within {self.timeout:.0f}s"))
                return
            time.sleep(0.02)

    def cancel(self, handle: CallHandle) -> bool:
        """Cancel a call no worker has started yet (revoked: a worker receiving it drops it); True if so.

        A call already running finishes; then this returns False.
        """
        with self._lock:
            task = self._tasks.get(handle.call.id)
        if task is None or handle.future.done():
            return False
        if task.state not in ("PENDING", "RECEIVED"):
            return False
        task.revoke()
        cancelled = handle.future.cancel()
        with self._lock:
            self._tasks.pop(handle.call.id, None)
        return cancelled

    def close(self) -> None:
        """Stop the threads waiting for started calls."""
        self._pool.shutdown(wait=False, cancel_futures=True)
