"""The builtin SHIFT judge's knowledge of concepts: word lists per concept (``data/judge_concepts.json``),
words read back from tokens, and how common a concept's words are in a corpus.

Each concept has *core* words (the concept itself: ``nurse``, ``she``; weight 1) and *domain* words
(its field: ``hospital``, ``maternity``; weight `DOMAIN_WEIGHT`), plus case-sensitive words (titles
such as ``Mrs``, and for ``gender`` the builtin corpus's female and male first names, ambiguous ones
such as ``Grace`` excluded). Regular plurals are added to every word. Concepts are found by name or
alias, case and ``_``/``-``/``/`` insensitive (``software_engineer`` = ``software engineer``). A
concept not in the table falls back to its own words and their inflections, and says so.

Words are read from a latent's contexts at the word level: the tokens' texts are joined and cut into
runs of letters, so a token inside a longer word (``he`` in ``the``) is that word, and a word split
over several tokens (``nur`` ``ses``) is whole again.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from store.datafiles import load_data
from store.errors import AutointerpError
from tools.corpus.builtin import lexicon as corpus_lexicon
from tools.corpus.sources import load_corpus
from tools.files import FileAccess

__all__ = [
    "DATA_FILES",
    "DOMAIN_WEIGHT",
    "PACKAGE",
    "ConceptBackground",
    "ConceptEntry",
    "Lexicon",
    "concept_lexicon",
    "concept_table",
    "corpus_background",
    "normalise_concept",
    "token_words",
]

NameList = Literal["female_names", "male_names", "neutral_names"]


class ConceptEntry(BaseModel):
    """One concept of the table: aliases, core and domain words, case-sensitive words, name lists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aliases: tuple[str, ...] = ()
    core: tuple[str, ...]
    domain: tuple[str, ...] = ()
    cased: tuple[str, ...] = ()
    name_lists: tuple[NameList, ...] = ()
    exclude: tuple[str, ...] = ()
    groups: dict[str, tuple[str, ...]] = {}
    group_names: dict[str, NameList] = {}


PACKAGE = "tools.shift"
DATA_FILES = {"judge_concepts.json": dict[str, ConceptEntry]}

#: Weight of a domain word (a core word weighs 1): evidence for the concept's field, not the concept.
DOMAIN_WEIGHT = 0.6
#: Words of a corpus read for its background rates.
BACKGROUND_WORDS = 60_000
_WORD = re.compile(r"[^\W\d_]+")
_SEPARATORS = re.compile(r"[\s_/\-]+")


def normalise_concept(name: str) -> str:
    """A concept name as the table keys it: lower case, ``_ - /`` and spaces as one space."""
    return _SEPARATORS.sub(" ", name.strip().lower()).strip()


def concept_table() -> dict[str, ConceptEntry]:
    """The concept table (``data/judge_concepts.json``), by name."""
    table: dict[str, ConceptEntry] = load_data(PACKAGE, "judge_concepts.json", dict[str, ConceptEntry])
    return table


@functools.cache
def _index() -> dict[str, str]:
    """Normalised names and aliases → table name (a name wins over another concept's alias)."""
    table = concept_table()
    index = {normalise_concept(alias): name for name, entry in table.items() for alias in entry.aliases}
    index.update({normalise_concept(name): name for name in table})
    return index


def _plurals(word: str) -> set[str]:
    forms = {word, word + "s"}
    if word.endswith(("s", "x", "z", "ch", "sh")):
        forms.add(word + "es")
    if len(word) > 2 and word.endswith("y") and word[-2] not in "aeiou":
        forms.add(word[:-1] + "ies")
    return forms


def _inflections(word: str) -> set[str]:
    """A word of a concept the table does not know, with its plural and verb forms."""
    stem = word[:-1] if word.endswith("e") else word
    return _plurals(word) | {stem + "ing", stem + "ed" if stem != word else word + "d", word + "er", word + "ers"}


@dataclass(frozen=True)
class Lexicon:
    """The words of one concept with their weights (1 core, `DOMAIN_WEIGHT` domain).

    ``resolved`` is the table entry used (None: the concept is not in the table and only its own words
    and their inflections are known); ``words`` are lower-case, ``cased`` match exactly (names, titles);
    ``groups`` the concept's contrasting sides (gender: female / male words and names), ``probe`` the
    words to test the latent on (group words, core words, titles) and ``names`` its first names, the
    name lists interleaved (see `judge_evidence.probe_latents`).
    """

    concept: str
    resolved: str | None
    words: dict[str, float]
    cased: dict[str, float] = field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    probe: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    def weight(self, word: str) -> float:
        """How much ``word`` (as written) speaks for the concept: 1, `DOMAIN_WEIGHT` or 0."""
        return max(self.cased.get(word, 0.0), self.words.get(word.lower(), 0.0))

    def group_of(self, word: str) -> str | None:
        """The group ``word`` (as written, or lower-cased) belongs to, if any."""
        for group, members in self.groups.items():
            if word in members or word.lower() in members:
                return group
        return None

    def describe(self) -> str:
        """What the judge knows of the concept, for rationales."""
        if self.resolved is None:
            return f"{self.concept!r} is not in the builtin judge's lists; it matches only the word(s) {self.concept!r}"
        if normalise_concept(self.resolved) == normalise_concept(self.concept):
            return f"{self.resolved}: {len(self.words) + len(self.cased)} words"
        return f"{self.concept!r} read as {self.resolved!r} ({len(self.words) + len(self.cased)} words)"


@functools.lru_cache(maxsize=256)
def concept_lexicon(concept: str) -> Lexicon:
    """The lexicon of ``concept`` (a table name or alias, or any word: then its own inflections)."""
    key = normalise_concept(concept)
    name = _index().get(key)
    if name is None:
        words: dict[str, float] = {}
        parts = [part for part in _WORD.findall(key) if len(part) >= 2]
        for part in parts:
            words.update(dict.fromkeys(_inflections(part), 1.0))
        return Lexicon(concept, None, words, probe=tuple(parts))
    entry = concept_table()[name]
    weights = {form: DOMAIN_WEIGHT for word in entry.domain for form in _plurals(word.lower())}
    weights.update({form: 1.0 for word in entry.core for form in _plurals(word.lower())})
    excluded = set(entry.exclude)
    cased = {word: 1.0 for word in entry.cased if word not in excluded}
    names: dict[str, tuple[str, ...]] = {}
    for names_list in dict.fromkeys([*entry.name_lists, *entry.group_names.values()]):
        names[names_list] = tuple(
            n for n in corpus_lexicon.words(names_list) if n not in excluded and _WORD.fullmatch(n)
        )
        cased.update(dict.fromkeys(names[names_list], 1.0))
    groups = {g: tuple(words) + names.get(entry.group_names.get(g, ""), ()) for g, words in entry.groups.items()}
    titles = [w for w in entry.cased if w not in excluded]
    probe = tuple(dict.fromkeys([*(w for ws in entry.groups.values() for w in ws), *entry.core, *titles]))
    interleaved = tuple(n for row in itertools.zip_longest(*names.values()) for n in row if n is not None)
    return Lexicon(concept, name, weights, cased, groups, probe, interleaved)


def token_words(tokens: Sequence[str]) -> tuple[list[str], list[list[int]]]:
    """The words of a context (runs of letters of its joined token texts) and, per token, the indices
    of the words it overlaps (none for a space or punctuation token)."""
    ends: list[int] = []
    position = 0
    for token in tokens:
        position += len(token)
        ends.append(position)
    text = "".join(tokens)
    words: list[str] = []
    spans: list[tuple[int, int]] = []
    for match in _WORD.finditer(text):
        words.append(match.group())
        spans.append(match.span())
    per_token: list[list[int]] = []
    w = 0
    for p, end in enumerate(ends):
        start = ends[p - 1] if p else 0
        while w < len(spans) and spans[w][1] <= start:
            w += 1
        own = []
        j = w
        while j < len(spans) and spans[j][0] < end:
            if spans[j][1] > start:
                own.append(j)
            j += 1
        per_token.append(own)
    return words, per_token


class ConceptBackground:
    """How often each word occurs in a corpus sample: a concept's background density (weighted
    concept words per word), against which a latent's contexts are compared."""

    def __init__(self, counts: Counter[str], total: int, source: str) -> None:
        self.counts = counts
        self.total = total
        self.source = source

    @classmethod
    def from_texts(
        cls, texts: Iterable[str], *, max_words: int = BACKGROUND_WORDS, source: str = "texts"
    ) -> ConceptBackground:
        """Count the words of ``texts`` (the first ``max_words`` of them)."""
        counts: Counter[str] = Counter()
        total = 0
        for text in texts:
            words = _WORD.findall(text)[: max_words - total]
            counts.update(words)
            total += len(words)
            if total >= max_words:
                break
        return cls(counts, total, source)

    def density(self, lexicon: Lexicon) -> float:
        """Weighted concept words per word of the sample (0 for an empty sample)."""
        if self.total == 0:
            return 0.0
        return sum(n * lexicon.weight(word) for word, n in self.counts.items()) / self.total


_BACKGROUNDS: dict[tuple[str, str], ConceptBackground] = {}


def corpus_background(
    spec: str, *, home: Path | None = None, files: FileAccess | None = None
) -> ConceptBackground | None:
    """The background of the corpus ``spec`` (an exemplar cache's corpus: `BACKGROUND_WORDS` words
    of it), read once per process; None when it cannot be read here (a file the policy ``files``
    refuses, a packaged corpus not fetched) or lives on the Hugging Face hub (never fetched for this)."""
    if "hf:" in spec:
        return None
    key = (spec, str(home))
    if key not in _BACKGROUNDS:
        try:
            corpus = load_corpus(spec, files=files, home=home)
            _BACKGROUNDS[key] = ConceptBackground.from_texts(corpus.texts(), source=spec)
        except (AutointerpError, OSError, ValueError):
            return None  # not kept: another policy (or a fetched corpus) may read it later
    return _BACKGROUNDS[key]
