"""The ``builtin`` brain: a no-LLM scientist written as a LangChain chat model.

``BuiltinScientist`` is a ``BaseChatModel``: the investigation graph binds the tools to it and invokes
it like any LLM; each call reads the conversation and answers with the next ``AIMessage`` — tool calls
with one sentence of reasoning, the ``final_explanation`` call, or (for a person's follow-up question)
plain text. It keeps no state between calls: everything comes from the messages.

Message protocol (what the graph writes, what this reads):

* ``messages[0]`` is the system prompt (ignored); the first ``HumanMessage`` ends with a JSON line
  ``{"subject": ..., "model": ..., "kind": "model_unit" | "numeric" | "string" | "entity",
  "budget": {"tool_calls": N}}``;
* every tool call is answered by a ``ToolMessage`` (same ``tool_call_id``) whose content is JSON
  ``{"experiment_id", "ok", "result", "error"}``; the internal tools ``propose_hypothesis``,
  ``record_evidence`` and ``final_explanation`` answer in the same shape.

How statelessness works: a policy (``agent.builtin_units`` for model units, ``agent.builtin_functions``
for numeric, string and entity functions) is a deterministic *generator* that yields steps (lists of
tool calls) and receives their outcomes. On every call the generator is replayed from the start,
fed the outcomes already in the conversation (matched by the call ids ``bi-<n>-<tool>`` it gave
them), until it yields a step that has not run yet: that step is the answer. A resumed investigation
(the same messages from a checkpoint) therefore continues exactly where it stopped, and a call id
repeated after a crash lets the graph reuse the experiment it already stored.

Budget: when the tool calls in the conversation reach ``budget.tool_calls − 1`` the next answer is
``final_explanation`` with the best explanation the evidence so far supports. The graph's notes are
recognised: "Your budget is used up … call final_explanation" finishes at once, "Continue the
investigation" continues it. Any other later ``HumanMessage`` is a person's question: a request to
test something ("test it on 'the cat smelled of fish'", "what is f(3)?") runs one experiment (call ids
``chat-<n>-<tool>``, left out of the replay) and the next answer describes its outcome in words;
anything else is answered with the current best explanation as plain text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import Field

DEFAULT_TOOL_CALLS = 24
OWN_PREFIX = "bi-"
CHAT_PREFIX = "chat-"
INTERNAL = ("propose_hypothesis", "record_evidence", "final_explanation")
MAX_LABEL_WORDS = 8

# --------------------------------------------------------------------------------------------------
# Policy protocol: tasks, calls, outcomes, steps, the final explanation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """Knobs of the builtin scientist that are not in the conversation.

    exemplar_tokens: corpus tokens for an exemplar cache built during an investigation (None: the
                     tool's default, 100k); small models in tests use fewer.
    """

    exemplar_tokens: int | None = None


@dataclass(frozen=True)
class Task:
    """What to investigate, parsed from the first ``HumanMessage``."""

    subject: str
    model: str | None
    kind: str
    budget: int
    tools: frozenset[str] | None = None
    options: Options = field(default_factory=Options)

    def can(self, tool: str) -> bool:
        """Whether ``tool`` was offered (everything is, when no tools were bound)."""
        return self.tools is None or tool in self.tools


@dataclass(frozen=True)
class Call:
    """A tool call a policy wants made."""

    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """A tool call's answer, read from its ``ToolMessage``."""

    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None
    experiment_id: int | None = None

    @classmethod
    def parse(cls, content: Any) -> Outcome:
        """Read a ToolMessage's JSON content; anything unreadable is a failed outcome."""
        text = content_text(content)
        try:
            data = json.loads(text)
        except ValueError:
            return cls(ok=False, error=text[:500] or "unreadable tool result")
        if not isinstance(data, dict):
            return cls(ok=False, error="unreadable tool result")
        result = data.get("result")
        experiment_id = data.get("experiment_id")
        return cls(
            ok=bool(data.get("ok")) and (result is not None or "result_truncated" not in data),
            result=result if isinstance(result, dict) else None,
            error=str(data["error"]) if data.get("error") else None,
            experiment_id=experiment_id if isinstance(experiment_id, int) else None,
        )


MISSING = Outcome(ok=False, error="no result was returned for this call")


@dataclass(frozen=True)
class Step:
    """Tool calls to make together, with one sentence saying why."""

    reason: str
    calls: list[Call]


@dataclass(frozen=True)
class Final:
    """The explanation (DESIGN §4), the arguments of ``final_explanation``."""

    label: str
    description: str
    confidence: float
    evidence: list[int] = field(default_factory=list)
    code: str | None = None
    domain: Any = None
    reason: str = "I have enough evidence; here is my explanation."

    def args(self) -> dict[str, Any]:
        """The ``final_explanation`` arguments, with the label clipped to 8 words."""
        return {
            "label": clip_words(self.label) or "no conclusion",
            "description": self.description.strip() or "No description.",
            "code": self.code,
            "domain": self.domain,
            "confidence": round(min(1.0, max(0.0, float(self.confidence))), 3),
            "evidence": sorted({int(e) for e in self.evidence}),
        }


PolicyRun = Generator[Step, list[Outcome], Final]


class Policy:
    """Base of the investigation policies: a deterministic generator of steps, plus the best
    explanation of what was seen so far (used when the budget runs out).

    Subclasses implement ``steps`` (yield ``Step``s, receive their outcomes, return a ``Final``),
    ``best`` and optionally ``chat_call`` / ``describe`` for follow-up questions. Everything a
    policy does must depend only on the task and the outcomes it received (no clocks, no unseeded
    randomness, no iteration over sets of strings), or a replay would diverge.
    """

    def __init__(self, task: Task) -> None:
        self.task = task
        self.used = 0  # tool calls of this policy replayed so far (set by the driver)

    def remaining(self) -> int:
        """Tool calls still allowed before the one reserved for ``final_explanation``."""
        return self.task.budget - 1 - self.used

    def steps(self) -> PolicyRun:
        """The investigation: yield steps, receive outcomes, return the explanation."""
        raise NotImplementedError

    def best(self) -> Final:
        """The best explanation the outcomes received so far support."""
        raise NotImplementedError

    def chat_call(self, question: str) -> Call | None:
        """The experiment a person's question asks for (None: answer in words)."""
        return None

    def describe(self, call: Call, outcome: Outcome) -> str:
        """One or two sentences about the outcome of a ``chat_call``."""
        if not outcome.ok:
            return f"That experiment failed: {outcome.error}"
        return f"{call.name} returned: {json.dumps(outcome.result)[:600]}"


# --------------------------------------------------------------------------------------------------
# Small helpers shared by the policies
# --------------------------------------------------------------------------------------------------


def clip_words(text: str, limit: int = MAX_LABEL_WORDS) -> str:
    """The first ``limit`` words of ``text``."""
    return " ".join(text.split()[:limit])


def content_text(content: Any) -> str:
    """The text of a message's content (a string, or a list of text blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return str(content)


def fmt(value: float, digits: int = 4) -> str:
    """A number for people: integers without decimals, else ``digits`` significant digits."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if abs(value - round(value)) <= 1e-6 * max(1.0, abs(value)):
        return str(round(value))
    return f"{value:.{digits}g}"


def quoted(text: str) -> list[str]:
    """Strings in quotes ('…', "…", “…”) inside ``text``."""
    found = re.findall(r"\"([^\"]+)\"|“([^”]+)”|(?<![A-Za-z])'([^']+)'(?![A-Za-z])", text)
    return [next(g for g in groups if g) for groups in found]


# --------------------------------------------------------------------------------------------------
# Reading the conversation
# --------------------------------------------------------------------------------------------------


@dataclass
class Record:
    """One tool call in the conversation and its outcome (None while unanswered)."""

    id: str
    name: str
    args: dict[str, Any]
    outcome: Outcome | None


@dataclass
class Transcript:
    """What the conversation holds, in order."""

    task_index: int
    own: list[Record]
    calls: dict[str, Record]
    total_calls: int
    final: dict[str, Any] | None


def parse_task(messages: Sequence[BaseMessage]) -> tuple[int, dict[str, Any]] | None:
    """The index of the task message and its JSON payload (the last JSON-object line with a subject)."""
    for index, message in enumerate(messages):
        if not isinstance(message, HumanMessage):
            continue
        for line in reversed(content_text(message.content).strip().splitlines()):
            line = line.strip()
            if not (line.startswith("{") and line.endswith("}")):
                continue
            try:
                payload = json.loads(line)
            except ValueError:
                continue
            if isinstance(payload, dict) and isinstance(payload.get("subject"), str):
                return index, payload
        return None  # the first human message is the task; it has no payload
    return None


def read_transcript(messages: Sequence[BaseMessage], task_index: int) -> Transcript:
    """Every tool call with its outcome; this policy's own calls in order; the final explanation."""
    calls: dict[str, Record] = {}
    own: list[Record] = []
    positions: dict[str, int] = {}
    total = 0
    final: dict[str, Any] | None = None
    for message in messages[task_index + 1 :]:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                call_id = call.get("id") or ""
                record = Record(call_id, call["name"], dict(call.get("args") or {}), None)
                calls[call_id] = record
                if call["name"] == "final_explanation":
                    final = record.args
                    continue
                total += 1
                if call_id.startswith(OWN_PREFIX):
                    if call_id in positions:  # asked again after it went unanswered: keep one record
                        own[positions[call_id]] = record
                        total -= 1
                    else:
                        positions[call_id] = len(own)
                        own.append(record)
        elif isinstance(message, ToolMessage) and message.tool_call_id in calls:
            calls[message.tool_call_id].outcome = Outcome.parse(message.content)
    return Transcript(task_index, own, calls, total, final)


# --------------------------------------------------------------------------------------------------
# The driver: replay the policy, answer with the next step
# --------------------------------------------------------------------------------------------------

BUDGET_NOTE = re.compile(r"budget.*(used up|exhausted|spent|ran out)|final_explanation now", re.I | re.S)
CONTINUE_NOTE = re.compile(r"\b(continue|go on|keep going|resume|carry on)\b", re.I)


def make_policy(task: Task) -> Policy:
    """The policy for the task's kind (model units, numeric, string, entity)."""
    if task.kind == "model_unit":
        from agent.builtin_units import UnitPolicy

        return UnitPolicy(task)
    from agent.builtin_entities import EntityPolicy
    from agent.builtin_functions import NumericPolicy, StringPolicy

    if task.kind == "numeric":
        return NumericPolicy(task)
    if task.kind == "string":
        return StringPolicy(task)
    return EntityPolicy(task)


def _ai(reason: str, calls: list[tuple[str, Call]]) -> AIMessage:
    return AIMessage(
        content=reason,
        tool_calls=[{"name": c.name, "args": c.args, "id": call_id, "type": "tool_call"} for call_id, c in calls],
    )


def _final_message(final: Final, index: int) -> AIMessage:
    return _ai(final.reason, [(f"{OWN_PREFIX}{index}-final_explanation", Call("final_explanation", final.args()))])


@dataclass
class Replay:
    """Where the replay of a policy stopped."""

    policy: Policy
    pending: Step | Final | None  # the first step not fully answered (None: the history diverged)
    answered: int  # how many calls of ``pending`` are already in the conversation
    index: int  # own calls consumed so far


def replay(task: Task, own: list[Record]) -> Replay:
    """Run the policy, feeding it the recorded outcomes, up to its first step not yet answered."""
    policy = make_policy(task)
    run = policy.steps()
    index = 0
    try:
        item: Step | Final = next(run)
    except StopIteration as stop:
        return Replay(policy, stop.value, 0, 0)
    while True:
        if isinstance(item, Final):
            return Replay(policy, item, 0, index)
        calls = item.calls
        records = own[index : index + len(calls)]
        for call, record in zip(calls, records, strict=False):
            if call.name != record.name:
                return Replay(policy, None, 0, index)  # not this policy's history: stop trusting it
        answered = 0
        while answered < len(records) and records[answered].outcome is not None:
            answered += 1
        if answered < len(calls) or not calls:
            return Replay(policy, item, answered, index)
        index += len(calls)
        policy.used = index
        try:
            item = run.send([r.outcome or MISSING for r in records])
        except StopIteration as stop:
            return Replay(policy, stop.value, 0, index)


def respond(messages: Sequence[BaseMessage], tools: frozenset[str] | None, options: Options) -> AIMessage:
    """The builtin scientist's next message for a conversation."""
    found = parse_task(messages)
    if found is None:
        return AIMessage(
            content="I need a task: a human message ending with a JSON line "
            '{"subject": ..., "model": ..., "kind": ..., "budget": {"tool_calls": N}}.'
        )
    task_index, payload = found
    budget = payload.get("budget") if isinstance(payload.get("budget"), dict) else {}
    assert isinstance(budget, dict)
    tool_calls = budget.get("tool_calls")
    task = Task(
        subject=str(payload["subject"]),
        model=payload.get("model") if isinstance(payload.get("model"), str) else None,
        kind=str(payload.get("kind") or "model_unit"),
        budget=int(tool_calls) if isinstance(tool_calls, int | float) and tool_calls >= 1 else DEFAULT_TOOL_CALLS,
        tools=tools,
        options=options,
    )
    transcript = read_transcript(messages, task_index)
    last = messages[-1]

    if isinstance(last, HumanMessage) and len(messages) - 1 > task_index:
        text = content_text(last.content)
        if BUDGET_NOTE.search(text) and transcript.final is None:
            return _finish(task, transcript)
        if not (CONTINUE_NOTE.search(text) and transcript.final is None and len(text) < 200):
            return _answer_question(task, transcript, text, len(messages))
    elif isinstance(last, ToolMessage) and last.tool_call_id.startswith(CHAT_PREFIX):
        record = transcript.calls.get(last.tool_call_id)
        if record is not None:
            policy = replay(task, transcript.own).policy
            return AIMessage(content=policy.describe(Call(record.name, record.args), record.outcome or MISSING))
    if transcript.final is not None:
        return AIMessage(content=_summary(transcript.final, finished=True))
    return _advance(task, transcript)


def _advance(task: Task, transcript: Transcript) -> AIMessage:
    state = replay(task, transcript.own)
    if isinstance(state.pending, Final):
        return _final_message(state.pending, state.index)
    allowed = task.budget - 1 - transcript.total_calls
    if state.pending is None or allowed <= 0 or not state.pending.calls:
        return _final_message(_forced(state.policy), state.index + state.answered)
    todo = state.pending.calls[state.answered :][:allowed]
    first = state.index + state.answered
    return _ai(state.pending.reason, [(f"{OWN_PREFIX}{first + k}-{c.name}", c) for k, c in enumerate(todo)])


def _finish(task: Task, transcript: Transcript) -> AIMessage:
    state = replay(task, transcript.own)
    if isinstance(state.pending, Final):
        return _final_message(state.pending, state.index)
    return _final_message(_forced(state.policy), state.index + state.answered)


def _forced(policy: Policy) -> Final:
    final = policy.best()
    return Final(
        label=final.label,
        description=final.description,
        confidence=final.confidence,
        evidence=final.evidence,
        code=final.code,
        domain=final.domain,
        reason="The budget is nearly spent, so I give the best explanation the evidence so far supports.",
    )


def _summary(final: dict[str, Any], *, finished: bool) -> str:
    head = "My explanation" if finished else "My current best hypothesis"
    confidence = final.get("confidence")
    tail = f" (confidence {float(confidence):.2f})" if isinstance(confidence, int | float) else ""
    description = str(final.get("description", ""))
    if len(description) > 400:  # a chat answer stays brief
        description = description[:400].rsplit(" ", 1)[0] + " …"
    text = f"{head}: {final.get('label', '')}{tail}. {description}"
    if final.get("code"):
        text += f"\nCode:\n{final['code']}"
    if final.get("domain"):
        text += f"\nDomain: {final['domain']}"
    return text


def _answer_question(task: Task, transcript: Transcript, question: str, n_messages: int) -> AIMessage:
    state = replay(task, transcript.own)
    call = state.policy.chat_call(question)
    over = transcript.total_calls >= task.budget
    if call is not None and task.can(call.name) and not over:
        return _ai("You asked for an experiment; running it.", [(f"{CHAT_PREFIX}{n_messages}-{call.name}", call)])
    if transcript.final is not None:
        return AIMessage(content=_summary(transcript.final, finished=True))
    return AIMessage(content=_summary(_forced(state.policy).args(), finished=False))


# --------------------------------------------------------------------------------------------------
# The chat model
# --------------------------------------------------------------------------------------------------


def _tool_name(tool: Any) -> str | None:
    if isinstance(tool, BaseTool):
        return tool.name
    if isinstance(tool, dict):
        if isinstance(tool.get("function"), dict):
            name = tool["function"].get("name")
        else:
            name = tool.get("name") or tool.get("title")
        return name if isinstance(name, str) else None
    name = getattr(tool, "__name__", None)
    return name if isinstance(name, str) else None


class BuiltinScientist(BaseChatModel):
    """A scientist without an LLM, behind LangChain's chat-model interface.

    ``bind_tools`` returns this scientist knowing the offered tools by name (tools not offered are
    not called; with none bound, every tool is assumed available); ``invoke(messages)`` returns the
    next ``AIMessage`` (see the module docstring for the protocol and the policies).
    """

    exemplar_tokens: int | None = Field(
        None, description="Corpus tokens for an exemplar cache built during an investigation (None: default)."
    )
    tool_names: list[str] | None = Field(None, description="Tools offered by bind_tools (None: all).")

    @property
    def _llm_type(self) -> str:
        return "autointerp-builtin"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"exemplar_tokens": self.exemplar_tokens}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """This scientist, knowing the tools offered by name (their schemas are not needed)."""
        names = [n for n in (_tool_name(t) for t in tools) if n]
        return self.model_copy(update={"tool_names": names})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = frozenset(self.tool_names) | frozenset(INTERNAL) if self.tool_names else None
        message = respond(messages, tools, Options(exemplar_tokens=self.exemplar_tokens))
        return ChatResult(generations=[ChatGeneration(message=message)])
