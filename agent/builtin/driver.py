"""The builtin scientist's driver: read the conversation, replay the policy, answer with the next step.

Message protocol (what the graph writes, what this reads):

* ``messages[0]`` is the system prompt (ignored); the first ``HumanMessage`` ends with a JSON line
  ``{"subject": ..., "model": ..., "kind": "model_unit" | "numeric" | "string" | "entity",
  "budget": {"tool_calls": N}}``;
* every tool call is answered by a ``ToolMessage`` (same ``tool_call_id``) whose content is JSON
  ``{"experiment_id", "ok", "result", "error"}``; the internal tools ``propose_hypothesis``,
  ``record_evidence`` and ``final_explanation`` answer in the same shape;
* the graph's own notes are ``HumanMessage``s marked with ``agent.notes.NOTE_KEY`` in
  ``additional_kwargs``: `Note.budget_spent` (give the final explanation now) and `Note.nudge`
  (continue). The marker is read, never the wording.

How statelessness works: a policy (``agent.builtin.units`` for model units, ``agent.builtin.numeric``,
``agent.builtin.strings`` and ``agent.builtin.entities`` for functions) is a deterministic *generator*
that yields steps (lists of tool calls) and receives their outcomes. On every call the generator is
replayed from the start, fed the outcomes already in the conversation (matched by the call ids
``bi-<n>-<tool>`` it gave them), until it yields a step that has not run yet: that step is the answer.
A resumed investigation (the same messages from a checkpoint) therefore continues exactly where it
stopped, and a call id repeated after a crash lets the graph reuse the experiment it already stored.

Budget: when the tool calls in the conversation reach ``budget.tool_calls − 1`` the next answer is
``final_explanation`` with the best explanation the evidence so far supports; the budget note finishes
at once, the nudge continues. A ``HumanMessage`` without a marker, after the task, is a person's: a
short request to go on ("continue", "keep going", not a question) continues the investigation before
it has finished; any other message starts a chat turn (``agent.builtin.chat_turns``): the request is
parsed (``agent.builtin.chat_requests``), the subject's handler (``agent.builtin.unit_chat``,
``agent.builtin.function_chat``) runs its experiments (call ids ``chat-<n>-<tool>``, left out of the
policy's replay) and answers in words with their numbers and experiment ids; a message it cannot map
is answered with what it can do. A chat turn has the whole tool-call budget again (the graph resets
it for each message of a person).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from agent.builtin.chat_turns import CHAT_PREFIX, Handler, chat_reply, summary_text
from agent.builtin.entities import EntityPolicy
from agent.builtin.function_chat import function_turn
from agent.builtin.numeric import NumericPolicy
from agent.builtin.protocol import MISSING, Call, Final, Options, Outcome, Policy, Step, Task, content_text
from agent.builtin.strings import StringPolicy
from agent.builtin.unit_chat import unit_turn
from agent.builtin.units import UnitPolicy
from agent.notes import Note, note_of

__all__ = ["CHAT_PREFIX", "DEFAULT_TOOL_CALLS", "OWN_PREFIX", "make_policy", "replay", "respond"]

DEFAULT_TOOL_CALLS = 24
OWN_PREFIX = "bi-"

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

POLICIES: dict[str, type[Policy]] = {
    "model_unit": UnitPolicy,
    "numeric": NumericPolicy,
    "string": StringPolicy,
    "entity": EntityPolicy,
}
"""Subject kind → its policy (any other kind is treated as an entity)."""

PERSON_CONTINUE = re.compile(r"^\W*(please\W+)?(continue|go on|keep going|resume|carry on)\b[^?]*$", re.I)
"""A person's request to go on with the investigation (a short imperative, not a question)."""


DOMAINS: dict[str, str] = {"model_unit": "unit", "numeric": "numeric", "string": "string"}
"""Subject kind → the chat parser's domain (any other kind is an entity function)."""


def make_policy(task: Task) -> Policy:
    """The policy for the task's kind (model units, numeric, string, entity)."""
    return POLICIES.get(task.kind, EntityPolicy)(task)


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
        shared=payload["shared"] if isinstance(payload.get("shared"), dict) else {},
    )
    transcript = read_transcript(messages, task_index)
    last = messages[-1]

    if isinstance(last, HumanMessage) and len(messages) - 1 > task_index:
        note = note_of(last)
        if note is Note.budget_spent and transcript.final is None:
            return _finish(task, transcript)
        if note is None:  # a person's message: go on when asked to, else answer it
            text = content_text(last.content)
            if not (transcript.final is None and len(text) < 200 and PERSON_CONTINUE.match(text)):
                return _chat(messages, task_index, task, transcript)
    elif isinstance(last, ToolMessage) and last.tool_call_id.startswith(CHAT_PREFIX):
        return _chat(messages, task_index, task, transcript)
    if transcript.final is not None:
        return AIMessage(content=summary_text(transcript.final, finished=True))
    return _advance(task, transcript)


def _chat(messages: Sequence[BaseMessage], task_index: int, task: Task, transcript: Transcript) -> AIMessage:
    """The next message of the chat turn in progress."""
    policy = replay(task, transcript.own).policy
    domain = DOMAINS.get(task.kind, "entity")
    handler: Handler = unit_turn if domain == "unit" else function_turn
    return chat_reply(messages, task_index, task, policy, domain, handler)


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
