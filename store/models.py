"""The store's tables (SQLModel, ``table=True``) and the validated models used at its boundaries.

Design notes (DESIGN §5):

- Every timestamp is timezone-aware UTC (`UTCDateTime`), on SQLite as well as PostgreSQL.
- Enumerations are ``StrEnum`` members stored as plain ``VARCHAR(32)`` strings (no native database
  enum, no CHECK constraint), so adding a member needs no migration on either database.
- Dicts and lists are JSON columns (``JSONB`` on PostgreSQL). Assign a new value to change one; an
  in-place mutation (``job.params["x"] = 1``) is not tracked.
- Foreign keys cascade on delete from parent to child (a deleted investigation takes its experiments,
  hypotheses and evidence with it); optional links (``Investigation.job_id``,
  ``Explanation.investigation_id``) are set to NULL instead.
- ``table=True`` models skip validation, so data entering the store from outside goes through the
  ``*Create`` models (``ModelRecordCreate``, ``JobCreate``, ``ExemplarCacheCreate``, ...) and data
  leaving it through the ``*Read`` models.
- Large arrays never live in the database: ``ExemplarCacheRecord`` and ``Experiment.artifact_path``
  point at files on disk beside it, by path and digest.
"""

from __future__ import annotations

import enum
import os
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

__all__ = [
    "NAMING_CONVENTION",
    "AuditRun",
    "CacheStatus",
    "Evidence",
    "ExemplarCacheCreate",
    "ExemplarCacheRead",
    "ExemplarCacheRecord",
    "Experiment",
    "Explanation",
    "GroundTruth",
    "HDProbeRecord",
    "HDProbeRecordCreate",
    "HDProbeRecordRead",
    "Hypothesis",
    "HypothesisStatus",
    "Investigation",
    "InvestigationStatus",
    "Job",
    "JobCreate",
    "JobItem",
    "JobKind",
    "JobRead",
    "JobStatus",
    "ModelRecord",
    "ModelRecordCreate",
    "ModelRecordRead",
    "SAERecord",
    "SAERecordCreate",
    "SAERecordRead",
    "Score",
    "ShiftAnnotation",
    "ShiftAnnotationCreate",
    "ShiftAnnotationRead",
    "StoredSuite",
    "StoredSuiteCreate",
    "StoredSuiteRead",
    "Subject",
    "SubjectKind",
    "UTCDateTime",
    "utcnow",
]

#: Deterministic constraint and index names, so later migrations (and SQLite batch mode) can name them.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

#: Length of every enumeration column (the longest member today is 11 characters).
ENUM_LENGTH = 32


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A ``DateTime(timezone=True)`` that always hands back aware UTC datetimes.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are converted to UTC before
    they are written and marked UTC when read. A naive datetime is refused: its meaning is ambiguous.
    """

    impl = sa.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Convert an aware datetime to UTC before it is written; refuse a naive one."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored; use an aware one (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Mark a value read back (naive on SQLite) as UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON everywhere, JSONB on PostgreSQL (indexable, compact).
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _enum_type(enum_cls: type[enum.StrEnum]) -> sa.Enum:
    """A portable string column for a ``StrEnum``: stores the member *values*, returns members."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=ENUM_LENGTH,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


def _created_at() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _json(*, default_factory: Any = None, nullable: bool = False) -> Any:
    if default_factory is None:
        return Field(default=None, sa_column=sa.Column(JSONType, nullable=nullable))
    return Field(default_factory=default_factory, sa_column=sa.Column(JSONType, nullable=nullable))


def _enum(enum_cls: type[enum.StrEnum], default: enum.StrEnum | None = None, *, index: bool = False) -> Any:
    column: sa.Column[Any] = sa.Column(_enum_type(enum_cls), nullable=False, index=index)
    if default is None:
        return Field(sa_column=column)
    return Field(default=default, sa_column=column)


# --------------------------------------------------------------------------------------------------
# Enumerations
# --------------------------------------------------------------------------------------------------


class SubjectKind(enum.StrEnum):
    """What a subject is (DESIGN §2): a model unit by address family, or a FIND-style function."""

    mlp = "mlp"  # L{l}.mlp.{i}
    attn = "attn"  # L{l}.attn.h{h}
    sae = "sae"  # L{l}.sae.{j}
    resid = "resid"  # L{l}.resid.{i}
    numeric = "numeric"  # suite.jsonl#ID, f(x: float) -> float
    string = "string"  # suite.jsonl#ID, f(x: str) -> str
    entity = "entity"  # suite.jsonl#ID, synthetic neuron on text


class JobKind(enum.StrEnum):
    """What a job does."""

    label = "label"
    investigate = "investigate"
    audit = "audit"
    eval = "eval"
    shift = "shift"
    hdprobe = "hdprobe"


class JobStatus(enum.StrEnum):
    """Where a job is in its life: queued → running → succeeded | failed."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class InvestigationStatus(enum.StrEnum):
    """Where an investigation is: running until it writes an explanation (succeeded) or fails."""

    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class HypothesisStatus(enum.StrEnum):
    """A hypothesis's standing after the evidence so far."""

    open = "open"
    supported = "supported"
    refuted = "refuted"


class CacheStatus(enum.StrEnum):
    """Whether an on-disk cache file is finished (only complete caches are served)."""

    building = "building"
    complete = "complete"


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------


class ModelRecord(SQLModel, table=True):
    """A model as loaded: name, where it came from, and digests that pin its exact weights."""

    __tablename__ = "model_record"
    __table_args__ = (sa.UniqueConstraint("name", "weights_digest"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    source: str  # "hf" (hub name), "local" (folder), "gguf" (file), ...
    revision: str | None = None  # hub revision / commit
    checkpoint: str | None = None  # training checkpoint label, e.g. "step1000"
    config_digest: str | None = None
    weights_digest: str
    created_at: datetime = _created_at()


class Subject(SQLModel, table=True):
    """What an investigation explains: a model unit (``L3.mlp.17``) or a suite function (``f.jsonl#7``).

    ``model_id`` is NULL for function subjects; the address is then unique among them.
    """

    __tablename__ = "subject"
    __table_args__ = (
        sa.UniqueConstraint("model_id", "address"),
        sa.Index(
            "uq_subject_address_without_model",
            "address",
            unique=True,
            sqlite_where=sa.text("model_id IS NULL"),
            postgresql_where=sa.text("model_id IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: SubjectKind = _enum(SubjectKind)
    address: str
    # indexed by the leading column of the unique constraint above
    model_id: int | None = Field(default=None, foreign_key="model_record.id", ondelete="CASCADE")
    created_at: datetime = _created_at()


class Job(SQLModel, table=True):
    """A unit of queued work (label, investigate, audit, eval, shift, hdprobe) and its progress.

    Audit, eval and investigate jobs are claimed by one worker at a time (``workers.claims``): while
    one runs, ``lease_owner`` is the holder's task id and ``leased_at`` when it claimed the job.
    ``sent_at`` is when a message for the job was last sent (beat's sweep re-sends a job whose
    newest of ``created_at``, ``leased_at`` and ``sent_at`` is older than the visibility timeout).
    """

    __tablename__ = "job"

    id: int | None = Field(default=None, primary_key=True)
    kind: JobKind = _enum(JobKind, index=True)
    status: JobStatus = _enum(JobStatus, JobStatus.queued, index=True)
    params: dict[str, Any] = _json(default_factory=dict)
    progress_done: int = 0
    progress_total: int | None = None
    attempts: int = 0
    error: str | None = Field(default=None, sa_type=sa.Text)
    lease_owner: str | None = None  # task id of the claim's holder (while running)
    leased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # when the holder claimed it
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # when a message was last sent
    created_at: datetime = _created_at()
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class JobItem(SQLModel, table=True):
    """One piece of a fanned-out job (a unit of a label job): exactly one row per (job, key).

    Workers claim an item by moving it from ``queued`` to ``running`` and bumping ``attempts``; an item
    claimed more often than the job's retry limit is ``failed`` (poisoned) instead of retried forever.
    The lease columns mean what they mean on `Job` (``workers.claims``); ``result`` holds only the
    finished result.
    """

    __tablename__ = "job_item"
    __table_args__ = (sa.UniqueConstraint("job_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", ondelete="CASCADE")  # indexed by the unique key
    key: str  # e.g. the unit address "L6.mlp.35"
    status: JobStatus = _enum(JobStatus, JobStatus.queued, index=True)
    attempts: int = 0
    investigation_id: int | None = Field(default=None, foreign_key="investigation.id", ondelete="SET NULL")
    result: Any = _json(nullable=True)
    error: str | None = Field(default=None, sa_type=sa.Text)
    lease_owner: str | None = None  # task id of the claim's holder (while running)
    leased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # when the holder claimed it
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # when a message was last sent
    created_at: datetime = _created_at()
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditRun(SQLModel, table=True):
    """One checkpoint audit: at most one per (model, candidate checkpoint, audit kind), enforced here."""

    __tablename__ = "audit_run"
    __table_args__ = (sa.UniqueConstraint("model", "checkpoint", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    model: str  # the tracked model's name (or baseline path)
    checkpoint: str  # the candidate checkpoint (folder path or name)
    kind: str  # e.g. "units"
    job_id: int | None = Field(default=None, foreign_key="job.id", ondelete="SET NULL", index=True)
    created_at: datetime = _created_at()


class Investigation(SQLModel, table=True):
    """One agent run on one subject: backend, LangGraph thread, budget and what it used of it."""

    __tablename__ = "investigation"

    id: int | None = Field(default=None, primary_key=True)
    job_id: int | None = Field(default=None, foreign_key="job.id", ondelete="SET NULL", index=True)
    subject_id: int = Field(foreign_key="subject.id", ondelete="CASCADE", index=True)
    backend: str
    thread_id: str | None = Field(default=None, index=True)
    budget: dict[str, Any] = _json(default_factory=dict)  # limits: tool_calls, seconds, tokens
    tool_calls: int = 0
    tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    status: InvestigationStatus = _enum(InvestigationStatus, InvestigationStatus.running)
    created_at: datetime = _created_at()
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Experiment(SQLModel, table=True):
    """One tool call of an investigation: the tool, its arguments, a summary of what came back."""

    __tablename__ = "experiment"
    __table_args__ = (sa.UniqueConstraint("investigation_id", "call_id"),)

    id: int | None = Field(default=None, primary_key=True)
    call_id: str | None = None  # the tool call's id: a replayed call finds its row instead of adding one
    investigation_id: int = Field(foreign_key="investigation.id", ondelete="CASCADE", index=True)
    tool: str
    args: dict[str, Any] = _json(default_factory=dict)
    result_summary: Any = _json(nullable=True)  # any JSON value: text, a dict, a list
    artifact_path: str | None = None
    seconds: float = 0.0
    cache_key: str | None = Field(default=None, index=True)
    created_at: datetime = _created_at()


class Hypothesis(SQLModel, table=True):
    """A claim an investigation is testing, with its current standing and confidence."""

    __tablename__ = "hypothesis"
    __table_args__ = (sa.UniqueConstraint("investigation_id", "call_id"),)

    id: int | None = Field(default=None, primary_key=True)
    call_id: str | None = None
    investigation_id: int = Field(foreign_key="investigation.id", ondelete="CASCADE", index=True)
    text: str = Field(sa_type=sa.Text)
    status: HypothesisStatus = _enum(HypothesisStatus, HypothesisStatus.open)
    confidence: float | None = None
    created_at: datetime = _created_at()


class Evidence(SQLModel, table=True):
    """A link from an experiment to a hypothesis: it supports (or refutes) it, with a weight."""

    __tablename__ = "evidence"
    __table_args__ = (sa.UniqueConstraint("call_id", "experiment_id"),)

    id: int | None = Field(default=None, primary_key=True)
    call_id: str | None = None
    hypothesis_id: int = Field(foreign_key="hypothesis.id", ondelete="CASCADE", index=True)
    experiment_id: int = Field(foreign_key="experiment.id", ondelete="CASCADE", index=True)
    supports: bool
    weight: float = 1.0
    note: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _created_at()


class Explanation(SQLModel, table=True):
    """The product of an investigation (DESIGN §4): label, testable description, code, domain."""

    __tablename__ = "explanation"

    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(foreign_key="subject.id", ondelete="CASCADE", index=True)
    investigation_id: int | None = Field(default=None, foreign_key="investigation.id", ondelete="SET NULL", index=True)
    label: str
    description: str = Field(sa_type=sa.Text)
    code: str | None = Field(default=None, sa_type=sa.Text)
    domain: Any = _json(nullable=True)  # intervals / exceptions where behaviour differs, or null
    confidence: float
    evidence: list[int] = _json(default_factory=list)  # ids of the supporting experiments
    created_at: datetime = _created_at()


class GroundTruth(SQLModel, table=True):
    """A subject's known answer from a FIND-style suite: the suite line as given (``spec``)."""

    __tablename__ = "ground_truth"
    __table_args__ = (sa.UniqueConstraint("subject_id", "suite"),)

    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(foreign_key="subject.id", ondelete="CASCADE")  # indexed by the unique key
    suite: str
    spec: dict[str, Any] = _json(default_factory=dict)
    created_at: datetime = _created_at()


class Score(SQLModel, table=True):
    """One metric of one explanation (e.g. ``nmse_pass``, ``unit_tests``, ``detection``)."""

    __tablename__ = "score"

    id: int | None = Field(default=None, primary_key=True)
    explanation_id: int = Field(foreign_key="explanation.id", ondelete="CASCADE", index=True)
    metric: str = Field(index=True)
    value: float
    details: dict[str, Any] = _json(default_factory=dict)
    created_at: datetime = _created_at()


class ExemplarCacheRecord(SQLModel, table=True):
    """Index of an on-disk activation-exemplar cache: which model, site and corpus; where; its digest.

    The key is (model, site, corpus digest, context length, tokens scanned, k); recording the same key
    again replaces the path and digest.
    """

    __tablename__ = "exemplar_cache"
    __table_args__ = (
        sa.UniqueConstraint(
            "model_id", "site", "corpus_digest", "ctx_len", "n_tokens", "k", name="uq_exemplar_cache_key"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(foreign_key="model_record.id", ondelete="CASCADE")  # indexed by the key
    site: str  # e.g. "L12.mlp"
    corpus: str  # the corpus spec as given (name, path, ...)
    corpus_digest: str
    ctx_len: int
    n_tokens: int
    k: int
    path: str
    digest: str  # sha256 of the file
    status: CacheStatus = _enum(CacheStatus, CacheStatus.complete)
    created_at: datetime = _created_at()


class SAERecord(SQLModel, table=True):
    """A sparse autoencoder registered for one site of a model (``autointerp sae add``): its latents
    are the subjects ``L{layer}.sae[name].{j}``.

    The name is unique per model record. ``path`` is the registered copy in the cache home
    (``<home>/saes/<digest>/``, never changed), ``source_path`` the folder it was read from;
    ``digest`` is the sha256 of the weight file's and ``cfg.json``'s digests (what the SAE computes),
    ``weights_digest`` the weight file's own. ``hook`` is the hook name the SAE was trained on (as its
    files or the registration named it), ``site`` our site name (resid_pre, resid_post, mlp_out,
    attn_out); ``metrics`` the training metrics its folder came with, if any.
    """

    __tablename__ = "sae_record"
    __table_args__ = (sa.UniqueConstraint("model_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(foreign_key="model_record.id", ondelete="CASCADE")  # indexed by the unique key
    name: str
    layer: int
    site: str
    hook: str | None = None
    format: str  # "saelens" or "sparsify"
    architecture: str  # "relu", "topk" or "jumprelu"
    d_in: int
    width: int  # number of latents (d_sae)
    k: int | None = None  # topk only
    digest: str
    weights_digest: str
    path: str
    source_path: str
    cfg: dict[str, Any] = _json(default_factory=dict)
    metrics: Any = _json(nullable=True)
    created_at: datetime = _created_at()


class StoredSuite(SQLModel, table=True):
    """A FIND-style suite uploaded through the API (``POST /suites``): its JSON Lines as uploaded,
    addressed as ``suite:<name>`` (or ``suite:<id>``), e.g. the subject ``suite:mine#num-parabola``.

    The name is unique and a stored suite is never changed, so an address means the same functions
    for as long as it exists; ``digest`` is the sha256 of ``content``.
    """

    __tablename__ = "stored_suite"
    __table_args__ = (sa.UniqueConstraint("name"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str
    digest: str
    items: int  # valid subjects in it
    size: int  # bytes of content (UTF-8)
    content: str = Field(sa_type=sa.Text)
    created_at: datetime = _created_at()


# --------------------------------------------------------------------------------------------------
# Boundary models (validated)
# --------------------------------------------------------------------------------------------------

_SHA256 = r"^[0-9a-f]{64}$"


def _fspath(value: object) -> object:
    """A ``pathlib.Path`` (or any ``os.PathLike``) as its string form; anything else unchanged."""
    return os.fspath(value) if isinstance(value, os.PathLike) else value


PathText = Annotated[str, BeforeValidator(_fspath)]
"""A path stored as text: a ``pathlib.Path`` is accepted and stored as its string form."""


class _Boundary(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ModelRecordCreate(_Boundary):
    """What the model runtime knows about a model it loaded; ``(name, weights_digest)`` identifies it."""

    name: str = PydanticField(min_length=1)
    source: str = PydanticField(min_length=1)
    revision: str | None = None
    checkpoint: str | None = None
    config_digest: str | None = None
    weights_digest: str = PydanticField(min_length=1, max_length=128)


class ModelRecordRead(_Read):
    """A stored model record, as handed out of the store."""

    id: int
    name: str
    source: str
    revision: str | None
    checkpoint: str | None
    config_digest: str | None
    weights_digest: str
    created_at: datetime


class JobCreate(_Boundary):
    """A job to queue: its kind, parameters and (when known) how many steps it has."""

    kind: JobKind
    params: dict[str, Any] = PydanticField(default_factory=dict)
    progress_total: int | None = PydanticField(default=None, ge=0)


class JobRead(_Read):
    """A stored job, as handed out of the store."""

    id: int
    kind: JobKind
    status: JobStatus
    params: dict[str, Any]
    progress_done: int
    progress_total: int | None
    attempts: int
    error: str | None
    lease_owner: str | None = None
    leased_at: datetime | None = None
    sent_at: datetime | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ExemplarCacheCreate(_Boundary):
    """A finished (or in-progress) exemplar cache file to index."""

    model_id: int = PydanticField(ge=1)
    site: str = PydanticField(min_length=1)
    corpus: str = PydanticField(min_length=1)
    corpus_digest: str = PydanticField(min_length=1, max_length=128)
    ctx_len: int = PydanticField(gt=0)
    n_tokens: int = PydanticField(gt=0)
    k: int = PydanticField(gt=0)
    path: PathText = PydanticField(min_length=1)
    digest: str = PydanticField(pattern=_SHA256)
    status: CacheStatus = CacheStatus.complete


class ExemplarCacheRead(_Read):
    """A stored exemplar-cache index row, as handed out of the store."""

    id: int
    model_id: int
    site: str
    corpus: str
    corpus_digest: str
    ctx_len: int
    n_tokens: int
    k: int
    path: str
    digest: str
    status: CacheStatus
    created_at: datetime


#: An uploaded suite's name: a letter, then letters, digits, ``.``, ``_`` or ``-`` (64 at most), so it
#: can never be mistaken for an id (digits) or a path.
SUITE_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9._-]{0,63}$"


class StoredSuiteCreate(_Boundary):
    """A validated suite to store: its name, JSON Lines content (kept byte for byte, so line numbers
    and the digest hold), digest and number of subjects."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    name: str = PydanticField(pattern=SUITE_NAME_PATTERN)
    content: str = PydanticField(min_length=1)
    digest: str = PydanticField(pattern=_SHA256)
    items: int = PydanticField(ge=1)
    size: int = PydanticField(ge=1)


class StoredSuiteRead(_Read):
    """A stored suite without its content, as handed out of the store."""

    id: int
    name: str
    digest: str
    items: int
    size: int
    created_at: datetime


#: An SAE's name (what stands in the brackets of ``L{l}.sae[NAME].{j}``); the same rule as
#: ``tools.runtime.addresses.SAE_NAME_PATTERN``.
SAE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class SAERecordCreate(_Boundary):
    """A validated SAE registration to store."""

    model_id: int = PydanticField(ge=1)
    name: str = PydanticField(pattern=SAE_NAME_PATTERN)
    layer: int = PydanticField(ge=0)
    site: str = PydanticField(min_length=1)
    hook: str | None = None
    format: str = PydanticField(min_length=1)
    architecture: str = PydanticField(min_length=1)
    d_in: int = PydanticField(gt=0)
    width: int = PydanticField(gt=0)
    k: int | None = PydanticField(default=None, gt=0)
    digest: str = PydanticField(pattern=_SHA256)
    weights_digest: str = PydanticField(pattern=_SHA256)
    path: PathText = PydanticField(min_length=1)
    source_path: PathText = PydanticField(min_length=1)
    cfg: dict[str, Any] = PydanticField(default_factory=dict)
    metrics: Any = None


class SAERecordRead(_Read):
    """A stored SAE registration, as handed out of the store (with its model's name and weights digest)."""

    id: int
    model_id: int
    name: str
    layer: int
    site: str
    hook: str | None
    format: str
    architecture: str
    d_in: int
    width: int
    k: int | None
    digest: str
    weights_digest: str
    path: str
    source_path: str
    cfg: dict[str, Any]
    metrics: Any
    created_at: datetime
    model: str | None = None
    model_digest: str | None = None

    @property
    def address(self) -> str:
        """``L{layer}.sae[name]``: the SAE's code; latent j is ``L{layer}.sae[name].{j}``."""
        return f"L{self.layer}.sae[{self.name}]"


# --------------------------------------------------------------------------------------------------
# SHIFT annotations
# --------------------------------------------------------------------------------------------------


class ShiftAnnotation(SQLModel, table=True):
    """One judge's 0–4 relatedness score of one SAE latent to one named concept (``shift_annotate``,
    the ``shift`` job), with the evidence it was shown and its rationale.

    ``latent`` is the canonical address (``L6.sae[name].12``), ``latent_index`` the latent's index,
    ``sae`` the SAE's name and ``sae_digest`` its digest (what the SAE computes); ``judge`` is
    ``builtin`` or the LLM spec (``openai:gpt-4o``). A deleted job leaves its annotations (job_id NULL).
    """

    __tablename__ = "shift_annotation"

    id: int | None = Field(default=None, primary_key=True)
    job_id: int | None = Field(default=None, foreign_key="job.id", ondelete="SET NULL", index=True)
    model: str = Field(index=True)
    sae: str
    sae_digest: str | None = None
    latent: str
    latent_index: int
    concept: str
    score: float
    judge: str
    rationale: str = Field(default="", sa_type=sa.Text)
    evidence: Any = _json(nullable=True)
    created_at: datetime = _created_at()


class ShiftAnnotationCreate(_Boundary):
    """A validated SHIFT annotation to store."""

    job_id: int | None = PydanticField(default=None, ge=1)
    model: str = PydanticField(min_length=1)
    sae: str = PydanticField(pattern=SAE_NAME_PATTERN)
    sae_digest: str | None = PydanticField(default=None, pattern=_SHA256)
    latent: str = PydanticField(min_length=1)
    latent_index: int = PydanticField(ge=0)
    concept: str = PydanticField(min_length=1, max_length=200)
    score: float = PydanticField(ge=0.0, le=4.0)
    judge: str = PydanticField(min_length=1)
    rationale: str = ""
    evidence: Any = None


class ShiftAnnotationRead(_Read):
    """A stored SHIFT annotation, as handed out of the store."""

    id: int
    job_id: int | None
    model: str
    sae: str
    sae_digest: str | None
    latent: str
    latent_index: int
    concept: str
    score: float
    judge: str
    rationale: str
    evidence: Any
    created_at: datetime


# --------------------------------------------------------------------------------------------------
# Hyperdimensional probes
# --------------------------------------------------------------------------------------------------


class HDProbeRecord(SQLModel, table=True):
    """A trained hyperdimensional probe (``autointerp hdprobe train``, the ``hdprobe`` job): the model
    (the name it was trained under and its weights digest), the layers it reads (``layer_start`` ..
    ``layer_stop - 1``), the hypervectors' dimension, where the artifact lives (``path``, under
    ``<home>/hdprobes/``, with its sha256 ``digest``) and its metrics. Rows are only added; the newest
    probe of a model's weights and layers is the one used. A deleted job leaves its probes (job_id NULL).
    """

    __tablename__ = "hd_probe"

    id: int | None = Field(default=None, primary_key=True)
    job_id: int | None = Field(default=None, foreign_key="job.id", ondelete="SET NULL", index=True)
    model: str
    model_digest: str = Field(index=True)
    layer_start: int
    layer_stop: int
    dim: int
    hidden: int
    n_concepts: int
    seed: int
    path: str
    digest: str
    metrics: Any = _json(nullable=True)
    created_at: datetime = _created_at()


class HDProbeRecordCreate(_Boundary):
    """A validated HD probe record to store."""

    job_id: int | None = PydanticField(default=None, ge=1)
    model: str = PydanticField(min_length=1)
    model_digest: str = PydanticField(min_length=1, max_length=128)
    layer_start: int = PydanticField(ge=0)
    layer_stop: int = PydanticField(ge=1)
    dim: int = PydanticField(gt=0)
    hidden: int = PydanticField(gt=0)
    n_concepts: int = PydanticField(gt=0)
    seed: int = PydanticField(ge=0)
    path: PathText = PydanticField(min_length=1)
    digest: str = PydanticField(pattern=_SHA256)
    metrics: Any = None


class HDProbeRecordRead(_Read):
    """A stored HD probe record, as handed out of the store."""

    id: int
    job_id: int | None
    model: str
    model_digest: str
    layer_start: int
    layer_stop: int
    dim: int
    hidden: int
    n_concepts: int
    seed: int
    path: str
    digest: str
    metrics: Any
    created_at: datetime

    @property
    def layers(self) -> str:
        """The layers it reads as ``START:STOP`` (STOP excluded)."""
        return f"{self.layer_start}:{self.layer_stop}"
