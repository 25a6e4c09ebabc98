"""The builtin scientist on entity subjects: survey a vocabulary and a category inventory, name the
concept, confirm it in sentences — through the real call_function tool and the packaged MiniLM."""

from __future__ import annotations

import torch

from agent.builtin.entities import FRAMES
from agent.builtin.words import CATEGORY_NOUNS, distinct, inventory, vocabulary
from evals.judges import EmbeddingEvaluator
from evals.scoring.scorers import unit_test_accuracy
from evals.suite import EntityItem, load_suite
from tests.test_builtin_policy import SUITE, Loop, executor  # noqa: F401  (fixture)
from tools.executor import LocalExecutor
from tools.functions.entity_neuron import SentenceEmbedder, get_embedder


def test_vocabulary_and_inventory_are_plain_words() -> None:
    words = vocabulary()
    assert len(words) == 8000 and len(set(words)) == len(words)
    assert all(w.isalpha() and w.islower() and len(w) >= 3 for w in words)
    assert "the" not in words and "and" not in words  # function words are dropped
    assert {"fruit", "fruits", "vehicle", "vehicles", "emotion"} <= set(inventory())


def test_word_tables_are_package_data() -> None:
    assert CATEGORY_NOUNS[:3] == ("animal", "bird", "insect") and len(set(CATEGORY_NOUNS)) == len(CATEGORY_NOUNS)
    assert len(FRAMES) == 2 and all("{w}" in frame for frame in FRAMES)


def test_distinct_folds_inflections() -> None:
    assert distinct(["dog", "dogs", "cat", "cats", "running", "run", "bird"], 3) == ["dog", "cat", "running"]


def test_colors_neuron_is_named_and_confirmed(executor: LocalExecutor) -> None:  # noqa: F811
    loop = Loop(executor)
    final, _ = loop.run(f"{SUITE}#ent-colors", "entity")
    assert "color" in final["label"].lower()
    listed = final["description"].lower()
    assert sum(c in listed for c in ("purple", "orange", "pink", "brown", "red", "blue", "green", "yellow")) >= 3
    assert final["confidence"] > 0.5
    assert set(loop.experiments.values()) == {"call_function"} and len(loop.experiments) >= 9
    assert loop.hypotheses and loop.evidence and loop.evidence[0]["supports"] is True
    item = next(i for i in load_suite(SUITE).items if i.id == "ent-colors")
    assert isinstance(item, EntityItem)
    assert (unit_test_accuracy(EmbeddingEvaluator(), final["description"], item.unit_tests) or 0) >= 0.9


def test_embedder_cache_serves_the_same_rows_without_encoding() -> None:
    shared = get_embedder()
    fresh = SentenceEmbedder(shared.model_dir, cache_size=3)
    texts = ["apple", "a red apple", "violin", "apple"]
    first = fresh.embed(texts)
    assert torch.allclose(first[0], first[3])
    calls = []
    original = fresh._encode
    fresh._encode = lambda batch: calls.append(list(batch)) or original(batch)  # type: ignore[method-assign]
    again = fresh.embed(["violin", "a red apple", "pear"])
    assert calls == [["pear"]]  # only the unseen text is encoded
    assert torch.allclose(again[0], first[2], atol=1e-6) and torch.allclose(again[1], first[1], atol=1e-6)
    assert len(fresh._cache) == 3  # bounded: the least recently used row was dropped
    assert torch.allclose(shared.embed(["a red apple"])[0], first[1], atol=1e-5)
