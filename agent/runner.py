"""Start, resume and inspect investigations: the functions behind ``autointerp explain``, ``show``
and ``chat``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from agent.backends.factory import llm_chat_model
from agent.checkpoints import open_checkpointer, prune_thread
from agent.graph import Budget, Investigator
from agent.layer_plan import LayerPlan, attach_layer_plan
from agent.prompts import load_prompt
from store.db import open_store
from store.errors import ConfigError, InputError
from store.investigations import (
    create_investigation,
    find_explanation,
    find_subject,
    get_investigation,
    investigation_record,
    update_investigation,
)
from store.models import InvestigationStatus, SubjectKind
from store.repo import get_or_create_subject
from store.settings import Settings
from tools.catalog import default_registry
from tools.context import ToolContext
from tools.executor import Executor, LocalExecutor
from tools.exemplars.service import register_model
from tools.files import FileAccess
from tools.functions.suite import load_suite_function
from tools.runtime.addresses import Unit, parse_target
from tools.runtime.embedded import EMBEDDED_NAME

MODEL_UNIT_TOOLS = ["exemplars", "activations", "ablate", "unit_logits", "steer", "hd_probe"]
FUNCTION_TOOLS = ["call_function"]
LLM_RESULT_CHARS = 12_000


class ExplanationOut(BaseModel):
    """The explanation fields of DESIGN §4."""

    label: str
    description: str
    code: str | None = None
    domain: Any = None
    confidence: float
    evidence: list[int] = Field(default_factory=list)


class ExplainResult(BaseModel):
    """What ``autointerp explain`` returns."""

    investigation_id: int
    subject: str
    explanation: ExplanationOut | None
    experiments: int
    seconds: float
    tokens: int


@dataclass(frozen=True)
class SubjectInfo:
    """A resolved subject: its address, kind, and the model it lives in (None for functions)."""

    address: str
    kind: str
    model: str | None


def resolve_subject(subject: str, model: str | None, ctx: ToolContext) -> SubjectInfo:
    """Check the subject exists (in the model, or in its suite: a file read through ``ctx.files``, or
    an uploaded ``suite:NAME``) before anything is stored."""
    if "#" in subject:
        function = load_suite_function(subject, files=ctx.files, store=ctx.engine)
        return SubjectInfo(function.address, function.kind, None)
    reference = model or EMBEDDED_NAME
    target = ctx.runtime(reference).resolve(subject)  # AddressError names the valid range
    parsed = parse_target(target.address)
    if not isinstance(parsed, Unit):
        raise InputError(f"{subject} is a site, not a subject; give a unit such as {subject}.0")
    return SubjectInfo(target.address, parsed.kind, reference)


def make_brain(spec: str) -> BaseChatModel:
    """The chat model for a backend spec: builtin, openai:<model>, anthropic:<model>."""
    if spec.strip() == "builtin":
        from agent.builtin import BuiltinScientist

        return BuiltinScientist()
    from agent.backends.factory import make_chat_model

    model = make_chat_model(spec)
    if model is None:
        raise ConfigError(f"backend {spec!r} has no chat model")
    return model


def _subject_kind(info: SubjectInfo) -> SubjectKind:
    kinds = {"mlp": SubjectKind.mlp, "head": SubjectKind.attn, "resid": SubjectKind.resid, "sae": SubjectKind.sae}
    return kinds.get(info.kind) or SubjectKind(info.kind)


def _task_message(info: SubjectInfo, budget: Budget, shared: dict[str, Any] | None = None) -> HumanMessage:
    """The task: a sentence, what the layer planner already ran (``shared``: its ``note`` and
    ``payload``), and the JSON line the builtin reads."""
    kind = "model_unit" if info.model is not None else info.kind
    what = f"unit {info.address} of model {info.model}" if info.model else f"the {info.kind} function {info.address}"
    payload: dict[str, Any] = {
        "subject": info.address,
        "model": info.model,
        "kind": kind,
        "budget": budget.model_dump(),
    }
    text = f"Investigate {what} and explain what it does."
    if shared:
        payload["shared"] = shared["payload"]
        text += "\n" + str(shared["note"])
    return HumanMessage(f"{text}\n{json.dumps(payload)}")


class Session:
    """One process's handles for running investigations: settings, store, executor.

    ``executor`` runs the tool calls (default: a `LocalExecutor` in this process; pass a
    ``workers.executor.CeleryExecutor`` to run them on workers); ``ctx`` lends a tool context whose
    model cache is shared (a worker process keeps one for all its investigations). ``files`` is the
    file-access policy of the context made here when ``ctx`` is not given (default: local, the CLI's;
    the API passes one confined to its data roots); give one or the other, not both.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        executor: Executor | None = None,
        ctx: ToolContext | None = None,
        files: FileAccess | None = None,
    ) -> None:
        if ctx is not None and files is not None:
            raise TypeError("give Session a ctx or a files policy, not both (the ctx carries its own)")
        self.settings = settings or Settings()
        if self.settings.db is None:
            self.settings.ensure_home()
        self.engine: Engine = open_store(self.settings.db_url())
        self.ctx = ctx or ToolContext(
            settings=self.settings, _engine=self.engine, files=files or FileAccess(), chat_models=llm_chat_model
        )
        self.executor: Executor = executor or LocalExecutor(default_registry(), self.ctx)

    def investigator(
        self,
        investigation_id: int,
        brain: BaseChatModel,
        *,
        chat: bool = False,
        on_step: Callable[[dict[str, Any]], None] | None = None,
    ) -> tuple[Investigator, dict[str, Any]]:
        """The graph's node context for a stored investigation, and its LangGraph config."""
        row = get_investigation(self.engine, investigation_id)
        subject = find_subject(self.engine, row.subject_id)
        assert subject is not None and row.thread_id is not None
        model = (row.budget or {}).get("model")
        is_function = subject.kind in (SubjectKind.numeric, SubjectKind.string, SubjectKind.entity)
        investigator = Investigator(
            engine=self.engine,
            executor=self.executor,
            model=brain,
            investigation_id=investigation_id,
            subject_id=subject.id or 0,
            subject_model=model,
            tools=FUNCTION_TOOLS if is_function else MODEL_UNIT_TOOLS,
            budget=Budget.model_validate({k: v for k, v in (row.budget or {}).items() if k not in ("model", "shared")}),
            chat=chat,
            max_result_chars=None if row.backend == "builtin" else LLM_RESULT_CHARS,
            on_step=on_step,
        )
        config = {"configurable": {"thread_id": row.thread_id}, "recursion_limit": investigator.recursion_limit()}
        return investigator, config

    def create(
        self,
        subject: str,
        model: str | None,
        backend: str,
        budget: Budget,
        *,
        job_id: int | None = None,
        shared: LayerPlan | None = None,
    ) -> tuple[int, list[Any]]:
        """Validate the subject, then store it and a new investigation (of job ``job_id`` when given);
        return its id and first messages. ``shared``: the layer planner's shared runs of the unit's site,
        each recorded as an experiment of the investigation and named in its first message."""
        info = resolve_subject(subject, model, self.ctx)
        model_id = None
        if info.model is not None:
            model_id = register_model(self.engine, self.ctx.runtime(info.model).loaded).id
        subject_row = get_or_create_subject(self.engine, model_id, _subject_kind(info), info.address)
        assert subject_row.id is not None
        row = create_investigation(
            self.engine,
            subject_id=subject_row.id,
            backend=backend,
            thread_id=uuid.uuid4().hex,
            budget={**budget.model_dump(), "model": info.model},
            job_id=job_id,
        )
        assert row.id is not None
        note: dict[str, Any] | None = None
        if shared is not None and info.model is not None:
            target = self.ctx.runtime(info.model).resolve(info.address)
            if target.container == shared.site and target.index is not None:
                attached = attach_layer_plan(self.engine, row.id, shared, info.address, target.index)
                if attached is not None:
                    note = {"payload": attached[0], "note": attached[1]}
                    update_investigation(self.engine, row.id, budget={**(row.budget or {}), "shared": note})
        return row.id, [SystemMessage(load_prompt()), _task_message(info, budget, note)]

    @contextmanager
    def graph(self, investigator: Investigator) -> Iterator[Any]:
        """The compiled graph with this store's checkpointer."""
        with open_checkpointer(self.settings) as saver:
            yield investigator.build(saver)

    def prune_checkpoints(self, investigation_id: int) -> int:
        """Drop the history of the investigation's LangGraph thread, keeping its latest checkpoint (all
        that resuming or chatting on it reads); return how many checkpoints were deleted
        (`agent.checkpoints.prune_thread`). Call it once the investigation is finished."""
        thread_id = get_investigation(self.engine, investigation_id).thread_id
        if thread_id is None:
            return 0
        with open_checkpointer(self.settings) as saver:
            return prune_thread(saver, thread_id)

    def run(
        self,
        investigation_id: int,
        brain: BaseChatModel,
        first: list[Any] | None,
        on_step: Callable[[dict[str, Any]], None] | None = None,
    ) -> ExplainResult:
        """Run (first messages given) or resume (None) an investigation to its end."""
        investigator, config = self.investigator(investigation_id, brain, on_step=on_step)
        with self.graph(investigator) as graph:
            inputs = {"messages": first} if first is not None else None
            try:
                graph.invoke(inputs, config)
            except Exception:
                update_investigation(self.engine, investigation_id, status=InvestigationStatus.failed)
                raise
            state = graph.get_state(config).values
        update_investigation(
            self.engine,
            investigation_id,
            tool_calls=int(state.get("tool_calls", 0)),
            tokens=int(state.get("tokens", 0)),
            seconds=float(state.get("seconds", 0.0)),
            status=InvestigationStatus.succeeded if state.get("explanation_id") else InvestigationStatus.failed,
        )
        return self.result(investigation_id)

    def first_messages(self, investigation_id: int) -> list[Any]:
        """The messages a stored investigation starts from (what `create` returned), rebuilt from the store."""
        row = get_investigation(self.engine, investigation_id)
        subject = find_subject(self.engine, row.subject_id)
        assert subject is not None
        stored = dict(row.budget or {})
        model = stored.pop("model", None)
        shared = stored.pop("shared", None)
        info = SubjectInfo(subject.address, subject.kind.value, model)
        return [SystemMessage(load_prompt()), _task_message(info, Budget.model_validate(stored), shared)]

    def proceed(
        self,
        investigation_id: int,
        brain: BaseChatModel,
        on_step: Callable[[dict[str, Any]], None] | None = None,
    ) -> ExplainResult:
        """Run a stored investigation to its end: resume it from its checkpoint, or start it from its
        first messages when it never ran (created, then its process died before the first step)."""
        investigator, config = self.investigator(investigation_id, brain)
        with self.graph(investigator) as graph:
            started = bool(graph.get_state(config).values)
        first = None if started else self.first_messages(investigation_id)
        return self.run(investigation_id, brain, first, on_step)

    def result(self, investigation_id: int) -> ExplainResult:
        """The stored outcome of an investigation."""
        record = investigation_record(self.engine, investigation_id)
        row = record["investigation"]
        subject = find_subject(self.engine, row["subject_id"])
        explanation = record["explanation"]
        fields = ExplanationOut.model_fields
        return ExplainResult(
            investigation_id=investigation_id,
            subject=subject.address if subject else "?",
            explanation=ExplanationOut(**{k: explanation[k] for k in fields}) if explanation else None,
            experiments=len(record["experiments"]),
            seconds=float(row["seconds"]),
            tokens=int(row["tokens"]),
        )


def explain(
    subject: str,
    *,
    model: str | None = None,
    backend: str = "builtin",
    budget: Budget | None = None,
    settings: Settings | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    brain: BaseChatModel | None = None,
    executor: Executor | None = None,
    files: FileAccess | None = None,
) -> ExplainResult:
    """Investigate ``subject`` from the start and return the stored explanation (tools run on
    ``executor``, in this process by default; files are read under ``files``, local by default)."""
    run = Session(settings, executor=executor, files=files)
    chosen = brain or make_brain(backend)
    investigation_id, first = run.create(subject, model, backend, budget or Budget())
    return run.run(investigation_id, chosen, first, on_step)


def resume(
    investigation_id: int,
    *,
    settings: Settings | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    brain: BaseChatModel | None = None,
    executor: Executor | None = None,
) -> ExplainResult:
    """Continue a crashed investigation from its last checkpoint; finished experiments are not rerun."""
    run = Session(settings, executor=executor)
    row = get_investigation(run.engine, investigation_id)
    if find_explanation(run.engine, investigation_id) is not None:
        return run.result(investigation_id)
    return run.run(investigation_id, brain or make_brain(row.backend), None, on_step)


def show(investigation_id: int, settings: Settings | None = None) -> dict[str, Any]:
    """Everything stored about an investigation."""
    return investigation_record(Session(settings).engine, investigation_id)
