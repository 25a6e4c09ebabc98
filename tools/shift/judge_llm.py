"""The LLM SHIFT judge: the rubric prompt with a latent's evidence sent to a LangChain chat model, its
reply parsed into one 0–4 score per concept.

The chat model comes from the caller (``ToolContext.chat_models``: tools never import ``agent``). A
reply is read leniently — the last ```json block, else the last ``{...}`` object (JSON or a Python
dict), else ``concept: score`` lines; keys matched case- and ``_``-insensitively; numbers or numeric
strings in 0–4 — and a reply that still gives no usable score for every concept is answered once
more with what was wrong, up to ``retries`` times; then `JudgeError`. A backend failure is a
`JudgeError` at once, never a crash.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from tools.shift.judge_evidence import LatentEvidence
from tools.shift.judge_lexicon import normalise_concept
from tools.shift.judge_rubric import MAX_SCORE, MIN_SCORE, ConceptScore, JudgeError, judge_prompt

__all__ = ["LLMJudge", "ScoreParseError", "answer_format", "evidence_message", "parse_scores", "reply_text"]

_BLOCK = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(.*?)```", re.DOTALL | re.IGNORECASE)
_MAX_RATIONALE = 1500


class ScoreParseError(ValueError):
    """A reply holds no usable score for every concept; the message says what is wrong."""


def answer_format(concepts: Sequence[str]) -> str:
    """The JSON block the judge must end with."""
    body = ",\n".join(f"  {json.dumps(c)}: <integer {MIN_SCORE}-{MAX_SCORE}>" for c in concepts)
    return "```json\n{\n" + body + "\n}\n```"


def evidence_message(evidence: LatentEvidence) -> str:
    """The evidence as the judge reads it: promoted tokens, then the marked examples."""
    promoted = ", ".join(t.token.strip() or repr(t.token) for t in evidence.promoted) or "(none)"
    examples = "\n\n".join(f"Example {i}: {c.text}" for i, c in enumerate(evidence.contexts, start=1))
    return "\n".join(judge_prompt().evidence).format(
        latent=evidence.latent, promoted=promoted, examples=examples or "(the latent never activated in the corpus)"
    )


def reply_text(message: BaseMessage) -> str:
    """The text of a chat model's reply (string content, or the text parts of a list of blocks)."""
    content: Any = message.content
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "".join(parts)


def _last_object(text: str) -> str | None:
    """The last balanced ``{...}`` of ``text`` (braces inside strings are not special-cased)."""
    end = text.rfind("}")
    while end >= 0:
        depth = 0
        for start in range(end, -1, -1):
            depth += {"}": 1, "{": -1}.get(text[start], 0)
            if depth == 0:
                return text[start : end + 1]
        end = text.rfind("}", 0, end)
    return None


def _load(candidate: str) -> Any:
    try:
        return json.loads(candidate)
    except ValueError:
        pass
    try:
        return ast.literal_eval(candidate)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _value(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            return None
    if isinstance(raw, int | float) and math.isfinite(raw) and MIN_SCORE <= raw <= MAX_SCORE:
        return float(raw)
    return None


def _scores(found: dict[Any, Any], concepts: Sequence[str]) -> dict[str, float]:
    by_key = {normalise_concept(str(k)): v for k, v in found.items()}
    scores: dict[str, float] = {}
    missing, bad = [], []
    for concept in concepts:
        key = normalise_concept(concept)
        if key not in by_key:
            missing.append(concept)
            continue
        value = _value(by_key[key])
        if value is None:
            bad.append(f"{concept}={by_key[key]!r}")
        else:
            scores[concept] = value
    if missing:
        raise ScoreParseError(f"no score for {', '.join(missing)}")
    if bad:
        raise ScoreParseError(f"scores must be numbers from {MIN_SCORE} to {MAX_SCORE}, not {', '.join(bad)}")
    return scores


def _lines(text: str, concepts: Sequence[str]) -> dict[str, float] | None:
    found: dict[str, Any] = {}
    for concept in concepts:
        pattern = re.escape(concept).replace(r"\ ", r"[ _-]").replace("_", "[ _-]")
        matches = re.findall(rf"[\"']?{pattern}[\"']?\s*[:=]\s*[\"']?(-?\d+(?:\.\d+)?)", text, re.IGNORECASE)
        if not matches:
            return None
        found[concept] = matches[-1]
    try:
        return _scores(found, concepts)
    except ScoreParseError:
        return None


def parse_scores(text: str, concepts: Sequence[str]) -> dict[str, float]:
    """The 0–4 score of every concept in a judge's reply (see the module docstring);
    `ScoreParseError` naming the problem when there is none usable."""
    candidates = list(reversed(_BLOCK.findall(text)))
    last = _last_object(text)
    if last is not None:
        candidates.append(last)
    problem = "no JSON object with the scores"
    for candidate in candidates:
        found = _load(candidate.strip())
        if not isinstance(found, dict):
            continue
        try:
            return _scores(found, concepts)
        except ScoreParseError as exc:
            problem = str(exc)
    scores = _lines(text, concepts)
    if scores is not None:
        return scores
    raise ScoreParseError(problem)


def _rationale(text: str) -> str:
    prose = " ".join(_BLOCK.sub(" ", text).split())
    return prose if len(prose) <= _MAX_RATIONALE else prose[: _MAX_RATIONALE - 1] + "…"


class LLMJudge:
    """An LLM behind a LangChain chat model, asked with the rubric prompt (`judge_rubric.judge_prompt`).

    ``name`` is the spec it was made from (``openai:gpt-4o``); ``retries`` how many times an unusable
    reply is answered with what was wrong before giving up.
    """

    def __init__(self, chat: BaseChatModel, name: str, *, retries: int = 2) -> None:
        self.chat = chat
        self.name = name
        self.retries = retries

    def messages(self, evidence: LatentEvidence, concepts: Sequence[str]) -> list[BaseMessage]:
        """The conversation that asks for the scores of ``evidence``."""
        system = "\n".join(judge_prompt().system).format(
            concepts="(" + ", ".join(concepts) + ")", answer_format=answer_format(concepts)
        )
        return [SystemMessage(system), HumanMessage(evidence_message(evidence))]

    def _ask(self, messages: list[BaseMessage], latent: str) -> str:
        try:
            return reply_text(self.chat.invoke(messages))
        except Exception as exc:  # any backend failure (network, quota, bad key) is this judge's error
            message = " ".join(str(exc).split())[:300]
            raise JudgeError(f"the {self.name} judge failed on {latent}: {type(exc).__name__}: {message}") from exc

    def score(self, evidence: LatentEvidence, concepts: Sequence[str]) -> dict[str, ConceptScore]:
        """Ask the LLM about ``evidence``; `JudgeError` when no usable answer came after the retries."""
        messages = self.messages(evidence, concepts)
        problem = ""
        for _ in range(self.retries + 1):
            text = self._ask(messages, evidence.latent)
            try:
                scores = parse_scores(text, concepts)
            except ScoreParseError as exc:
                problem = str(exc)
                retry = "\n".join(judge_prompt().retry).format(problem=problem, answer_format=answer_format(concepts))
                messages = [*messages, AIMessage(text), HumanMessage(retry)]
                continue
            rationale = _rationale(text)
            return {c: ConceptScore(scores[c], rationale) for c in concepts}
        raise JudgeError(
            f"the {self.name} judge gave no usable scores for {evidence.latent} in {self.retries + 1} replies "
            f"(last problem: {problem})"
        )
