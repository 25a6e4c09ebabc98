"""Judges (DESIGN §3): evaluators that decide unit tests and detection from an explanation alone.

``choose(description, options)`` answers a FIND 3-way unit test: which option the described function
is most selective for. ``detect(description, texts)`` predicts which texts the described unit fires
on (scored by balanced accuracy against the truth).

| module | evaluator |
|---|---|
| ``base`` | the ``Evaluator`` protocol |
| ``embedding`` | ``EmbeddingEvaluator`` (offline): cosine similarity with the packaged MiniLM embedder |
| ``interpret`` | ``InterpretingEvaluator`` (offline default): runs formulas and canonical string phrasing |
| ``llm`` | ``LLMEvaluator``: any LangChain chat model, with FIND's prompt shape |
| ``simulator`` | ``SimulatorEvaluator``: detection and fuzzing decided by an explanation's simulator |

``make_evaluator(name)`` builds one by name.
"""

from __future__ import annotations

from evals.judges.base import Evaluator
from evals.judges.embedding import EmbeddingEvaluator
from evals.judges.interpret import InterpretingEvaluator
from evals.judges.llm import LLMEvaluator
from store.errors import ConfigError

__all__ = [
    "EVALUATOR_NAMES",
    "EmbeddingEvaluator",
    "Evaluator",
    "InterpretingEvaluator",
    "LLMEvaluator",
    "make_evaluator",
]

EVALUATOR_NAMES = ("interpret", "embedding", "llm")
"""The names `make_evaluator` accepts."""


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
