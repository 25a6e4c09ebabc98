"""Generator for FIND-style string functions (DESIGN §3, ``kind: string``).

FIND's string suite holds 1000 functions ``f(x: str) -> str`` built from simple string primitives, half of
them alone and half as depth-2 compositions. This module reproduces that recipe:

* :data:`PRIMITIVES` — name → :class:`Primitive`: a snippet of Python that rewrites the local ``x`` (so
  snippets chain), a parameter sampler, and a description in words.
* :func:`generate_strings` — ``n`` :class:`~evals.suite.StringItem` objects, deterministic for a seed
  (only ``random.Random(seed)`` and per-item ``random.Random`` instances derived from it are used).
  Compositions ``g(f(x))`` that are redundant on a fixed probe set (:data:`PROBES`) — the identity, ``f``
  alone, ``g`` alone, another single primitive, or constant — are rejected and resampled.
* :func:`run_code` — run a generated ``code`` string on one input (exec in a fresh namespace).

Each item's ``code`` is self-contained (``def f(x):`` with every step inlined, no imports) and never raises
on a ``str`` input: indexes are guarded, digit maps use ASCII digits only, Caesar/atbash touch ASCII letters
only.
"""

from __future__ import annotations

import functools
import random
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evals.suite import StringItem, UnitTest

Params = dict[str, Any]

VOWELS = "aeiou"
_PUNCT = string.punctuation
_COMMON_LETTERS = "etaoinsrhldcu"
_SYMBOLS = "#*@$%&!?~+"
_AFFIXES = ("pre", "xyz", "_end", "!!", "abc", "ZZ", "++", "<<", "qq", "42", "hey ", " fin")
_BRACKETS = ("()", "[]", "{}", "<>", "**", "||")


@dataclass(frozen=True)
class Primitive:
    """One string primitive.

    ``code(params)`` returns Python lines (no indentation) that read and rebind the local ``x``;
    ``describe(params)`` returns a verb phrase ("reverses the string"); ``sample(rng)`` draws parameters;
    ``grid`` lists the parameter sets used as reference functions in redundancy checks (``None``: a few
    fixed draws of ``sample``).
    """

    name: str
    category: str
    code: Callable[[Params], list[str]]
    describe: Callable[[Params], str]
    sample: Callable[[random.Random], Params] = field(default=lambda rng: {})
    grid: tuple[Params, ...] | None = None


def _k(lo: int, hi: int) -> Callable[[random.Random], Params]:
    def sample(rng: random.Random) -> Params:
        return {"k": rng.randint(lo, hi)}

    return sample


def _grid_k(lo: int, hi: int) -> tuple[Params, ...]:
    return tuple({"k": k} for k in range(lo, hi + 1))


def _chars(k: int) -> str:
    return f"{k} character" + ("" if k == 1 else "s")


def _letter(rng: random.Random) -> Params:
    return {"c": rng.choice(_COMMON_LETTERS)}


def _symbol(rng: random.Random) -> Params:
    return {"s": rng.choice(_SYMBOLS)}


def _join(expr: str) -> list[str]:
    return [f"x = ''.join({expr})"]


def _swap_pair(rng: random.Random) -> Params:
    a, b = rng.sample(_COMMON_LETTERS, 2)
    return {"a": a, "b": b}


def _insert_at(rng: random.Random) -> Params:
    return {"k": rng.randint(1, 6), "s": rng.choice(_SYMBOLS)}


def _affix(rng: random.Random) -> Params:
    return {"s": rng.choice(_AFFIXES)}


def _bracket(rng: random.Random) -> Params:
    return {"s": rng.choice(_BRACKETS)}


_DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}


def _build_primitives() -> dict[str, Primitive]:
    specs = [
        # case
        Primitive("lower", "case", lambda p: ["x = x.lower()"], lambda p: "converts the string to lowercase"),
        Primitive("upper", "case", lambda p: ["x = x.upper()"], lambda p: "converts the string to uppercase"),
        Primitive("swapcase", "case", lambda p: ["x = x.swapcase()"], lambda p: "swaps the case of every letter"),
        Primitive("title", "case", lambda p: ["x = x.title()"], lambda p: "capitalizes the first letter of every word"),
        Primitive(
            "capitalize",
            "case",
            lambda p: ["x = x.capitalize()"],
            lambda p: "uppercases the first character and lowercases the rest",
        ),
        Primitive(
            "alternate_case",
            "case",
            lambda p: _join("c.upper() if i % 2 == 0 else c.lower() for i, c in enumerate(x)"),
            lambda p: "alternates case by position: characters at even positions (0, 2, ...) uppercase, odd lowercase",
        ),
        Primitive(
            "upper_vowels",
            "case",
            lambda p: _join(f"c.upper() if c.lower() in {VOWELS!r} else c for c in x"),
            lambda p: "uppercases every vowel (a, e, i, o, u), leaving other characters alone",
        ),
        # reversal / order
        Primitive("reverse", "reversal", lambda p: ["x = x[::-1]"], lambda p: "reverses the string"),
        Primitive(
            "reverse_words",
            "reversal",
            lambda p: ["x = ' '.join(w[::-1] for w in x.split(' '))"],
            lambda p: "reverses each space-separated word in place, keeping the word order",
        ),
        Primitive(
            "reverse_word_order",
            "reversal",
            lambda p: ["x = ' '.join(x.split(' ')[::-1])"],
            lambda p: "reverses the order of the space-separated words",
        ),
        Primitive(
            "sort_chars",
            "order",
            lambda p: _join("sorted(x)"),
            lambda p: (
                "sorts all characters by Unicode code point, ascending (so spaces, then digits, then uppercase, "
                "then lowercase letters)"
            ),
        ),
        Primitive(
            "sort_chars_desc",
            "order",
            lambda p: _join("sorted(x, reverse=True)"),
            lambda p: "sorts all characters by code point in descending order",
        ),
        Primitive(
            "sort_words",
            "order",
            lambda p: ["x = ' '.join(sorted(x.split()))"],
            lambda p: (
                "splits on whitespace, sorts the words alphabetically (case-sensitive) and joins them with "
                "single spaces"
            ),
        ),
        Primitive(
            "swap_pairs",
            "order",
            lambda p: _join("x[i + 1] + x[i] if i + 1 < len(x) else x[i] for i in range(0, len(x), 2)"),
            lambda p: "swaps each pair of adjacent characters (1st with 2nd, 3rd with 4th, ...)",
        ),
        Primitive(
            "rotate_left",
            "shift",
            lambda p: [f"_k = {p['k']} % len(x) if x else 0", "x = x[_k:] + x[:_k]"],
            lambda p: (
                f"rotates the string left by {_chars(p['k'])} (moves the first {p['k']} to the end, modulo the length)"
            ),
            _k(1, 6),
            _grid_k(1, 12),
        ),
        Primitive(
            "rotate_right",
            "shift",
            lambda p: [f"_k = {p['k']} % len(x) if x else 0", "x = x[len(x) - _k:] + x[:len(x) - _k]"],
            lambda p: (
                f"rotates the string right by {_chars(p['k'])} (moves the last {p['k']} to the front, "
                "modulo the length)"
            ),
            _k(1, 6),
            _grid_k(1, 12),
        ),
        Primitive(
            "caesar",
            "shift",
            lambda p: _join(
                f"chr((ord(c) - 97 + {p['k']}) % 26 + 97) if 'a' <= c <= 'z' else "
                f"chr((ord(c) - 65 + {p['k']}) % 26 + 65) if 'A' <= c <= 'Z' else c for c in x"
            ),
            lambda p: (
                f"shifts every ASCII letter forward by {p['k']} in the alphabet (Caesar cipher, wrapping "
                "z to a, case kept)"
            ),
            _k(1, 25),
            _grid_k(1, 25),
        ),
        Primitive(
            "atbash",
            "shift",
            lambda p: _join(
                "chr(219 - ord(c)) if 'a' <= c <= 'z' else chr(155 - ord(c)) if 'A' <= c <= 'Z' else c for c in x"
            ),
            lambda p: "mirrors every ASCII letter in the alphabet (a↔z, b↔y, ..., case kept; atbash)",
        ),
        Primitive(
            "increment_digits",
            "shift",
            lambda p: _join("str((int(c) + 1) % 10) if c in '0123456789' else c for c in x"),
            lambda p: "adds 1 to every digit (9 becomes 0)",
        ),
        # filtering
        Primitive(
            "remove_vowels",
            "filter",
            lambda p: _join(f"c for c in x if c.lower() not in {VOWELS!r}"),
            lambda p: "removes every vowel (a, e, i, o, u, either case)",
        ),
        Primitive(
            "remove_consonants",
            "filter",
            lambda p: _join(f"c for c in x if not (c.isascii() and c.isalpha() and c.lower() not in {VOWELS!r})"),
            lambda p: "removes every ASCII consonant letter, keeping vowels and non-letters",
        ),
        Primitive(
            "remove_digits",
            "filter",
            lambda p: _join("c for c in x if not c.isdigit()"),
            lambda p: "removes every digit",
        ),
        Primitive(
            "remove_spaces",
            "filter",
            lambda p: _join("c for c in x if not c.isspace()"),
            lambda p: "removes all whitespace",
        ),
        Primitive(
            "remove_punctuation",
            "filter",
            lambda p: _join(f"c for c in x if c not in {_PUNCT!r}"),
            lambda p: "removes all ASCII punctuation characters",
        ),
        Primitive(
            "remove_letter",
            "filter",
            lambda p: _join(f"c for c in x if c.lower() != {p['c']!r}"),
            lambda p: f"removes every '{p['c']}' (either case)",
            _letter,
        ),
        Primitive(
            "keep_letters",
            "filter",
            lambda p: _join("c for c in x if c.isalpha()"),
            lambda p: "keeps only the letters, dropping everything else",
        ),
        Primitive(
            "keep_digits",
            "filter",
            lambda p: _join("c for c in x if c.isdigit()"),
            lambda p: "keeps only the digits, dropping everything else",
        ),
        Primitive(
            "every_other",
            "filter",
            lambda p: ["x = x[::2]"],
            lambda p: "keeps every other character, starting with the first (positions 0, 2, 4, ...)",
        ),
        Primitive(
            "dedupe_consecutive",
            "filter",
            lambda p: _join("c for i, c in enumerate(x) if i == 0 or x[i - 1] != c"),
            lambda p: "collapses runs of the same character into one character",
        ),
        Primitive(
            "unique_chars",
            "filter",
            lambda p: _join("dict.fromkeys(x)"),
            lambda p: "keeps only the first occurrence of each character",
        ),
        Primitive(
            "acronym",
            "filter",
            lambda p: _join("w[0] for w in x.split()"),
            lambda p: "returns the first character of each whitespace-separated word, concatenated",
        ),
        # counting
        Primitive("length", "count", lambda p: ["x = str(len(x))"], lambda p: "returns the number of characters"),
        Primitive(
            "word_count",
            "count",
            lambda p: ["x = str(len(x.split()))"],
            lambda p: "returns the number of whitespace-separated words",
        ),
        Primitive(
            "count_letter",
            "count",
            lambda p: [f"x = str(x.lower().count({p['c']!r}))"],
            lambda p: f"returns how many times the letter '{p['c']}' occurs (either case)",
            _letter,
        ),
        Primitive(
            "count_vowels",
            "count",
            lambda p: [f"x = str(sum(1 for c in x if c.lower() in {VOWELS!r}))"],
            lambda p: "returns the number of vowels (a, e, i, o, u, either case)",
        ),
        Primitive(
            "count_uppercase",
            "count",
            lambda p: ["x = str(sum(1 for c in x if c.isupper()))"],
            lambda p: "returns the number of uppercase letters",
        ),
        # insertion
        Primitive(
            "insert_after_each",
            "insert",
            lambda p: _join(f"c + {p['s']!r} for c in x"),
            lambda p: f"inserts '{p['s']}' after every character",
            _symbol,
        ),
        Primitive(
            "join_words",
            "insert",
            lambda p: [f"x = {p['s']!r}.join(x.split())"],
            lambda p: f"splits on whitespace and joins the words with '{p['s']}' between them",
            _symbol,
        ),
        Primitive(
            "insert_at",
            "insert",
            lambda p: [f"x = x[:{p['k']}] + {p['s']!r} + x[{p['k']}:]"],
            lambda p: (
                f"inserts '{p['s']}' at position {p['k']} (after the first {_chars(p['k'])}, or at the "
                "end if the string is shorter)"
            ),
            _insert_at,
        ),
        # substitution
        Primitive(
            "replace_letter",
            "substitute",
            lambda p: [f"x = x.replace({p['a']!r}, {p['b']!r})"],
            lambda p: f"replaces every lowercase '{p['a']}' with '{p['b']}'",
            _swap_pair,
        ),
        Primitive(
            "vowels_to_symbol",
            "substitute",
            lambda p: _join(f"{p['s']!r} if c.lower() in {VOWELS!r} else c for c in x"),
            lambda p: f"replaces every vowel (a, e, i, o, u, either case) with '{p['s']}'",
            _symbol,
        ),
        Primitive(
            "spaces_to",
            "substitute",
            lambda p: [f"x = x.replace(' ', {p['s']!r})"],
            lambda p: f"replaces every space with '{p['s']}'",
            _symbol,
        ),
        Primitive(
            "digits_to_symbol",
            "substitute",
            lambda p: _join(f"{p['s']!r} if c.isdigit() else c for c in x"),
            lambda p: f"replaces every digit with '{p['s']}'",
            _symbol,
        ),
        Primitive(
            "digits_to_words",
            "substitute",
            lambda p: [
                f"_w = {_DIGIT_WORDS!r}",
                "x = ''.join(_w[ord(c) - 48] if c in '0123456789' else c for c in x)",
            ],
            lambda p: "spells out every digit as an English word (0 → 'zero', 1 → 'one', ...)",
        ),
        Primitive(
            "leetspeak",
            "substitute",
            lambda p: [f"_m = {_LEET!r}", "x = ''.join(_m.get(c.lower(), c) for c in x)"],
            lambda p: "replaces letters with look-alike digits (a→4, e→3, i→1, o→0, s→5, t→7, either case)",
        ),
        # truncation
        Primitive(
            "first_k",
            "truncate",
            lambda p: [f"x = x[:{p['k']}]"],
            lambda p: f"keeps only the first {_chars(p['k'])}",
            _k(1, 8),
            _grid_k(1, 12),
        ),
        Primitive(
            "last_k",
            "truncate",
            lambda p: [f"x = x[-{p['k']}:]"],
            lambda p: f"keeps only the last {_chars(p['k'])}",
            _k(1, 8),
            _grid_k(1, 12),
        ),
        Primitive(
            "drop_first_k",
            "truncate",
            lambda p: [f"x = x[{p['k']}:]"],
            lambda p: f"removes the first {_chars(p['k'])}",
            _k(1, 5),
            _grid_k(1, 12),
        ),
        Primitive(
            "drop_last_k",
            "truncate",
            lambda p: [f"x = x[:-{p['k']}]"],
            lambda p: f"removes the last {_chars(p['k'])}",
            _k(1, 5),
            _grid_k(1, 12),
        ),
        # duplication
        Primitive(
            "double_chars",
            "duplicate",
            lambda p: _join("c + c for c in x"),
            lambda p: "doubles every character",
        ),
        Primitive(
            "repeat_twice",
            "duplicate",
            lambda p: ["x = x + x"],
            lambda p: "repeats the whole string twice",
        ),
        Primitive(
            "mirror",
            "duplicate",
            lambda p: ["x = x + x[::-1]"],
            lambda p: "appends the reversed string to the string (a palindrome mirror)",
        ),
        # affixes
        Primitive(
            "prefix",
            "affix",
            lambda p: [f"x = {p['s']!r} + x"],
            lambda p: f"adds the prefix '{p['s']}'",
            _affix,
        ),
        Primitive(
            "suffix",
            "affix",
            lambda p: [f"x = x + {p['s']!r}"],
            lambda p: f"adds the suffix '{p['s']}'",
            _affix,
        ),
        Primitive(
            "wrap",
            "affix",
            lambda p: [f"x = {p['s'][0]!r} + x + {p['s'][1]!r}"],
            lambda p: f"wraps the string in '{p['s'][0]}' and '{p['s'][1]}'",
            _bracket,
        ),
    ]
    out: dict[str, Primitive] = {}
    for spec in specs:
        assert spec.name not in out, spec.name
        out[spec.name] = spec
    return out


PRIMITIVES: dict[str, Primitive] = _build_primitives()
"""Every primitive by name (>= 40)."""

PROBES: tuple[str, ...] = (
    "",
    "a",
    "e",
    "Z",
    "hi",
    "ab",
    "zz",
    "abc",
    "Hello World",
    "hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "AEIOU aeiou",
    "12345",
    "a1b2c3",
    "  leading and trailing  ",
    "MiXeD CaSe",
    "Mississippi",
    "racecar",
    "Zebra",
    "x y z",
    "Ünïcödé ß café",
    "tab\tsep",
    "line\nbreak",
    "!!!",
    "123 Main St.",
    "banana split",
    "Python 3.11",
    "CamelCaseWord",
    "snake_case_name",
    "aaaaa",
    "bookkeeper",
    "ONE TWO THREE",
    "qwrtypsdfg",
    "2024-06-01",
    "Hello   World",
    "a.b.c",
    "Éclair au chocolat",
    "xyz XYZ",
    "Data Science 101!",
    "9 lives, 0 regrets",
)
"""Fixed, varied inputs on which redundancy is decided empirically."""

Step = tuple[str, Params]


def build_code(steps: list[Step]) -> str:
    """Self-contained source ``def f(x):`` applying ``steps`` (primitive name, params) in order."""
    lines = ["def f(x):", "    x = str(x)"]
    for name, params in steps:
        lines.extend("    " + line for line in PRIMITIVES[name].code(params))
    lines.append("    return x")
    return "\n".join(lines) + "\n"


def describe(steps: list[Step]) -> str:
    """The ground truth in words: the step phrases joined with ", then "."""
    return ", then ".join(PRIMITIVES[name].describe(params) for name, params in steps)


@functools.lru_cache(maxsize=8192)
def _compiled(code: str) -> Callable[[str], str]:
    namespace: dict[str, Any] = {}
    exec(compile(code, "<generated string function>", "exec"), namespace)
    fn: Callable[[str], str] = namespace["f"]
    return fn


def run_code(code: str, x: str) -> str:
    """Run generated ``code`` (which defines ``f``) on ``x``, exec'd in a fresh namespace (cached per code)."""
    return _compiled(code)(x)


def _outputs(code: str, inputs: tuple[str, ...] = PROBES) -> tuple[str, ...]:
    fn = _compiled(code)
    return tuple(fn(x) for x in inputs)


@functools.lru_cache(maxsize=1)
def _reference() -> tuple[str, ...]:
    """Codes of the single-primitive reference functions (grid or fixed draws of each sampler)."""
    rng = random.Random(20231)
    codes: list[str] = []
    for spec in PRIMITIVES.values():
        if spec.grid is not None:
            grid = list(spec.grid)
        else:
            grid = []
            for _ in range(12):
                params = spec.sample(rng)
                if params not in grid:
                    grid.append(params)
        codes.extend(build_code([(spec.name, params)]) for params in grid)
    return tuple(dict.fromkeys(codes))


def reference_codes() -> tuple[str, ...]:
    """Code of every single-primitive reference function used in redundancy checks and distractors."""
    return _reference()


@functools.lru_cache(maxsize=1)
def _reference_outputs() -> tuple[tuple[str, ...], ...]:
    return tuple(dict.fromkeys(_outputs(code) for code in reference_codes()))


MAX_PROBE_DIFF = 2
"""Two functions that differ on at most this many probes count as the same (e.g. ``lower(upper(x))`` vs
``lower(x)`` differ only where uppercasing expands a character, as with 'ß')."""


def _same(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return sum(1 for u, v in zip(a, b, strict=True) if u != v) <= MAX_PROBE_DIFF


def redundancy(steps: list[Step]) -> str | None:
    """Why ``steps`` is redundant on :data:`PROBES`, or ``None`` when it is not.

    Redundant: (nearly) the identity, (nearly) constant, or — for compositions — (nearly) equal to one of
    its steps alone or to a single reference primitive; "nearly" allows :data:`MAX_PROBE_DIFF` probes to differ.
    """
    outputs = _outputs(build_code(steps))
    if _same(outputs, PROBES):
        return "identity"
    if Counter(outputs).most_common(1)[0][1] >= len(PROBES) - MAX_PROBE_DIFF:
        return "constant"
    if len(steps) > 1:
        for step in steps:
            if _same(outputs, _outputs(build_code([step]))):
                return f"equals {step[0]} alone"
        if any(_same(outputs, ref) for ref in _reference_outputs()):
            return "equals a single primitive"
    return None


def _sample_step(rng: random.Random, names: list[str]) -> Step:
    name = rng.choice(names)
    return name, PRIMITIVES[name].sample(rng)


_WORDS = tuple(
    [
        "hello",
        "world",
        "apple",
        "banana",
        "river",
        "mountain",
        "coffee",
        "python",
        "music",
        "garden",
        "yellow",
        "orange",
        "table",
        "window",
        "science",
        "number",
        "letter",
        "dragon",
        "pizza",
        "rocket",
        "silver",
        "summer",
        "winter",
        "ocean",
        "forest",
        "bridge",
        "castle",
        "friend",
        "quick",
        "brown",
        "lazy",
        "dog",
        "jumps",
        "over",
        "the",
        "a",
        "an",
        "of",
        "and",
        "or",
    ]
)
_UNICODE = ("café", "naïve", "Ünïcödé", "straße", "jalapeño", "Ελλάδα", "日本", "smile 🙂", "façade")


def _case(rng: random.Random, word: str) -> str:
    style = rng.random()
    if style < 0.5:
        return word
    if style < 0.65:
        return word.capitalize()
    if style < 0.8:
        return word.upper()
    return "".join(c.upper() if rng.random() < 0.5 else c for c in word)


def make_test_inputs(rng: random.Random, count: int = 10) -> list[str]:
    """``count`` varied inputs: words, sentences, mixed case, digits, punctuation, unicode, sometimes ``""``."""
    kinds = ["word", "sentence", "sentence", "mixed", "digits", "alnum", "punct", "spaces", "unicode", "word"]
    inputs: list[str] = []
    if rng.random() < 0.3:
        inputs.append("")
    while len(inputs) < count:
        kind = rng.choice(kinds)
        if kind == "word":
            text = _case(rng, rng.choice(_WORDS))
        elif kind == "sentence":
            words = [_case(rng, rng.choice(_WORDS)) for _ in range(rng.randint(2, 6))]
            text = " ".join(words) + rng.choice(["", ".", "!", "?", ","])
        elif kind == "mixed":
            text = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in rng.choice(_WORDS))
        elif kind == "digits":
            text = str(rng.randint(0, 10 ** rng.randint(1, 6)))
        elif kind == "alnum":
            text = rng.choice(_WORDS) + str(rng.randint(0, 999)) + rng.choice(["", " " + rng.choice(_WORDS)])
        elif kind == "punct":
            text = rng.choice(_WORDS) + rng.choice([", ", "! ", "? ", "; ", "-", "..."]) + rng.choice(_WORDS)
        elif kind == "spaces":
            text = rng.choice(["  ", " "]) + rng.choice(_WORDS) + "  " + rng.choice(_WORDS) + rng.choice(["", " "])
        else:
            text = rng.choice(_UNICODE) + rng.choice(["", " " + rng.choice(_WORDS)])
        if text not in inputs:
            inputs.append(text)
    rng.shuffle(inputs)
    return inputs


def _unit_tests(rng: random.Random, code: str, inputs: list[str], pool: list[str], count: int = 5) -> list[UnitTest]:
    """Three-way tests: for one input, the true output and two distinct outputs of other functions."""
    candidates = [x for x in inputs if x] or ["Hello World"]
    order = candidates[:]
    rng.shuffle(order)
    extra = [p for p in PROBES if p and p not in order]
    rng.shuffle(extra)
    order.extend(extra)
    tests: list[UnitTest] = []
    for x in order:
        if len(tests) == count:
            break
        truth = run_code(code, x)
        others = pool[:]
        rng.shuffle(others)
        wrong: list[str] = []
        for other in others:
            if other == code:
                continue
            out = run_code(other, x)
            if out and out != truth and out not in wrong:
                wrong.append(out)
                if len(wrong) == 2:
                    break
        if len(wrong) < 2:
            continue
        answer = rng.randrange(3)
        outs = [*wrong[:answer], truth, *wrong[answer:]]
        tests.append(UnitTest(options=[f"f({x!r}) = {out!r}" for out in outs], answer=answer))
    return tests


def _draw_function(rng: random.Random, depth: int, names: list[str]) -> list[Step]:
    while True:
        steps = [_sample_step(rng, names) for _ in range(depth)]
        if redundancy(steps) is None:
            return steps


def generate_strings(n: int, seed: int) -> list[StringItem]:
    """``n`` string functions, half single primitives and half depth-2 compositions, deterministic for ``seed``.

    Exact duplicate functions within one call are avoided (resampled, up to a bound). Each item carries 10
    test inputs (from a per-item seed), 5 three-way unit tests, and metadata ``family``, ``depth``,
    ``category`` and ``steps`` (the primitives with their parameters).
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(seed)
    names = sorted(PRIMITIVES)
    depths = [1] * (n // 2) + [2] * (n - n // 2)
    rng.shuffle(depths)
    pool = list(reference_codes())
    seen: set[str] = set()
    items: list[StringItem] = []
    for index, depth in enumerate(depths):
        for _attempt in range(50):
            steps = _draw_function(rng, depth, names)
            code = build_code(steps)
            if code not in seen:
                break
        seen.add(code)
        item_rng = random.Random(seed * 1_000_003 + index)
        inputs = make_test_inputs(item_rng)
        family = steps[0][0] if depth == 1 else "compose:" + "+".join(name for name, _ in steps)
        items.append(
            StringItem(
                id=f"str-{index:05d}",
                kind="string",
                code=code,
                description=describe(steps),
                tests=inputs,
                unit_tests=_unit_tests(item_rng, code, inputs, pool),
                family=family,
                depth=depth,
                category="+".join(PRIMITIVES[name].category for name, _ in steps),
                steps=[{"primitive": name, "params": params} for name, params in steps],
            )
        )
    return items
