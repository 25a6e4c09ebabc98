"""Label jobs and the views of every job: parameters, finding a job again, progress, what the CLI
and the API show.

Public entry points (what the HTTP API and the CLI call)::

    job_view(engine: Engine, job_id: int) -> JobView
        The job's id, kind, status (queued|running|succeeded|failed), progress {done, total}, error,
        parameters, attempts and timestamps. `InputError` when there is no such job.

    list_jobs(engine: Engine, *, kind: str | None = None, limit: int = 50) -> list[JobView]

    find_or_create_label_job(engine, params: LabelJobParams, *, job_id=None, new=False) -> (id, created)

Submitting a label job (create or find it, then enqueue it or run it here) is
``workers.label.submit_label_job``; ``workers.service_jobs.submit_service_job`` submits every kind.

**Finding a job again.** A label job's identity is its parameters without the executor
(`LabelJobParams.digest`): submitting the same parameters again returns the newest job with that
digest, re-enqueuing its unfinished units (units that failed earlier get a fresh set of attempts),
so a re-run skips every finished unit. ``new=True`` (``autointerp label --new``) always makes a new
job; ``autointerp label --job ID`` resumes one by id.

**Claiming an item.** Exactly one worker labels a unit: ``workers.claims.claim_item`` moves the item
to ``running`` with a conditional UPDATE fenced by its attempts counter and records the lease
(``lease_owner``, ``leased_at``) in the item's columns; see ``workers.claims`` for the rules
(redelivery, stale leases, poisoning, fenced writes). An item's ``result`` holds only its finished
result.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Engine

from store import jobs as store_jobs
from store.errors import InputError, StoreError
from store.models import SAE_NAME_PATTERN, Job, JobCreate, JobKind, JobStatus
from store.repo import get_job, set_job_status

__all__ = [
    "EXECUTOR_NAMES",
    "ExecutorName",
    "ItemView",
    "JobProgress",
    "JobView",
    "LabelJobParams",
    "check_executor",
    "fill_sae_layer",
    "find_or_create_label_job",
    "job_items",
    "job_params",
    "job_view",
    "list_jobs",
    "parse_units",
    "refresh_job",
    "reopen_failed_items",
    "validate_params",
]

#: Where a job, an investigation or an agent's tools run: in this process, or on the Celery workers.
ExecutorName = Literal["local", "celery"]
#: The executor names, in order (``("local", "celery")``).
EXECUTOR_NAMES: tuple[ExecutorName, ...] = get_args(ExecutorName)
_UNITS = re.compile(r"^\s*(\d+)\s*(?::\s*(\d+)\s*)?$")


def check_executor(name: str, what: str = "executor") -> ExecutorName:
    """``name`` as an `ExecutorName`; one-line InputError (naming ``what``) for anything else."""
    for known in EXECUTOR_NAMES:
        if name == known:
            return known
    raise InputError(f"unknown {what} {name!r}; expected {' or '.join(EXECUTOR_NAMES)}")


def parse_units(spec: str) -> tuple[int, int]:
    """``"0:64"`` → (0, 64) (half-open, like Python slices); ``"7"`` → (7, 8). InputError otherwise."""
    match = _UNITS.match(spec)
    if match is None:
        raise InputError(f"bad --units {spec!r}; give START:STOP (e.g. 0:64, STOP excluded) or one index")
    start = int(match[1])
    stop = int(match[2]) if match[2] is not None else start + 1
    if stop <= start:
        raise InputError(f"bad --units {spec!r}: STOP ({stop}) must be greater than START ({start})")
    return start, stop


class LabelJobParams(BaseModel):
    """What a label job explains and how: MLP neurons ``start..stop-1`` of ``layer`` of ``model``, or
    latents ``start..stop-1`` of the SAE named ``sae`` (``layer`` is then the SAE's, filled in from the
    store by `fill_sae_layer` when the job is submitted)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    model: str = Field(min_length=1, description="Embedded name, local HF folder, .gguf file or hub id.")
    layer: int | None = Field(None, ge=0, description="Layer of the MLP neurons (or of the SAE).")
    sae: str | None = Field(
        None, pattern=SAE_NAME_PATTERN, description="Label this registered SAE's latents instead of MLP neurons."
    )
    start: int = Field(ge=0)
    stop: int = Field(ge=1, description="First unit index not labeled (half-open range).")
    agent: str = Field("builtin", min_length=1, description="builtin, openai:<model> or anthropic:<model>.")
    budget: int = Field(24, ge=1, le=1000, description="Tool calls per investigation.")
    seconds: float = Field(900.0, gt=0, description="Wall-clock budget per investigation.")
    max_tokens: int = Field(100_000, ge=1_000, description="Corpus tokens of the layer's exemplar cache.")
    plan: Literal["layer", "unit"] = Field(
        "layer",
        description="layer: the experiments every investigation starts with run once for the whole layer "
        "(agent.layer_plan); unit: each investigation runs its own.",
    )

    @model_validator(mode="before")
    @classmethod
    def _units_string(cls, data: Any) -> Any:
        """Accept ``units: "0:64"`` in place of ``start``/``stop``."""
        if isinstance(data, dict) and "units" in data:
            data = dict(data)
            start, stop = parse_units(str(data.pop("units")))
            data.setdefault("start", start)
            data.setdefault("stop", stop)
        return data

    @model_validator(mode="after")
    def _range(self) -> LabelJobParams:
        """The unit range must not be empty; MLP neurons need their layer."""
        if self.stop <= self.start:
            raise ValueError(f"stop ({self.stop}) must be greater than start ({self.start})")
        if self.layer is None and self.sae is None:
            raise ValueError("give the layer of the MLP neurons, or the sae whose latents to label")
        return self

    @property
    def site(self) -> str:
        """The site whose exemplar cache the job builds: ``L{layer}.mlp``, or the SAE's ``L{layer}.sae[name]``."""
        if self.layer is None:
            raise InputError(f"the layer of SAE {self.sae!r} is not known yet (fill_sae_layer)")
        return f"L{self.layer}.sae[{self.sae}]" if self.sae else f"L{self.layer}.mlp"

    def keys(self) -> list[str]:
        """The unit addresses, in order (the items' keys): ``L6.mlp.{i}`` or ``L6.sae[name].{j}``."""
        site = self.site
        return [f"{site}.{i}" for i in range(self.start, self.stop)]

    def digest(self) -> str:
        """sha256 of the canonical parameters: the job's identity for re-runs (``sae`` only when set,
        so a neuron job keeps the identity it had before SAE jobs existed)."""
        exclude = set() if self.sae is not None else {"sae"}
        payload = json.dumps(self.model_dump(mode="json", exclude=exclude), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


def fill_sae_layer(engine: Engine, params: LabelJobParams) -> LabelJobParams:
    """``params`` with the layer of its SAE filled in from the store (unchanged for neuron jobs).
    InputError when no such SAE is registered for the model, or it reads another layer than given."""
    if params.sae is None:
        return params
    from tools.sae.registry import sae_layer

    layer = sae_layer(engine, params.model, params.sae)
    if params.layer is not None and params.layer != layer:
        raise InputError(f"SAE {params.sae!r} of {params.model} reads layer {layer}, not {params.layer}")
    return params.model_copy(update={"layer": layer})


def validate_params(kind: str, params: dict[str, Any]) -> LabelJobParams:
    """The validated parameters of a job of ``kind``; one-line InputError naming the fields at fault."""
    if kind != JobKind.label.value:
        raise InputError(f"jobs of kind {kind!r} cannot be submitted here; supported: label")
    try:
        return LabelJobParams.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(params)'}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise InputError(f"invalid label job parameters: {problems}") from None


def job_params(engine: Engine, job_id: int) -> LabelJobParams:
    """The validated parameters of label job ``job_id``; `StoreError` when there is none."""
    row = get_job(engine, job_id)
    if row is None or row.kind is not JobKind.label:
        raise StoreError(f"no label job with id {job_id}")
    return LabelJobParams.model_validate({k: v for k, v in (row.params or {}).items() if k != "digest"})


# --------------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------------


class JobProgress(BaseModel):
    """Finished units (labeled or failed) out of all units."""

    done: int
    total: int | None


class JobView(BaseModel):
    """A job as the CLI and the API show it."""

    id: int
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: JobProgress
    error: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    attempts: int = 0
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ItemView(BaseModel):
    """One unit of a job."""

    key: str
    status: str
    attempts: int
    investigation_id: int | None
    label: str | None = None
    error: str | None = None
    scores: dict[str, float] = Field(
        default_factory=dict,
        description="Simulation scores of the unit's explanation (evals.scoring.simulation), by metric.",
    )

    def simulation(self) -> str:
        """The simulation correlations as a table cell: ``top+random / random``, or "" when unscored."""
        top, rnd = self.scores.get("sim_corr_top_random"), self.scores.get("sim_corr_random")
        if top is None or rnd is None:
            return ""
        return f"{top:+.2f} / {rnd:+.2f}"


def _view(row: Job) -> JobView:
    assert row.id is not None
    return JobView(
        id=row.id,
        kind=row.kind.value,
        status=row.status.value,
        progress=JobProgress(done=row.progress_done, total=row.progress_total),
        error=row.error,
        params={k: v for k, v in (row.params or {}).items() if k != "digest"},
        attempts=row.attempts,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def job_view(engine: Engine, job_id: int) -> JobView:
    """The job ``job_id`` as a `JobView`; InputError when there is none."""
    row = get_job(engine, job_id)
    if row is None:
        raise InputError(f"no job with id {job_id}; `autointerp jobs list` shows the jobs")
    return _view(row)


def list_jobs(engine: Engine, *, kind: str | None = None, limit: int = 50) -> list[JobView]:
    """The newest ``limit`` jobs (of ``kind`` when given), newest first."""
    rows = store_jobs.list_jobs(engine, kind=JobKind(kind) if kind is not None else None, limit=limit)
    return [_view(r) for r in rows]


def job_items(engine: Engine, job_id: int) -> list[ItemView]:
    """Every unit of a job, in key order as created."""
    views = []
    for r in store_jobs.list_job_items(engine, job_id):
        done = r.status is JobStatus.succeeded and isinstance(r.result, dict)
        label = r.result.get("label") if done else None
        raw = r.result.get("scores") if done else None
        scores = (
            {str(k): float(v) for k, v in raw.items() if isinstance(v, int | float)} if isinstance(raw, dict) else {}
        )
        views.append(
            ItemView(
                key=r.key,
                status=r.status.value,
                attempts=r.attempts,
                investigation_id=r.investigation_id,
                label=label,
                error=r.error,
                scores=scores,
            )
        )
    return views


def refresh_job(engine: Engine, job_id: int) -> JobView:
    """Recount the job's finished items into its progress; finish the job when no item is left
    (``store.jobs.refresh_job_progress``: it succeeds when every item succeeded and fails naming
    the failed units otherwise). Idempotent: any worker may call it any number of times."""
    return _view(store_jobs.refresh_job_progress(engine, job_id))


# --------------------------------------------------------------------------------------------------
# Creating and finding jobs
# --------------------------------------------------------------------------------------------------


def find_or_create_label_job(
    engine: Engine, params: LabelJobParams, *, job_id: int | None = None, new: bool = False
) -> tuple[int, bool]:
    """The job to run for ``params``: job ``job_id`` when given, else the newest label job with the
    same digest unless ``new``, else a fresh one with one queued item per unit (created in one
    transaction). Returns (id, created).

    Reusing a job reopens its failed items (fresh attempts), so a re-run retries them and skips the
    labeled ones.
    """
    if job_id is not None:
        row = get_job(engine, job_id)
        if row is None or row.kind is not JobKind.label:
            raise InputError(f"no label job with id {job_id}; `autointerp jobs list` shows the jobs")
        reopen_failed_items(engine, job_id)
        return job_id, False
    params = fill_sae_layer(engine, params)
    digest = params.digest()
    if not new:
        found = store_jobs.find_job_by_digest(engine, JobKind.label, digest)
        if found is not None:
            reopen_failed_items(engine, found)
            return found, False
    keys = params.keys()
    data = JobCreate(
        kind=JobKind.label, params={**params.model_dump(mode="json"), "digest": digest}, progress_total=len(keys)
    )
    job = store_jobs.create_job_with_items(engine, data, keys)
    assert job.id is not None
    return job.id, True


def reopen_failed_items(engine: Engine, job_id: int) -> int:
    """Give the job's failed items a fresh set of attempts (status queued); return how many. A job
    with reopened items is ``running`` again."""
    changed = store_jobs.reopen_failed_items(engine, job_id)
    if changed:
        set_job_status(engine, job_id, JobStatus.running)
    return changed
