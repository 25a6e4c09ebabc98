"""Steps of the string synthesizer that need no inference: numbers, word lists, reorderings.

A *step* is an ``agent.builtin.string_programs.Prim`` built from Python lines that rebind the local ``x``
(``make_step``), so synthesized steps chain with the DSL's primitives in one ``Program`` and its
self-contained ``def f(x):``. This module holds the fixed catalogue (``fixed_steps``):

* numbers read from the data (the length, the number of words, vowels, consonants, upper-case letters,
  digits, the sum of the digits, ...) written as digits, as an English word ("twenty-one") or in binary,
  alone or as a prefix/suffix of the string;
* word-list operations (sort by length, longest/shortest word, drop/keep/swap the first and last words,
  deduplicate) and per-word projections (the first, second or last character of each word, its length);
* reorderings and encodings (rail fence, interleaving the halves, repeating by index, chunks joined by a
  separator, run-length codes, the most common character).

The number words are package data (``data/string_numbers.json``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.builtin.string_programs import Prim
from store.datafiles import load_data

__all__ = ["FEATURES", "NUMBER_WORDS", "fixed_steps", "make_step", "number_word_lines"]


class NumberWords(BaseModel):
    """``data/string_numbers.json``: English words for 0..19 and for the tens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ones: tuple[str, ...] = Field(min_length=20, max_length=20, description="zero .. nineteen")
    tens: tuple[str, ...] = Field(min_length=10, max_length=10, description="'', '', twenty .. ninety")


NUMBER_WORDS = load_data("agent.builtin", "string_numbers.json", NumberWords)


def make_step(
    name: str, params: tuple[tuple[str, Any], ...], lines: list[str], words: str, short: str, cost: float
) -> Prim:
    """A ``Prim`` from code lines that rebind ``x`` (compiled once; ``fn`` raises what the code raises)."""
    return Prim(name, params, tuple(lines), words, short, cost, _compiled(tuple(lines)))


@functools.lru_cache(maxsize=65536)
def _compiled(lines: tuple[str, ...]) -> Callable[[str], str]:
    source = "def _f(x):\n" + "".join(f"    {line}\n" for line in lines) + "    return x\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, "<step>", "exec"), namespace)
    fn: Callable[[str], str] = namespace["_f"]
    return fn


def number_word_lines() -> list[str]:
    """Lines defining ``_nw(n)``: n written as an English word (hyphenated tens, 100 and above as digits)."""
    return [
        f"_ones = {list(NUMBER_WORDS.ones)!r}",
        f"_tens = {list(NUMBER_WORDS.tens)!r}",
        "_nw = lambda n: _ones[n] if n < 20 else (_tens[n // 10] + ('-' + _ones[n % 10] if n % 10 else '')"
        " if n < 100 else str(n))",
    ]


#: name → (expression of x, words): numbers read from the string
FEATURES: dict[str, tuple[str, str]] = {
    "len": ("len(x)", "the length of the string"),
    "words": ("len(x.split())", "the number of whitespace-separated words"),
    "vowels": ("sum(c.lower() in 'aeiou' for c in x)", "the number of vowels"),
    "consonants": (
        "sum(c.isascii() and c.isalpha() and c.lower() not in 'aeiou' for c in x)",
        "the number of ASCII consonants",
    ),
    "letters": ("sum(c.isalpha() for c in x)", "the number of letters"),
    "upper": ("sum('A' <= c <= 'Z' for c in x)", "the number of uppercase ASCII letters"),
    "lower": ("sum('a' <= c <= 'z' for c in x)", "the number of lowercase ASCII letters"),
    "digits": ("sum(c in '0123456789' for c in x)", "the number of digits"),
    "digit_sum": ("sum(int(c) for c in x if c in '0123456789')", "the sum of the digits"),
    "spaces": ("x.count(' ')", "the number of spaces"),
    "unique": ("len(set(x))", "the number of distinct characters"),
    "ord_sum_mod100": ("sum(map(ord, x)) % 100", "the sum of the code points modulo 100"),
}

#: name → (expression of n, words, extra lines)
_FORMATS: dict[str, tuple[str, str]] = {
    "digits": ("str({n})", "in digits"),
    "word": ("_nw({n})", "as an English word"),
    "binary": ("bin({n})[2:]", "in binary"),
}


def _number_steps() -> list[Prim]:
    out: list[Prim] = []
    for fname, (expr, fwords) in FEATURES.items():
        for form, (template, formwords) in _FORMATS.items():
            value = template.format(n=expr)
            pre = number_word_lines() if form == "word" else []
            what = f"{fwords} {formwords}"
            out.append(
                make_step(f"num_{fname}_{form}", (), [*pre, f"x = {value}"], f"returns {what}", f"{fname} {form}", 1.3)
            )
            placements = [
                ("prefix", "", f"x = {value} + x", f"prefixes the string with {what}"),
                ("suffix", "", f"x = x + {value}", f"appends {what} to the string"),
            ]
            for sep in ("-", " ", ":"):
                placements.append(("suffix", sep, f"x = x + {sep!r} + {value}", f"appends {sep!r} and {what}"))
                placements.append(("prefix", sep, f"x = {value} + {sep!r} + x", f"prefixes {what} and {sep!r}"))
            for where, sep, line, words in placements:
                out.append(
                    make_step(
                        f"num_{where}_{fname}_{form}",
                        (("sep", sep),),
                        [*pre, line],
                        words,
                        f"{where} {fname} {form}",
                        1.6,
                    )
                )
    return out


#: name → (lines, words): word lists and per-word projections
_WORD_STEPS: dict[str, tuple[list[str], str]] = {
    "sort_words_len": (["x = ' '.join(sorted(x.split(), key=len))"], "sorts the words by length (stable)"),
    "longest_word": (["x = max(x.split(), key=len) if x.split() else ''"], "returns the longest word (first on ties)"),
    "shortest_word": (
        ["x = min(x.split(), key=len) if x.split() else ''"],
        "returns the shortest word (first on ties)",
    ),
    "drop_first_word": (["x = ' '.join(x.split()[1:])"], "drops the first word"),
    "drop_last_word": (["x = ' '.join(x.split()[:-1])"], "drops the last word"),
    "first_word": (["x = x.split()[0] if x.split() else ''"], "returns the first word"),
    "last_word": (["x = x.split()[-1] if x.split() else ''"], "returns the last word"),
    "swap_first_last_word": (
        ["_w = x.split()", "x = ' '.join(_w[-1:] + _w[1:-1] + _w[:1]) if len(_w) > 1 else ' '.join(_w)"],
        "swaps the first and last words",
    ),
    "dedupe_words": (["x = ' '.join(dict.fromkeys(x.split()))"], "keeps the first occurrence of each word"),
    "word_count_each": (["x = ' '.join(str(len(w)) for w in x.split())"], "replaces each word by its length"),
}

_PROJECTIONS = {"first": "w[:1]", "second": "w[1:2]", "last": "w[-1:]"}

_RUNS = [
    "_r = []",
    "for _c in x:",
    "    if _r and _r[-1][0] == _c:",
    "        _r[-1][1] += 1",
    "    else:",
    "        _r.append([_c, 1])",
]

#: name → (lines, words): reorderings and encodings of the whole string
_POSITION_STEPS: dict[str, tuple[list[str], str]] = {
    "rail_fence": (["x = x[::2] + x[1::2]"], "writes the characters at even indices, then those at odd indices"),
    "rail_fence_odd": (["x = x[1::2] + x[::2]"], "writes the characters at odd indices, then those at even indices"),
    "interleave_halves": (
        ["_h = (len(x) + 1) // 2", "x = ''.join(a + b for a, b in zip(x[:_h], x[_h:] + ' ' * _h))[: len(x)]"],
        "interleaves the first half (the first (len+1)//2 characters) with the second half",
    ),
    "interleave_halves_floor": (
        ["_h = len(x) // 2", "x = ''.join(a + b for a, b in zip(x[_h:], x[:_h] + ' ' * len(x)))[: len(x)]"],
        "interleaves the second half (from len//2) with the first half",
    ),
    "repeat_by_index": (
        ["x = ''.join(c * (i + 1) for i, c in enumerate(x))"],
        "repeats each character (its index + 1) times",
    ),
    "char_index": (["x = ''.join(c + str(i) for i, c in enumerate(x))"], "follows each character with its index"),
    "char_index_mod10": (
        ["x = ''.join(c + str(i % 10) for i, c in enumerate(x))"],
        "follows each character with its index modulo 10",
    ),
    "rle": (
        [*_RUNS, "x = ''.join(c + str(n) for c, n in _r)"],
        "run-length encodes the string: each run becomes the character and the run length",
    ),
    "rle_count_first": (
        [*_RUNS, "x = ''.join((str(n) if n > 1 else '') + c for c, n in _r)"],
        "compresses runs: a run of 2 or more becomes its length followed by the character",
    ),
    "most_common_char": (
        ["x = max(x, key=x.count) if x else ''"],
        "returns the most frequent character (first on ties)",
    ),
    "letter_positions": (
        ["x = '-'.join(str(ord(c.lower()) - 96) for c in x if c.isascii() and c.isalpha())"],
        "writes each ASCII letter as its 1-based alphabet position, joined by '-' (other characters dropped)",
    ),
}


@functools.cache
def fixed_steps() -> tuple[Prim, ...]:
    """The fixed catalogue (module docstring), cheapest first."""
    out: list[Prim] = []
    for name, (lines, words) in {**_WORD_STEPS, **_POSITION_STEPS}.items():
        out.append(make_step(name, (), lines, words, name.replace("_", " "), 1.4))
    for pname, expr in _PROJECTIONS.items():
        for sep in ("", " "):
            out.append(
                make_step(
                    f"proj_{pname}",
                    (("sep", sep),),
                    [f"x = {sep!r}.join({expr} for w in x.split())"],
                    f"returns the {pname} character of each word, joined by {sep!r}",
                    f"{pname} char of each word",
                    1.4,
                )
            )
    for k in (2, 3, 4, 5):
        for sep in ("-", " ", "_", ".", ",", "|"):
            out.append(
                make_step(
                    "chunks",
                    (("k", k), ("sep", sep)),
                    [f"x = {sep!r}.join(x[i:i + {k}] for i in range(0, len(x), {k}))"],
                    f"splits the string into chunks of {k} characters joined by {sep!r}",
                    f"chunks of {k} joined by {sep!r}",
                    1.5,
                )
            )
    out += _number_steps()
    out.append(
        make_step(
            "numbers_to_words",
            (),
            [
                *number_word_lines(),
                "_out, _num = '', ''",
                "for _c in x:",
                "    if _c in '0123456789':",
                "        _num += _c",
                "    else:",
                "        _out, _num = _out + (_nw(int(_num)) if _num else '') + _c, ''",
                "x = _out + (_nw(int(_num)) if _num else '')",
            ],
            "writes every number (run of digits) as an English word ('42' becomes 'forty-two')",
            "numbers to words",
            1.4,
        )
    )
    out.append(
        make_step(
            "words_to_numbers",
            (),
            [*number_word_lines(), "x = ' '.join(str(_ones.index(w)) if w in _ones else w for w in x.split(' '))"],
            "writes every number word from 'zero' to 'nineteen' as digits",
            "number words to digits",
            1.4,
        )
    )
    return tuple(out)
