"""Indirect-object-identification (IOI) prompt pairs for patching experiments (Wang et al., 2022).

A clean prompt mentions two people, then repeats one of them, the **subject** S, and ends where the
other one, the **indirect object** IO, is the natural next word::

    When Mary and John went to the store, John gave a drink to      → " Mary"

The corruption is a **name swap at the second mention**: the repeated subject S is replaced by IO,
so the repeated name (and with it the answer) flips while every other token stays in place::

    When Mary and John went to the store, Mary gave a drink to      → " John"

``target`` is " IO" and ``foil`` is " S", so LD = logit(IO) - logit(S) is positive on a clean prompt
the model solves and negative on its corrupt twin. The order of the first two mentions is chosen at
random (ABBA and BABA), so position alone never tells the answer. Clean and corrupt differ in one
name token, so with single-token names they have the same token length; when a tokenizer is given,
names that are not one token (with a leading space) are dropped and pairs of unequal length skipped.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from store.errors import FileAccessError, InputError
from tools.files import FileAccess

#: ``{A}`` is the indirect object and ``{B}`` the subject; every template holds "{A} and {B}" once
#: (swapped to "{B} and {A}" for the BABA order) and ends just before the indirect object.
TEMPLATES: tuple[str, ...] = (
    "When {A} and {B} went to the {PLACE}, {B} gave a {OBJECT} to",
    "Then, {A} and {B} went to the {PLACE}. {B} gave a {OBJECT} to",
    "Then, {A} and {B} had a long argument. Afterwards {B} said to",
    "After {A} and {B} went to the {PLACE}, {B} gave a {OBJECT} to",
    "While {A} and {B} were working at the {PLACE}, {B} gave a {OBJECT} to",
    "Friends {A} and {B} found a {OBJECT} at the {PLACE}. {B} gave it to",
    "When {A} and {B} got a {OBJECT} at the {PLACE}, {B} decided to give it to",
    "Then, {A} and {B} were thinking about going to the {PLACE}. {B} wanted to give a {OBJECT} to",
    "When {A} and {B} arrived at the {PLACE}, {B} handed a {OBJECT} to",
    "The {PLACE} was quiet when {A} and {B} arrived. {B} brought a {OBJECT} to",
)

#: Each is a single token with a leading space in the SmolLM2 tokenizer (checked by the tests).
NAMES: tuple[str, ...] = (
    "Mary", "John", "Alice", "Bob", "Tom", "James", "David", "Sarah", "Emma", "Anna",
    "Michael", "Daniel", "Paul", "Mark", "Peter", "Lisa", "Kate", "Jack", "Ben", "Sam",
    "Max", "Alex", "Chris", "Ryan", "Adam", "Eric", "Kevin", "Brian", "Jason", "Luke",
    "Sophie", "Laura", "Rachel", "Emily", "Grace", "Amy", "Jane", "Jim", "Joe", "Mike",
    "Steve", "Tim", "Matt", "Lucy", "Rose", "Helen", "Linda", "Susan", "George", "Henry",
)  # fmt: skip

PLACES: tuple[str, ...] = (
    "store", "park", "school", "hospital", "restaurant", "station", "office", "garden",
    "library", "beach", "market", "house", "museum", "church", "airport", "cafe",
)  # fmt: skip

OBJECTS: tuple[str, ...] = (
    "drink", "book", "ring", "letter", "basket", "bone", "kiss", "necklace",
    "computer", "snack", "bag", "ticket", "flower", "key", "gift", "phone",
)  # fmt: skip


class IOIPair(BaseModel):
    """One clean/corrupt prompt pair with the answer tokens (target: the clean IO, foil: the clean S)."""

    clean: str
    corrupt: str
    target: str
    foil: str
    template: str


def single_token_names(tokenizer: Any, names: Sequence[str] = NAMES) -> list[str]:
    """Names that are exactly one token with a leading space in ``tokenizer``."""
    return [n for n in names if len(tokenizer(" " + n, add_special_tokens=False)["input_ids"]) == 1]


def _fill(template: str, a: str, b: str, place: str, obj: str) -> str:
    return template.format(A=a, B=b, PLACE=place, OBJECT=obj)


def generate_ioi(
    n: int, seed: int = 0, tokenizer: Any = None, *, template: int | None = None, same_length: bool = False
) -> list[IOIPair]:
    """``n`` IOI pairs, deterministic for a seed (see the module docstring for the corruption).

    With a ``tokenizer``, only names that are single tokens are used and every pair has clean and
    corrupt prompts of the same token length. ``template`` fixes one template (an index into
    ``TEMPLATES``); ``same_length`` (needs a tokenizer) keeps only pairs as long as the first one, so
    the whole dataset can be patched and averaged position by position.
    """
    if n < 0:
        raise InputError(f"n must be >= 0, got {n}")
    if template is not None and not 0 <= template < len(TEMPLATES):
        raise InputError(f"template {template} out of range: 0..{len(TEMPLATES) - 1}")
    if same_length and tokenizer is None:
        raise InputError("same_length needs a tokenizer (give a model)")
    length: int | None = None
    names = single_token_names(tokenizer) if tokenizer is not None else list(NAMES)
    if len(names) < 2:
        raise InputError("fewer than two names are single tokens in this tokenizer")
    rng = random.Random(seed)
    pairs: list[IOIPair] = []
    attempts = 0
    while len(pairs) < n:
        attempts += 1
        if attempts > 20 * n + 100:
            raise InputError(f"could only build {len(pairs)} of {n} equal-length IOI pairs with this tokenizer")
        chosen = TEMPLATES[template] if template is not None else rng.choice(TEMPLATES)
        if rng.random() < 0.5:
            chosen = chosen.replace("{A} and {B}", "{B} and {A}", 1)
        io, s = rng.sample(names, 2)
        place, obj = rng.choice(PLACES), rng.choice(OBJECTS)
        clean = _fill(chosen, io, s, place, obj)
        # Corrupt: the second mention of S becomes IO (the first mentions keep their places).
        head, tail = chosen.rsplit("{B}", 1)
        corrupt = _fill(head + "{A}" + tail, io, s, place, obj)
        if tokenizer is not None:
            lengths = {len(tokenizer(text)["input_ids"]) for text in (clean, corrupt)}
            if len(lengths) != 1:
                continue
            size = lengths.pop()
            if same_length and length is not None and size != length:
                continue
            length = size if length is None else length
        pairs.append(IOIPair(clean=clean, corrupt=corrupt, target=" " + io, foil=" " + s, template=chosen))
    return pairs


def write_ioi_jsonl(pairs: Sequence[IOIPair], path: Path | str) -> Path:
    """Write pairs as JSON lines (one object per line); returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for pair in pairs:
            fh.write(pair.model_dump_json() + "\n")
    return out


def load_pairs_jsonl(path: Path | str, *, files: FileAccess | None = None) -> list[IOIPair]:
    """Read pairs written by ``write_ioi_jsonl`` (blank lines skipped), one line at a time through
    ``files`` (a tool's access policy; default: local); InputError names a bad line."""
    source = Path(path)
    access = files if files is not None else FileAccess()
    pairs: list[IOIPair] = []
    try:
        for number, raw in access.lines(path, "pairs file"):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{source}:{number}: not UTF-8") from None
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{source}:{number}: not valid JSON ({exc.msg})") from None
            try:
                pairs.append(IOIPair.model_validate(data))
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())
                raise InputError(f"{source}:{number}: not an IOI pair ({problems})") from None
    except FileAccessError as exc:
        raise FileAccessError(f"cannot read pairs: {exc}") from None
    return pairs
