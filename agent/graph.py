"""The investigation graph (LangGraph ``StateGraph``): think → act → think … → explanation.

Nodes:

* ``think``    the model (any LangChain chat model with tools bound: OpenAI, Anthropic, the builtin
               scientist, a scripted test model) reads the conversation and proposes tool calls;
* ``act``      runs them: experiment tools through the Executor, the agent's own tools
               (hypotheses, evidence, final explanation) against the store. Every call is written
               to the store as it happens, keyed by its call id, so a replay after a crash finds
               the rows it wrote instead of repeating the experiment;
* ``nudge``    a model that answers without calling a tool is reminded (twice at most);
* ``fallback`` writes the best explanation the store supports when the model will not finish.

Budgets (tool calls, wall seconds, LLM tokens) are checked before each ``think``; when one runs out
the model is asked once for its final explanation, and ``fallback`` guarantees one exists. In a chat
(``Investigator.chat``) every message of the person starts a turn with the whole budget again (the
first turn is the investigation), and a ``final_explanation`` after the first stores a new version of
the explanation (``store.investigations.revise_explanation``): the model revises it as the chat goes. The budget
note and the nudge carry a machine-readable marker (``agent.notes``) beside their English. The
LangGraph checkpointer keeps the thread (SQLite beside the store, or PostgreSQL), with an explicit
recursion limit.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Engine

from agent.internal_tools import (
    INTERNAL_TOOLS,
    FinalExplanationArgs,
    ProposeHypothesisArgs,
    RecordEvidenceArgs,
    internal_tool_schemas,
)
from agent.notes import Note, note_message, note_of
from store.errors import AutointerpError
from store.investigations import (
    add_evidence,
    add_experiment,
    add_hypothesis,
    find_experiment,
    list_hypotheses,
    revise_explanation,
    save_explanation,
)
from store.models import Hypothesis, HypothesisStatus
from tools.executor import Executor, ToolCall, ToolResult

BUDGET_NOTE = (
    "Your budget is used up ({reason}). Call final_explanation now with your best explanation and the "
    "experiment ids that support it."
)
"""Said once when a budget runs out (marked `Note.budget_spent`: programs read the marker, not this text)."""
NUDGE_NOTE = "Continue the investigation: call a tool, or call final_explanation if you are done."
"""Said to a model that answered without a tool call (marked `Note.nudge`)."""
MAX_NUDGES = 2


class Budget(BaseModel):
    """Limits of one investigation."""

    tool_calls: int = Field(24, ge=1, le=1000)
    seconds: float = Field(900.0, gt=0)
    tokens: int = Field(400_000, ge=1)


class InvestigationState(TypedDict, total=False):
    """What the checkpointer keeps per thread."""

    messages: Annotated[list[AnyMessage], add_messages]
    tool_calls: int
    tokens: int
    seconds: float
    nudges: int
    budget_warned: bool
    done: bool
    explanation_id: int | None
    turn_start: dict[str, float]  # in a chat: the counters when the person's last message came


@dataclass
class Investigator:
    """Everything the graph's nodes need for one investigation (rebuilt from the store on resume).

    ``tools`` are the experiment tools offered (names in the executor's registry);
    ``max_result_chars`` truncates tool results shown to LLMs (None: full JSON, for the builtin).
    ``on_step`` is called with a short description of each step (chat streaming, progress).
    """

    engine: Engine
    executor: Executor
    model: BaseChatModel
    investigation_id: int
    subject_id: int
    subject_model: str | None
    tools: list[str]
    budget: Budget = field(default_factory=Budget)
    chat: bool = False
    max_result_chars: int | None = None
    on_step: Callable[[dict[str, Any]], None] | None = None

    # ------------------------------------------------------------------ graph
    def build(self, checkpointer: Any = None) -> Any:
        """Compile the StateGraph with ``checkpointer`` (None: no persistence of the thread)."""
        graph = StateGraph(InvestigationState)
        graph.add_node("think", self.think)
        graph.add_node("act", self.act)
        graph.add_node("nudge", self.nudge)
        graph.add_node("fallback", self.fallback)
        graph.add_edge(START, "think")
        graph.add_conditional_edges("think", self.after_think, ["act", "nudge", "fallback", END])
        graph.add_conditional_edges("act", self.after_act, ["think", END])
        graph.add_edge("nudge", "think")
        graph.add_edge("fallback", END)
        return graph.compile(checkpointer=checkpointer)

    def recursion_limit(self) -> int:
        """Explicit recursion limit: a few graph steps per allowed tool call, plus slack."""
        return 4 * self.budget.tool_calls + 30

    @cached_property
    def _bound_model(self) -> Any:
        """The chat model with the tools bound (their JSON schemas are built once per investigation run)."""
        schemas = [spec.openai_schema() for spec in (self.executor.registry.get(n) for n in self.tools)]
        return self.model.bind_tools(schemas + internal_tool_schemas())

    def _exhausted(self, state: InvestigationState) -> str | None:
        start = state.get("turn_start") or {}
        if state.get("tool_calls", 0) - start.get("tool_calls", 0) >= self.budget.tool_calls:
            return f"{self.budget.tool_calls} tool calls"
        if state.get("seconds", 0.0) - start.get("seconds", 0.0) >= self.budget.seconds:
            return f"{self.budget.seconds:g} seconds"
        if state.get("tokens", 0) - start.get("tokens", 0) >= self.budget.tokens:
            return f"{self.budget.tokens} tokens"
        return None

    def _new_turn(self, state: InvestigationState) -> dict[str, Any]:
        """In a chat, a person's message (not one of the graph's notes) starts a turn with a fresh budget."""
        messages = state.get("messages") or []
        last = messages[-1] if messages else None
        if not self.chat or not isinstance(last, HumanMessage) or note_of(last) is not None:
            return {}
        start = {
            "tool_calls": float(state.get("tool_calls", 0)),
            "seconds": float(state.get("seconds", 0.0)),
            "tokens": float(state.get("tokens", 0)),
        }
        return {"turn_start": start, "budget_warned": False, "nudges": 0}

    # ------------------------------------------------------------------ nodes
    def think(self, state: InvestigationState) -> dict[str, Any]:
        """Ask the model for its next step (after a budget note when the budget is spent)."""
        started = time.perf_counter()
        new: list[AnyMessage] = []
        update: dict[str, Any] = self._new_turn(state)
        state = {**state, **update}  # type: ignore[typeddict-item]
        reason = self._exhausted(state)
        if reason and not state.get("budget_warned"):
            new.append(note_message(BUDGET_NOTE.format(reason=reason), Note.budget_spent))
            update["budget_warned"] = True
        reply = self._bound_model.invoke(list(state.get("messages", [])) + new)
        if not isinstance(reply, AIMessage):
            reply = AIMessage(content=str(getattr(reply, "content", reply)))
        # add_messages merges messages by id; provider ids may repeat (stubs, some servers), ours never do
        reply = reply.model_copy(update={"id": f"ai-{uuid.uuid4().hex}"})
        total = reply.usage_metadata["total_tokens"] if reply.usage_metadata else 0
        update["tokens"] = state.get("tokens", 0) + int(total)
        update["seconds"] = state.get("seconds", 0.0) + time.perf_counter() - started
        update["messages"] = [*new, reply]
        self._emit({"step": "think", "text": _text_of(reply), "tool_calls": [c["name"] for c in reply.tool_calls]})
        return update

    def after_think(self, state: InvestigationState) -> str:
        """Route: run the calls, nudge a silent model, or fall back when the budget is spent."""
        reply = state["messages"][-1]
        assert isinstance(reply, AIMessage)
        calls = [c["name"] for c in reply.tool_calls]
        if state.get("budget_warned") and "final_explanation" not in calls:
            return "fallback"
        if calls or reply.invalid_tool_calls:
            return "act"
        if self.chat:
            return END
        return "nudge" if state.get("nudges", 0) < MAX_NUDGES else "fallback"

    def nudge(self, state: InvestigationState) -> dict[str, Any]:
        """Remind a model that answered without a tool call."""
        return {"messages": [note_message(NUDGE_NOTE, Note.nudge)], "nudges": state.get("nudges", 0) + 1}

    def act(self, state: InvestigationState) -> dict[str, Any]:
        """Run every tool call of the last reply; write each to the store; answer with ToolMessages."""
        started = time.perf_counter()
        reply = state["messages"][-1]
        assert isinstance(reply, AIMessage)
        messages: list[AnyMessage] = []
        used = state.get("tool_calls", 0)
        update: dict[str, Any] = {}
        for bad in reply.invalid_tool_calls:
            call_id = bad.get("id") or f"invalid-{len(messages)}"
            messages.append(
                _tool_message(
                    call_id,
                    None,
                    False,
                    None,
                    f"could not read the call to {bad.get('name')!r}: {bad.get('error')}",
                    self.max_result_chars,
                )
            )
        for call in reply.tool_calls:
            call_id = call.get("id") or f"call-{used}"
            name, args = call["name"], dict(call.get("args") or {})
            if name in INTERNAL_TOOLS:
                content, explanation_id = self._internal(name, args, call_id)
                messages.append(ToolMessage(content=content, tool_call_id=call_id, name=name))
                if explanation_id is not None:
                    update["explanation_id"] = explanation_id
                    update["done"] = not self.chat
                continue
            used += 1
            messages.append(self._experiment(name, args, call_id))
        update.update(
            messages=messages, tool_calls=used, seconds=state.get("seconds", 0.0) + time.perf_counter() - started
        )
        return update

    def after_act(self, state: InvestigationState) -> str:
        """Stop after the final explanation (outside chat), else think again."""
        return END if state.get("done") else "think"

    def fallback(self, state: InvestigationState) -> dict[str, Any]:
        """Write an explanation from the store when the model would not: never leave it empty."""
        best = _best_hypothesis(self.engine, self.investigation_id)
        if best is None:
            fields = FinalExplanationArgs(
                label="no conclusion",
                description="The investigation ended before any hypothesis was proposed.",
                confidence=0.0,
            )
        else:
            fields = FinalExplanationArgs(
                label=best.text[:60], description=best.text, confidence=float(best.confidence or 0.3) * 0.5
            )
        row = save_explanation(
            self.engine, subject_id=self.subject_id, investigation_id=self.investigation_id, fields=fields.model_dump()
        )
        self._emit({"step": "fallback", "label": row.label})
        return {"explanation_id": row.id, "done": True}

    # ------------------------------------------------------------------ calls
    def _experiment(self, name: str, args: dict[str, Any], call_id: str) -> ToolMessage:
        stored = find_experiment(self.engine, self.investigation_id, call_id)
        if stored is not None:  # replayed after a crash: reuse, do not run or record again
            outcome = stored.result_summary or {}
            self._emit({"step": "replay", "tool": name, "experiment_id": stored.id})
            return _tool_message(
                call_id,
                stored.id,
                bool(outcome.get("ok")),
                outcome.get("result"),
                outcome.get("error"),
                self.max_result_chars,
                name,
            )
        if name not in self.tools:
            error = f"unknown tool {name!r}; available: {', '.join(self.tools + list(INTERNAL_TOOLS))}"
            result = ToolResult(call_id=call_id, tool=name, ok=False, error=error)
        else:
            spec = self.executor.registry.get(name)
            if self.subject_model is not None and "model" in spec.args_model.model_fields:
                args["model"] = self.subject_model  # experiments always run on the investigated model
            result = self.executor.run(ToolCall(tool=name, args=args, id=call_id))
        row = add_experiment(
            self.engine,
            investigation_id=self.investigation_id,
            call_id=call_id,
            tool=name,
            args=args,
            result={"ok": result.ok, "result": result.result, "error": result.error},
            seconds=result.seconds,
            cache_key=result.cache_key,
        )
        summary = _summary(result.result, result.error)
        self._emit(
            {"step": "tool", "tool": name, "args": args, "experiment_id": row.id, "ok": result.ok, "summary": summary}
        )
        return _tool_message(call_id, row.id, result.ok, result.result, result.error, self.max_result_chars, name)

    def _internal(self, name: str, args: dict[str, Any], call_id: str) -> tuple[str, int | None]:
        model, _ = INTERNAL_TOOLS[name]
        try:
            parsed = model.model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            return _content(None, False, None, f"invalid arguments for {name}: {problems}"), None
        try:
            if isinstance(parsed, ProposeHypothesisArgs):
                row = add_hypothesis(
                    self.engine,
                    investigation_id=self.investigation_id,
                    call_id=call_id,
                    text=parsed.text,
                    confidence=parsed.confidence,
                )
                self._emit({"step": "hypothesis", "id": row.id, "text": row.text})
                return _content(None, True, {"hypothesis_id": row.id}, None), None
            if isinstance(parsed, RecordEvidenceArgs):
                rows = add_evidence(
                    self.engine, investigation_id=self.investigation_id, call_id=call_id, **parsed.model_dump()
                )
                self._emit({"step": "evidence", "hypothesis_id": parsed.hypothesis_id, "supports": parsed.supports})
                return _content(None, True, {"evidence_ids": [r.id for r in rows]}, None), None
            store = revise_explanation if self.chat else save_explanation  # a chat may revise its explanation
            explanation = store(
                self.engine,
                subject_id=self.subject_id,
                investigation_id=self.investigation_id,
                fields=parsed.model_dump(),
            )
            self._emit({"step": "explanation", "label": explanation.label})
            return _content(None, True, {"explanation_id": explanation.id}, None), explanation.id
        except AutointerpError as exc:
            return _content(None, False, None, str(exc)), None

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_step is not None:
            self.on_step(event)


def _content(experiment_id: int | None, ok: bool, result: Any, error: str | None, limit: int | None = None) -> str:
    text = json.dumps({"experiment_id": experiment_id, "ok": ok, "result": result, "error": error})
    if limit is not None and len(text) > limit:
        head = json.dumps({"experiment_id": experiment_id, "ok": ok, "error": error})
        text = head[:-1] + f', "result_truncated": {json.dumps(json.dumps(result)[:limit])}}}'
    return text


def _tool_message(
    call_id: str,
    experiment_id: int | None,
    ok: bool,
    result: Any,
    error: str | None,
    limit: int | None,
    name: str | None = None,
) -> ToolMessage:
    return ToolMessage(content=_content(experiment_id, ok, result, error, limit), tool_call_id=call_id, name=name)


def _text_of(message: AIMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(part.get("text", "") for part in content if isinstance(part, dict))


def _summary(result: dict[str, Any] | None, error: str | None) -> str:
    if error:
        return f"error: {error}"
    text = json.dumps(result)
    return text if len(text) <= 160 else text[:157] + "..."


def _best_hypothesis(engine: Engine, investigation_id: int) -> Hypothesis | None:
    rows = list_hypotheses(engine, investigation_id)
    if not rows:
        return None
    rank: dict[str, int] = {HypothesisStatus.supported: 2, HypothesisStatus.open: 1, HypothesisStatus.refuted: 0}
    return max(rows, key=lambda h: (rank.get(h.status, 0), h.confidence or 0.0, h.id or 0))
