"""The string synthesizer (agent.builtin.string_synthesis and its solvers), without the graph or the sandbox.

Functions outside the DSL of ``agent.builtin.string_programs`` must be found exactly from the designed probes
and the disagreement rounds the policy asks for; the enumerator deduplicates by behaviour and prunes (a
substitution table needs aligned, conflict-free pairs; an observation set without a DSL program spares
the DSL search on its supersets).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from agent.builtin.string_maps import char_table, masked_ops, segment_ops
from agent.builtin.string_programs import PROBES, disagreement_inputs, probe_pool, search_programs
from agent.builtin.string_synthesis import _Memo, _singles, search, synthesize


def _investigate(f: Callable[[str], str], rounds: int = 4) -> Any:
    """The policy's loop: probes, then inputs where the candidates disagree; the cheapest program."""
    observations = {x: f(x) for x in PROBES}
    for round_ in range(rounds):
        found = search(observations)
        extra = disagreement_inputs(found, observations)
        if round_ == 0:
            extra += [s for s in probe_pool() if s not in observations and s not in extra][:12]
        if not extra:
            break
        observations.update({x: f(x) for x in extra})
    found = search(observations)
    assert found, "no program found"
    return found[0]


def _shift(c: str, k: int) -> str:
    if "a" <= c <= "z":
        return chr((ord(c) - 97 + k) % 26 + 97)
    if "A" <= c <= "Z":
        return chr((ord(c) - 65 + k) % 26 + 65)
    return c


def _cipher(seed: int) -> Callable[[str], str]:
    letters = list("abcdefghijklmnopqrstuvwxyz")
    random.Random(seed).shuffle(letters)
    table = dict(zip("abcdefghijklmnopqrstuvwxyz", letters, strict=True))

    def f(x: str) -> str:
        return "".join(
            table[c] if c in table else table[c.lower()].upper() if c.lower() in table and c.isupper() else c for c in x
        )

    return f


def _middle_hash(x: str) -> str:
    m = len(x) // 2
    return x[:m] + "#" + x[m + 1 :] if x else x


def _shift_by_index(x: str) -> str:
    return "".join(_shift(c, i) for i, c in enumerate(x))


def _parity(x: str) -> str:
    return x[::-1] if len(x) % 2 == 0 else x.swapcase()


def _length_word_shifted(x: str) -> str:
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"]
    words += ["twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
    tens = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty"}
    n = len(x)
    w = words[n] if n < 20 else tens[n // 10] + ("-" + words[n % 10] if n % 10 else "")
    return "".join(_shift(c, 2) for c in w)


def _shift_by_first(x: str) -> str:
    k = ord(x[0].lower()) - 96 if x and x[0].isascii() and x[0].isalpha() else 0
    return "".join(_shift(c, k) for c in x)


def _swap_ends(x: str) -> str:
    return x[-1] + x[1:-1] + x[0] if len(x) > 1 else x


def _double_consonants(x: str) -> str:
    return "".join(c * 2 if c.isascii() and c.isalpha() and c.lower() not in "aeiou" else c for c in x)


def _vowel_first_upper(x: str) -> str:
    return x.upper() if x[:1].lower() in ("a", "e", "i", "o", "u") else x + "!"


def _upper_second_words(x: str) -> str:
    return " ".join(w.upper() if i % 2 else w for i, w in enumerate(x.split(" ")))


CASES: dict[str, Callable[[str], str]] = {
    "random substitution cipher": _cipher(7),
    "middle character replaced": _middle_hash,
    "shift by index": _shift_by_index,
    "length parity conditional": _parity,
    "length as a word, shifted": _length_word_shifted,
    "shift by the first letter's position": _shift_by_first,
    "swap the ends": _swap_ends,
    "double consonants": _double_consonants,
    "first-character class conditional": _vowel_first_upper,
    "every second word": _upper_second_words,
}


@pytest.mark.parametrize("name", list(CASES))
def test_synthesizer_finds_functions_outside_the_dsl(name: str) -> None:
    f = CASES[name]
    assert not search_programs({x: f(x) for x in PROBES}), "the case must lie outside the old DSL"
    program = _investigate(f)
    fresh = probe_pool(n=300, seed=99)
    assert [program.fn(x) for x in fresh] == [f(x) for x in fresh], program.short
    namespace: dict[str, Any] = {}
    exec(program.code, namespace)
    assert [namespace["f"](x) for x in fresh] == [f(x) for x in fresh], "the code runs like the program"
    assert program.words


def test_candidates_are_deduplicated_by_behaviour() -> None:
    observations = {x: x[: len(x) // 2] + x[len(x) // 2 :].upper() for x in PROBES[:12]}
    found = synthesize(observations, limit=40)
    raw = _singles(sorted(observations.items()))
    assert len(raw) > len(found) >= 1, "equivalent candidates (a masked edit, a segment edit) collapse into one"
    behaviours = [p.run(probe_pool()[:60]) for p in found]
    assert len(set(behaviours)) == len(behaviours)
    costs = [p.cost for p in found]
    assert costs == sorted(costs)


def test_char_table_needs_aligned_conflict_free_pairs() -> None:
    assert char_table([("abc", "abcd")]) == []
    assert char_table([("aa", "xy")]) == []
    assert char_table([("ab", "ab")]) == []
    [step] = char_table([("abc", "bca"), ("ABC", "BCA")])
    assert step.fn("cab Z") == "abc Z" and step.fn("CAB") == "ABC"


def test_solvers_reject_on_the_first_disagreeing_pair() -> None:
    pairs = [("hello", "he*lo"), ("ab", "a*")]
    assert any("middle" in s.short for s in masked_ops(pairs))
    assert not masked_ops([("hello", "he*lo"), ("abc", "abc")]) or all(
        s.fn("abc") == "abc" for s in masked_ops([("hello", "he*lo"), ("abc", "abc")])
    )
    assert all(s.fn("hello") == "he*lo" for s in segment_ops(pairs))


def test_memo_prunes_supersets_and_keeps_survivors() -> None:
    memo = _Memo()
    small = frozenset({("ab", "ba!"), ("abc", "cba?")})
    memo.no_dsl.append(small)
    assert memo.dsl_impossible(small | {("x", "y")})
    assert not memo.dsl_impossible(frozenset({("ab", "ba!")}))


def test_no_program_for_random_outputs() -> None:
    rng = random.Random(3)
    observations = {x: "".join(rng.choice("abc") for _ in range(5)) for x in PROBES}
    assert search(observations) == []
