"""The builtin scientist's protocol and the helpers every policy shares (a leaf: it imports no other
module of ``agent.builtin``).

A policy is a deterministic generator: it yields `Step`s (tool calls to make together, with one
sentence of reasoning), receives their `Outcome`s, and returns a `Final` (the arguments of
``final_explanation``). `Policy.best` gives the best explanation of what was seen so far, for when the
budget runs out. The driver (``agent.builtin.driver``) replays a policy from the start on every turn,
so everything a policy does must depend only on its `Task` and the outcomes it received.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

MAX_LABEL_WORDS = 8

# --------------------------------------------------------------------------------------------------
# Tasks, calls, outcomes, steps, the final explanation
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
    shared: dict[str, Any] = field(default_factory=dict)
    """Experiments already run for the whole layer (``agent.layer_plan``): name → where to read them."""

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
"""A policy's investigation: yields steps, receives their outcomes, returns the explanation."""
SubRun = Generator[Step, list[Outcome], None]
"""A part of an investigation (``yield from`` it inside a policy)."""


class Policy:
    """Base of the investigation policies: a deterministic generator of steps, plus the best
    explanation of what was seen so far (used when the budget runs out).

    Subclasses implement ``steps`` (yield ``Step``s, receive their outcomes, return a ``Final``),
    ``best`` and optionally ``describe`` (a chat experiment's outcome in words, for
    ``agent.builtin.function_chat``). Everything a policy does must depend only on the task and the
    outcomes it received (no clocks, no unseeded randomness, no iteration over sets of strings), or a
    replay would diverge.
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

    def describe(self, call: Call, outcome: Outcome) -> str:
        """One or two sentences about the outcome of a chat experiment."""
        if not outcome.ok:
            return f"That experiment failed: {outcome.error}"
        return f"{call.name} returned: {json.dumps(outcome.result)[:600]}"


# --------------------------------------------------------------------------------------------------
# Hypotheses and evidence as steps
# --------------------------------------------------------------------------------------------------


def _hypothesis_id(outcome: Outcome) -> int | None:
    value = (outcome.result or {}).get("hypothesis_id") if outcome.ok else None
    return value if isinstance(value, int) else None


def hypothesis_steps(
    policy: Policy, text: str, confidence: float, experiments: list[int], supports: bool, note: str
) -> SubRun:
    """Propose a hypothesis and record the experiments as evidence (skipped where the budget or the
    offered tools do not allow). A generator helper: ``yield from`` it inside a policy."""
    if not experiments or policy.remaining() < 3 or not policy.task.can("propose_hypothesis"):
        return
    [proposed] = yield Step(
        "Write the hypothesis down.",
        [Call("propose_hypothesis", {"text": text, "confidence": round(confidence, 3)})],
    )
    hypothesis = _hypothesis_id(proposed)
    if hypothesis is None or policy.remaining() < 2 or not policy.task.can("record_evidence"):
        return
    yield Step(
        "Link the experiments to it.",
        [
            Call(
                "record_evidence",
                {
                    "hypothesis_id": hypothesis,
                    "experiment_ids": experiments,
                    "supports": supports,
                    "weight": 1.0,
                    "note": note[:500],
                },
            )
        ],
    )


# --------------------------------------------------------------------------------------------------
# Small helpers
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


def auc(pos: list[float], neg: list[float]) -> float:
    """How often a positive scores above a negative (ties count half)."""
    if not pos or not neg:
        return 0.5
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))
