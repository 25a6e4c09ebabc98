"""What a researcher asks in a chat, read into a `Request` (the builtin scientist's chat parser).

A message is read in one of two forms:

* the **short command form**, ``<command>: <arguments>`` or a bare command (``fires: days, weeks``,
  ``try: I waited three days. | See you next week.``, ``compare: days | weeks``, ``exemplars: 3``,
  ``steer: 8 | Store leftovers for up to seven``, ``call: 1, 2, 3``, ``near: 0``, ``logits``, ``why``,
  ``revise``, ``help``); the command names are data (``data/chat_requests.json``, ``commands``);
* **plain English**, matched by the ordered phrasings of the same file (``patterns``: the first
  phrasing that matches and yields its arguments wins): "does it fire on months and weeks?", "what
  about months?", "is it the word or the context?", "ablate it on 'I waited three days.'", "what does
  it write?", "f(3)?", "what happens near 0?", "why do you think so?".

Which requests make sense depends on the subject (``domain``: ``unit`` for model units, ``numeric``,
``string`` or ``entity`` for functions): a unit's "try: …" runs texts, a function's "try 1, 2, 3"
calls it; an entity function's "does it fire on X" calls it on the words. Anything that maps to no
request of the domain is `RequestKind.help`: the reply lists what can be asked (`HELP`), never an
earlier answer. The parser is pure (no state): the driver re-reads a turn's request on every replay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from agent.builtin.protocol import quoted
from store.datafiles import load_data

__all__ = [
    "CHAT_DATA",
    "HELP",
    "Request",
    "RequestKind",
    "category_members",
    "parse_request",
]


class RequestKind(StrEnum):
    """What a chat message asks for."""

    fires = "fires"  # does it fire on these words? (matched controls)
    texts = "texts"  # per-token activations of exactly these texts
    compare = "compare"  # minimal pairs: A vs B
    word_or_context = "word_or_context"  # the peak word in its exemplar context, alone, and swapped out
    ablate = "ablate"
    logits = "logits"
    steer = "steer"
    exemplars = "exemplars"
    values = "values"  # call a function on these inputs
    near = "near"  # a dense grid around a point
    why = "why"  # the evidence behind the current explanation
    revise = "revise"  # a new explanation version from everything so far
    summary = "summary"  # the current explanation
    help = "help"


UNIT_KINDS = frozenset(
    {
        RequestKind.fires,
        RequestKind.texts,
        RequestKind.compare,
        RequestKind.word_or_context,
        RequestKind.ablate,
        RequestKind.logits,
        RequestKind.steer,
        RequestKind.exemplars,
    }
)
FUNCTION_KINDS = frozenset({RequestKind.values, RequestKind.near})
COMMON_KINDS = frozenset({RequestKind.why, RequestKind.revise, RequestKind.summary, RequestKind.help})


class ChatData(BaseModel):
    """``data/chat_requests.json``: the help text, command names, phrasings and word tables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    help: list[str] = Field(min_length=1, description="The help text, one line each.")
    commands: dict[str, RequestKind] = Field(description="Command name → the request it makes.")
    patterns: list[tuple[RequestKind, str]] = Field(
        min_length=1, description="Ordered (request, regular expression) phrasings of plain English."
    )
    fillers: list[str] = Field(description="Words dropped before a word a person asks about ('the', 'words like').")
    categories: dict[str, list[str]] = Field(description="A category a person names → a few members to test.")
    steer_alpha_scale: float = Field(gt=0, description="Default steering strength, in top-exemplar activations.")
    near_radius: float = Field(gt=0, description="Half-width of the grid for 'what happens near x?'.")
    near_points: int = Field(ge=3, le=200, description="Points of that grid.")


CHAT_DATA = load_data("agent.builtin", "chat_requests.json", ChatData)
HELP = "\n".join(CHAT_DATA.help)
"""What can be asked, for the reply to a message that maps to nothing."""
_PATTERNS = [(kind, re.compile(pattern, re.I)) for kind, pattern in CHAT_DATA.patterns]
_FILLERS = sorted(CHAT_DATA.fillers, key=lambda f: -len(f))
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"

Value = float | str


@dataclass(frozen=True)
class Request:
    """One chat request and its arguments (only those of its kind are set)."""

    kind: RequestKind
    words: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()
    values: tuple[Value, ...] = ()
    quantile: int | None = None
    alpha: float | None = None
    prompt: str | None = None
    center: float | None = None
    command: bool = False  # written in the short command form


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------


def parse_request(text: str, domain: str) -> Request:
    """The request in a chat message about a subject of ``domain`` (unit, numeric, string, entity)."""
    message = text.strip()
    command = re.match(r"^/?([A-Za-z]+)\s*(?::\s*(.*))?$", message, re.S)
    if command and command.group(1).lower() in CHAT_DATA.commands:
        kind = CHAT_DATA.commands[command.group(1).lower()]
        built = _build(kind, command.group(2) or "", domain, command=True)
        if built is not None:
            return built
    for kind, pattern in _PATTERNS:
        if pattern.search(message):
            built = _build(kind, message, domain, command=False)
            if built is not None:
                return built
    if quoted(message):  # quoted texts alone: run them (a function is called on them)
        built = _build(RequestKind.texts, message, domain, command=False)
        if built is not None:
            return built
    return Request(RequestKind.help)


def _allowed(kind: RequestKind, domain: str) -> bool:
    if kind in COMMON_KINDS:
        return True
    return kind in UNIT_KINDS if domain == "unit" else kind in FUNCTION_KINDS


def _build(kind: RequestKind, text: str, domain: str, *, command: bool) -> Request | None:
    """The request of ``kind`` with its arguments read from ``text`` (None: they are not there)."""
    if domain != "unit" and kind in (RequestKind.fires, RequestKind.texts):
        kind = RequestKind.values  # a function is called on the words or texts
    if not _allowed(kind, domain):
        return None
    if kind is RequestKind.fires:
        words = _fires_words(text, command)
        return Request(kind, words=words, command=command) if words else None
    if kind is RequestKind.texts:
        texts = _texts(text, command)
        return Request(kind, texts=texts, command=command) if texts else None
    if kind is RequestKind.compare:
        pair = _pair(text, command)
        return Request(kind, texts=pair, command=command) if pair else None
    if kind is RequestKind.ablate:
        return Request(kind, texts=_ablate_texts(text, command), command=command)
    if kind is RequestKind.steer:
        alpha, prompt = _steer_args(text, command)
        return Request(kind, alpha=alpha, prompt=prompt, command=command)
    if kind is RequestKind.exemplars:
        found = re.search(r"\b(\d)\b", text) if command or re.search(r"quantile", text, re.I) else None
        return Request(kind, quantile=int(found.group(1)) if found else None, command=command)
    if kind is RequestKind.values:
        values = _values(text, domain, command)
        return Request(kind, values=values, command=command) if values else None
    if kind is RequestKind.near:
        found = re.search(_NUMBER, text if command else re.split(r"near|around|close to|neighbou?rhood of", text)[-1])
        return Request(kind, center=float(found.group(0)), command=command) if found else None
    return Request(kind, command=command)


def _clean(text: str) -> str:
    return text.strip().strip("?!.;:").strip().strip("'\"“”‘’").strip()


def _fires_words(text: str, command: bool) -> tuple[str, ...]:
    found = quoted(text)
    if found:
        return tuple(_clean(w) for w in found if _clean(w))[:6]
    if not command:
        verb = r"(?:fire|fires|respond|responds|react|reacts|activate|activates|light up|trigger|triggers)"
        match = (
            re.search(rf"\b{verb}\s+(?:on|to|for|at|with)\s+(.+)$", text, re.I | re.S)
            or re.search(r"^\W*(?:what|how)\s+about\s+(.+)$", text, re.I | re.S)
            or re.search(r"\bdoes\s+(.+?)\s+(?:activate|trigger|fire)\b\s+it\b", text, re.I | re.S)
        )
        if match is None:
            return ()
        text = match.group(1)
    return split_words(text)


def split_words(text: str) -> tuple[str, ...]:
    """The words of "months, weeks and the word days too?" → (months, weeks, days) (at most 6)."""
    text = re.sub(r"\b(too|as well|either|instead|then)\W*$", "", _clean(text), flags=re.I)
    words = []
    for part in re.split(r",|;|/|&|\|\s*|\band\b|\bor\b|\bvs\.?\b", text, flags=re.I):
        word = _clean(part)
        changed = True
        while changed and word:
            changed = False
            for filler in _FILLERS:
                if word.lower().startswith(filler + " "):
                    word, changed = _clean(word[len(filler) :]), True
                    break
        if word and word.lower() not in _FILLERS:
            words.append(word)
    return tuple(dict.fromkeys(words))[:6]


def _texts(text: str, command: bool) -> tuple[str, ...]:
    found = quoted(text)
    if found:
        return tuple(found)[:16]
    if not command:
        match = re.search(
            r"^\W*(?:please\W+)?(?:try|test|run|check)\b(?:\s+it)?(?:\s+(?:on|with))?\s*:?\s*(.+)$", text, re.I | re.S
        )
        if match is None:
            return ()
        text = match.group(1)
    parts = [p.strip() for p in re.split(r"\s*\|\s*|\n", text) if p.strip()]
    return tuple(parts)[:16]


def _pair(text: str, command: bool) -> tuple[str, ...]:
    found = quoted(text)
    if len(found) >= 2:
        return (found[0], found[1])
    if not command:
        text = re.sub(r"^\W*compare\b\s*:?\s*", "", text, flags=re.I)
    parts = re.split(r"\s*\|\s*|\s+(?:vs\.?|versus|against|with|to|and)\s+", text.strip(), maxsplit=1, flags=re.I)
    if len(parts) != 2:
        return ()
    a, b = _clean(parts[0]), _clean(parts[1])
    return (a, b) if a and b else ()


def _ablate_texts(text: str, command: bool) -> tuple[str, ...]:
    found = quoted(text)
    if found:
        return tuple(found)[:16]
    if not command:
        match = re.search(r"\b(?:on|with)\s*:?\s*(.+)$", text, re.S)
        text = match.group(1) if match else ""
    return tuple(p.strip() for p in re.split(r"\s*\|\s*|\n", text) if p.strip())[:16]


def _steer_args(text: str, command: bool) -> tuple[float | None, str | None]:
    found = quoted(text)
    prompt = found[0] if found else None
    if command:
        parts = [p.strip() for p in text.split("|") if p.strip()]
        alpha = next((float(p) for p in parts if re.fullmatch(_NUMBER, p)), None)
        rest = [p for p in parts if not re.fullmatch(_NUMBER, p)]
        return alpha, prompt or (rest[0] if rest else None)
    number = re.search(rf"\b(?:by|alpha|strength|with)\s*=?\s*({_NUMBER})", text, re.I)
    if prompt is None:
        match = re.search(r"\b(?:on|prompt|from)\s*:?\s+(?![-+]?\d)(.+)$", text, re.I | re.S)
        prompt = _clean(match.group(1)) if match else None
    return (float(number.group(1)) if number else None), prompt or None


def _values(text: str, domain: str, command: bool) -> tuple[Value, ...]:
    if domain == "numeric":
        inside = re.findall(r"f\s*\(([^)]*)\)", text)
        source = " ".join(inside) if inside else text
        return tuple(float(v) for v in re.findall(_NUMBER, source))[:50]
    found = quoted(text)
    if found:
        return tuple(found)[:50]
    inside = re.findall(r"f\s*\(([^)]*)\)", text)
    if inside:
        return tuple(_clean(v) for v in inside if _clean(v))[:50]
    if not command:
        match = re.search(
            r"^\W*(?:please\W+)?(?:try|test|run|check|call)\b(?:\s+it)?(?:\s+(?:on|with))?\s*:?\s*(.+)$",
            text,
            re.I | re.S,
        )
        if match is None and domain == "entity":
            return _fires_words(text, False)
        if match is None:
            return ()
        text = match.group(1)
    return tuple(p for p in (_clean(p) for p in re.split(r",|\|", text)) if p)[:50]


# --------------------------------------------------------------------------------------------------
# Word tables
# --------------------------------------------------------------------------------------------------


def category_members(word: str) -> list[str]:
    """A few members of a category a person names ("months" → January, March, October); [] if none."""
    return list(CHAT_DATA.categories.get(word.lower().strip(), []))
