"""Request and response models of the HTTP API (every body in and out is one of these)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from workers.jobs import ExecutorName

#: ``units`` of a label job: ``a:b`` (half-open range), ``i`` or a comma-separated list ``i,j,k``.
UNITS_PATTERN = re.compile(r"^\s*(\d+\s*:\s*\d+|\d+(\s*,\s*\d+)*)\s*$")

# ------------------------------------------------------------------------------ bounds of input
# Every id, offset, count and index a request carries is at most MAX_INT, which both stores take
# (a PostgreSQL ``integer``; SQLite's are 64-bit); every string has a length limit and no NUL
# character (PostgreSQL's text and JSONB refuse it). A violation is a 422 naming the field.

#: Largest integer in a path, a query or a body.
MAX_INT = 2**31 - 1
#: Longest model reference, suite path, subject or checkpoint (a Linux path is at most 4096 bytes).
MAX_REF_CHARS = 4096
#: Longest agent or tool name.
MAX_NAME_CHARS = 256
#: Longest search text (``q``) and unit list.
MAX_QUERY_CHARS = 1000
#: Longest chat message.
MAX_MESSAGE_CHARS = 100_000
#: Most units an audit names.
MAX_UNITS = 10_000
#: Most units one label job labels (a job item is stored per unit when it is submitted): a whole
#: layer of a large model.
MAX_LABEL_UNITS = 65_536


def reject_nul(value: str) -> str:
    """A string as is, or ValueError if it holds a NUL character. (A lone surrogate, which JSON's
    ``\\ud800`` escapes can carry, is refused by pydantic's ``str`` already.)"""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\x00)")
    return value


#: A string without NUL characters (give its length limit with ``Field(max_length=...)``).
Text = Annotated[str, AfterValidator(reject_nul)]
#: A model reference, suite path, subject address or checkpoint: 1 to MAX_REF_CHARS characters, no NUL.
Ref = Annotated[Text, Field(min_length=1, max_length=MAX_REF_CHARS)]
#: An agent name (builtin, openai:<model>, ...): 1 to MAX_NAME_CHARS characters, no NUL.
Name = Annotated[Text, Field(min_length=1, max_length=MAX_NAME_CHARS)]
#: A unit address in a list: a neuron (L6.mlp.35), a head, a residual coordinate or an SAE latent
#: (L6.sae.12, L6.sae[NAME].12); addresses are checked against the model where it is loaded.
UnitAddress = Annotated[Text, Field(min_length=1, max_length=MAX_NAME_CHARS)]
#: A registered SAE's name (``autointerp sae add --name``): letters, digits, '_', '.', '-'.
SAEName = Annotated[Text, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class _In(BaseModel):
    """A request body: unknown fields, NaN and infinities are refused (422)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


# ------------------------------------------------------------------------------------------ jobs


class LabelJobRequest(_In):
    """Label the MLP neurons ``units`` of ``layer`` of ``model`` (or the latents ``units`` of the SAE
    ``sae`` registered for it): one investigation per unit, on workers."""

    kind: Literal["label"]
    model: Ref = Field(description="Embedded name, model folder, .gguf file or hub id.")
    layer: int | None = Field(
        None, ge=0, le=MAX_INT, description="Layer whose MLP neurons are labelled (with sae: optional, the SAE's)."
    )
    sae: SAEName | None = Field(None, description="Label the latents of this registered SAE instead of MLP neurons.")
    units: str = Field(
        max_length=MAX_QUERY_CHARS, description="'a:b' (half-open range), 'i', or 'i,j,k'.", examples=["0:4"]
    )
    agent: Name = Field("builtin", description="builtin, openai:<model> or anthropic:<model>.")
    budget: int = Field(24, ge=1, le=1000, description="Tool calls per unit.")
    seconds: float | None = Field(None, gt=0, le=86_400, description="Wall-clock budget per unit (default 900).")
    max_tokens: int | None = Field(
        None, ge=1_000, le=MAX_INT, description="Corpus tokens of the layer's exemplar cache."
    )

    @field_validator("units")
    @classmethod
    def _units_syntax(cls, value: str) -> str:
        if not UNITS_PATTERN.match(value):
            raise ValueError(f"units {value[:40]!r} is not 'a:b', 'i' or 'i,j,k' (non-negative integers)")
        if any(int(n) > MAX_INT for n in re.findall(r"\d+", value)):
            raise ValueError(f"units {value[:40]!r}: a unit index is above {MAX_INT}")
        if ":" in value:
            start, stop = (int(p) for p in value.split(":"))
            if stop <= start:
                raise ValueError(f"units {value!r} is an empty range; the end must exceed the start")
            count = stop - start
        else:
            count = value.count(",") + 1
        if count > MAX_LABEL_UNITS:
            raise ValueError(f"units {value[:40]!r} names {count} units; a job labels at most {MAX_LABEL_UNITS}")
        return value.replace(" ", "")

    @model_validator(mode="after")
    def _layer_or_sae(self) -> LabelJobRequest:
        if self.layer is None and self.sae is None:
            raise ValueError("give 'layer' (MLP neurons) or 'sae' (a registered SAE's latents)")
        return self


class AuditJobRequest(_In):
    """Audit a candidate checkpoint against a baseline (see ``workers.audit``)."""

    kind: Literal["audit"]
    model: Ref | None = Field(None, description="Name the audit is filed under (default: the baseline).")
    baseline: Ref = Field(description="Baseline model folder or name.")
    candidate: Ref = Field(description="Candidate checkpoint folder or name.")
    units: list[UnitAddress] | None = Field(
        None,
        max_length=MAX_UNITS,
        description="Unit addresses to audit, e.g. ['L1.mlp.3', 'L6.sae.12'] (SAE latents: the SAE registered for "
        "the baseline is applied to both checkpoints).",
    )
    tracked: bool = Field(False, description="Audit the units with stored explanations of the baseline.")
    explain: bool = Field(True, description="Re-explain the units that changed.")
    tau: float = Field(0.5, gt=0, description="Changed if |Δmean| / baseline std exceeds this.")
    jaccard_min: float = Field(0.5, ge=0, le=1, description="Changed if the top-k exemplar Jaccard is below this.")
    agent: Name = Field("builtin", description="Agent for the re-explanations.")

    @model_validator(mode="after")
    def _one_unit_source(self) -> AuditJobRequest:
        if bool(self.units) == self.tracked:
            raise ValueError("give exactly one of 'units' (a non-empty list) or 'tracked': true")
        return self


class EvalJobRequest(_In):
    """Run a FIND-style benchmark suite with an agent and score it."""

    kind: Literal["eval"]
    suite: Ref = Field(
        description="A suite file under the data roots (e.g. sample.jsonl; GET /suites lists them) or an "
        "uploaded suite, suite:NAME."
    )
    agent: Name = "builtin"
    evaluator: Literal["interpret", "embedding", "llm"] = "interpret"
    limit: int | None = Field(None, ge=1, le=MAX_INT)


class ShiftJobRequest(_In):
    """SHIFT annotation of a registered SAE's latents, scored with SCR and TPP on a generated dataset
    (the fields of ``workers.shift.ShiftJobParams``, which checks them again)."""

    kind: Literal["shift"]
    model: Ref
    sae: SAEName = Field(description="A registered SAE's name (autointerp sae list).")
    dataset: Literal["bios", "reviews"] = "bios"
    pair: tuple[Name, Name] | None = Field(None, description="SCR pair, e.g. ['professor', 'nurse'].")
    judge: Name = Field("builtin", description="builtin, or an LLM spec such as openai:gpt-4o.")
    n_train: int = Field(4000, ge=16, le=20_000, description="Training texts per probe (a multiple of 4).")
    n_test: int = Field(1000, ge=16, le=20_000, description="Test texts per probe (a multiple of 4).")
    seed: int = Field(0, ge=0, le=MAX_INT)
    n_values: list[Annotated[int, Field(ge=1, le=100_000)]] | None = Field(None, min_length=1, max_length=16)
    judged_top: int = Field(20, ge=1, le=64, description="Latents per ablated concept the judge annotates.")
    tpp: bool = True


class HDProbeJobRequest(_In):
    """Train a hyperdimensional probe for a model (the fields of ``workers.hdprobe.HDProbeJobParams``,
    which checks them again); ``POST /tools/hd_probe`` then decodes prompts with it."""

    kind: Literal["hdprobe"]
    model: Ref
    layers: Annotated[Text, Field(pattern=r"^\s*\d+\s*:\s*\d+\s*$")] | None = Field(
        None, description="Layers read, START:STOP (default: the later half of the model)."
    )
    dim: int = Field(4096, ge=64, le=65_536, description="Dimension of the hypervectors.")
    n_train: int = Field(3000, ge=16, le=100_000, description="Training prompts.")
    n_val: int = Field(400, ge=8, le=20_000)
    n_test: int = Field(400, ge=8, le=20_000)
    hidden: int = Field(1024, ge=8, le=16_384)
    epochs: int = Field(40, ge=1, le=1000)
    seed: int = Field(0, ge=0, le=MAX_INT)


JobRequest = Annotated[
    LabelJobRequest | AuditJobRequest | EvalJobRequest | ShiftJobRequest | HDProbeJobRequest,
    Field(discriminator="kind"),
]


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
    tokens: int = Field(400_000, ge=1, le=MAX_INT)


class InvestigationRequest(_In):
    """Investigate one subject with an agent."""

    subject: Ref = Field(
        description="Unit address (L6.mlp.35, an SAE latent L6.sae.12), or a suite function: FILE#ID (a file under "
        "the data roots) or "
        "suite:NAME#ID (an uploaded suite)."
    )
    model: Ref | None = Field(None, description="Model of a unit subject (default: the embedded model).")
    agent: Name = Field("builtin", description="builtin, openai:<model> or anthropic:<model>.")
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
    scores: dict[str, float] = Field(default_factory=dict, description="The explanation's stored scores by metric.")
    subject: str | None = Field(None, description="The subject's address (a unit, or FILE#ID for a function).")
    subject_kind: str | None = None


# ------------------------------------------------------------------------------------------ chat


class ChatRequest(_In):
    """One chat turn. For ``POST /chat/new`` also give ``subject`` (and ``model``, ``agent``)."""

    message: Text = Field(
        "",
        max_length=MAX_MESSAGE_CHARS,
        description="What to ask; may be empty on a new thread (it investigates first).",
    )
    subject: Ref | None = None
    model: Ref | None = None
    agent: Name = "builtin"
    budget: int = Field(
        40, ge=1, le=1000, description="Tool calls allowed for the first investigation, and for each message after it."
    )


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
    code: str | None = Field(
        None, description="Python f(x) for functions; for model units, the simulator (tools.simulation)."
    )
    scores: dict[str, float] = Field(
        default_factory=dict,
        description="Stored scores by metric (units: sim_corr_top_random, sim_corr_random, sim_detection, "
        "sim_fuzzing; evals.scoring.simulation).",
    )


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


# ---------------------------------------------------------------------------------------- suites


class SuiteUpload(_In):
    """``POST /suites`` as JSON: a name and the suite's subjects (DESIGN §3), one object each. (The body
    may instead be the suite's JSON Lines, any other content type, with ``?name=``.)"""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    name: str | None = Field(None, description="Unique name: a letter, then letters, digits, '.', '_' or '-'.")
    items: list[dict[str, Any]] = Field(min_length=1, description="The subjects, one JSON object each.")


class SuiteOut(BaseModel):
    """A suite the service can run: uploaded (``source`` upload) or a file in its data roots (file).

    ``address`` is what ``suite`` (eval jobs) takes, and ``ADDRESS#ID`` names one of its subjects.
    """

    address: str
    source: Literal["upload", "file"]
    name: str
    id: int | None = None
    items: int | None = Field(None, description="Valid subjects (uploaded suites).")
    bytes: int
    digest: str | None = Field(None, description="sha256 of the content (uploaded suites).")
    created_at: datetime | None = None


class Health(BaseModel):
    """Liveness and whether the store answers."""

    status: Literal["ok", "degraded"]
    store: str
    version: str
