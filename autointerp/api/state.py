"""What the API process holds between requests: settings, the store, one agent session (its model
cache and tool executor), a small pool for investigations started over HTTP, and chat-thread locks.

Everything lives on one `ServiceState` object attached to the app (``app.state.service``); nothing
is global. The agent session is made on first use, so ``/health`` and job submission never load a
model in the API process.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request
from sqlalchemy import Engine

from store.db import open_store
from store.settings import Settings
from workers.jobs import ExecutorName

if TYPE_CHECKING:
    from agent.runner import Session
    from tools.executor import LocalExecutor

#: Investigations started over HTTP with the local executor run in the API process, this many at a
#: time (the rest wait); with the celery executor they are investigate jobs on the workers.
INVESTIGATION_THREADS = 1


@dataclass
class ServiceState:
    """The API's handles (see the module docstring)."""

    settings: Settings
    api_key: str
    #: Where ``POST /investigations`` runs one by default: ``local`` (the pool here) or ``celery``.
    investigation_executor: ExecutorName = "local"
    _engine: Engine | None = None
    _session: Session | None = None
    _executor: LocalExecutor | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _chat_locks: dict[int, threading.Lock] = field(default_factory=dict)
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(INVESTIGATION_THREADS, thread_name_prefix="autointerp-api-inv")
    )

    def engine(self) -> Engine:
        """The store (opened and migrated on first use)."""
        with self._lock:
            if self._engine is None:
                if self.settings.db is None:
                    self.settings.ensure_home()
                self._engine = open_store(self.settings.db_url())
            return self._engine

    def session(self) -> Session:
        """The agent session (store, model cache, LocalExecutor), made on first use. Its tool context
        reads files only under the data roots (``evals.suite.service_files``): investigations, chat
        and ``POST /tools/{name}`` never open a path outside them."""
        from agent.runner import Session
        from evals.suite import service_files

        with self._lock:
            if self._session is None:
                self._session = Session(self.settings, files=service_files(self.settings))
            return self._session

    def check_models(self, *references: str | None) -> None:
        """Refuse (`FileAccessError`, a 400) a model reference the workers would not load: a local
        folder or file outside the model roots (``AUTOINTERP_MODEL_ROOTS``); checked before a job is
        queued, so a bad request never becomes a failed job."""
        from evals.suite import service_files
        from tools.runtime.loading import checked_source

        files = service_files(self.settings)
        for reference in references:
            if reference:
                checked_source(reference, files)

    def executor(self) -> LocalExecutor:
        """The in-process tool executor for ``POST /tools/{name}`` (sharing the session's model cache)."""
        from tools.catalog import default_registry
        from tools.executor import LocalExecutor

        ctx = self.session().ctx
        with self._lock:
            if self._executor is None:
                self._executor = LocalExecutor(default_registry(), ctx)
            return self._executor

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` on the investigation pool."""
        return self._pool.submit(fn, *args)

    def chat_lock(self, thread: int) -> threading.Lock:
        """The lock that keeps one chat turn at a time on ``thread``."""
        with self._lock:
            return self._chat_locks.setdefault(thread, threading.Lock())

    def close(self) -> None:
        """Let running investigations finish, then release the pool."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._executor is not None:
            self._executor.close()


def get_service(request: Request) -> ServiceState:
    """FastAPI dependency: the app's `ServiceState`."""
    service: ServiceState = request.app.state.service
    return service
