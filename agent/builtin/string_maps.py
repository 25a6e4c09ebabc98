"""Inferred character-level steps of the string synthesizer: maps, shifts, masked edits, segment edits.

Each solver takes aligned observations (``src[i]`` → ``dst[i]``) and returns the steps (``Prim``) that map
every ``src[i]`` to ``dst[i]``, parameters read from the data:

* ``char_table`` — a per-character map inferred from input/output alignment (any substitution cipher);
  upper-case letters follow the lower-case table where the observations show the case is kept;
* ``index_shifts`` — letters shifted by an amount that depends on the position: ``a·i + b`` for index
  ``i``, or a periodic key over the index or over the letters (Vigenère);
* ``feature_shifts`` — a Caesar shift whose amount is read from the string (its length, number of words,
  vowels, ..., the alphabet position of its first or last character);
* ``masked_ops`` — one edit (upper/lower/swap case, remove, double, replace by a symbol, add a symbol,
  shift by one) applied to the characters selected by a position or class predicate (index k, the
  middle, every k-th, vowels, consonants, digits, characters after a vowel, word ends, ...);
* ``segment_ops`` — the string cut into segments (halves, ends and inside, the middle character, first
  or last k), the segments permuted and one (or every) segment edited (reversed, cased, removed,
  doubled, shifted), or a symbol inserted between them.

Candidates are rejected on the first pair that disagrees; pairs come most informative first.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from agent.builtin.string_programs import Prim
from agent.builtin.string_steps import FEATURES, make_step

__all__ = ["char_table", "feature_shifts", "index_shifts", "masked_ops", "segment_ops", "symbols_of"]

Pairs = Sequence[tuple[str, str]]


def _ok(step: Prim, pairs: Pairs) -> bool:
    f = step.fn
    try:
        return all(f(a) == b for a, b in pairs)
    except Exception:
        return False


def symbols_of(pairs: Pairs, limit: int = 6) -> list[str]:
    """Characters of the outputs that the inputs lack (or that are not alphanumeric), rarest first."""
    seen_in = set("".join(a for a, _ in pairs))
    counts: dict[str, int] = {}
    for _, b in pairs:
        for c in b:
            if c not in seen_in or not (c.isalnum() or c.isspace()):
                counts[c] = counts.get(c, 0) + 1
    return sorted(counts, key=lambda c: (-counts[c], c))[:limit]


# --------------------------------------------------------------------------------------------------
# Per-character tables
# --------------------------------------------------------------------------------------------------


def char_table(pairs: Pairs) -> list[Prim]:
    """A per-character substitution consistent with every aligned pair (lengths equal), case completed."""
    if not pairs or any(len(a) != len(b) for a, b in pairs):
        return []
    table: dict[str, str] = {}
    for a, b in pairs:
        for c, d in zip(a, b, strict=True):
            if table.setdefault(c, d) != d:
                return []
    changed = {c: d for c, d in table.items() if c != d}
    if not changed:
        return []
    # case: where both a letter and its upper case were seen, is the case kept?
    both = [c for c in table if c.islower() and c.upper() in table and c.isascii()]
    keeps = bool(both) and all(table[c.upper()] == table[c].upper() for c in both)
    full = dict(table)
    if keeps:
        for c, d in table.items():
            if c.isascii() and c.islower() and c.upper() not in full:
                full[c.upper()] = d.upper()
            elif c.isascii() and c.isupper() and c.lower() not in full:
                full[c.lower()] = d.lower()
    mapping = {c: d for c, d in sorted(full.items()) if c != d}
    lines = [f"_m = {mapping!r}", "x = ''.join(_m.get(c, c) for c in x)"]
    shown = ", ".join(f"{c}→{d}" for c, d in list(mapping.items())[:12])
    words = (
        f"replaces characters by a fixed substitution table ({shown}{', ...' if len(mapping) > 12 else ''}"
        f"{'; case kept' if keeps else ''}); other characters unchanged"
    )
    cost = 2.5 + 0.01 * len(mapping)
    return [make_step("char_table", (("map", repr(mapping)),), lines, words, "substitution table", cost)]


# --------------------------------------------------------------------------------------------------
# Shifts
# --------------------------------------------------------------------------------------------------

_SHIFT = (
    "chr((ord(c) - 97 + {k}) % 26 + 97) if 'a' <= c <= 'z' else "
    "chr((ord(c) - 65 + {k}) % 26 + 65) if 'A' <= c <= 'Z' else c"
)


def _deltas(a: str, b: str) -> list[int | None] | None:
    """Per position: the letter shift (mod 26), None for non-letters left alone; None when not a shift."""
    if len(a) != len(b):
        return None
    out: list[int | None] = []
    for c, d in zip(a, b, strict=True):
        if ("a" <= c <= "z" and "a" <= d <= "z") or ("A" <= c <= "Z" and "A" <= d <= "Z"):
            out.append((ord(d) - ord(c)) % 26)
        elif c == d:
            out.append(None)
        else:
            return None
    return out


def index_shifts(pairs: Pairs) -> list[Prim]:
    """Letters shifted by ``a·i + b`` (index i), or by a periodic key over the index or over the letters."""
    rows = [_deltas(a, b) for a, b in pairs]
    if not rows or any(r is None for r in rows):
        return []
    by_index = [(i, d) for r in rows if r is not None for i, d in enumerate(r) if d is not None]
    by_letter = [(n, d) for r in rows if r is not None for n, d in enumerate(x for x in r if x is not None)]
    if not by_index or len({d for _, d in by_index}) < 2:
        return []
    out: list[Prim] = []
    for a in range(1, 26):
        b = next(((d - a * i) % 26 for i, d in by_index), 0)
        if all((a * i + b) % 26 == d for i, d in by_index):
            sign = f"{a}" if a <= 13 else f"-{26 - a}"
            expr = _SHIFT.format(k=f"({a} * i + {b})")
            words = f"shifts each ASCII letter by {sign} × its index" + (f" + {b}" if b else "") + " (case kept)"
            out.append(
                make_step(
                    "index_shift",
                    (("a", a), ("b", b)),
                    [f"x = ''.join({expr} for i, c in enumerate(x))"],
                    words,
                    f"shift by {sign}×index",
                    2.0 + 0.01 * (a + b),
                )
            )
    for over, rows_ in (("index", by_index), ("letter", by_letter)):
        for p in range(2, 7):
            key: dict[int, int] = {}
            if all(key.setdefault(i % p, d) == d for i, d in rows_) and len(key) == p:
                k = [key[r] for r in range(p)]
                if over == "index":
                    line = f"x = ''.join({_SHIFT.format(k=f'{k!r}[i % {p}]')} for i, c in enumerate(x))"
                    lines = [line]
                else:
                    lines = [
                        "_n = 0",
                        "_o = []",
                        "for c in x:",
                        f"    _o.append({_SHIFT.format(k=f'{k!r}[_n % {p}]')})",
                        "    _n += c.isascii() and c.isalpha()",
                        "x = ''.join(_o)",
                    ]
                words = f"shifts the ASCII letters by the repeating key {k} over the {over}s (case kept)"
                out.append(
                    make_step(
                        f"key_shift_{over}", (("key", tuple(k)),), lines, words, f"key {k} over {over}s", 2.3 + 0.1 * p
                    )
                )
                break
    return out


#: name → (expression of x, words): shift amounts read from the string, beyond ``FEATURES``
_SHIFT_SOURCES: dict[str, tuple[str, str]] = {
    **{k: v for k, v in FEATURES.items() if k not in ("ord_sum_mod100", "digit_sum", "unique")},
    "first_pos": (
        "(ord(x[0].lower()) - 96 if x and x[0].isascii() and x[0].isalpha() else 0)",
        "the alphabet position of the first character (a = 1; 0 when it is not a letter)",
    ),
    "last_pos": (
        "(ord(x[-1].lower()) - 96 if x and x[-1].isascii() and x[-1].isalpha() else 0)",
        "the alphabet position of the last character (a = 1; 0 when it is not a letter)",
    ),
}


@functools.cache
def _feature_fn(expr: str) -> Callable[[str], int]:
    fn: Callable[[str], int] = eval(f"lambda x: {expr}")
    return fn


def feature_shifts(pairs: Pairs) -> list[Prim]:
    """Caesar shifts whose amount is ``±feature(x) + b`` for a number read from the string."""
    amounts: list[tuple[str, int]] = []
    for a, b in pairs:
        row = _deltas(a, b)
        if row is None:
            return []
        ds = {d for d in row if d is not None}
        if len(ds) > 1:
            return []
        if ds:
            amounts.append((a, ds.pop()))
    if len({d for _, d in amounts}) < 2:
        return []
    out: list[Prim] = []
    for name, (expr, words) in _SHIFT_SOURCES.items():
        fn = _feature_fn(expr)
        values = [(fn(a), d) for a, d in amounts]
        for sign in (1, -1):
            offset = (values[0][1] - sign * values[0][0]) % 26
            if all((sign * v + offset) % 26 == d for v, d in values):
                k = f"({'' if sign > 0 else '-'}_k + {offset})"
                lines = [f"_k = {expr}", f"x = ''.join({_SHIFT.format(k=k)} for c in x)"]
                text = f"shifts every ASCII letter {'forward' if sign > 0 else 'backward'} by {words}"
                text += (f", plus {offset}" if offset else "") + " (Caesar, case kept)"
                out.append(
                    make_step(
                        "feature_shift",
                        (("f", name), ("sign", sign), ("b", offset)),
                        lines,
                        text,
                        f"shift by {name}",
                        2.0 + 0.01 * offset,
                    )
                )
    return out


# --------------------------------------------------------------------------------------------------
# Masked edits: one edit on the characters a predicate selects
# --------------------------------------------------------------------------------------------------

_V = "'aeiouAEIOU'"
#: name → (condition on x, i, c; words)
_CONDITIONS: dict[str, tuple[str, str]] = {
    "vowel": (f"c in {_V}", "every vowel"),
    "consonant": (f"c.isascii() and c.isalpha() and c not in {_V}", "every ASCII consonant"),
    "letter": ("c.isalpha()", "every letter"),
    "digit": ("c in '0123456789'", "every digit"),
    "space": ("c == ' '", "every space"),
    "punct": ("not c.isalnum() and not c.isspace()", "every punctuation or symbol character"),
    "upper": ("c.isupper()", "every uppercase letter"),
    "lower": ("c.islower()", "every lowercase letter"),
    "first": ("i == 0", "the first character"),
    "last": ("i == len(x) - 1", "the last character"),
    "middle": ("i == len(x) // 2", "the middle character (index len//2)"),
    "middle_left": ("i == (len(x) - 1) // 2", "the middle character (index (len-1)//2)"),
    "after_vowel": (f"i > 0 and x[i - 1] in {_V}", "every character that follows a vowel"),
    "before_vowel": (f"i + 1 < len(x) and x[i + 1] in {_V}", "every character that precedes a vowel"),
    "word_start": ("c != ' ' and (i == 0 or x[i - 1] == ' ')", "the first character of every word"),
    "word_end": ("c != ' ' and (i + 1 == len(x) or x[i + 1] == ' ')", "the last character of every word"),
    "first_half": ("i < len(x) // 2", "the first half (before index len//2)"),
    "second_half": ("i >= len(x) // 2", "the second half (from index len//2)"),
    **{f"index_{k}": (f"i == {k}", f"the character at index {k}") for k in range(1, 5)},
    **{f"from_end_{k}": (f"i == len(x) - {k + 1}", f"the character {k} before the last") for k in (1, 2)},
    **{
        f"every_{k}_{r}": (f"i % {k} == {r}", f"the characters at indices {r}, {r + k}, {r + 2 * k}, ...")
        for k in (2, 3, 4, 5)
        for r in range(k)
    },
    "vowel_odd": (f"c in {_V} and i % 2 == 1", "vowels at odd indices"),
    "vowel_even": (f"c in {_V} and i % 2 == 0", "vowels at even indices"),
    "consonant_odd": (f"c.isascii() and c.isalpha() and c not in {_V} and i % 2 == 1", "consonants at odd indices"),
    "letter_odd": ("c.isalpha() and i % 2 == 1", "letters at odd indices"),
}

#: name → (expression of c, words)
_EDITS: dict[str, tuple[str, str]] = {
    "upper": ("c.upper()", "uppercases"),
    "lower": ("c.lower()", "lowercases"),
    "swapcase": ("c.swapcase()", "swaps the case of"),
    "remove": ("''", "removes"),
    "double": ("c + c", "doubles"),
    "triple": ("c * 3", "triples"),
    "next": (_SHIFT.format(k=1), "shifts one letter forward"),
    "prev": (_SHIFT.format(k=25), "shifts one letter backward"),
}


def _edits(symbols: list[str]) -> list[tuple[str, str, str]]:
    out = [(name, expr, words) for name, (expr, words) in _EDITS.items()]
    for s in symbols:
        out.append((f"to {s!r}", repr(s), f"replaces by {s!r}"))
        out.append((f"then {s!r}", f"c + {s!r}", f"adds {s!r} after"))
        out.append((f"{s!r} then", f"{s!r} + c", f"adds {s!r} before"))
    return out


def masked_ops(pairs: Pairs) -> list[Prim]:
    """One edit applied to the characters a position or class predicate selects (others unchanged)."""
    out: list[Prim] = []
    edits = _edits(symbols_of(pairs, 4))
    for cname, (cond, cwords) in _CONDITIONS.items():
        for ename, expr, ewords in edits:
            line = f"x = ''.join(({expr}) if ({cond}) else c for i, c in enumerate(x))"
            step = _step_cached(
                "masked",
                (("when", cname), ("edit", ename)),
                line,
                f"{ewords} {cwords}",
                f"{ename} {cname}",
                1.6 if cname in ("vowel", "consonant", "digit") else 1.7,
            )
            if _ok(step, pairs):
                out.append(step)
    return out


@functools.cache
def _step_cached(
    name: str, params: tuple[tuple[str, Any], ...], line: str, words: str, short: str, cost: float
) -> Prim:
    return make_step(name, params, [line], words, short, cost)


# --------------------------------------------------------------------------------------------------
# Segment edits: cut, permute, edit one segment (or insert a symbol between two)
# --------------------------------------------------------------------------------------------------

#: name → (lines binding _s, a list of segments; words)
_SEGMENTS: dict[str, tuple[list[str], str]] = {
    "halves": (["_h = len(x) // 2", "_s = [x[:_h], x[_h:]]"], "the halves (cut at len//2)"),
    "halves_ceil": (["_h = (len(x) + 1) // 2", "_s = [x[:_h], x[_h:]]"], "the halves (cut at (len+1)//2)"),
    "ends": (
        ["_s = [x[:1], x[1:-1], x[-1:]] if len(x) > 1 else ['', x, '']"],
        "the first character, the inside and the last character",
    ),
    "end_pairs": (
        ["_s = [x[:2], x[2:-2], x[-2:]] if len(x) > 3 else ['', x, '']"],
        "the first two characters, the inside and the last two",
    ),
    "middle": (
        ["_h = len(x) // 2", "_s = [x[:_h], x[_h:_h + 1], x[_h + 1:]]"],
        "the part before the middle character (index len//2), the middle character and the rest",
    ),
    "middle_left": (
        ["_h = (len(x) - 1) // 2 if x else 0", "_s = [x[:_h], x[_h:_h + 1], x[_h + 1:]]"],
        "the part before the middle character (index (len-1)//2), the middle character and the rest",
    ),
    "first_char": (["_s = [x[:1], x[1:]]"], "the first character and the rest"),
    "last_char": (["_s = [x[:-1], x[-1:]]"], "everything but the last character and the last character"),
    **{f"first_{k}": ([f"_s = [x[:{k}], x[{k}:]]"], f"the first {k} characters and the rest") for k in (2, 3)},
    **{
        f"index_{k}": ([f"_s = [x[:{k}], x[{k}:{k + 1}], x[{k + 1}:]]"], f"the character at index {k} and its sides")
        for k in (1, 2, 3)
    },
}

#: name → (template over {s}, words)
_SEGMENT_EDITS: dict[str, tuple[str, str]] = {
    "reverse": ("{s}[::-1]", "reversed"),
    "upper": ("{s}.upper()", "uppercased"),
    "lower": ("{s}.lower()", "lowercased"),
    "swapcase": ("{s}.swapcase()", "case-swapped"),
    "remove": ("''", "removed"),
    "double": ("{s} * 2", "doubled"),
    "triple": ("{s} * 3", "tripled"),
    "sort": ("''.join(sorted({s}))", "sorted"),
    "next": ("''.join(" + _SHIFT.format(k=1) + " for c in {s})", "shifted one letter forward"),
    "prev": ("''.join(" + _SHIFT.format(k=25) + " for c in {s})", "shifted one letter backward"),
}


def _arity(lines: list[str]) -> int:
    """How many segments the lines bind to ``_s``."""
    namespace: dict[str, Any] = {"x": "abcdefg"}
    exec("\n".join(lines), namespace)
    return len(namespace["_s"])


def _segment_candidates() -> list[tuple[str, list[str], str, str, float]]:
    """(segmentation, lines, words, short, cost) for every template."""
    out: list[tuple[str, list[str], str, str, float]] = []
    for sname, (lines, swords) in _SEGMENTS.items():
        n = _arity(lines)
        for perm in itertools.permutations(range(n)):
            order = "then".join(str(p) for p in perm)
            moved = perm != tuple(range(n))
            parts = [f"_s[{p}]" for p in perm]
            if moved:
                out.append(
                    (
                        sname,
                        [*lines, f"x = {' + '.join(parts)}"],
                        f"cuts {swords} and puts them in the order {list(perm)}",
                        f"{sname} order {order}",
                        1.6,
                    )
                )
            for which in range(n):
                for ename, (template, ewords) in _SEGMENT_EDITS.items():
                    edited = [template.format(s=part) if j == which else part for j, part in enumerate(parts)]
                    out.append(
                        (
                            sname,
                            [*lines, f"x = {' + '.join(edited)}"],
                            f"cuts {swords}, puts them in the order {list(perm)} and {ewords} segment "
                            f"{which} of that order",
                            f"{sname} {order} {ename} #{which}",
                            1.8 + (0.2 if moved else 0.0),
                        )
                    )
            if not moved:
                for ename, (template, ewords) in _SEGMENT_EDITS.items():
                    edited = [template.format(s=part) for part in parts]
                    out.append(
                        (
                            sname,
                            [*lines, f"x = {' + '.join(edited)}"],
                            f"cuts {swords} and {ewords} each part",
                            f"{sname} each {ename}",
                            1.9,
                        )
                    )
    return out


@functools.lru_cache(maxsize=256)
def _insert_steps(symbol: str) -> tuple[Prim, ...]:
    """``symbol`` inserted between the two segments of each two-part segmentation."""
    return tuple(
        make_step(
            "segments",
            (("seg", sname), ("insert", symbol)),
            [*lines, f"x = _s[0] + {symbol!r} + _s[1]"],
            f"inserts {symbol!r} between {swords}",
            f"{sname} insert {symbol!r}",
            1.6,
        )
        for sname, (lines, swords) in _SEGMENTS.items()
        if _arity(lines) == 2
    )


@functools.cache
def _segment_steps() -> tuple[Prim, ...]:
    return tuple(
        make_step("segments", (("seg", sname), ("short", short)), lines, words, short, cost)
        for sname, lines, words, short, cost in _segment_candidates()
    )


def segment_ops(pairs: Pairs) -> list[Prim]:
    """Segment templates (module docstring) consistent with every pair."""
    return [step for step in _segment_steps() + _insertions(pairs) if _ok(step, pairs)]


def _insertions(pairs: Pairs) -> tuple[Prim, ...]:
    """A string inserted between the two segments of a two-part segmentation, read from the longest pair."""
    if not pairs:
        return ()
    a, b = max(pairs, key=lambda p: len(p[0]))
    if len(b) <= len(a):
        return ()
    out: list[Prim] = []
    for sname, (lines, _) in _SEGMENTS.items():
        if _arity(lines) != 2:
            continue
        namespace: dict[str, Any] = {"x": a}
        exec("\n".join(lines), namespace)
        head, tail = namespace["_s"]
        if b.startswith(head) and b.endswith(tail) and len(b) > len(head) + len(tail):
            out += [s for s in _insert_steps(b[len(head) : len(b) - len(tail)]) if s.params[0][1] == sname]
    return tuple(out)
