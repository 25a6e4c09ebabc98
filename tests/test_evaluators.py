"""Evaluators (DESIGN §3): unit tests and detection decided from the description alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import Field

from evals.judges import EmbeddingEvaluator, Evaluator, LLMEvaluator, make_evaluator
from evals.judges.llm import parse_bool_list, parse_choice
from store.errors import ConfigError
from tools.functions.entity_neuron import get_embedder

# A colors item's unit tests: one held-out color and two words of unrelated concepts each.
COLOR_TESTS: list[tuple[list[str], int]] = [
    (["blue", "piano", "lawyer"], 0),
    (["hammer", "purple", "tennis"], 1),
    (["whale", "granite", "brown"], 2),
    (["crimson", "carrot", "bicycle"], 0),
    (["democracy", "scarlet", "trumpet"], 1),
    (["volcano", "sofa", "magenta"], 2),
    (["indigo", "sparrow", "wrench"], 0),
    (["oak", "teal", "mathematics"], 1),
    (["sword", "kitchen", "lavender"], 2),
    (["maroon", "helicopter", "cheddar"], 0),
]

POSITIVE_TEXTS = [
    "The walls were painted a bright red.",
    "She wore a blue dress to the party.",
    "The leaves turned yellow and orange in autumn.",
    "He picked a shade of green for the logo.",
    "Purple and pink flowers filled the garden.",
    "The car was painted jet black.",
]
NEGATIVE_TEXTS = [
    "The train to Berlin leaves at noon.",
    "He filed his tax return yesterday.",
    "The court adjourned until Monday.",
    "Add two cups of flour and stir.",
    "The server crashed during the update.",
    "Our team won the football match.",
]


def _score(evaluator: Evaluator, description: str) -> int:
    return sum(evaluator.choose(description, options) == answer for options, answer in COLOR_TESTS)


def test_embedding_evaluator_unit_tests() -> None:
    evaluator = EmbeddingEvaluator(get_embedder())
    assert isinstance(evaluator, Evaluator) and evaluator.name == "embedding"
    right = _score(evaluator, "responds to colors")
    wrong = _score(evaluator, "responds to vehicles")
    assert right >= 8, right
    assert wrong <= 4, wrong  # chance is 10/3
    with pytest.raises(ValueError):
        evaluator.choose("responds to colors", [])


def test_embedding_evaluator_detection() -> None:
    evaluator = EmbeddingEvaluator(get_embedder())
    texts = POSITIVE_TEXTS + NEGATIVE_TEXTS
    truth = [True] * len(POSITIVE_TEXTS) + [False] * len(NEGATIVE_TEXTS)

    def balanced_accuracy(predicted: list[bool]) -> float:
        tp = sum(p and t for p, t in zip(predicted, truth, strict=True))
        tn = sum(not p and not t for p, t in zip(predicted, truth, strict=True))
        return (tp / len(POSITIVE_TEXTS) + tn / len(NEGATIVE_TEXTS)) / 2

    right = evaluator.detect("responds to colors", texts)
    assert sum(right) == len(texts) // 2  # balanced: above the batch median
    assert balanced_accuracy(right) >= 0.8  # measured 0.83: one of 12 texts on the wrong side
    assert balanced_accuracy(evaluator.detect("responds to sea animals", texts)) <= 0.75
    assert evaluator.detect("responds to colors", []) == []
    assert evaluator.detect("responds to colors", ["red"]) == [False]


class ScriptedChat(GenericFakeChatModel):
    """A fake chat model that replies from a script, in order, and records the prompts it was sent."""

    prompts: list[str] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.prompts.append(str(messages[-1].content))
        return super()._generate(messages, *args, **kwargs)


def _fake(replies: list[str]) -> ScriptedChat:
    script: Iterator[AIMessage | str] = iter([AIMessage(content=r) for r in replies])
    return ScriptedChat(messages=script, prompts=[])


def test_llm_evaluator_choose() -> None:
    model = _fake(["2", "I think the answer is 3.", "Input (1)", "none of them", "7 and then 2"])
    evaluator = LLMEvaluator(model)
    assert evaluator.name == "llm" and isinstance(evaluator, Evaluator)
    options = ["blue", "piano", "lawyer"]
    assert evaluator.choose("responds to colors", options) == 1
    prompt = model.prompts[0]
    assert "Here is a description of a function: responds to colors" in prompt
    assert "1. blue\n2. piano\n3. lawyer" in prompt and "Answer with the number." in prompt
    assert evaluator.choose("responds to colors", options) == 2
    assert evaluator.choose("responds to colors", options) == 0
    assert evaluator.unparsed == 0
    assert evaluator.choose("responds to colors", options) == 0  # garbage: counted, first option
    assert evaluator.unparsed == 1
    assert evaluator.choose("responds to colors", options) == 1  # 7 is out of range, 2 is the answer


def test_llm_evaluator_detect_batched_and_fallback() -> None:
    texts = ["red paint", "tax return", "a blue sky"]
    model = _fake(["```json\n[true, false, true]\n```"])
    evaluator = LLMEvaluator(model)
    assert evaluator.detect("responds to colors", texts) == [True, False, True]
    assert len(model.prompts) == 1 and '1. "red paint"' in model.prompts[0] and "JSON list of 3" in model.prompts[0]

    model = _fake(["I cannot say.", "Yes.", "no", "maybe?"])  # garbage, then one question per text
    evaluator = LLMEvaluator(model)
    assert evaluator.detect("responds to colors", texts) == [True, False, False]
    assert len(model.prompts) == 4 and "Answer yes or no." in model.prompts[1]
    assert evaluator.unparsed == 2  # the batch reply and the last per-text reply
    assert LLMEvaluator(_fake([])).detect("x", []) == []


def test_parsers() -> None:
    assert parse_choice("2", 3) == 1 and parse_choice("Answer: 3.", 3) == 2
    assert parse_choice("12 or 0", 3) is None and parse_choice("", 3) is None
    assert parse_bool_list("[1, 0]", 2) == [True, False]
    assert parse_bool_list('["yes", "no"]', 2) == [True, False]
    assert parse_bool_list("[true, false]", 3) is None and parse_bool_list("[true, 7]", 2) is None
    assert parse_bool_list("[True, False]", 2) == [True, False]


def test_make_evaluator(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(make_evaluator("embedding"), EmbeddingEvaluator)
    assert isinstance(make_evaluator(" Embedding "), EmbeddingEvaluator)
    with pytest.raises(ConfigError, match="unknown evaluator 'gpt'"):
        make_evaluator("gpt")
    with pytest.raises(ConfigError, match="needs a backend"):
        make_evaluator("llm")
    with pytest.raises(ConfigError, match="no chat model"):
        make_evaluator("llm", backend="builtin")
    with pytest.raises(ConfigError, match="unknown backend"):
        make_evaluator("llm", backend="nonsense:x")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        make_evaluator("llm", backend="openai:gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    evaluator = make_evaluator("llm", backend="openai:gpt-4o-mini")
    assert isinstance(evaluator, LLMEvaluator)
