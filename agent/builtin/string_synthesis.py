"""Program synthesis for string functions outside the DSL (the builtin string policy's second search).

``search`` first asks the DSL search (``agent.builtin.string_programs.search_programs``); when no DSL
program of depth ≤ 2 fits every observation it synthesizes, cheapest first:

1. single steps: the fixed catalogue (``agent.builtin.string_steps``: numbers as digits or words, word
   lists, reorderings, encodings) and the inferred solvers (``agent.builtin.string_maps``: substitution
   tables, index and feature shifts, masked edits, segment edits);
2. per-word programs: a step solved on the aligned words, applied to every word, every second word, or
   only the first or last word;
3. compositions: a fixed step, then a DSL step (a length as a word, then a Caesar shift); a DSL step,
   then an inferred step (lowercase, then a substitution table);
4. conditionals: ``if P(x): A else: B`` for simple predicates (length parity or thresholds, the class
   of the first or last character, digits or spaces present, word counts, palindromes), each branch
   solved on its own observations (a DSL step, a synthesized single step or a constant).

Candidates are deduplicated by behaviour on the probe pool and ranked by cost (conditionals cost most).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from agent.builtin.string_maps import (
    Pairs,
    char_table,
    feature_shifts,
    index_shifts,
    masked_ops,
    segment_ops,
)
from agent.builtin.string_programs import (
    K_GRID,
    PLAIN,
    Prim,
    Program,
    cheapest_distinct,
    distinct_intermediates,
    order_pairs,
    prim,
    search_programs,
    solve,
)
from agent.builtin.string_steps import fixed_steps, make_step
from agent.builtin.string_templates import number_templates

__all__ = ["PREDICATES", "search", "synthesize"]

#: name → (condition on x, words)
PREDICATES: dict[str, tuple[str, str]] = {
    "even_len": ("len(x) % 2 == 0", "the length is even"),
    **{f"len_gt_{k}": (f"len(x) > {k}", f"the string is longer than {k} characters") for k in range(1, 13)},
    "first_vowel": ("x[:1] != '' and x[0] in 'aeiouAEIOU'", "the first character is a vowel"),
    "first_upper": ("x[:1].isupper()", "the first character is an uppercase letter"),
    "first_digit": ("x[:1].isdigit()", "the first character is a digit"),
    "first_letter": ("x[:1].isalpha()", "the first character is a letter"),
    "last_vowel": ("x[-1:] != '' and x[-1] in 'aeiouAEIOU'", "the last character is a vowel"),
    "last_digit": ("x[-1:].isdigit()", "the last character is a digit"),
    "last_letter": ("x[-1:].isalpha()", "the last character is a letter"),
    "has_digit": ("any(c in '0123456789' for c in x)", "the string contains a digit"),
    "has_space": ("' ' in x", "the string contains a space"),
    "has_upper": ("any(c.isupper() for c in x)", "the string contains an uppercase letter"),
    **{f"words_gt_{k}": (f"len(x.split()) > {k}", f"the string has more than {k} words") for k in (1, 2, 3)},
    "palindrome": ("x == x[::-1]", "the string is a palindrome"),
    "alnum_palindrome": (
        "[c.lower() for c in x if c.isalnum()] == [c.lower() for c in x if c.isalnum()][::-1]",
        "its letters and digits, lowercased, read the same backwards",
    ),
}


@functools.cache
def _predicate(expr: str) -> Callable[[str], bool]:
    fn: Callable[[str], bool] = eval(f"lambda x: {expr}")
    return fn


def _fits(step: Prim, pairs: Pairs) -> bool:
    f = step.fn
    try:
        return all(f(a) == b for a, b in pairs)
    except Exception:
        return False


def _inferred(pairs: Pairs) -> list[Prim]:
    """Inferred single steps (the ``string_maps`` solvers), cheapest first."""
    out = masked_ops(pairs) + segment_ops(pairs) + index_shifts(pairs) + feature_shifts(pairs) + char_table(pairs)
    out += number_templates(pairs)
    return sorted(out, key=lambda s: s.cost)


def _singles(pairs: Pairs) -> list[Prim]:
    """Fixed and inferred single steps consistent with every pair."""
    return [s for s in fixed_steps() if _fits(s, pairs)] + _inferred(pairs)


def _constant(pairs: Pairs) -> list[Prim]:
    outs = {b for _, b in pairs}
    if len(outs) != 1:
        return []
    [value] = outs
    return [
        make_step("constant", (("s", value),), [f"x = {value!r}"], f"returns {value!r}", f"constant {value!r}", 1.2)
    ]


def _identity_step() -> Prim:
    return make_step("identity", (), ["x = x"], "leaves the string unchanged", "unchanged", 0.5)


@functools.lru_cache(maxsize=4096)
def _branch(pairs: tuple[tuple[str, str], ...]) -> Prim | None:
    """The cheapest single step on one branch's pairs: identity, a constant, a DSL or fixed step, else a
    masked or segment edit (no tables: a branch sees too few pairs to infer one)."""
    if all(a == b for a, b in pairs):
        return _identity_step()
    src = [a for a, _ in pairs]
    dst = [b for _, b in pairs]
    found = _constant(pairs) + solve(src, dst) + [s for s in fixed_steps() if _fits(s, pairs)]
    if not found:
        found = masked_ops(pairs) + segment_ops(pairs)
    return min(found, key=lambda s: s.cost) if found else None


_DEEP_BRANCHES = 4  # predicates whose unsolved branch gets a depth-2 DSL search


def _conditionals(pairs: Pairs) -> list[Program]:
    out: list[Program] = []
    half: list[tuple[str, str, str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]] = []
    partitions: set[tuple[bool, ...]] = set()
    for name, (expr, words) in PREDICATES.items():
        test = _predicate(expr)
        mask = tuple(test(a) for a, _ in pairs)
        yes = tuple(p for p, m in zip(pairs, mask, strict=True) if m)
        no = tuple(p for p, m in zip(pairs, mask, strict=True) if not m)
        if len(yes) < 2 or len(no) < 2 or mask in partitions:
            continue
        partitions.add(mask)
        then, other = _branch(yes), _branch(no)
        if (then is None) != (other is None):
            half.append((name, expr, words, yes, no))
        out += _conditional(pairs, name, expr, words, then, other)
    if out:
        return out
    for name, expr, words, yes, no in sorted(half, key=lambda h: -min(len(h[3]), len(h[4])))[:_DEEP_BRANCHES]:
        then = _branch(yes) or _deep_branch(yes)
        other = _branch(no) or _deep_branch(no)
        out += _conditional(pairs, name, expr, words, then, other)
    return out


@functools.cache
def _deep_inner() -> tuple[Prim, ...]:
    """First steps of a two-step branch: the plain DSL steps and the truncations."""
    cuts = [prim(name, (("k", k),)) for name in ("first_k", "last_k", "drop_first_k", "drop_last_k") for k in K_GRID]
    return tuple([prim(name) for name in PLAIN] + cuts)


@functools.lru_cache(maxsize=1024)
def _deep_branch(pairs: tuple[tuple[str, str], ...]) -> Prim | None:
    """A two-step DSL program on one branch's pairs (a plain step or a cut, then any DSL step), as one step."""
    src = [a for a, _ in pairs]
    dst = [b for _, b in pairs]
    best: tuple[float, Prim, Prim] | None = None
    for first in _deep_inner():
        try:
            mid = [first.fn(a) for a in src]
        except Exception:
            continue
        for second in solve(mid, dst):
            if best is None or first.cost + second.cost < best[0]:
                best = (first.cost + second.cost, first, second)
    if best is None:
        return None
    program = Program(best[1:])
    lines = [line for step in program.steps for line in step.lines]
    return make_step("chain", (("p", program.short),), lines, program.words, program.short, program.cost)


def _conditional(
    pairs: Pairs, name: str, expr: str, words: str, then: Prim | None, other: Prim | None
) -> list[Program]:
    """``if expr: then else: other`` when both branches exist, differ and fit every pair."""
    if then is None or other is None or then == other:
        return []
    lines = [f"if {expr}:", *(f"    {line}" for line in then.lines), "else:", *(f"    {line}" for line in other.lines)]
    text = f"{then.words} if {words}; otherwise {other.words}"
    step = make_step(
        "if",
        (("p", name), ("a", then.short), ("b", other.short)),
        lines,
        text,
        f"if {name}: {then.short} else {other.short}",
        1.5 + then.cost + other.cost,
    )
    return [Program((step,))] if _fits(step, pairs) else []


_SELECTIONS: dict[str, tuple[str, str]] = {
    "all": ("True", "each space-separated word"),
    "odd": ("i % 2 == 1", "every second space-separated word (the 2nd, 4th, ...)"),
    "even": ("i % 2 == 0", "the 1st, 3rd, ... space-separated words"),
    "first": ("i == 0", "the first space-separated word"),
    "last": ("i == len(_ws) - 1", "the last space-separated word"),
}


@functools.cache
def _selector(cond: str) -> Callable[[int, list[str]], bool]:
    fn: Callable[[int, list[str]], bool] = eval(f"lambda i, _ws: {cond}")
    return fn


def _per_word(pairs: Pairs) -> list[Program]:
    """A step solved on aligned words and applied to the selected words."""
    split = [(a.split(" "), b.split(" ")) for a, b in pairs]
    if any(len(wa) != len(wb) for wa, wb in split) or not any(len(wa) > 1 for wa, _ in split):
        return []
    out: list[Program] = []
    for sel, (cond, words) in _SELECTIONS.items():
        chosen: dict[str, str] = {}
        ok = True
        for wa, wb in split:
            for i, (u, v) in enumerate(zip(wa, wb, strict=True)):
                pick = _selector(cond)(i, wa)
                if (not pick and u != v) or (pick and chosen.setdefault(u, v) != v):
                    ok = False
                    break
            if not ok:
                break
        word_pairs = [(u, v) for u, v in chosen.items() if u]
        if not ok or not word_pairs or all(u == v for u, v in word_pairs):
            continue
        src = [u for u, _ in word_pairs]
        dst = [v for _, v in word_pairs]
        steps = solve(src, dst) + [s for s in fixed_steps() if _fits(s, word_pairs)] + masked_ops(word_pairs)
        steps += segment_ops(word_pairs)
        if not steps:
            continue
        inner = min(steps, key=lambda s: s.cost)
        lines = [
            "def _g(x):",
            *(f"    {line}" for line in inner.lines),
            "    return x",
            "_ws = x.split(' ')",
            f"x = ' '.join(_g(w) if {cond} else w for i, w in enumerate(_ws))",
        ]
        step = make_step(
            "per_word",
            (("sel", sel), ("inner", inner.short)),
            lines,
            f"applies to {words}: {inner.words}",
            f"{sel} words: {inner.short}",
            0.6 + inner.cost,
        )
        if _fits(step, pairs):
            out.append(Program((step,)))
    return out


_COMPOSE_PLAIN = 12  # the commonest DSL steps before an inferred one


def _compositions(pairs: Pairs) -> list[Program]:
    src = [a for a, _ in pairs]
    dst = [b for _, b in pairs]
    out: list[Program] = []
    seen: set[tuple[str, ...]] = {tuple(src)}
    # a number placed beside the string is rarely followed by another step
    fixed = (f for f in fixed_steps() if not (f.name.startswith("num_") and f.params))
    for first, mid in distinct_intermediates(fixed, src, seen):
        out += [Program((first, second)) for second in solve(mid, dst)]
    for first, mid in distinct_intermediates((prim(n) for n in PLAIN[:_COMPOSE_PLAIN]), src, seen):
        mid_pairs = list(zip(mid, dst, strict=True))
        seconds = masked_ops(mid_pairs) + index_shifts(mid_pairs) + feature_shifts(mid_pairs) + char_table(mid_pairs)
        out += [Program((first, second)) for second in seconds]
    return out


@functools.lru_cache(maxsize=64)
def _synthesize(pairs: tuple[tuple[str, str], ...], limit: int) -> tuple[Program, ...]:
    ordered = order_pairs(pairs)
    found = [Program((s,)) for s in _singles(ordered)] + _per_word(ordered)
    if not found:
        found = _compositions(ordered)
    if not found:
        found = _conditionals(ordered)
    return cheapest_distinct(found, limit)


def synthesize(observations: dict[str, Any], limit: int = 16) -> list[Program]:
    """Synthesized programs (module docstring) consistent with every observation, cheapest first."""
    pairs = tuple(sorted((str(k), v) for k, v in observations.items() if isinstance(v, str)))
    if not pairs or len(pairs) != len(observations):
        return []
    return list(_synthesize(pairs, limit))


class _Memo:
    """What earlier searches of a growing observation set found (one investigation at a time): observation
    sets without a DSL program (none of their supersets has one either), and the last synthesized programs
    with their observations (those that still fit a superset are kept instead of searching again)."""

    def __init__(self) -> None:
        self.no_dsl: list[frozenset[tuple[str, str]]] = []
        self.last: tuple[frozenset[tuple[str, str]], tuple[Program, ...]] | None = None

    def dsl_impossible(self, seen: frozenset[tuple[str, str]]) -> bool:
        """Whether a subset of ``seen`` already had no DSL program."""
        return any(old <= seen for old in self.no_dsl)

    def survivors(self, seen: frozenset[tuple[str, str]]) -> list[Program]:
        """The last synthesized programs that fit ``seen``, when their observations are a subset of it."""
        if self.last is None or not self.last[0] <= seen:
            return []
        fresh = [(a, b) for a, b in seen - self.last[0]]
        return [p for p in self.last[1] if p.run([a for a, _ in fresh]) == tuple(b for _, b in fresh)]


_MEMO = _Memo()
_MEMO_SIZE = 32


def search(observations: dict[str, Any], limit: int = 16) -> list[Program]:
    """DSL programs when any fits every observation, else synthesized ones (module docstring)."""
    pairs = frozenset((str(k), v) for k, v in observations.items() if isinstance(v, str))
    if len(pairs) != len(observations) or not pairs:
        return []
    if not _MEMO.dsl_impossible(pairs):
        found = search_programs(observations, limit=limit)
        if found:
            return found
        _MEMO.no_dsl = [*_MEMO.no_dsl[-_MEMO_SIZE + 1 :], pairs]
    kept = _MEMO.survivors(pairs)
    if kept:
        return kept
    programs = synthesize(observations, limit=limit)
    _MEMO.last = (pairs, tuple(programs))
    return programs
