"""Generate FIND-style entity items (DESIGN §3) from the concept lists of `evals.generators.entity_concepts`.

``generate_entities(n, seed)`` picks ``n`` distinct concepts (deterministic by ``seed``) and builds for
each an `EntityItem`: id ``ent-00042``, description ``"responds to <concept>"``, ``members`` (the concept's
words minus three held-out ones), metadata ``category`` (the concept's broad area), and 10 unit tests.
Each unit test has three single-word options: one held-out member of the concept (never in ``members``,
so the test cannot be answered by looking the word up) and two words from concepts of other areas.
Every test is checked with the `EntityNeuron`: the answer must have the highest activation of the three
options, otherwise the test is drawn again.
"""

from __future__ import annotations

import random

from evals.generators.entity_concepts import CONCEPTS, category_of
from evals.suite import EntityItem, UnitTest
from tools.functions.entity_neuron import EntityNeuron, SentenceEmbedder, get_embedder

__all__ = ["HELD_OUT_POSITIONS", "UNIT_TESTS_PER_ITEM", "generate_entities", "split_members"]

HELD_OUT_POSITIONS = (1, 4, 7)
"""Positions of each concept's word list kept out of ``members`` and used as unit-test answers."""
UNIT_TESTS_PER_ITEM = 10
_MAX_ROUNDS = 8


def split_members(concept: str) -> tuple[list[str], list[str]]:
    """(members stored in the item, held-out words for unit tests) of a concept."""
    words = CONCEPTS[concept]
    held = [words[i] for i in HELD_OUT_POSITIONS if i < len(words)]
    return [w for w in words if w not in held], held


def _unit_tests(concept: str, held: list[str], neuron: EntityNeuron, rng: random.Random) -> list[UnitTest] | None:
    """10 verified 3-way tests for ``concept``, or None when the neuron cannot separate its held-out words.

    Candidates are drawn a round at a time and scored in one batch; a candidate whose answer does not beat
    both distractors is dropped (and its answer word retired when it scores under 0.5).
    """
    area = category_of(concept)
    foreign = sorted(w for other, words in CONCEPTS.items() if category_of(other) != area for w in words)
    scores: dict[str, float] = {}
    answers = list(held)
    tests: list[UnitTest] = []
    for _ in range(_MAX_ROUNDS):
        if len(tests) == UNIT_TESTS_PER_ITEM or not answers:
            break
        slots = UNIT_TESTS_PER_ITEM - len(tests)
        candidates = [(answers[(len(tests) + k) % len(answers)], rng.sample(foreign, 2)) for k in range(slots)]
        missing = sorted({w for answer, pair in candidates for w in [answer, *pair]} - scores.keys())
        scores.update(zip(missing, neuron.activation(missing), strict=True))
        for answer, distractors in candidates:
            if answer not in answers:
                continue
            if scores[answer] <= max(scores[d] for d in distractors):
                if scores[answer] < 0.5:
                    answers.remove(answer)
                continue
            options = [answer, *distractors]
            rng.shuffle(options)
            tests.append(UnitTest(options=options, answer=options.index(answer)))
    return tests if len(tests) == UNIT_TESTS_PER_ITEM else None


def generate_entities(n: int, seed: int, *, embedder: SentenceEmbedder | None = None) -> list[EntityItem]:
    """``n`` entity items on distinct concepts, the same for the same ``seed`` (ids ``ent-00000``...).

    Raises ValueError when ``n`` is negative or more than the concepts that yield 10 verified unit tests.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n > len(CONCEPTS):
        raise ValueError(f"only {len(CONCEPTS)} concepts are available, asked for {n}")
    rng = random.Random(seed)
    order = sorted(CONCEPTS)
    rng.shuffle(order)
    shared = embedder if embedder is not None else get_embedder()
    items: list[EntityItem] = []
    for concept in order:
        if len(items) == n:
            break
        members, held = split_members(concept)
        neuron = EntityNeuron(concept, members, embedder=shared)
        tests = _unit_tests(concept, held, neuron, rng)
        if tests is None:
            continue
        items.append(
            EntityItem(
                id=f"ent-{len(items):05d}",
                kind="entity",
                description=f"responds to {concept}",
                concept=concept,
                members=members,
                unit_tests=tests,
                category=category_of(concept),  # extra field, kept as metadata
            )
        )
    if len(items) < n:
        raise ValueError(f"only {len(items)} concepts yield {UNIT_TESTS_PER_ITEM} verified unit tests, asked for {n}")
    return items
