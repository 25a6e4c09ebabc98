"""English words the builtin scientist surveys: a frequent vocabulary, a category-noun inventory, and
folding of inflected forms (shared by the entity policy and the model-unit policy's word survey).

The tables are package data (``agent/builtin/data/stopwords.txt``, ``category_nouns.txt``, read through
``store.datafiles``); the vocabulary comes from ``wordfreq``'s English list.
"""

from __future__ import annotations

import functools
import re

from store.datafiles import load_lines

__all__ = ["CATEGORY_NOUNS", "STOPWORDS", "VOCABULARY_SIZE", "distinct", "inventory", "plural", "stem", "vocabulary"]

VOCABULARY_SIZE = 8000
"""Vocabulary words surveyed by default."""

STOPWORDS = frozenset(load_lines("agent.builtin", "stopwords.txt"))
"""Function words: frequent, and they say nothing about a concept."""
CATEGORY_NOUNS = load_lines("agent.builtin", "category_nouns.txt")
"""Generic category nouns (singular), in survey order: candidate names for what a neuron responds to."""


def plural(noun: str) -> str:
    """The plural of a category noun (regular English rules)."""
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


@functools.cache
def vocabulary(size: int = VOCABULARY_SIZE) -> tuple[str, ...]:
    """The most frequent alphabetic English words (≥ 3 letters, no function words), most frequent first."""
    from wordfreq import top_n_list

    words = [w for w in top_n_list("en", 60_000) if re.fullmatch(r"[a-z]{3,}", w) and w not in STOPWORDS]
    return tuple(words[:size])


@functools.cache
def inventory() -> tuple[str, ...]:
    """Category nouns in singular and plural."""
    return tuple(dict.fromkeys(form for noun in CATEGORY_NOUNS for form in (noun, plural(noun))))


def stem(word: str) -> str:
    """A crude stem: the word without a plural, -ing or -ed ending (at least 3 letters kept)."""
    for suffix in ("ies", "es", "s", "ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def distinct(words: list[str], limit: int) -> list[str]:
    """The first ``limit`` words, skipping plural / -ing / -ed variants of a word already taken."""
    taken: list[str] = []
    stems: set[str] = set()
    for word in words:
        root = stem(word)
        if root in stems or word in stems:
            continue
        stems.update({root, word})
        taken.append(word)
        if len(taken) == limit:
            break
    return taken
