"""Words made of tokens: sub-word pieces joined (``' sm' + 'elled'`` → ``smelled``), and the key a word
is compared by (lower-cased and stripped; whitespace kept visible). The builtin's unit policy reads
exemplars with the same rules, so the words its simulators name are the words simulators look up."""

from __future__ import annotations

from functools import lru_cache


def joins(left: str, right: str) -> bool:
    """Whether ``right`` continues the word ``left`` ends (no space between, letters on both sides)."""
    return bool(left) and bool(right) and left[-1].isalnum() and right[0].isalnum()


def word_span(tokens: list[str], i: int) -> tuple[int, int]:
    """Token range [start, end] of the word containing token ``i`` (sub-word pieces joined)."""
    start, end = i, i
    while start > 0 and joins(tokens[start - 1], tokens[start]):
        start -= 1
    while end + 1 < len(tokens) and joins(tokens[end], tokens[end + 1]):
        end += 1
    return start, end


def key_of(text: str) -> str:
    """How a word or symbol is compared: words lower-cased and stripped; whitespace kept visible."""
    stripped = text.strip()
    if not stripped:
        return "\\n" if "\n" in text else "␣"
    return stripped.lower() if any(c.isalnum() for c in stripped) else stripped


def word_index(tokens: list[str]) -> tuple[list[str], list[int]]:
    """The words of a token sequence (their keys, in order; whitespace-only tokens are no words) and,
    for each token, the index of its word (-1 for whitespace-only tokens)."""
    keys: list[str] = []
    owner = [-1] * len(tokens)
    i = 0
    while i < len(tokens):
        start, end = word_span(tokens, i)
        if "".join(tokens[start : end + 1]).strip():
            keys.append(key_of("".join(tokens[start : end + 1])))
            for j in range(start, end + 1):
                owner[j] = len(keys) - 1
        i = end + 1
    return keys, owner


@lru_cache(maxsize=16384)
def token_keys(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """`key_of` of each token of a text, remembered per text: every unit of a layer is simulated on the
    same held-out contexts and fitted on the same survey sentences, so each text is keyed once."""
    return tuple(key_of(t) for t in tokens)


@lru_cache(maxsize=16384)
def word_index_of(tokens: tuple[str, ...]) -> tuple[list[str], list[int]]:
    """`word_index` of a text, remembered per text (as `token_keys`); callers must not change the lists."""
    return word_index(list(tokens))
