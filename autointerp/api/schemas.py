"""Request and response models of the HTTP API (every body in and out is one of these)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workers.jobs import ExecutorName

#: ``units`` of a label job: ``a:b`` (half-open range), ``i`` or a comma-separated list ``i,j,k``.
UNITS_PATTERN = re.compile(r"^\s*(\d+\s*:\s*\d+|\d+(\s*,\s*\d+)*)\s*$")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ------------------------------------------------------------------------------------------ jobs


class LabelJobRequest(_In):
    """Label the MLP neurons ``units`` of ``layer`` of ``model``: one investigation per unit, on workers."""

    kind: Literal["label"]
    model: str = Field(min_length=1, description="Embedded name, model folder, .gguf file or hub id.")
    layer: int = Field(ge=0, description="Layer whose MLP neurons are labelled.")
    units: str = Field(description="'a:b' (half-open range), 'i', or 'i,j,k'.", examples=["0:4"])
    agent: str = Field("builtin", min_length=1, description="builtin, openai:<model> or anthropic:<model>.")
    budget: int = Field(24, ge=1, le=1000, description="Tool calls per unit.")
    seconds: float | None = Field(None, gt=0, description="Wall-clock budget per unit (default 900).")
    max_tokens: int | None = Field(None, ge=1_000, description="Corpus tokens of the layer's exemplar cache.")

    @field_validator("units")
    @classmethod
    def _units_syntax(cls, value: str) -> str:
        if not UNITS_PATTERN.match(value):
            raise ValueError(f"units {value!r} is not 'a:b', 'i' or 'i,j,k' (non-negative integers)")
        if ":" in value:
            start, stop = (int(p) for p in value.split(":"))
            if stop <= start:
                raise ValueError(f"units {value!r} is an empty range; the end must exceed the start")
        return value.replace(" ", "")


class AuditJobRequest(_In):
    """Audit a candidate checkpoint against a baseline (see ``workers.audit``)."""

    kind: Literal["audit"]
    model: str | None = Field(None, description="Name the audit is filed under (default: the baseline).")
    baseline: str = Field(min_length=1, description="Baseline model folder or name.")
    candidate: str = Field(min_length=1, description="Candidate checkpoint folder or name.")
    units: list[str] | None = Field(None, description="Unit addresses to audit, e.g. ['L1.mlp.3'].")
    tracked: bool = Field(False, description="Audit the units with stored explanations of the baseline.")
    explain: bool = Field(True, description="Re-explain the units that changed.")
    tau: float = Field(0.5, gt=0, description="Changed if |Δmean| / baseline std exceeds this.")
    jaccard_min: float = Field(0.5, ge=0, le=1, description="Changed if the top-k exemplar Jaccard is below this.")
    agent: str = Field("builtin", min_length=1, description="Agent for the re-explanations.")

    @model_validator(mode="after")
    def _one_unit_source(self) -> AuditJobRequest:
        if bool(self.units) == self.tracked:
            raise ValueError("give exactly one of 'units' (a non-empty list) or 'tracked': true")
        return self


class EvalJobRequest(_In):
    """Run a FIND-style benchmark suite with an agent and score it."""

    kind: Literal["eval"]
    suite: str = Field(min_length=1, description="Path of the suite (JSON Lines) on the workers.")
    agent: str = Field("builtin", min_length=1)
    evaluator: Literal["interpret", "embedding", "llm"] = "interpret"
    limit: int | None = Field(None, ge=1)


JobRequest = Annotated[LabelJobRequest | AuditJobRequest | EvalJobRequest, Field(discriminator="kind")]


class JobAccepted(BaseModel):
    """A queued job's id (poll ``GET /jobs/{id}``)."""

    id: int


class Progress(BaseModel):
    """How far a job is: steps done of total (None while unknown)."""

    done: int = 0
    total: int | None = None


class JobOut(BaseModel):
    """A job's state."""

    id: int
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: Progress
    error: str | None = None
    investigation: int | None = Field(None, description="The investigation of an investigate job, once started.")


# -------------------------------------------------------------------------------- investigations


class BudgetIn(_In):
    """Limits of one investigation."""

    tool_calls: int = Field(24, ge=1, le=1000)
    seconds: float = Field(900.0, gt=0, le=86_400)
    tokens: int = Field(400_000, ge=1)


class InvestigationRequest(_In):
    """Investigate one subject with an agent."""

    subject: str = Field(min_length=1, description="Unit address (L6.mlp.35) or suite.jsonl#ID.")
    model: str | None = Field(None, description="Model of a unit subject (default: the embedded model).")
    agent: str = Field("builtin", min_length=1, description="builtin, openai:<model> or anthropic:<model>.")
    budget: BudgetIn = Field(default_factory=BudgetIn)
    executor: ExecutorName | None = Field(
        None,
        description="local: in the API process, one at a time; celery: an investigate job on the workers' "
        "cpu queue. Default: AUTOINTERP_API_EXECUTOR (local).",
    )


class InvestigationAccepted(BaseModel):
    """A started or queued investigation.

    ``local``: ``id`` is the investigation (status ``running``); poll ``GET /investigations/{id}``.
    ``celery``: ``job`` is the investigate job (status ``queued``) and ``id`` is null until a worker
    starts it; poll ``GET /jobs/{job}``, whose ``investigation`` then names it.
    """

    id: int | None
    job: int | None = None
    status: str
    executor: ExecutorName


class InvestigationRecordOut(BaseModel):
    """Everything stored about an investigation: the transcript of experiments (tool, arguments,
    result), hypotheses, evidence links and the explanation (null while it runs)."""

    investigation: dict[str, Any]
    experiments: list[dict[str, Any]]
    hypotheses: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    explanation: dict[str, Any] | None


# ------------------------------------------------------------------------------------------ chat


class ChatRequest(_In):
    """One chat turn. For ``POST /chat/new`` also give ``subject`` (and ``model``, ``agent``)."""

    message: str = Field("", description="What to ask; may be empty on a new thread (it investigates first).")
    subject: str | None = None
    model: str | None = None
    agent: str = Field("builtin", min_length=1)
    budget: int = Field(40, ge=1, le=1000, description="Tool calls allowed over the whole thread.")


# ---------------------------------------------------------------------------------- explanations


class ExplanationHit(BaseModel):
    """A stored explanation with its subject and model."""

    id: int
    subject: str
    subject_kind: str
    model: str | None
    label: str
    description: str
    confidence: float
    investigation_id: int | None
    created_at: datetime


# ----------------------------------------------------------------------------------------- tools


class ToolInfo(BaseModel):
    """A registered tool: what the agent reads, and its argument and result schemas."""

    name: str
    description: str
    queue: str
    cacheable: bool
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]


class ToolRun(BaseModel):
    """A tool's result."""

    tool: str
    result: dict[str, Any]
    cached: bool
    seconds: float


class Health(BaseModel):
    """Liveness and whether the store answers."""

    status: Literal["ok", "degraded"]
    store: str
    version: str
