"""A mixture of corpora: documents of several corpora interleaved deterministically, in set proportions.

Spec syntax (``load_corpus`` builds the parts)::

    mix:PART,PART[,...][;seed=N]      PART = SPEC[=WEIGHT] or (SPEC)[=WEIGHT]

``mix:builtin,brown`` gives equal shares; ``mix:builtin=0.3,brown=0.7`` (or ``=3`` and ``=7``: weights
are normalised) gives 30% and 70%. Give every part a weight or none. A part whose spec holds ``,``
``;`` ``=`` or parentheses goes in parentheses: ``mix:(builtin:seed=3,min_tokens=50000)=0.3,brown=0.7``.

The shares are of characters (a proxy for tokens that needs no tokenizer), not of documents, so a
corpus of long documents does not crowd out one of short ones. Interleaving is stride scheduling with
a seeded jitter: each part keeps a clock, its emitted characters divided by its weight; the next
document comes from a part drawn (by the seed) among those whose clock is within `JITTER` of the
lowest. So at every point of the stream each part's share is within about one document (plus
``JITTER`` times its weight, in characters) of its weight, and another seed gives another
interleaving of the same documents. Each part's documents keep their order. The mixture ends when
any part runs out, so the proportions hold over the whole stream; size the parts for that (the
built-in corpus takes ``min_tokens``).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from store.errors import InputError
from tools.corpus.base import Corpus

MIX_PREFIX = "mix:"
MIX_VERSION = "1"
JITTER = 1000.0
"""How far ahead of the lowest a part's clock (characters / weight) may be and still be drawn next."""
_SPECIAL = frozenset(",;=()")
_SYNTAX = "mix:SPEC[=WEIGHT],SPEC[=WEIGHT][;seed=N] (a SPEC with , ; = or parentheses goes in parentheses)"


@dataclass(frozen=True)
class MixPart:
    """One part of a mix spec: the part's own corpus spec and its weight (None: not given)."""

    spec: str
    weight: float | None


def _split_top(text: str, sep: str, spec: str) -> list[str]:
    """Split `text` on `sep` outside parentheses; unbalanced parentheses are an `InputError`."""
    pieces: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise InputError(f"unbalanced ')' in {spec!r} (expected {_SYNTAX})")
        elif ch == sep and depth == 0:
            pieces.append(text[start:i])
            start = i + 1
    if depth:
        raise InputError(f"unbalanced '(' in {spec!r} (expected {_SYNTAX})")
    pieces.append(text[start:])
    return pieces


def _weight(raw: str, spec: str) -> float:
    try:
        value = float(raw.replace("_", ""))
    except ValueError:
        raise InputError(f"mix weight {raw!r} is not a number in {spec!r} (expected {_SYNTAX})") from None
    if not value > 0 or value == float("inf"):
        raise InputError(f"mix weight {raw!r} must be a positive number in {spec!r}")
    return value


def _closing(text: str) -> int:
    """Index of the parenthesis closing the one that opens `text` (balanced: checked by `_split_top`)."""
    depth = 0
    for index, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return index
    return len(text) - 1


def _parse_part(text: str, spec: str) -> MixPart:
    text = text.strip()
    if not text:
        raise InputError(f"empty part in {spec!r} (expected {_SYNTAX})")
    if text.startswith("("):
        end = _closing(text)
        inner, rest = text[1:end].strip(), text[end + 1 :].strip()
        if not inner:
            raise InputError(f"empty part in {spec!r} (expected {_SYNTAX})")
        if not rest:
            return MixPart(inner, None)
        if not rest.startswith("="):
            raise InputError(f"unexpected {rest!r} after ({inner}) in {spec!r} (expected {_SYNTAX})")
        return MixPart(inner, _weight(rest[1:].strip(), spec))
    part, eq, raw = text.rpartition("=")
    if not eq:
        part, raw = text, ""
    if any(ch in _SPECIAL for ch in part):
        raise InputError(f"part {text!r} of {spec!r} needs parentheses around its spec (expected {_SYNTAX})")
    return MixPart(part.strip(), _weight(raw.strip(), spec) if eq else None)


def parse_mix_spec(spec: str) -> tuple[list[MixPart], int | None]:
    """Split ``mix:...`` into its parts and its seed (None when the spec names none)."""
    if not spec.startswith(MIX_PREFIX):
        raise InputError(f"not a mix spec: {spec!r} (expected {_SYNTAX})")
    body = spec[len(MIX_PREFIX) :]
    sections = _split_top(body, ";", spec)
    seed: int | None = None
    for option in sections[1:]:
        key, eq, raw = (p.strip() for p in option.partition("="))
        if key != "seed" or not eq:
            raise InputError(f"unknown mix option {option.strip()!r} in {spec!r} (known: seed=N)")
        try:
            seed = int(raw.replace("_", ""))
        except ValueError:
            raise InputError(f"mix option 'seed' needs an integer value in {spec!r}") from None
        if seed < 0:
            raise InputError(f"mix seed must be a non-negative integer in {spec!r}")
    parts = [_parse_part(p, spec) for p in _split_top(sections[0], ",", spec)]
    given = [p.weight is not None for p in parts]
    if any(given) and not all(given):
        hint = ""
        if any(p.weight is not None and ":" in p.spec for p in parts):
            hint = "; a part with options goes in parentheses: mix:(builtin:seed=3)=0.5,brown=0.5"
        raise InputError(f"give every part of {spec!r} a weight, or none (equal shares){hint}")
    return parts, seed


def _quoted(spec: str) -> str:
    return f"({spec})" if any(ch in _SPECIAL for ch in spec) else spec


def normalise_weights(weights: Sequence[float | None]) -> list[float]:
    """Weights summing to one, rounded to 6 significant digits (equal shares when none are given)."""
    values = [1.0 if w is None else float(w) for w in weights]
    total = sum(values)
    return [float(f"{v / total:.6g}") for v in values]


class MixedCorpus(Corpus):
    """Documents of `parts` interleaved by character share (see the module's docstring)."""

    def __init__(self, parts: Sequence[tuple[Corpus, float | None]], seed: int = 0) -> None:
        """`parts`: (corpus, weight or None) pairs, at least two; weights as in the spec (normalised here)."""
        if len(parts) < 2:
            raise InputError("a mix needs at least two parts")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"mix seed must be a non-negative integer, got {seed!r}")
        given = [w is not None for _, w in parts]
        if any(given) and not all(given):
            raise InputError("give every part of a mix a weight, or none (equal shares)")
        self.parts = [corpus for corpus, _ in parts]
        self.weights = normalise_weights([w for _, w in parts])
        self.seed = seed
        equal = not any(given)
        body = ",".join(
            _quoted(c.spec) + ("" if equal else f"={w:.6g}") for c, w in zip(self.parts, self.weights, strict=True)
        )
        self.spec = MIX_PREFIX + body + (f";seed={seed}" if seed else "")

    def texts(self) -> Iterator[str]:
        """The interleaved documents, until the first part runs out."""
        rng = random.Random(f"autointerp-mix|{self.seed}")
        streams = [corpus.texts() for corpus in self.parts]
        clock = [0.0] * len(streams)
        while True:
            low = min(clock)
            ready = [j for j, t in enumerate(clock) if t <= low + JITTER]
            i = ready[rng.randrange(len(ready))]
            doc = next(streams[i], None)
            if doc is None:
                return
            yield doc
            clock[i] += max(len(doc), 1) / self.weights[i]

    def digest(self) -> str:
        """sha256 of the parts' digests and weights, the seed and the scheduler's version."""
        key = "|".join(
            [f"mix|version={MIX_VERSION}|seed={self.seed}"]
            + [f"{w:.6g}:{c.digest()}" for c, w in zip(self.parts, self.weights, strict=True)]
        )
        return hashlib.sha256(key.encode()).hexdigest()
