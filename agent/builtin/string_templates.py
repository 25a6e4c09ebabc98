"""Outputs that are a fixed template filled with numbers read from the string ('v2c3', 'a1e2i0o0u0').

``number_templates`` splits every output into its digit runs and the text between them; when the text
between is the same for every observation, each digit run is matched to the first number read from the
input (``agent.builtin.string_steps.FEATURES``, or the count of one letter, case ignored) that equals it on
every observation, and the step writes the template back with those numbers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

from agent.builtin.string_programs import Prim
from agent.builtin.string_steps import FEATURES, make_step

__all__ = ["number_templates"]

_DIGITS = re.compile(r"(\d+)")

#: name → (expression of x, words): FEATURES and the count of each letter, case ignored
_NUMBERS: dict[str, tuple[str, str]] = {
    **FEATURES,
    **{
        f"count_{c}": (f"x.lower().count({c!r})", f"the number of {c!r} (either case)")
        for c in "abcdefghijklmnopqrstuvwxyz"
    },
}


@functools.cache
def _number_fn(expr: str) -> Callable[[str], int]:
    fn: Callable[[str], int] = eval(f"lambda x: {expr}")
    return fn


def number_templates(pairs: Sequence[tuple[str, str]]) -> list[Prim]:
    """The template step (module docstring) consistent with every pair, if any."""
    if not pairs:
        return []
    pieces = [_DIGITS.split(b) for _, b in pairs]
    skeleton = pieces[0][0::2]
    if len(skeleton) < 2 or any(p[0::2] != skeleton for p in pieces):
        return []
    slots = len(skeleton) - 1
    chosen: list[str] = []
    for slot in range(slots):
        values = [int(p[2 * slot + 1]) for p in pieces]
        if any(str(v) != p[2 * slot + 1] for v, p in zip(values, pieces, strict=True)):
            return []  # leading zeros: not a number written plainly
        name = next(
            (
                n
                for n, (expr, _) in _NUMBERS.items()
                if all(_number_fn(expr)(a) == v for (a, _), v in zip(pairs, values, strict=True))
            ),
            None,
        )
        if name is None:
            return []
        chosen.append(name)
    parts = [repr(skeleton[0])] if skeleton[0] else []
    for slot, name in enumerate(chosen):
        parts.append(f"str({_NUMBERS[name][0]})")
        if skeleton[slot + 1]:
            parts.append(repr(skeleton[slot + 1]))
    shown = "".join(f"{s}<{n}>" for s, n in zip(skeleton, chosen, strict=False)) + skeleton[-1]
    words = "writes the template " + repr(shown) + " with " + "; ".join(f"<{n}> = {_NUMBERS[n][1]}" for n in chosen)
    line = f"x = {' + '.join(parts)}"
    return [make_step("template", (("t", shown),), [line], words, f"template {shown}", 1.5 + 0.1 * slots)]
