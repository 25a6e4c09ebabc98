"""The MCP tool table: every registry tool, then the service tools, each with its arguments model
and an async call that runs the function the matching API route runs (in a worker thread).

A call gets the raw arguments and a ``report(progress, total, message)`` coroutine that sends an
MCP progress notification when the client asked for progress (a no-op otherwise). Registry tools
hand the raw arguments to ``run_tool`` unparsed, so the registry's own checks (``parse_args``) name
the problem exactly as ``POST /tools/{name}`` does; service tools validate theirs with the API's
request models, extended by ``wait``: seconds to watch an investigation or job, reporting its
progress, before answering.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from pydantic import BaseModel, Field

from autointerp.api.routes import explanations, investigations, jobs
from autointerp.api.routes import tools as tool_routes
from autointerp.api.schemas import (
    MAX_INT,
    MAX_QUERY_CHARS,
    MAX_REF_CHARS,
    ExplanationHit,
    InvestigationAccepted,
    InvestigationRecordOut,
    InvestigationRequest,
    JobOut,
    LabelJobRequest,
    Text,
)
from autointerp.api.state import ServiceState
from tools.catalog import default_registry

#: Longest ``wait`` a call may ask for, in seconds.
MAX_WAIT = 600.0
#: Seconds between two looks at a watched investigation or job.
POLL_SECONDS = 0.5

Report = Callable[[float, float | None, str | None], Awaitable[None]]
Call = Callable[[ServiceState, dict[str, Any], Report], Awaitable[BaseModel]]
WaitField = Field(
    0.0,
    ge=0,
    le=MAX_WAIT,
    description="Seconds to wait for it to finish, sending progress notifications when the call carries a "
    "progressToken (0: answer at once).",
)


@dataclass(frozen=True)
class McpTool:
    """One MCP tool: what ``tools/list`` shows and what ``tools/call`` runs."""

    name: str
    description: str
    args_model: type[BaseModel]
    call: Call

    def input_schema(self) -> dict[str, Any]:
        """The arguments' JSON schema (pydantic's, ``$defs`` kept)."""
        return self.args_model.model_json_schema()


# ----------------------------------------------------------------------------------- service tools


class ExplainArgs(InvestigationRequest):
    """``explain``: ``POST /investigations``'s body, and ``wait``."""

    wait: float = WaitField


class ExplainOut(InvestigationAccepted):
    """A started investigation; with ``wait``, its status and explanation once it finished."""

    explanation: dict[str, Any] | None = None


class InvestigationArgs(BaseModel):
    """``investigation``: which one."""

    id: int = Field(ge=1, le=MAX_INT, description="The investigation's id (from explain).")


class SearchArgs(BaseModel):
    """``search_explanations``: ``GET /explanations``'s query."""

    model: Text | None = Field(None, max_length=MAX_REF_CHARS, description="Only explanations of this model's units.")
    q: Text | None = Field(
        None, max_length=MAX_QUERY_CHARS, description="Case-insensitive substring of label or description."
    )
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_INT)


class SearchOut(BaseModel):
    """Stored explanations, newest first."""

    hits: list[ExplanationHit]


class LabelArgs(LabelJobRequest):
    """``label``: ``POST /jobs``'s label body (``kind`` may be left out), and ``wait``."""

    kind: Literal["label"] = "label"
    wait: float = WaitField


class JobArgs(BaseModel):
    """``job``: which one, and how long to watch it."""

    id: int = Field(ge=1, le=MAX_INT, description="The job's id (from label).")
    wait: float = WaitField


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(fn, *args)


async def _watch_job(service: ServiceState, job_id: int, wait: float, report: Report) -> JobOut:
    """The job's state, after watching it for up to ``wait`` seconds (progress reported as it moves)."""
    deadline = time.monotonic() + wait
    while True:
        out: JobOut = await _in_thread(jobs.read, job_id, service)
        await report(float(out.progress.done), _total(out.progress.total), f"job {job_id}: {out.status}")
        if out.status in ("succeeded", "failed") or time.monotonic() >= deadline:
            return out
        await anyio.sleep(POLL_SECONDS)


def _total(total: int | None) -> float | None:
    return float(total) if total is not None else None


async def explain(service: ServiceState, raw: dict[str, Any], report: Report) -> BaseModel:
    """Start an investigation (as ``POST /investigations``); with ``wait``, watch it."""
    args = ExplainArgs.model_validate(raw)
    request = InvestigationRequest.model_validate(args.model_dump(exclude={"wait"}))
    accepted: InvestigationAccepted = await _in_thread(investigations.start, request, service)
    out = ExplainOut.model_validate(accepted.model_dump())
    if accepted.id is None or args.wait <= 0:
        return out
    deadline = time.monotonic() + args.wait
    while True:
        record: InvestigationRecordOut = await _in_thread(investigations.read, accepted.id, service)
        status = str(record.investigation.get("status", "running"))
        await report(float(len(record.experiments)), float(request.budget.tool_calls), f"{status}")
        if status != "running" or time.monotonic() >= deadline:
            return out.model_copy(update={"status": status, "explanation": record.explanation})
        await anyio.sleep(POLL_SECONDS)


async def investigation(service: ServiceState, raw: dict[str, Any], report: Report) -> BaseModel:
    """An investigation's transcript, hypotheses, evidence and explanation (``GET /investigations/{id}``)."""
    args = InvestigationArgs.model_validate(raw)
    record: InvestigationRecordOut = await _in_thread(investigations.read, args.id, service)
    return record


async def search_explanations(service: ServiceState, raw: dict[str, Any], report: Report) -> BaseModel:
    """Stored explanations (``GET /explanations``)."""
    args = SearchArgs.model_validate(raw)
    hits = await _in_thread(explanations.search, args.model, args.q, args.limit, args.offset, service)
    return SearchOut(hits=hits)


async def label(service: ServiceState, raw: dict[str, Any], report: Report) -> BaseModel:
    """Queue a label job (``POST /jobs``); with ``wait``, watch it."""
    args = LabelArgs.model_validate(raw)
    request = LabelJobRequest.model_validate(args.model_dump(exclude={"wait"}))
    accepted = await _in_thread(jobs.submit, request, service)
    return await _watch_job(service, accepted.id, args.wait, report)


async def job(service: ServiceState, raw: dict[str, Any], report: Report) -> BaseModel:
    """A job's state (``GET /jobs/{id}``); with ``wait``, watch it."""
    args = JobArgs.model_validate(raw)
    return await _watch_job(service, args.id, args.wait, report)


SERVICE_TOOLS: tuple[tuple[str, type[BaseModel], Call, str], ...] = (
    (
        "explain",
        ExplainArgs,
        explain,
        "Start an investigation of one subject (a unit address such as L6.mlp.35 of `model`, an SAE latent "
        "L6.sae.12, or a suite function FILE#ID / suite:NAME#ID) by an agent; returns its id at once. Read it "
        "with `investigation`; give `wait` (seconds) to wait for the explanation here.",
    ),
    (
        "investigation",
        InvestigationArgs,
        investigation,
        "An investigation's status, transcript (every experiment: tool, arguments, result), hypotheses with "
        "their evidence for and against, and the final explanation.",
    ),
    (
        "search_explanations",
        SearchArgs,
        search_explanations,
        "Search the stored explanations, newest first, by model and by a substring of label or description.",
    ),
    (
        "label",
        LabelArgs,
        label,
        "Queue a label job on the workers: explain the MLP neurons `units` ('a:b', 'i' or 'i,j,k') of `layer` "
        "of `model` (or the latents of a registered SAE), one investigation per unit. Returns the job; follow "
        "it with `job` (progress done/total).",
    ),
    (
        "job",
        JobArgs,
        job,
        "A job's kind, status (queued, running, succeeded, failed), progress and error; give `wait` (seconds) "
        "to watch it, with progress notifications.",
    ),
)


# ---------------------------------------------------------------------------------- registry tools


def _registry_call(name: str) -> Call:
    async def call(service: ServiceState, raw: dict[str, Any], report: Report) -> BaseModel:
        run: BaseModel = await _in_thread(tool_routes.run_tool, name, raw, service)
        return run

    return call


def mcp_tools() -> list[McpTool]:
    """Every MCP tool: the registry's (sorted by name), then the service tools."""
    table = [
        McpTool(spec.name, spec.description, spec.args_model, _registry_call(spec.name))
        for spec in default_registry().specs()
    ]
    taken = {t.name for t in table}
    for name, model, call, description in SERVICE_TOOLS:
        if name in taken:
            raise ValueError(f"MCP tool {name!r} is both a registry tool and a service tool")
        table.append(McpTool(name, description, model, call))
    return table
