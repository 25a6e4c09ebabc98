"""The Executor seam: how tool calls run. ``LocalExecutor`` runs them in this process; the Celery
executor (workers/) runs the same tool code on a worker. The agent only sees this protocol.

Results are cached by (model digest or suite-function digest) + tool + canonical arguments, so an
agent asking the same question twice pays once. Every failure reaches the caller as a ``ToolError``
(or, in batch results, as ``ok=False`` with the error's message), never as a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from store.errors import AutointerpError
from store.jsonsafe import encode_nonfinite, jsonable
from tools.context import ToolContext
from tools.registry import ToolError, ToolRegistry, ToolSpec

ArgsLike = BaseModel | dict[str, Any] | str


class ToolCall(BaseModel):
    """One requested call."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)


class ToolResult(BaseModel):
    """The outcome of one call: the result as JSON, or the error the agent should read.

    ``result`` is plain JSON data: a non-finite float in it (a function's output, an activation) is
    the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` (`store.jsonsafe`); the tool's result
    model reads those back as floats.
    """

    call_id: str
    tool: str
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None
    field: str | None = None
    cached: bool = False
    seconds: float = 0.0
    cache_key: str | None = None


class CallHandle:
    """A call started with ``Executor.start``; ``result()`` waits for it."""

    def __init__(self, call: ToolCall, future: Future[ToolResult]) -> None:
        self.call = call
        self.future = future

    def result(self, timeout: float | None = None) -> ToolResult:
        """Wait for the outcome (a cancelled call gives ok=False, error 'cancelled')."""
        if self.future.cancelled():
            return ToolResult(call_id=self.call.id, tool=self.call.tool, ok=False, error="cancelled")
        return self.future.result(timeout)

    def done(self) -> bool:
        """True when finished or cancelled."""
        return self.future.done()


class Executor(Protocol):
    """Runs tool calls. Implementations: LocalExecutor (here), CeleryExecutor (workers/)."""

    registry: ToolRegistry

    def run(self, call: ToolCall) -> ToolResult:
        """Run one call; every failure becomes ok=False with a message the agent can act on."""
        ...

    def submit(self, tool: str, args: ArgsLike) -> BaseModel:
        """Run one call and return its result model; raise ToolError on failure."""
        ...

    def submit_batch(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Run several calls (in order); failures are reported per call, not raised."""
        ...

    def start(self, call: ToolCall) -> CallHandle:
        """Start a call without waiting for it."""
        ...

    def cancel(self, handle: CallHandle) -> bool:
        """Cancel a started call if it has not begun running; True when it was cancelled."""
        ...


class ResultCache:
    """Tool results on disk, one JSON file per key under ``root`` (an explicit cache, atomic writes)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored result for ``key``, or None (an unreadable entry counts as absent)."""
        try:
            data = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return data if isinstance(data, dict) else None

    def put(self, key: str, result: dict[str, Any]) -> None:
        """Store a result; a failure to write only costs a recomputation later."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(result))
            os.replace(tmp, path)
        except OSError:
            pass


def cache_scope(ctx: ToolContext, args: BaseModel) -> str | None:
    """What a result depends on besides the arguments: the model's weights digest (and, when the
    arguments name an SAE, the digests of the model's SAEs), or the content of the suite file a
    function subject lives in. None: the result is not cached."""
    model = getattr(args, "model", None)
    if isinstance(model, str) and model:
        runtime = ctx.runtime(model)
        scope = "model:" + runtime.loaded.digest
        if ".sae" in args.model_dump_json():
            scope += "\nsaes:" + runtime.sae_fingerprint()
        return scope
    subject = getattr(args, "subject", None)
    if isinstance(subject, str) and "#" in subject:
        from tools.functions.suite import suite_digest

        try:  # through the context's file policy and caps, like the tool's own read
            return "suite:" + suite_digest(subject.rsplit("#", 1)[0], files=ctx.files, store=ctx.engine)
        except AutointerpError:
            return None
    return None


class LocalExecutor:
    """Runs tools in this process (one call at a time, in a background thread for ``start``)."""

    def __init__(
        self,
        registry: ToolRegistry,
        ctx: ToolContext | None = None,
        *,
        cache: ResultCache | bool | None = True,
    ) -> None:
        self.registry = registry
        self.ctx = ctx or ToolContext()
        if cache is True:
            self.cache: ResultCache | None = ResultCache(self.ctx.settings.results_dir())
        else:
            self.cache = cache or None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autointerp-tool")

    def _key(self, spec: ToolSpec, args: BaseModel) -> str | None:
        if self.cache is None or not spec.cacheable:
            return None
        scope = cache_scope(self.ctx, args)
        if scope is None:
            return None
        payload = f"{scope}\n{spec.name}\n{spec.canonical_args(args)}"
        return hashlib.sha256(payload.encode()).hexdigest()

    def run(self, call: ToolCall) -> ToolResult:
        """Run one call; every failure becomes ok=False with a message the agent can act on."""
        started = time.perf_counter()
        try:
            spec = self.registry.get(call.tool)
            args = spec.parse_args(call.args)
            key = self._key(spec, args)
            if key is not None and self.cache is not None:
                stored = self.cache.get(key)
                if stored is not None:
                    spec.result_model.model_validate(stored)
                    return ToolResult(
                        call_id=call.id,
                        tool=call.tool,
                        ok=True,
                        result=encode_nonfinite(stored),  # an entry written before the encoding held NaN
                        cached=True,
                        seconds=time.perf_counter() - started,
                        cache_key=key,
                    )
            result = spec.fn(self.ctx, args)
            payload = jsonable(spec.result_model.model_validate(result))
            if key is not None and self.cache is not None:
                self.cache.put(key, payload)
            return ToolResult(
                call_id=call.id,
                tool=call.tool,
                ok=True,
                result=payload,
                seconds=time.perf_counter() - started,
                cache_key=key,
            )
        except ToolError as exc:
            return ToolResult(
                call_id=call.id,
                tool=call.tool,
                ok=False,
                error=str(exc),
                field=exc.field,
                seconds=time.perf_counter() - started,
            )
        except AutointerpError as exc:
            return ToolResult(
                call_id=call.id, tool=call.tool, ok=False, error=str(exc), seconds=time.perf_counter() - started
            )
        except Exception as exc:  # a bug in a tool must still reach the agent as an error, not a crash
            return ToolResult(
                call_id=call.id,
                tool=call.tool,
                ok=False,
                error=f"tool {call.tool!r} failed unexpectedly: {type(exc).__name__}: {exc}",
                seconds=time.perf_counter() - started,
            )

    def submit(self, tool: str, args: ArgsLike) -> BaseModel:
        """Run one call and return its result model; raise ToolError on failure."""
        spec = self.registry.get(tool)
        raw = spec.parse_args(args).model_dump(mode="json")
        outcome = self.run(ToolCall(tool=tool, args=raw))
        if not outcome.ok:
            raise ToolError(outcome.error or "tool failed", tool=tool, field=outcome.field)
        return spec.result_model.model_validate(outcome.result)

    def submit_batch(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Run several calls in order; failures are per call."""
        return [self.run(call) for call in calls]

    def start(self, call: ToolCall) -> CallHandle:
        """Queue a call on the background thread."""
        return CallHandle(call, self._pool.submit(self.run, call))

    def cancel(self, handle: CallHandle) -> bool:
        """Cancel a queued call (a running one finishes)."""
        return handle.future.cancel()

    def close(self) -> None:
        """Stop the background thread after queued calls finish."""
        self._pool.shutdown(wait=True)
