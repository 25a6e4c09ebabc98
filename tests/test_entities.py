"""Entity subjects (DESIGN §3): the packaged MiniLM embedder, the synthetic entity neuron, the concept
lists, the item generator and ``call_function`` on an entity suite."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from evals.generators.entities import UNIT_TESTS_PER_ITEM, generate_entities, split_members
from evals.generators.entity_concepts import CATEGORIES, CONCEPTS, category_of
from evals.suite import EntityItem, load_suite, write_suite
from store.settings import Settings
from tools.catalog import default_registry
from tools.context import ToolContext
from tools.executor import LocalExecutor
from tools.functions.entity_neuron import EntityNeuron, SentenceEmbedder, get_embedder
from tools.registry import ToolError


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return get_embedder()


@pytest.fixture(scope="module")
def items(embedder: SentenceEmbedder) -> list[EntityItem]:
    return generate_entities(4, seed=3, embedder=embedder)


def test_embedder_normalised_and_deterministic(embedder: SentenceEmbedder) -> None:
    assert get_embedder() is embedder  # one shared instance
    texts = ["red", "a whale in the ocean", "", "the quick brown fox jumps over the lazy dog"]
    first = embedder.embed(texts)
    assert first.shape == (4, 384) and first.dtype == torch.float32
    assert torch.allclose(first.norm(dim=1), torch.ones(4), atol=1e-5)
    assert torch.equal(first, embedder.embed(texts))
    assert torch.allclose(embedder.embed(["red"])[0], first[0], atol=1e-5)  # batching does not change a row
    assert embedder.embed([]).shape == (0, 384)


@pytest.mark.parametrize(
    ("concept", "close", "unrelated"),
    [
        ("colors", ["blue", "purple", "brown", "crimson"], ["piano", "lawyer", "hammer", "democracy"]),
        ("sea animals", ["whale", "jellyfish", "squid", "dolphins"], ["tractor", "violin", "democracy", "pencil"]),
        ("musical instruments", ["guitar", "flute", "cello", "banjo"], ["carrot", "soccer", "nurse", "granite"]),
        ("vegetables", ["broccoli", "cabbage", "onion", "spinach"], ["saxophone", "lawyer", "laptop", "pencil"]),
    ],
)
def test_entity_neuron_separates_members_from_unrelated(
    embedder: SentenceEmbedder, concept: str, close: list[str], unrelated: list[str]
) -> None:
    members, _ = split_members(concept)
    neuron = EntityNeuron(concept, members, embedder=embedder)
    assert min(neuron.activation([*members[:3], concept])) > 0.99  # stored members and the concept itself
    assert min(neuron.activation(close)) > 0.8, dict(zip(close, neuron.activation(close), strict=True))
    assert max(neuron.activation(unrelated)) < 0.2, dict(zip(unrelated, neuron.activation(unrelated), strict=True))
    assert all(0.0 <= a <= 1.0 for a in neuron.activation(["anything at all", "42"]))
    assert neuron.activation([]) == []


def test_concept_lists() -> None:
    assert len(CONCEPTS) >= 100
    assert all(len(words) >= 9 for words in CONCEPTS.values())  # >= 6 stored members + 3 held out
    assert all(w == w.lower().strip() and " " not in w for words in CONCEPTS.values() for w in words)
    assert all(len(set(words)) == len(words) for words in CONCEPTS.values())
    shared = [w for w, n in Counter(w for words in CONCEPTS.values() for w in words).items() if n > 1]
    assert shared == []
    areas = [c for concepts in CATEGORIES.values() for c in concepts]
    assert sorted(areas) == sorted(CONCEPTS) and len(set(areas)) == len(areas)
    assert category_of("colors") == "abstract"
    for concept in CONCEPTS:
        members, held = split_members(concept)
        assert len(members) >= 6 and len(held) == 3 and not set(members) & set(held)


def test_generate_entities_deterministic_and_answerable(items: list[EntityItem], embedder: SentenceEmbedder) -> None:
    assert [i.id for i in items] == ["ent-00000", "ent-00001", "ent-00002", "ent-00003"]
    assert items == generate_entities(4, seed=3, embedder=embedder)
    assert [i.concept for i in items] != [i.concept for i in generate_entities(4, seed=4, embedder=embedder)]
    assert len({i.concept for i in items}) == 4
    for item in items:
        assert item.description == f"responds to {item.concept}"
        assert item.metadata() == {"category": category_of(item.concept)}
        assert len(item.unit_tests) == UNIT_TESTS_PER_ITEM
        neuron = EntityNeuron(item.concept, item.members, embedder=embedder)
        words = CONCEPTS[item.concept]
        for test in item.unit_tests:
            answer = test.options[test.answer]
            assert answer in words and answer not in item.members  # held out
            assert sum(o in words for o in test.options) == 1
            acts = neuron.activation(test.options)
            assert max(range(3), key=acts.__getitem__) == test.answer
    with pytest.raises(ValueError):
        generate_entities(len(CONCEPTS) + 1, seed=0)


def test_call_function_on_entity_suite(tmp_path: Path, items: list[EntityItem]) -> None:
    path = write_suite(items, tmp_path / "entities.jsonl")
    assert [i.id for i in load_suite(path).items] == [i.id for i in items] and not load_suite(path).errors
    registry = default_registry()
    ex = LocalExecutor(registry, ToolContext(Settings(home=tmp_path / "home")))
    item = items[0]
    _, held = split_members(item.concept)
    inputs = [item.members[0], held[0], "democracy"]
    out = ex.submit("call_function", {"subject": f"{path}#{item.id}", "inputs": inputs})
    outputs = [o.output for o in out.outcomes]  # type: ignore[attr-defined]
    assert [o.input for o in out.outcomes] == inputs and out.error is None  # type: ignore[attr-defined]
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in outputs)
    assert outputs[0] > 0.99 and outputs[0] >= outputs[2]
    expected = EntityNeuron(item.concept, item.members).activation(inputs)
    assert outputs == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ToolError, match="strings"):
        ex.submit("call_function", {"subject": f"{path}#{item.id}", "inputs": [1.5]})
