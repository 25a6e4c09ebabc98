"""Key–value and analogy prompts for hyperdimensional probes, generated offline from word pairs.

The relations (``data/relations.json``: country → capital, singular → plural, present → past, male →
female, opposites, member → category, animal → young, country → language, adjective → comparative)
are lists of real ``[key, value]`` pairs; every word of every pair is a *concept* (one codebook
hypervector each). A prompt shows one or two demonstration pairs of a relation and a query key whose
value the model should say next, in one of the templates of ``data/dataset.json``::

    France : Paris = Italy :                    (analogy; answer "Rome")
    France: Paris, Italy: Rome, Spain:           (key_value; answer "Madrid")

Splits (seeded): the relations named in ``held_out_relations`` are never trained on
(``test_relations``); of every other relation a fraction of the pairs is held out and only ever
appears as the query pair of ``test_pairs`` prompts; ``train`` and ``val`` prompts use the rest.
"""

from __future__ import annotations

import functools
import random
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from store.datafiles import load_data
from store.errors import InputError

__all__ = [
    "DATA_FILES",
    "PACKAGE",
    "DatasetConfig",
    "Prompt",
    "PromptSet",
    "Relation",
    "Split",
    "concepts",
    "config",
    "make_prompts",
    "parse_prompt",
    "relations",
    "render",
]

PACKAGE = "tools.hdprobe"
Split = Literal["train", "val", "test_pairs", "test_relations"]
_SLOT = re.compile(r"\{([kv])(\d)\}")


class Relation(BaseModel):
    """One relation: what it is, and its ``[key, value]`` pairs."""

    model_config = ConfigDict(frozen=True)

    description: str = Field(min_length=1)
    pairs: tuple[tuple[str, str], ...] = Field(min_length=4)


class DatasetConfig(BaseModel):
    """The prompt templates (``{k1}``, ``{v1}``, ..., ending with the query key) and the held-out split."""

    model_config = ConfigDict(frozen=True)

    templates: dict[str, str] = Field(min_length=1)
    held_out_relations: tuple[str, ...]
    held_out_pair_fraction: float = Field(gt=0, lt=1)


DATA_FILES: dict[str, Any] = {"relations.json": dict[str, Relation], "dataset.json": DatasetConfig}
"""The data files this module reads and their schemas (``tests/test_datafiles.py``)."""


class Prompt(BaseModel):
    """One generated prompt: its text, template, relation and pairs (the last pair's value is the answer)."""

    model_config = ConfigDict(frozen=True)

    text: str
    template: str
    relation: str
    pairs: tuple[tuple[str, str], ...]
    split: Split

    @property
    def answer(self) -> str:
        """The value the prompt asks for."""
        return self.pairs[-1][1]

    @property
    def query(self) -> str:
        """The key whose value the prompt asks for."""
        return self.pairs[-1][0]


class PromptSet(BaseModel):
    """Prompts by split, and the seed they were drawn with."""

    seed: int
    train: list[Prompt]
    val: list[Prompt]
    test_pairs: list[Prompt]
    test_relations: list[Prompt]

    def split(self, name: Split) -> list[Prompt]:
        """The prompts of one split."""
        out: list[Prompt] = getattr(self, name)
        return out


def relations() -> dict[str, Relation]:
    """Every relation of ``data/relations.json``, by name."""
    loaded: dict[str, Relation] = load_data(PACKAGE, "relations.json", dict[str, Relation])
    return loaded


def config() -> DatasetConfig:
    """The templates and held-out split of ``data/dataset.json``."""
    return load_data(PACKAGE, "dataset.json", DatasetConfig)


@functools.cache
def concepts() -> tuple[str, ...]:
    """Every word of every relation, sorted: the codebook's concepts, in codebook order."""
    return tuple(sorted({word for relation in relations().values() for pair in relation.pairs for word in pair}))


def _pairs_in(template: str) -> int:
    keys = {int(n) for kind, n in _SLOT.findall(template) if kind == "k"}
    return max(keys)


def render(template: str, pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    """``template`` filled with ``pairs`` (the last pair's value left out: it is the answer)."""
    slots = {f"k{i + 1}": key for i, (key, _) in enumerate(pairs)}
    slots |= {f"v{i + 1}": value for i, (_, value) in enumerate(pairs[:-1])}
    return template.format(**slots)


def _literal(text: str, first: bool, last: bool) -> str:
    """A regex for the fixed text between slots: words need whitespace around them, punctuation not."""
    core = text.strip()
    if not core:
        return "" if first or last else r"\s+"
    body = r"\s+".join(re.escape(token) for token in core.split())
    before = "" if first else (r"\s+" if core[0].isalnum() else r"\s*")
    after = "" if last else (r"\s+" if core[-1].isalnum() else r"\s*")
    return before + body + after


@functools.cache
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    out = []
    for name, template in config().templates.items():
        parts = _SLOT.split(template)  # literal, kind, number, literal, kind, number, ..., literal
        regex = ""
        for i in range(0, len(parts), 3):
            regex += _literal(parts[i], first=i == 0, last=i + 3 >= len(parts))
            if i + 2 < len(parts):
                regex += rf"(?P<{parts[i + 1]}{parts[i + 2]}>[^:=,\n]+?)"
        out.append((name, re.compile(rf"^\s*{regex}\s*$")))
    return tuple(out)


def parse_prompt(text: str, known: tuple[str, ...] | None = None) -> tuple[list[tuple[str, str]], str]:
    """The demonstration pairs and the query key of a prompt in one of the templates, each word mapped
    onto its concept (case-insensitively). InputError (one line) for a text in no template or a word
    that is not a concept of ``known`` (default: every concept of the relations)."""
    vocabulary = known if known is not None else concepts()
    by_lower = {c.lower(): c for c in vocabulary}
    for _, pattern in _patterns():
        match = pattern.match(text)
        if match is None:
            continue
        slots = {name: value.strip() for name, value in match.groupdict().items()}
        for word in slots.values():
            if word.lower() not in by_lower:
                examples = ", ".join(vocabulary[:: max(1, len(vocabulary) // 6)][:6])
                raise InputError(
                    f"unknown concept {word!r}: the probe's codebook has {len(vocabulary)} concepts "
                    f"(e.g. {examples}); `autointerp hdprobe concepts` lists them"
                )
        n = max(int(name[1:]) for name in slots if name.startswith("k"))
        pairs = [(by_lower[slots[f"k{i}"].lower()], by_lower[slots[f"v{i}"].lower()]) for i in range(1, n)]
        return pairs, by_lower[slots[f"k{n}"].lower()]
    raise InputError(
        f"{text[:60]!r} is not a key-value prompt; write one like 'France : Paris = Italy :', "
        "'France is to Paris as Italy is to' or 'France: Paris, Italy: Rome, Spain:'"
    )


def _draw(
    rng: random.Random, relation: str, template: str, demos: list[tuple[str, str]], queries: list[tuple[str, str]]
) -> tuple[tuple[str, str], ...] | None:
    """Pairs for one prompt: demonstrations and a query pair, keys distinct, the query key new."""
    need = _pairs_in(template)
    query = rng.choice(queries)
    pool = [p for p in demos if p != query and p[0] != query[0] and query[0] not in p and p[1] != query[0]]
    if len(pool) < need - 1:
        return None
    chosen = rng.sample(pool, need - 1)
    if len({k for k, _ in chosen} | {query[0]}) != need or query[1] == query[0]:
        return None
    return (*chosen, query)


def make_prompts(
    seed: int = 0, *, n_train: int = 3000, n_val: int = 400, n_test_pairs: int = 400, n_test_relations: int = 400
) -> PromptSet:
    """Draw the prompt splits (module docstring); distinct texts, reproducible from ``seed``."""
    rng = random.Random(seed)
    cfg = config()
    table = relations()
    unknown = [name for name in cfg.held_out_relations if name not in table]
    if unknown:
        raise InputError(f"held-out relation {unknown[0]!r} is not in relations.json")
    seen = [name for name in sorted(table) if name not in cfg.held_out_relations]
    train_pairs: dict[str, list[tuple[str, str]]] = {}
    test_pairs: dict[str, list[tuple[str, str]]] = {}
    for name in seen:
        pairs = list(table[name].pairs)
        rng.shuffle(pairs)
        cut = max(1, round(cfg.held_out_pair_fraction * len(pairs)))
        test_pairs[name], train_pairs[name] = pairs[:cut], pairs[cut:]
    templates = sorted(cfg.templates)
    used: set[str] = set()

    def draw(split: Split, count: int) -> list[Prompt]:
        out: list[Prompt] = []
        tries = 0
        while len(out) < count and tries < count * 50:
            tries += 1
            template = rng.choice(templates)
            if split == "test_relations":
                relation = rng.choice(sorted(cfg.held_out_relations))
                demos = queries = list(table[relation].pairs)
            else:
                relation = rng.choice(seen)
                demos = train_pairs[relation]
                queries = test_pairs[relation] if split == "test_pairs" else demos
            pairs = _draw(rng, relation, cfg.templates[template], demos, queries)
            if pairs is None:
                continue
            text = render(cfg.templates[template], pairs)
            if text in used:
                continue
            used.add(text)
            out.append(Prompt(text=text, template=template, relation=relation, pairs=pairs, split=split))
        return out

    return PromptSet(
        seed=seed,
        train=draw("train", n_train),
        val=draw("val", n_val),
        test_pairs=draw("test_pairs", n_test_pairs),
        test_relations=draw("test_relations", n_test_relations),
    )
