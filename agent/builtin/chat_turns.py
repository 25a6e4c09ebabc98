"""Chat turns of the builtin scientist: a person's message → experiments → an answer grounded in them.

A chat turn starts at a person's ``HumanMessage`` (one without a graph note) after the task. Its
request (`agent.builtin.chat_requests.parse_request`) goes to a *handler*: a deterministic generator,
like a policy, that yields `Step`s (tool calls made together), receives their outcomes and returns an
`Answer` (the reply, and a `Finding` for later turns). The handlers of model units live in
``agent.builtin.unit_chat``, those of functions in ``agent.builtin.function_chat``; the requests every
subject shares (why, revise, summary, help) are here.

Statelessness, as for the investigation: on every call the driver replays the turn's handler from
the start, feeding it the outcomes already in the conversation (the AI messages after the person's
message, one per step), until it yields a step that has not run (the answer is that step's tool
calls, ids ``chat-<n>-<tool>``, n the new message's index plus the call's position, so ids never
repeat) or returns its `Answer` (the answer is its text). Earlier turns are replayed the same way to
recover their findings, so "why" and "revise" see everything said and run in the chat; a resumed
thread (``--thread``) therefore answers exactly as the first process would have.

"revise" proposes the revised claim, links the chat's experiments to it (``record_evidence``) and
calls ``final_explanation`` again: in a chat the graph stores that as a new version of the
explanation (``store.investigations.revise_explanation``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from agent.builtin.chat_requests import HELP, Request, RequestKind, parse_request
from agent.builtin.protocol import Call, Final, Outcome, Policy, Step, Task, clip_words, content_text, fmt
from agent.notes import note_of

__all__ = [
    "CHAT_PREFIX",
    "Answer",
    "ChatContext",
    "ChatRun",
    "Finding",
    "Handler",
    "chat_reply",
    "common_turn",
    "experiment_refs",
    "summary_text",
]

CHAT_PREFIX = "chat-"
INTERNAL = frozenset({"propose_hypothesis", "record_evidence", "final_explanation"})
MAX_FINDINGS_IN_DESCRIPTION = 6


@dataclass(frozen=True)
class Finding:
    """What a chat turn established, for "why" and "revise": one sentence and its experiments."""

    sentence: str
    experiments: list[int]
    supports: bool | None = None  # whether it bears out the explanation (None: neither)
    words_yes: tuple[str, ...] = ()  # words a "does it fire on" test found the unit fires on


@dataclass(frozen=True)
class Answer:
    """A turn's reply, and what it found."""

    text: str
    finding: Finding | None = None


ChatRun = Generator[Step, list[Outcome], Answer]
"""A chat turn: yields steps, receives their outcomes, returns the answer."""


@dataclass(frozen=True)
class CallRecord:
    """One tool call of the conversation and its outcome (None while unanswered)."""

    id: str
    name: str
    args: dict[str, Any]
    outcome: Outcome | None


@dataclass
class Turn:
    """A person's message and the chat steps (AI messages with ``chat-`` calls) that answered it."""

    index: int
    text: str
    steps: list[list[CallRecord]] = field(default_factory=list)


@dataclass
class ChatContext:
    """What a handler may read besides its request: the replayed policy and the conversation so far."""

    task: Task
    policy: Policy
    domain: str
    calls: list[CallRecord]  # every call before this turn, in order
    findings: list[Finding]  # of the earlier chat turns
    final: dict[str, Any] | None  # the newest final_explanation's arguments (None: not finished yet)
    versions: list[int]  # explanation ids written so far, oldest first

    def tool_of(self, experiment_id: int) -> str | None:
        """The tool that ran experiment ``experiment_id`` in this conversation."""
        for record in self.calls:
            if record.outcome is not None and record.outcome.experiment_id == experiment_id:
                return record.name
        return None


Handler = Callable[[Request, ChatContext], ChatRun]
"""A subject's chat handler: the turn for a request."""


def experiment_refs(ids: Sequence[int | None]) -> str:
    """ "[experiment #7], [experiment #8]" for the ids that exist."""
    return ", ".join(f"[experiment #{i}]" for i in ids if i is not None)


# --------------------------------------------------------------------------------------------------
# Reading the conversation
# --------------------------------------------------------------------------------------------------


def _read(messages: Sequence[BaseMessage], task_index: int) -> tuple[list[CallRecord], list[Turn], list[int]]:
    """Every call (in order), the person's turns, and the index of each call's AI message."""
    outcomes: dict[str, Outcome] = {}
    for message in messages[task_index + 1 :]:
        if isinstance(message, ToolMessage):
            outcomes[message.tool_call_id] = Outcome.parse(message.content)
    calls: list[CallRecord] = []
    where: list[int] = []
    turns: list[Turn] = []
    for index in range(task_index + 1, len(messages)):
        message = messages[index]
        if isinstance(message, HumanMessage) and note_of(message) is None:
            turns.append(Turn(index, content_text(message.content)))
        elif isinstance(message, AIMessage) and message.tool_calls:
            records = [
                CallRecord(c.get("id") or "", c["name"], dict(c.get("args") or {}), outcomes.get(c.get("id") or ""))
                for c in message.tool_calls
            ]
            calls.extend(records)
            where.extend([index] * len(records))
            if turns and all(r.id.startswith(CHAT_PREFIX) for r in records):
                turns[-1].steps.append(records)
    return calls, turns, where


def _replay(run: ChatRun, steps: list[list[CallRecord]]) -> Answer | tuple[Step, list[CallRecord] | None]:
    """Feed a handler the recorded outcomes: its answer, or its first step not (fully) answered
    (with the records of that step when it was asked already and must be asked again, same ids)."""
    try:
        item = next(run)
    except StopIteration as stop:
        return stop.value
    for recorded in steps:
        if [c.name for c in item.calls] != [r.name for r in recorded]:
            return Answer("I lost track of this request (the conversation differs from what I asked); ask again.")
        if any(r.outcome is None for r in recorded):
            return item, recorded
        try:
            item = run.send([r.outcome for r in recorded if r.outcome is not None])
        except StopIteration as stop:
            return stop.value
    return item, None


def _versions(calls: list[CallRecord]) -> list[int]:
    ids: list[int] = []
    for record in calls:
        if record.name == "final_explanation" and record.outcome is not None and record.outcome.result:
            value = record.outcome.result.get("explanation_id")
            if isinstance(value, int) and value not in ids:
                ids.append(value)
    return ids


def _final(calls: list[CallRecord]) -> dict[str, Any] | None:
    finals = [r.args for r in calls if r.name == "final_explanation" and r.outcome is not None and r.outcome.ok]
    return finals[-1] if finals else None


def chat_reply(
    messages: Sequence[BaseMessage], task_index: int, task: Task, policy: Policy, domain: str, handler: Handler
) -> AIMessage:
    """The next message of the chat turn in progress (the person's last message and what followed)."""
    calls, turns, where = _read(messages, task_index)
    if not turns:
        return AIMessage(content=HELP)
    findings: list[Finding] = []
    for turn in turns:
        before = [c for c, at in zip(calls, where, strict=True) if at < turn.index]
        context = ChatContext(task, policy, domain, before, list(findings), _final(before), _versions(before))
        request = parse_request(turn.text, domain)
        state = _replay(handler(request, context), turn.steps)
        if turn is not turns[-1]:
            if isinstance(state, Answer) and state.finding is not None:
                findings.append(state.finding)
            continue
        if isinstance(state, Answer):
            return AIMessage(content=state.text)
        step, asked = state
        if asked is not None:  # asked before, unanswered (a crash between the call and its result)
            return _ai(step.reason, [(r.id, Call(r.name, r.args)) for r in asked])
        refused = _refusal(task, turn, step)
        if refused is not None:
            return AIMessage(content=refused)
        first = len(messages)
        return _ai(step.reason, [(f"{CHAT_PREFIX}{first + k}-{c.name}", c) for k, c in enumerate(step.calls)])
    raise AssertionError("unreachable: the last turn returns")


def _refusal(task: Task, turn: Turn, step: Step) -> str | None:
    missing = [c.name for c in step.calls if not task.can(c.name)]
    if missing:
        return f"I cannot run that here: the tool {missing[0]!r} is not offered in this chat."
    used = sum(1 for s in turn.steps for r in s if r.name not in INTERNAL)
    if used + sum(1 for c in step.calls if c.name not in INTERNAL) > task.budget:
        return f"That needs more than the {task.budget} tool calls one chat turn may use; ask for less at once."
    return None


def _ai(reason: str, calls: list[tuple[str, Call]]) -> AIMessage:
    return AIMessage(
        content=reason,
        tool_calls=[{"name": c.name, "args": c.args, "id": call_id, "type": "tool_call"} for call_id, c in calls],
    )


# --------------------------------------------------------------------------------------------------
# The requests every subject shares: summary, why, revise, help
# --------------------------------------------------------------------------------------------------


def summary_text(final: dict[str, Any], *, finished: bool, version: int | None = None) -> str:
    """The explanation in a few lines (a long simulator or program is named, not printed)."""
    head = "My explanation" if finished else "My current best hypothesis"
    if version is not None and version > 1:
        head += f" (version {version})"
    confidence = final.get("confidence")
    tail = f" (confidence {float(confidence):.2f})" if isinstance(confidence, int | float) else ""
    description = str(final.get("description", ""))
    if len(description) > 600:  # a chat answer stays brief
        description = description[:600].rsplit(" ", 1)[0] + " …"
    text = f"{head}: {final.get('label', '')}{tail}. {description}"
    code = final.get("code")
    if isinstance(code, str) and code:
        if len(code) <= 400:
            text += f"\nCode:\n{code}"
        else:
            text += f"\n(It comes with a simulator of {len(code)} characters: `autointerp show` prints it.)"
    if final.get("domain"):
        text += f"\nDomain: {final['domain']}"
    return text


def common_turn(request: Request, ctx: ChatContext, note: str = "") -> ChatRun:
    """The turns every subject answers alike (why, revise, summary; help for anything else)."""
    if request.kind is RequestKind.why:
        return Answer(_why(ctx))
    if request.kind is RequestKind.revise:
        return (yield from _revise(ctx))
    if request.kind is RequestKind.summary:
        if ctx.final is not None:
            return Answer(summary_text(ctx.final, finished=True, version=len(ctx.versions) or None))
        return Answer(summary_text(ctx.policy.best().args(), finished=False))
    head = note or "I could not map that to an experiment."
    return Answer(f"{head}\n{HELP}")
    yield  # a generator, like every turn


def _current(ctx: ChatContext) -> tuple[dict[str, Any], bool]:
    return (ctx.final, True) if ctx.final is not None else (ctx.policy.best().args(), False)


def _why(ctx: ChatContext) -> str:
    final, finished = _current(ctx)
    version = f" (version {len(ctx.versions)})" if len(ctx.versions) > 1 else ""
    confidence = float(final.get("confidence") or 0.0)
    lines = [
        f"{'My explanation' if finished else 'My current best hypothesis'}{version}: {final.get('label')} "
        f"(confidence {confidence:.2f}). It rests on:"
    ]
    hypotheses: dict[int, str] = {}
    for record in ctx.calls:
        if record.name == "propose_hypothesis" and record.outcome is not None and record.outcome.result:
            value = record.outcome.result.get("hypothesis_id")
            if isinstance(value, int):
                hypotheses[value] = str(record.args.get("text", ""))
    chat_ids = {e for f in ctx.findings for e in f.experiments}
    cited: set[int] = set()
    found: list[tuple[int, str]] = []  # (first experiment id, line): listed in the order they ran
    for record in ctx.calls:
        if record.name != "record_evidence" or record.outcome is None or not record.outcome.ok:
            continue
        ids = [int(i) for i in record.args.get("experiment_ids") or [] if isinstance(i, int)]
        if not ids or set(ids) <= chat_ids:  # a revision's link to the chat: its findings are listed below
            continue
        claim = clip_words(hypotheses.get(int(record.args.get("hypothesis_id") or 0), ""), 12)
        verdict = "supports" if record.args.get("supports") else "refutes"
        note = str(record.args.get("note") or "").strip()
        found.append((min(ids), f"- {experiment_refs(ids)} {verdict} “{claim}”" + (f": {note}" if note else "")))
        cited.update(ids)
    for experiment_id in final.get("evidence") or []:
        if isinstance(experiment_id, int) and experiment_id not in cited and experiment_id not in chat_ids:
            tool = ctx.tool_of(experiment_id) or "an experiment"
            found.append((experiment_id, f"- {experiment_refs([experiment_id])} ({tool})"))
            cited.add(experiment_id)
    lines += [line for _, line in sorted(found, key=lambda item: item[0])]
    for finding in ctx.findings:
        lines.append(f"- from our chat: {finding.sentence} {experiment_refs(finding.experiments)}".rstrip())
    if len(lines) == 1:
        lines.append("- no recorded evidence yet: ask for an experiment (help lists them).")
    return "\n".join(lines)


def revised(ctx: ChatContext) -> Final:
    """The explanation from the investigation's own evidence and every finding of the chat."""
    base = ctx.policy.best()
    findings = ctx.findings[-MAX_FINDINGS_IN_DESCRIPTION:]
    description = base.description.rstrip()
    if findings:
        description += " In our chat: " + " ".join(f.sentence.rstrip(".") + "." for f in findings)
    words = [w for f in ctx.findings for w in f.words_yes]
    label = base.label
    new_words = [w for w in dict.fromkeys(words) if w.lower() not in label.lower()]
    if new_words:
        label = f"{label} (also {', '.join(repr(w) for w in new_words)})"
    supported = sum(1 for f in ctx.findings if f.supports is True)
    refuted = sum(1 for f in ctx.findings if f.supports is False)
    confidence = min(0.99, max(0.05, base.confidence + 0.03 * supported - 0.05 * refuted))
    evidence = list(base.evidence) + [e for f in ctx.findings if f.supports is not False for e in f.experiments]
    return Final(
        label=clip_words(label),
        description=description,
        confidence=confidence,
        evidence=evidence,
        code=base.code,
        domain=base.domain,
        reason="Store the revised explanation as a new version.",
    )


def _revise(ctx: ChatContext) -> ChatRun:
    if not ctx.findings:
        return Answer(
            "Nothing we ran in this chat bears on the explanation yet, so there is nothing to revise: "
            "ask for an experiment first (help lists them)."
        )
    final = revised(ctx)
    args = final.args()
    experiments = sorted({e for f in ctx.findings for e in f.experiments})
    claim = f"Revised: {args['label']}. " + " ".join(f.sentence for f in ctx.findings[-MAX_FINDINGS_IN_DESCRIPTION:])
    [proposed] = yield Step(
        "Write the revised claim down.",
        [Call("propose_hypothesis", {"text": claim[:600], "confidence": args["confidence"]})],
    )
    hypothesis = (proposed.result or {}).get("hypothesis_id") if proposed.ok else None
    if isinstance(hypothesis, int) and experiments:
        note = " ".join(f.sentence for f in ctx.findings)[:500]
        yield Step(
            "Link the chat's experiments to it.",
            [
                Call(
                    "record_evidence",
                    {
                        "hypothesis_id": hypothesis,
                        "experiment_ids": experiments,
                        "supports": True,
                        "weight": 1.0,
                        "note": note,
                    },
                )
            ],
        )
    [saved] = yield Step(final.reason, [Call("final_explanation", args)])
    if not saved.ok or saved.result is None:
        return Answer(f"Storing the revised explanation failed: {saved.error}")
    explanation_id = saved.result.get("explanation_id")
    versions = list(ctx.versions)
    if isinstance(explanation_id, int) and explanation_id not in versions:
        versions.append(explanation_id)
    version = versions.index(explanation_id) + 1 if explanation_id in versions else len(versions)
    return Answer(
        f"Revised explanation, version {version} [explanation #{explanation_id}]: {args['label']} "
        f"(confidence {fmt(args['confidence'], 2)}). Added from our chat: {experiment_refs(experiments)}.\n"
        + " ".join(f.sentence for f in ctx.findings[-MAX_FINDINGS_IN_DESCRIPTION:])
    )


def outcome_json(outcome: Outcome, limit: int = 300) -> str:
    """An outcome in one short line (for replies about tools without a dedicated description)."""
    if not outcome.ok:
        return f"failed: {outcome.error}"
    return json.dumps(outcome.result)[:limit]
