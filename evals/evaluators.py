"""Evaluators (DESIGN §3): judge unit tests and detection from an explanation alone, never the function.

``choose(description, options)`` answers a FIND 3-way unit test: which option the described function
is most selective for. ``detect(description, texts)`` predicts which texts the described unit fires on
(scored by balanced accuracy against the truth).

- `EmbeddingEvaluator` (offline default): cosine similarity with the packaged MiniLM embedder.
- `LLMEvaluator`: any LangChain chat model, with FIND's prompt shape.

``make_evaluator("embedding")`` / ``make_evaluator("llm", backend="openai:<model>")`` build them.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol, runtime_checkable

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage

from store.errors import ConfigError
from tools.entity_neuron import SentenceEmbedder, get_embedder

__all__ = ["EVALUATOR_NAMES", "EmbeddingEvaluator", "Evaluator", "LLMEvaluator", "make_evaluator"]

EVALUATOR_NAMES = ("interpret", "embedding", "llm")
"""The names `make_evaluator` accepts."""


@runtime_checkable
class Evaluator(Protocol):
    """Decides unit tests and detection from a description only."""

    name: str

    def choose(self, description: str, options: list[str]) -> int:
        """Index of the option the described function is most selective for."""
        ...

    def detect(self, description: str, texts: list[str]) -> list[bool]:
        """For each text, whether the description predicts that the function activates on it."""
        ...


class EmbeddingEvaluator:
    """Offline evaluator: similarity between the description and each input in MiniLM embedding space.

    ``choose`` = argmax of cosine(description, option) (ties go to the first option).
    ``detect`` = cosine(description, text) strictly above the median cosine of the batch: a balanced
    prediction (about half the texts predicted active), which suits detection sets built with as many
    positives as negatives and makes the score depend only on the ranking, not on a fixed threshold.
    A batch of one text, or one where all cosines are equal, is predicted all False.
    """

    name = "embedding"

    def __init__(self, embedder: SentenceEmbedder | None = None) -> None:
        self._embedder = embedder

    @property
    def embedder(self) -> SentenceEmbedder:
        """The sentence embedder (the shared packaged MiniLM unless one was given)."""
        if self._embedder is None:
            self._embedder = get_embedder()
        return self._embedder

    def _cosines(self, description: str, texts: list[str]) -> list[float]:
        vectors = self.embedder.embed([description, *[str(t) for t in texts]])
        return [float(v) for v in vectors[1:] @ vectors[0]]

    def choose(self, description: str, options: list[str]) -> int:
        """Index of the option most similar to the description."""
        if not options:
            raise ValueError("choose needs at least one option")
        cos = self._cosines(description, options)
        return max(range(len(cos)), key=lambda i: (cos[i], -i))

    def detect(self, description: str, texts: list[str]) -> list[bool]:
        """True for the texts more similar to the description than the batch median."""
        if not texts:
            return []
        cos = self._cosines(description, texts)
        ordered = sorted(cos)
        mid = len(ordered) // 2
        median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        return [c > median for c in cos]


_CHOOSE_PROMPT = """Here is a description of a function: {description}

Which of these inputs does it respond to most?
{options}

Answer with the number."""

_DETECT_PROMPT = """Here is a description of a function: {description}

For each of these inputs, say whether the function responds to it (activates on it):
{texts}

Answer with a JSON list of {n} booleans (true or false), one per input, in order, and nothing else."""

_DETECT_ONE_PROMPT = """Here is a description of a function: {description}

Does the function respond to (activate on) this input?
{text}

Answer yes or no."""


def _reply_text(content: Any) -> str:
    """A chat reply's content as plain text (content blocks joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b if isinstance(b, str) else str(b.get("text", "")) for b in content if isinstance(b, (str, dict))]
        return "".join(parts)
    return str(content)


def parse_choice(reply: str, n_options: int) -> int | None:
    """0-based index from a reply like "2", "Answer: 2." or "Input 2"; None when no number 1..n appears."""
    for match in re.finditer(r"(?<!\d)(\d+)(?!\d)", reply):
        value = int(match.group(1))
        if 1 <= value <= n_options:
            return value - 1
    return None


def parse_bool_list(reply: str, n: int) -> list[bool] | None:
    """The first JSON list of ``n`` booleans in a reply (also accepts yes/no or 0/1 items); None otherwise."""
    for match in re.finditer(r"\[[^\[\]]*\]", reply):
        try:
            data = json.loads(match.group(0).replace("True", "true").replace("False", "false"))
        except json.JSONDecodeError:
            continue
        if not isinstance(data, list) or len(data) != n:
            continue
        values: list[bool] = []
        for item in data:
            if isinstance(item, bool):
                values.append(item)
            elif isinstance(item, int) and item in (0, 1):
                values.append(bool(item))
            elif isinstance(item, str) and item.strip().lower() in ("yes", "no", "true", "false"):
                values.append(item.strip().lower() in ("yes", "true"))
            else:
                break
        else:
            return values
    return None


def parse_yes_no(reply: str) -> bool | None:
    """True/False from the first yes/no (or true/false) word of a reply; None when there is none."""
    match = re.search(r"\b(yes|no|true|false)\b", reply.lower())
    if match is None:
        return None
    return match.group(1) in ("yes", "true")


class LLMEvaluator:
    """Evaluator backed by a LangChain chat model, with FIND's prompt shape.

    ``choose`` lists the options numbered 1..n and parses the first number in range from the reply; a
    reply without one counts as the first option (a wrong answer two times out of three, like guessing).
    ``detect`` sends all texts numbered in one prompt and parses a JSON list of booleans; when that
    fails it asks text by text (yes/no), and an unparseable answer there is False.
    """

    name = "llm"

    def __init__(self, model: BaseChatModel) -> None:
        self.model = model
        self.unparsed = 0
        """Replies that could not be parsed (counted for reports)."""

    def _ask(self, prompt: str) -> str:
        reply = self.model.invoke([HumanMessage(content=prompt)])
        return _reply_text(reply.content)

    def choose(self, description: str, options: list[str]) -> int:
        """Index of the option the model says the described function responds to most."""
        if not options:
            raise ValueError("choose needs at least one option")
        listed = "\n".join(f"{i}. {option}" for i, option in enumerate(options, start=1))
        choice = parse_choice(self._ask(_CHOOSE_PROMPT.format(description=description, options=listed)), len(options))
        if choice is None:
            self.unparsed += 1
            return 0
        return choice

    def detect(self, description: str, texts: list[str]) -> list[bool]:
        """Per text, whether the model predicts activation (one batched prompt, per-text fallback)."""
        if not texts:
            return []
        listed = "\n".join(f"{i}. {json.dumps(str(t), ensure_ascii=False)}" for i, t in enumerate(texts, start=1))
        batch = parse_bool_list(
            self._ask(_DETECT_PROMPT.format(description=description, texts=listed, n=len(texts))), len(texts)
        )
        if batch is not None:
            return batch
        self.unparsed += 1
        out: list[bool] = []
        for text in texts:
            answer = parse_yes_no(self._ask(_DETECT_ONE_PROMPT.format(description=description, text=text)))
            if answer is None:
                self.unparsed += 1
            out.append(bool(answer))
        return out


def make_evaluator(name: str, *, backend: str | None = None) -> Evaluator:
    """``"interpret"`` (offline: simulates formulas and canonical string descriptions, else embedding),
    ``"embedding"`` (offline) or ``"llm"`` with ``backend`` such as ``"openai:<model>"``.

    Raises `ConfigError` for an unknown name, a missing or ``builtin`` backend for ``llm``, or a backend
    whose keys are missing.
    """
    key = name.strip().lower()
    if key == "embedding":
        return EmbeddingEvaluator()
    if key == "interpret":
        from evals.interpret import InterpretingEvaluator

        return InterpretingEvaluator()
    if key == "llm":
        if not backend:
            raise ConfigError("the llm evaluator needs a backend: 'openai:<model>' or 'anthropic:<model>'")
        from agent.backends.factory import make_chat_model

        model = make_chat_model(backend)
        if model is None:
            raise ConfigError(
                f"backend {backend!r} has no chat model for the llm evaluator: use 'openai:<model>' or "
                "'anthropic:<model>'"
            )
        return LLMEvaluator(model)
    raise ConfigError(f"unknown evaluator {name!r}: use one of {', '.join(EVALUATOR_NAMES)}")
