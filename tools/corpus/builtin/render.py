"""The template engine behind the built-in corpus.

A template is text with slots. In prose, a slot is ``{key}`` or ``{key:mod:mod}``; in code
templates (where braces are Python syntax) it is ``<<key>>`` or ``<<key:mod>>``.

Keys:
    * a category of `lexicon.categories` (``{animal}``) picks a random member, ``v_`` and a verb
      class of `lexicon.verbs` (``{v_motion}``) a random verb;
    * ``$`` in front (``{$animal}``) picks once per document and then repeats that pick, which
      gives a document a coherent topic; ``$name``, ``$friend``, ``$city``, ``$country`` ... are
      the document's cast and setting, and ``he``/``him``/``his``/``himself`` its main
      character's pronouns (``fhe``/``fhim``/``fhis`` the friend's);
    * generators for numbers, dates, prices, URLs and other formatted values
      (`tools.corpus.builtin.values.GENERATORS`);
    * an upper-case first letter (``{Animal}``, ``{He}``) capitalises the value.

Modifiers: ``pl`` plural, ``a`` with an article, ``cap``/``up``/``low``/``title`` casing,
``s``/``past``/``ing`` verb forms, ``er``/``est`` comparative and superlative, ``id`` a Python
identifier, ``spell`` spelled out letter by letter.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from tools.corpus.builtin import lexicon
from tools.corpus.builtin.inflect import article, capitalise, identifier, plural, third_person, title_case
from tools.corpus.builtin.values import GENERATORS, Value

T = TypeVar("T")

PROSE_SLOT = re.compile(r"\{(\$?[A-Za-z_][A-Za-z0-9_]*)((?::[a-z]+)*)\}")
"""A ``{key:mod}`` slot in a prose template."""
CODE_SLOT = re.compile(r"<<(\$?[A-Za-z_][A-Za-z0-9_]*)((?::[a-z]+)*)>>")
"""A ``<<key:mod>>`` slot in a code template."""

QUOTE_STYLES: tuple[tuple[str, str], ...] = (
    ('"', '"'),
    ('"', '"'),
    ("\u201c", "\u201d"),
    ("\u201c", "\u201d"),
    ("'", "'"),
    ("\u2018", "\u2019"),
)
"""Pairs of opening and closing quotation marks; a document uses one pair throughout."""

_PRONOUNS = {
    "m": {"he": "he", "him": "him", "his": "his", "himself": "himself"},
    "f": {"he": "she", "him": "her", "his": "her", "himself": "herself"},
}


class Renderer:
    """Fills templates for one document, holding its random stream, cast and setting.

    `used`, when given, collects every template rendered (to measure template coverage).
    """

    def __init__(self, rng: random.Random, used: set[str] | None = None) -> None:
        """Choose the document's cast (main character, friend) and setting (country, city)."""
        self.rng: random.Random = rng
        self.used: set[str] | None = used
        self.ctx: dict[str, Value] = {}
        self.quotes = rng.choice(QUOTE_STYLES)
        self.gender = rng.choice("mf")
        friend_gender = rng.choice("mf")
        self.ctx["$name"] = self.first_name(self.gender)
        friend = self.first_name(friend_gender)
        while friend == self.ctx["$name"]:
            friend = self.first_name(friend_gender)
        self.ctx["$friend"] = friend
        self.ctx["$sur"] = rng.choice(lexicon.words("surnames"))
        self.ctx["$full"] = f"{self.ctx['$name']} {self.ctx['$sur']}"
        self.ctx["$friend_full"] = f"{friend} {rng.choice(lexicon.words('surnames'))}"
        self.pronouns = dict(_PRONOUNS[self.gender])
        self.pronouns.update({"f" + k: v for k, v in _PRONOUNS[friend_gender].items()})
        country = rng.choice(lexicon.countries())
        self.country = country
        self.ctx.update(
            {
                "$country": country.name,
                "$nat": country.adjective,
                "$lang": country.language,
                "$capital": country.capital,
                "$continent": country.continent,
                "$money": country.currency,
                "$city": rng.choice(country.cities),
            }
        )
        others = [c for c in country.cities if c not in (self.ctx["$city"], country.capital)]
        self.ctx["$city2"] = rng.choice(others) if others else self.ctx["$city"]

    # --- random helpers -------------------------------------------------------------------------
    def pick(self, seq: Sequence[T]) -> T:
        """Return one random element of `seq`."""
        return seq[self.rng.randrange(len(seq))]

    def sample(self, seq: Sequence[T], k: int) -> list[T]:
        """Return `k` distinct random elements of `seq` (fewer if it is shorter)."""
        return self.rng.sample(list(seq), min(k, len(seq)))

    def chance(self, p: float) -> bool:
        """Return True with probability `p`."""
        return self.rng.random() < p

    def first_name(self, gender: str) -> str:
        if self.rng.random() < 0.1:
            return self.pick(lexicon.words("neutral_names"))
        return self.pick(lexicon.words("male_names" if gender == "m" else "female_names"))

    # --- rendering -------------------------------------------------------------------------------
    def render(self, template: str, pattern: re.Pattern[str] = PROSE_SLOT) -> str:
        """Fill every slot of `template` and return the text."""
        if self.used is not None:
            self.used.add(template)
        return pattern.sub(self._fill, template)

    def sentence(self, template: str) -> str:
        """Render a prose template, capitalise its first letter, and apply the quote style."""
        return self.quote(capitalise(self.render(template)))

    def code(self, template: str) -> str:
        """Render a code template (``<<key>>`` slots)."""
        return self.render(template, CODE_SLOT)

    def quote(self, text: str) -> str:
        """Replace straight double quotes in `text` with the document's quotation marks."""
        if '"' not in text or self.quotes == ('"', '"'):
            return text
        opening, closing = self.quotes
        return re.sub(r'"([^"]*)"', lambda m: opening + m.group(1) + closing, text)

    def value(self, key: str) -> Value:
        """Return the raw value of a slot key (before modifiers); ``$`` keys are memoised."""
        if key.startswith("$"):
            if key not in self.ctx:
                self.ctx[key] = self._fresh(key[1:])
            return self.ctx[key]
        if key in self.pronouns:
            return self.pronouns[key]
        return self._fresh(key)

    def _fresh(self, key: str) -> Value:
        words = lexicon.categories().get(key)
        if words is not None:
            return self.pick(words)
        verbs = lexicon.verbs().get(key[2:]) if key.startswith("v_") else None
        if verbs is not None:
            return self.pick(verbs)
        gen = GENERATORS.get(key)
        if gen is None:
            raise KeyError(f"unknown template slot {key!r}")
        return gen(self)

    def _fill(self, match: re.Match[str]) -> str:
        key, mods = match.group(1), match.group(2)
        bare = key.lstrip("$")
        cap = bare[:1].isupper()
        if cap:
            key = key[: len(key) - len(bare)] + bare[0].lower() + bare[1:]
        text = apply_modifiers(self.value(key), mods.split(":")[1:] if mods else [])
        return capitalise(text) if cap else text


def apply_modifiers(value: Value, mods: list[str]) -> str:
    """Apply slot modifiers to a value (a word, or a tuple of verb/adjective forms)."""
    if isinstance(value, tuple):
        forms = value
        text = forms[0]
        for mod in mods:
            if mod == "past" or mod == "er":
                text = forms[1]
            elif mod == "ing" or mod == "est":
                text = forms[2]
            elif mod == "s":
                text = third_person(forms[0])
        mods = [m for m in mods if m not in ("past", "ing", "er", "est", "s")]
    else:
        text = value
    for mod in mods:
        text = _MODIFIERS[mod](text)
    return text


_MODIFIERS: dict[str, Callable[[str], str]] = {
    "pl": plural,
    "a": article,
    "cap": capitalise,
    "up": str.upper,
    "low": str.lower,
    "title": title_case,
    "id": identifier,
    "spell": lambda t: "-".join(ch.upper() for ch in t if ch.isalpha()),
}
