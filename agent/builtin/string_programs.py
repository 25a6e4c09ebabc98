"""Program search for the builtin scientist's string policy (``agent.builtin.strings.StringPolicy``).

A DSL of common string operations (case changes, reversals and orderings, rotations, letter shifts,
filters, counts, insertions, substitutions, truncations, duplications, affixes), each a few lines of
Python that rebind a local ``x`` so steps chain into a self-contained ``def f(x):``. Each primitive
carries its description in plain, canonical English ("reverses the string", "removes the first 2
characters"); a program's description joins its steps with ", then ".

Search (``search_programs``): every program of depth ≤ 2 consistent with every observation. Parameters
are *inferred* from the observations where that is possible (a Caesar shift from one letter, the symbol
that replaces digits, an inserted string, a prefix/suffix/wrapping, a replaced letter) and enumerated
over small grids otherwise (k for rotations and truncations, letters for removals and counts). The inner
step of a composition is enumerated (parameters from grids and from characters seen in the outputs),
its outputs are memoised and deduplicated by signature, and every outer step is solved against the
observed outputs with a cheap early rejection. Programs are ranked by cost (depth, then parameter
size). ``disagreement_inputs`` picks inputs on which the surviving programs disagree, so a policy can
ask for them and search again. The designed probes and the words of the probe pool are package data
(``data/string_probes.json``).
"""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from store.datafiles import load_data

VOWELS = "aeiou"
PUNCT = string.punctuation
LETTERS = string.ascii_lowercase
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}
K_GRID = tuple(range(1, 13))
INSERT_K_GRID = tuple(range(0, 9))


def _chars(k: int) -> str:
    return f"{k} character" + ("" if k == 1 else "s")


def _join(expr: str) -> list[str]:
    return [f"x = ''.join({expr})"]


# --------------------------------------------------------------------------------------------------
# Primitives: code lines, canonical words, a short label, a cost
# --------------------------------------------------------------------------------------------------

Params = tuple[tuple[str, Any], ...]

#: name → (code lines from params, words from params, short label from params)
_SPECS: dict[str, tuple[Callable[[dict[str, Any]], list[str]], Callable[[dict[str, Any]], str], Callable[..., str]]] = {
    "lower": (lambda p: ["x = x.lower()"], lambda p: "converts the string to lowercase", lambda p: "lowercase"),
    "upper": (lambda p: ["x = x.upper()"], lambda p: "converts the string to uppercase", lambda p: "uppercase"),
    "swapcase": (lambda p: ["x = x.swapcase()"], lambda p: "swaps the case of every letter", lambda p: "swap case"),
    "title": (
        lambda p: ["x = x.title()"],
        lambda p: "capitalizes the first letter of every word",
        lambda p: "title case",
    ),
    "capitalize": (
        lambda p: ["x = x.capitalize()"],
        lambda p: "uppercases the first character and lowercases the rest",
        lambda p: "capitalize",
    ),
    "alternate_case": (
        lambda p: _join("c.upper() if i % 2 == 0 else c.lower() for i, c in enumerate(x)"),
        lambda p: "alternates case by position: characters at even positions (0, 2, ...) uppercase, odd lowercase",
        lambda p: "alternate case",
    ),
    "upper_vowels": (
        lambda p: _join(f"c.upper() if c.lower() in {VOWELS!r} else c for c in x"),
        lambda p: "uppercases every vowel (a, e, i, o, u), leaving other characters alone",
        lambda p: "uppercase vowels",
    ),
    "reverse": (lambda p: ["x = x[::-1]"], lambda p: "reverses the string", lambda p: "reverse"),
    "reverse_words": (
        lambda p: ["x = ' '.join(w[::-1] for w in x.split(' '))"],
        lambda p: "reverses each space-separated word in place, keeping the word order",
        lambda p: "reverse each word",
    ),
    "reverse_word_order": (
        lambda p: ["x = ' '.join(x.split(' ')[::-1])"],
        lambda p: "reverses the order of the space-separated words",
        lambda p: "reverse word order",
    ),
    "sort_chars": (
        lambda p: _join("sorted(x)"),
        lambda p: "sorts all characters by Unicode code point, ascending",
        lambda p: "sort characters",
    ),
    "sort_chars_desc": (
        lambda p: _join("sorted(x, reverse=True)"),
        lambda p: "sorts all characters by code point in descending order",
        lambda p: "sort characters descending",
    ),
    "sort_words": (
        lambda p: ["x = ' '.join(sorted(x.split()))"],
        lambda p: (
            "splits on whitespace, sorts the words alphabetically (case-sensitive) and joins them with single spaces"
        ),
        lambda p: "sort words",
    ),
    "swap_pairs": (
        lambda p: _join("x[i + 1] + x[i] if i + 1 < len(x) else x[i] for i in range(0, len(x), 2)"),
        lambda p: "swaps each pair of adjacent characters (1st with 2nd, 3rd with 4th, ...)",
        lambda p: "swap adjacent pairs",
    ),
    "rotate_left": (
        lambda p: [f"_k = {p['k']} % len(x) if x else 0", "x = x[_k:] + x[:_k]"],
        lambda p: (
            f"rotates the string left by {_chars(p['k'])} (moves the first {p['k']} to the end, modulo the length)"
        ),
        lambda p: f"rotate left by {p['k']}",
    ),
    "rotate_right": (
        lambda p: [f"_k = {p['k']} % len(x) if x else 0", "x = x[len(x) - _k:] + x[:len(x) - _k]"],
        lambda p: (
            f"rotates the string right by {_chars(p['k'])} (moves the last {p['k']} to the front, modulo the length)"
        ),
        lambda p: f"rotate right by {p['k']}",
    ),
    "caesar": (
        lambda p: _join(
            f"chr((ord(c) - 97 + {p['k']}) % 26 + 97) if 'a' <= c <= 'z' else "
            f"chr((ord(c) - 65 + {p['k']}) % 26 + 65) if 'A' <= c <= 'Z' else c for c in x"
        ),
        lambda p: (
            f"shifts every ASCII letter forward by {p['k']} in the alphabet (Caesar cipher, wrapping z to a, case kept)"
        ),
        lambda p: f"Caesar shift by {p['k']}",
    ),
    "atbash": (
        lambda p: _join(
            "chr(219 - ord(c)) if 'a' <= c <= 'z' else chr(155 - ord(c)) if 'A' <= c <= 'Z' else c for c in x"
        ),
        lambda p: "mirrors every ASCII letter in the alphabet (a↔z, b↔y, ..., case kept; atbash)",
        lambda p: "atbash",
    ),
    "increment_digits": (
        lambda p: _join("str((int(c) + 1) % 10) if c in '0123456789' else c for c in x"),
        lambda p: "adds 1 to every digit (9 becomes 0)",
        lambda p: "increment digits",
    ),
    "remove_vowels": (
        lambda p: _join(f"c for c in x if c.lower() not in {VOWELS!r}"),
        lambda p: "removes every vowel (a, e, i, o, u, either case)",
        lambda p: "remove vowels",
    ),
    "remove_consonants": (
        lambda p: _join(f"c for c in x if not (c.isascii() and c.isalpha() and c.lower() not in {VOWELS!r})"),
        lambda p: "removes every ASCII consonant letter, keeping vowels and non-letters",
        lambda p: "remove consonants",
    ),
    "remove_digits": (
        lambda p: _join("c for c in x if not c.isdigit()"),
        lambda p: "removes every digit",
        lambda p: "remove digits",
    ),
    "remove_spaces": (
        lambda p: _join("c for c in x if not c.isspace()"),
        lambda p: "removes all whitespace",
        lambda p: "remove whitespace",
    ),
    "remove_punctuation": (
        lambda p: _join(f"c for c in x if c not in {PUNCT!r}"),
        lambda p: "removes all ASCII punctuation characters",
        lambda p: "remove punctuation",
    ),
    "remove_letter": (
        lambda p: _join(f"c for c in x if c.lower() != {p['c']!r}"),
        lambda p: f"removes every '{p['c']}' (either case)",
        lambda p: f"remove {p['c']!r}",
    ),
    "keep_letters": (
        lambda p: _join("c for c in x if c.isalpha()"),
        lambda p: "keeps only the letters, dropping everything else",
        lambda p: "keep letters",
    ),
    "keep_digits": (
        lambda p: _join("c for c in x if c.isdigit()"),
        lambda p: "keeps only the digits, dropping everything else",
        lambda p: "keep digits",
    ),
    "every_other": (
        lambda p: ["x = x[::2]"],
        lambda p: "keeps every other character, starting with the first (positions 0, 2, 4, ...)",
        lambda p: "every other character",
    ),
    "dedupe_consecutive": (
        lambda p: _join("c for i, c in enumerate(x) if i == 0 or x[i - 1] != c"),
        lambda p: "collapses runs of the same character into one character",
        lambda p: "collapse repeated characters",
    ),
    "unique_chars": (
        lambda p: _join("dict.fromkeys(x)"),
        lambda p: "keeps only the first occurrence of each character",
        lambda p: "unique characters",
    ),
    "acronym": (
        lambda p: _join("w[0] for w in x.split()"),
        lambda p: "returns the first character of each whitespace-separated word, concatenated",
        lambda p: "first letter of each word",
    ),
    "length": (lambda p: ["x = str(len(x))"], lambda p: "returns the number of characters", lambda p: "length"),
    "word_count": (
        lambda p: ["x = str(len(x.split()))"],
        lambda p: "returns the number of whitespace-separated words",
        lambda p: "word count",
    ),
    "count_letter": (
        lambda p: [f"x = str(x.lower().count({p['c']!r}))"],
        lambda p: f"returns how many times the letter '{p['c']}' occurs (either case)",
        lambda p: f"count {p['c']!r}",
    ),
    "count_vowels": (
        lambda p: [f"x = str(sum(1 for c in x if c.lower() in {VOWELS!r}))"],
        lambda p: "returns the number of vowels (a, e, i, o, u, either case)",
        lambda p: "count vowels",
    ),
    "count_uppercase": (
        lambda p: ["x = str(sum(1 for c in x if c.isupper()))"],
        lambda p: "returns the number of uppercase letters",
        lambda p: "count uppercase",
    ),
    "insert_after_each": (
        lambda p: _join(f"c + {p['s']!r} for c in x"),
        lambda p: f"inserts '{p['s']}' after every character",
        lambda p: f"insert {p['s']!r} after each character",
    ),
    "join_words": (
        lambda p: [f"x = {p['s']!r}.join(x.split())"],
        lambda p: f"splits on whitespace and joins the words with '{p['s']}' between them",
        lambda p: f"join words with {p['s']!r}",
    ),
    "insert_at": (
        lambda p: [f"x = x[:{p['k']}] + {p['s']!r} + x[{p['k']}:]"],
        lambda p: (
            f"inserts '{p['s']}' at position {p['k']} (after the first {_chars(p['k'])}, or at the end if "
            "the string is shorter)"
        ),
        lambda p: f"insert {p['s']!r} at {p['k']}",
    ),
    "replace_letter": (
        lambda p: [f"x = x.replace({p['a']!r}, {p['b']!r})"],
        lambda p: f"replaces every lowercase '{p['a']}' with '{p['b']}'",
        lambda p: f"replace {p['a']!r} with {p['b']!r}",
    ),
    "vowels_to_symbol": (
        lambda p: _join(f"{p['s']!r} if c.lower() in {VOWELS!r} else c for c in x"),
        lambda p: f"replaces every vowel (a, e, i, o, u, either case) with '{p['s']}'",
        lambda p: f"vowels to {p['s']!r}",
    ),
    "spaces_to": (
        lambda p: [f"x = x.replace(' ', {p['s']!r})"],
        lambda p: f"replaces every space with '{p['s']}'",
        lambda p: f"spaces to {p['s']!r}",
    ),
    "digits_to_symbol": (
        lambda p: _join(f"{p['s']!r} if c.isdigit() else c for c in x"),
        lambda p: f"replaces every digit with '{p['s']}'",
        lambda p: f"digits to {p['s']!r}",
    ),
    "digits_to_words": (
        lambda p: [f"_w = {DIGIT_WORDS!r}", "x = ''.join(_w[ord(c) - 48] if c in '0123456789' else c for c in x)"],
        lambda p: "spells out every digit as an English word (0 → 'zero', 1 → 'one', ...)",
        lambda p: "digits to words",
    ),
    "leetspeak": (
        lambda p: [f"_m = {LEET!r}", "x = ''.join(_m.get(c.lower(), c) for c in x)"],
        lambda p: "replaces letters with look-alike digits (a→4, e→3, i→1, o→0, s→5, t→7, either case)",
        lambda p: "leetspeak",
    ),
    "first_k": (
        lambda p: [f"x = x[:{p['k']}]"],
        lambda p: f"keeps only the first {_chars(p['k'])}",
        lambda p: f"first {p['k']} characters",
    ),
    "last_k": (
        lambda p: [f"x = x[-{p['k']}:]"],
        lambda p: f"keeps only the last {_chars(p['k'])}",
        lambda p: f"last {p['k']} characters",
    ),
    "drop_first_k": (
        lambda p: [f"x = x[{p['k']}:]"],
        lambda p: f"removes the first {_chars(p['k'])}",
        lambda p: f"drop first {p['k']}",
    ),
    "drop_last_k": (
        lambda p: [f"x = x[:-{p['k']}]"],
        lambda p: f"removes the last {_chars(p['k'])}",
        lambda p: f"drop last {p['k']}",
    ),
    "double_chars": (lambda p: _join("c + c for c in x"), lambda p: "doubles every character", lambda p: "double"),
    "repeat_twice": (lambda p: ["x = x + x"], lambda p: "repeats the whole string twice", lambda p: "repeat twice"),
    "mirror": (
        lambda p: ["x = x + x[::-1]"],
        lambda p: "appends the reversed string to the string (a palindrome mirror)",
        lambda p: "mirror",
    ),
    "strip": (
        lambda p: ["x = x.strip()"],
        lambda p: "strips leading and trailing whitespace",
        lambda p: "strip",
    ),
    "prefix": (
        lambda p: [f"x = {p['s']!r} + x"],
        lambda p: f"adds the prefix '{p['s']}'",
        lambda p: f"prefix {p['s']!r}",
    ),
    "suffix": (
        lambda p: [f"x = x + {p['s']!r}"],
        lambda p: f"adds the suffix '{p['s']}'",
        lambda p: f"suffix {p['s']!r}",
    ),
    "wrap": (
        lambda p: [f"x = {p['a']!r} + x + {p['b']!r}"],
        lambda p: f"wraps the string in '{p['a']}' and '{p['b']}'",
        lambda p: f"wrap in {p['a']!r} and {p['b']!r}",
    ),
}

#: primitives without parameters, cheapest (most common) first
PLAIN = [name for name in _SPECS if name not in {
    "rotate_left", "rotate_right", "caesar", "remove_letter", "count_letter", "insert_after_each", "join_words",
    "insert_at", "replace_letter", "vowels_to_symbol", "spaces_to", "digits_to_symbol", "first_k", "last_k",
    "drop_first_k", "drop_last_k", "prefix", "suffix", "wrap",
}]  # fmt: skip
#: a small extra cost for primitives that are rarely the intended reading when a commoner one fits too
_EXTRA_COST = {"strip": 0.3, "sort_chars_desc": 0.1, "mirror": 0.05, "dedupe_consecutive": 0.05, "wrap": 0.1}


@dataclass(frozen=True)
class Prim:
    """One primitive with its parameters: code lines (rebinding ``x``), words, a short label, a cost."""

    name: str
    params: Params
    lines: tuple[str, ...]
    words: str
    short: str
    cost: float
    fn: Callable[[str], str] = field(compare=False, repr=False)


@functools.cache
def prim(name: str, params: Params = ()) -> Prim:
    """The primitive ``name`` with ``params`` (memoised; the function is compiled from its code lines)."""
    lines_of, words_of, short_of = _SPECS[name]
    p = dict(params)
    lines = tuple(lines_of(p))
    source = "def _f(x):\n" + "".join(f"    {line}\n" for line in lines) + "    return x\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<dsl {name}>", "exec"), namespace)
    size = sum(v if isinstance(v, int) else len(str(v)) for v in p.values())
    cost = 1.0 + _EXTRA_COST.get(name, 0.0) + 0.01 * size + (0.05 if p else 0.0)
    return Prim(name, params, lines, words_of(p), short_of(p), cost, namespace["_f"])


@dataclass(frozen=True)
class Program:
    """A chain of primitives applied in order; ``code`` is a self-contained ``def f(x):``."""

    steps: tuple[Prim, ...]

    @property
    def cost(self) -> float:
        """Depth-weighted cost: the sum of the steps' costs."""
        return sum(s.cost for s in self.steps)

    @property
    def words(self) -> str:
        """The steps in canonical English, joined with ", then "."""
        return ", then ".join(s.words for s in self.steps) if self.steps else "returns the input unchanged"

    @property
    def short(self) -> str:
        """A short label."""
        return ", then ".join(s.short for s in self.steps) if self.steps else "identity"

    @property
    def code(self) -> str:
        """Self-contained source defining ``f(x)``."""
        body = "".join(f"    {line}\n" for s in self.steps for line in s.lines)
        return "def f(x):\n    x = str(x)\n" + body + "    return x\n"

    def fn(self, x: str) -> str:
        """Run the program on one input."""
        for s in self.steps:
            x = s.fn(x)
        return x

    def run(self, inputs: Iterable[str]) -> tuple[str, ...] | None:
        """Outputs on ``inputs`` (None when a step raises)."""
        try:
            return tuple(self.fn(x) for x in inputs)
        except Exception:
            return None


# --------------------------------------------------------------------------------------------------
# Solvers: the primitives P (parameters inferred) with P(src[i]) == dst[i] for every i
# --------------------------------------------------------------------------------------------------


def _check(p: Prim, src: Sequence[str], dst: Sequence[str]) -> bool:
    f = p.fn
    try:
        return all(f(a) == b for a, b in zip(src, dst, strict=True))
    except Exception:
        return False


def _affix(src: Sequence[str], dst: Sequence[str]) -> list[Prim]:
    """Prefix, suffix or wrapping by constant strings."""
    a0, b0 = src[0], dst[0]
    extra = len(b0) - len(a0)
    if extra <= 0:
        return []
    out: list[Prim] = []
    for i in range(extra + 1):
        pre, suf = b0[:i], b0[len(b0) - (extra - i) :]
        if b0[i : i + len(a0)] != a0:
            continue
        if pre and suf:
            p = prim("wrap", (("a", pre), ("b", suf)))
        elif pre:
            p = prim("prefix", (("s", pre),))
        else:
            p = prim("suffix", (("s", suf),))
        if _check(p, src, dst):
            out.append(p)
    return out


def _first_symbol(src: Sequence[str], dst: Sequence[str], hit: Callable[[str], bool]) -> list[str]:
    for a, b in zip(src, dst, strict=True):
        if len(a) != len(b):
            continue
        for c, d in zip(a, b, strict=True):
            if hit(c):
                return [d]
    return []


def _solve_param(name: str, src: Sequence[str], dst: Sequence[str]) -> list[Prim]:
    """Candidates for a parametrised primitive, inferred or enumerated, then checked."""
    cands: list[Params] = []
    if name in ("rotate_left", "rotate_right", "first_k", "last_k", "drop_first_k", "drop_last_k"):
        cands = [(("k", k),) for k in K_GRID]
    elif name == "caesar":
        for a, b in zip(src, dst, strict=True):
            if len(a) == len(b):
                j = next((j for j, c in enumerate(a) if c.isascii() and c.isalpha()), None)
                if j is not None:
                    k = (ord(b[j].lower()) - ord(a[j].lower())) % 26
                    cands = [(("k", k),)] if k else []
                    break
    elif name in ("remove_letter", "count_letter"):
        cands = [(("c", c),) for c in LETTERS]
    elif name == "insert_after_each":
        for a, b in zip(src, dst, strict=True):
            if a and len(b) >= 2 * len(a) and len(b) % len(a) == 0:
                cands = [(("s", b[1 : len(b) // len(a)]),)]
                break
    elif name == "join_words":
        for a, b in zip(src, dst, strict=True):
            words = a.split()
            if len(words) >= 2:
                gap = len(b) - sum(len(w) for w in words)
                if gap >= 0 and gap % (len(words) - 1) == 0:
                    n = gap // (len(words) - 1)
                    cands = [(("s", b[len(words[0]) : len(words[0]) + n]),)]
                break
    elif name == "insert_at":
        for k in INSERT_K_GRID:
            for a, b in zip(src, dst, strict=True):
                if len(b) > len(a):
                    n = len(b) - len(a)
                    j = min(k, len(a))
                    cands.append((("k", k), ("s", b[j : j + n])))
                    break
    elif name in ("vowels_to_symbol", "spaces_to", "digits_to_symbol"):
        hit: Callable[[str], bool] = {
            "vowels_to_symbol": lambda c: c.lower() in VOWELS,
            "spaces_to": lambda c: c == " ",
            "digits_to_symbol": lambda c: c.isdigit(),
        }[name]
        cands = [(("s", s),) for s in _first_symbol(src, dst, hit)]
        if name == "spaces_to" and not cands:  # a space replaced by nothing or by a longer string
            for a, b in zip(src, dst, strict=True):
                if a.count(" ") and a.split(" ")[0] == b[: len(a.split(" ")[0])]:
                    n = (len(b) - len(a)) // a.count(" ") + 1
                    if n >= 0:
                        cands = [(("s", b[len(a.split(" ")[0]) : len(a.split(" ")[0]) + n]),)]
                    break
    elif name == "replace_letter":
        for a, b in zip(src, dst, strict=True):
            if len(a) == len(b) and a != b:
                j = next(j for j in range(len(a)) if a[j] != b[j])
                if a[j] in LETTERS:
                    cands = [(("a", a[j]), ("b", b[j]))]
                break
    elif name in ("prefix", "suffix", "wrap"):
        return _affix(src, dst)  # all three at once (suffix and wrap are not solved separately)
    out = []
    for params in cands:
        try:
            p = prim(name, params)
        except Exception:
            continue
        if _check(p, src, dst):
            out.append(p)
    return out


PARAMETRIC = [name for name in _SPECS if name not in PLAIN and name not in ("suffix", "wrap")]


def solve(src: Sequence[str], dst: Sequence[str]) -> list[Prim]:
    """Every single primitive (parameters inferred) mapping each ``src[i]`` to ``dst[i]``."""
    out = [prim(name) for name in PLAIN if _check(prim(name), src, dst)]
    for name in PARAMETRIC:
        out += _solve_param(name, src, dst)
    return out


# --------------------------------------------------------------------------------------------------
# Inner steps: enumerated (grids and characters seen in the outputs)
# --------------------------------------------------------------------------------------------------


def inner_candidates(inputs: Sequence[str], outputs: Sequence[str]) -> list[Prim]:
    """Primitives to try as the first step of a composition, parameters from small grids and from the
    characters that appear in the outputs."""
    seen_in = set("".join(inputs))
    seen_out = set("".join(outputs))
    symbols = sorted(c for c in seen_out if (not c.isalnum() and not c.isspace()) or c not in seen_in)[:16]
    lowers = sorted(c for c in seen_out if c in LETTERS)
    out = [prim(name) for name in PLAIN]
    for name in ("rotate_left", "rotate_right", "first_k", "last_k", "drop_first_k", "drop_last_k"):
        out += [prim(name, (("k", k),)) for k in K_GRID]
    out += [prim("caesar", (("k", k),)) for k in range(1, 26)]
    out += [prim("remove_letter", (("c", c),)) for c in LETTERS]
    out += [prim("count_letter", (("c", c),)) for c in LETTERS]
    for s in symbols:
        for name in ("insert_after_each", "join_words", "vowels_to_symbol", "spaces_to", "digits_to_symbol"):
            out.append(prim(name, (("s", s),)))
        out += [prim("insert_at", (("k", k), ("s", s))) for k in INSERT_K_GRID[1:7]]
        out += [prim("prefix", (("s", s),)), prim("suffix", (("s", s),))]
    targets = lowers + symbols
    if all(o.isdigit() or not o for o in outputs):  # counts: the replacement letter left no trace
        targets = list(LETTERS)
    for a in LETTERS:
        out += [prim("replace_letter", (("a", a), ("b", b))) for b in targets if b != a and len(b) == 1]
    for a in symbols:
        out += [prim("wrap", (("a", a), ("b", b))) for b in symbols]
    # constant affixes of several characters: what the shortest outputs hold
    for affix in _affix_guesses(inputs, outputs):
        out += [prim("prefix", (("s", affix),)), prim("suffix", (("s", affix),))]
    return out


def _affix_guesses(inputs: Sequence[str], outputs: Sequence[str]) -> list[str]:
    """Strings that may have been added before a later step: the output of the empty input and its pieces."""
    guesses: list[str] = []
    for x, y in zip(inputs, outputs, strict=True):
        if x == "" and 1 < len(y) <= 8:
            guesses += [y, y[::-1]]
    return list(dict.fromkeys(guesses))


# --------------------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------------------


def order_pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Most informative pairs first (long, varied inputs), so wrong candidates are rejected early."""
    return sorted(pairs, key=lambda p: (-len(set(p[0])), -len(p[0]), p[0]))


def distinct_intermediates(
    firsts: Iterable[Prim], src: Sequence[str], seen: set[tuple[str, ...]]
) -> Iterator[tuple[Prim, tuple[str, ...]]]:
    """Each first step of a two-step program with its outputs on ``src``, leaving out a step that fails
    on an input or whose outputs are already in ``seen`` (which it updates): a second step is then
    solved once per distinct intermediate."""
    for first in firsts:
        try:
            mid = tuple(first.fn(a) for a in src)
        except Exception:
            continue
        if mid in seen:
            continue
        seen.add(mid)
        yield first, mid


@functools.lru_cache(maxsize=64)
def _search(pairs: tuple[tuple[str, str], ...], limit: int) -> tuple[Program, ...]:
    ordered = order_pairs(pairs)
    src = [a for a, _ in ordered]
    dst = [b for _, b in ordered]
    found: list[Program] = []
    if src == dst:
        found.append(Program(()))
    for p in solve(src, dst):
        found.append(Program((p,)))
    for first, mid in distinct_intermediates(inner_candidates(src, dst), src, {tuple(src)}):
        found += [Program((first, second)) for second in solve(mid, dst)]
    return cheapest_distinct(found, limit)


def cheapest_distinct(found: Iterable[Program], limit: int) -> tuple[Program, ...]:
    """At most ``limit`` of ``found``, cheapest first, one per behaviour on the first 60 probe-pool inputs
    (programs that act alike there collapse into the cheapest)."""
    unique: list[Program] = []
    behaviours: set[tuple[str, ...] | None] = set()
    probe = probe_pool()[:60]
    for program in sorted(found, key=lambda p: (p.cost, len(p.steps), p.short)):
        key = program.run(probe)
        if key in behaviours:
            continue
        behaviours.add(key)
        unique.append(program)
        if len(unique) >= limit:
            break
    return tuple(unique)


def search_programs(observations: dict[str, Any], limit: int = 12) -> list[Program]:
    """Programs of depth ≤ 2 consistent with every observation (input → output), cheapest first; programs
    that behave identically on a fixed probe pool are collapsed into the cheapest."""
    pairs = tuple(sorted((str(k), v) for k, v in observations.items() if isinstance(v, str)))
    if not pairs or len(pairs) != len(observations):
        return []
    return list(_search(pairs, limit))


def closest_program(observations: dict[str, Any]) -> tuple[int, Program]:
    """The depth ≤ 2 program (parameters from the grids) right on the most observations."""
    inputs = sorted(observations)
    outs = [observations[i] for i in inputs]
    singles = inner_candidates(inputs, [o for o in outs if isinstance(o, str)])
    best: tuple[int, float, Program] = (-1, 0.0, Program(()))
    cache: dict[str, tuple[str, ...]] = {}
    programs = [Program(())] + [Program((p,)) for p in singles]
    programs += [Program((p, q)) for p in singles[: len(PLAIN)] for q in singles[: len(PLAIN)]]
    for program in programs:
        try:
            values: tuple[str, ...] = tuple(program.fn(x) for x in inputs)
        except Exception:
            continue
        if len(program.steps) == 1:
            cache[program.steps[0].name] = values
        hits = sum(v == o for v, o in zip(values, outs, strict=True))
        if hits > best[0] or (hits == best[0] and program.cost < best[1]):
            best = (hits, program.cost, program)
    return best[0], best[2]


# --------------------------------------------------------------------------------------------------
# Inputs: designed probes and a pool for disagreements
# --------------------------------------------------------------------------------------------------


class StringProbes(BaseModel):
    """``data/string_probes.json``: the designed probes and the material of the probe pool."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    probes: list[str] = Field(min_length=1, description="Designed probes (cases, digits, spaces, accents, empty).")
    pool_words: tuple[str, ...] = Field(min_length=1, description="Words the probe pool builds inputs from.")
    accented: tuple[str, ...] = Field(min_length=1, description="Inputs with accents and other non-ASCII letters.")


_PROBE_DATA = load_data("agent.builtin", "string_probes.json", StringProbes)
PROBES = _PROBE_DATA.probes
"""Designed probes: the string policy's first call."""
_WORDS = _PROBE_DATA.pool_words
_ACCENTED = _PROBE_DATA.accented


@functools.cache
def probe_pool(n: int = 160, seed: int = 11) -> list[str]:
    """Deterministic varied inputs: words and sentences in several cases, digits, punctuation, extra
    spaces, accented letters."""
    rng = random.Random(seed)
    pool: list[str] = []

    def word() -> str:
        w = rng.choice(_WORDS)
        r = rng.random()
        return w.upper() if r < 0.15 else w.capitalize() if r < 0.35 else w

    while len(pool) < n:
        kind = rng.randrange(7)
        if kind == 0:
            text = word()
        elif kind == 1:
            text = " ".join(word() for _ in range(rng.randint(2, 5))) + rng.choice(["", ".", "!", "?", ","])
        elif kind == 2:
            text = str(rng.randint(0, 10 ** rng.randint(1, 7)))
        elif kind == 3:
            text = word() + str(rng.randint(0, 999)) + rng.choice(["", " " + word()])
        elif kind == 4:
            text = word() + rng.choice([", ", "! ", "? ", "; ", "-", "...", ": "]) + word()
        elif kind == 5:
            text = rng.choice(["  ", " "]) + word() + rng.choice(["  ", "   "]) + word() + rng.choice(["", " "])
        else:
            text = rng.choice(_ACCENTED) + rng.choice(["", " " + word(), " " + str(rng.randint(0, 99))])
        if text not in pool:
            pool.append(text)
    return pool


def disagreement_inputs(programs: Sequence[Program], seen: Iterable[str], count: int = 24) -> list[str]:
    """Inputs from the pool (not yet seen) on which the programs disagree most, greedily covering the pairs
    of programs that every chosen input so far leaves undistinguished."""
    skip = set(seen)
    pool = [s for s in probe_pool() + list(PROBES) if s not in skip]
    if len(programs) < 2:
        return []
    outputs = {s: [p.run([s]) for p in programs] for s in pool}
    groups = [list(range(len(programs)))]  # programs not yet told apart
    chosen: list[str] = []
    while len(chosen) < count:
        best, best_gain = None, 0
        for s in pool:
            if s in chosen:
                continue
            gain = sum(len(g) - max(_sizes([outputs[s][i] for i in g])) for g in groups if len(g) > 1)
            if gain > best_gain:
                best, best_gain = s, gain
        if best is None:
            break
        chosen.append(best)
        split: list[list[int]] = []
        for g in groups:
            by: dict[Any, list[int]] = {}
            for i in g:
                by.setdefault(outputs[best][i], []).append(i)
            split += list(by.values())
        groups = split
    return chosen


def _sizes(values: list[Any]) -> list[int]:
    counts: dict[Any, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return list(counts.values())
