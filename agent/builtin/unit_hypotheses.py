"""The model-unit policy's search machinery (``agent.builtin.units``): reading exemplars, proposing
hypotheses, designing their tests, scoring activations.

* **Token statistics** of the top contexts: the word at each context's peak (sub-word tokens joined:
  ``' sm' + 'elled'`` → ``smelled``, by ``tools.simulation.words``, the rules simulators read words by)
  and the word before it, weighted by the peak activation; a crude
  category of each peak token (digits, punctuation, capitalised, code-like, whitespace).
* **Hypotheses** (`propose`): the top word, a category that dominates, a small set of words, or "the
  token after <word>"; from a word survey, a concept (`concept_hypothesis`: "words about X").
* **Tests**: 8 positives (the word in generic frames, and in the exemplars' local contexts behind fresh
  openers) and 8 matched negatives (the same texts with the word swapped for a control word); a
  category's fixed positive and negative texts. `score` reads a test text's activations: the largest
  on the hypothesised word (or category), or anywhere.
* **Survey** sentences naming four words each (`survey_text`) over frequent words and category nouns.

The frames, openers, control words, fallback texts and category texts are package data
(``data/unit_texts.json``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.builtin.protocol import fmt
from agent.builtin.words import CATEGORY_NOUNS, distinct, vocabulary
from store.datafiles import load_data
from tools.shared_runs.site_texts import read_unit
from tools.simulation.words import key_of, word_span

# --------------------------------------------------------------------------------------------------
# Text material
# --------------------------------------------------------------------------------------------------


class CategoryTexts(BaseModel):
    """A token category's test texts: positives and their matched negatives (same length)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    phrase: str = Field(min_length=1, description="The category in words, for descriptions.")
    positives: list[str] = Field(min_length=1)
    negatives: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _matched(self) -> CategoryTexts:
        if len(self.positives) != len(self.negatives):
            raise ValueError("positives and negatives are matched pairs: give as many of each")
        return self


class UnitTexts(BaseModel):
    """``data/unit_texts.json``: the text material of the model-unit policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fallback_texts: list[str] = Field(min_length=1, description="Stand-ins for exemplars when there are none.")
    word_frames: list[str] = Field(min_length=1, description="Sentences with {w} for a word.")
    symbol_frames: list[str] = Field(min_length=1, description="Texts with {w} for a symbol.")
    openers: list[str] = Field(min_length=4, description="Fresh starts put before exemplar snippets.")
    symbol_controls: list[str] = Field(min_length=1, description="Replacements for a symbol in negatives.")
    controls: list[str] = Field(min_length=8, description="Control words for negatives and followers.")
    context_frames: list[str] = Field(min_length=1, description="Sentences with {p} (a word) then {c} (a follower).")
    categories: dict[str, CategoryTexts] = Field(description="Token category → its test texts.")


_TEXTS = load_data("agent.builtin", "unit_texts.json", UnitTexts)
FALLBACK_TEXTS = _TEXTS.fallback_texts
"""Texts standing in for exemplars when the exemplar cache cannot be read or built."""
WORD_FRAMES = _TEXTS.word_frames
SYMBOL_FRAMES = _TEXTS.symbol_frames
OPENERS = _TEXTS.openers
SYMBOL_CONTROLS = _TEXTS.symbol_controls
CONTROLS = _TEXTS.controls
CONTEXT_FRAMES = _TEXTS.context_frames
CATEGORIES = _TEXTS.categories
"""Token category (as `category` names it) → its words for people and test texts."""

# --------------------------------------------------------------------------------------------------
# Token statistics of exemplars
# --------------------------------------------------------------------------------------------------

_CODE_CHARS = set("{}[]()=;<>_\\/*#$&|`")
_BOUNDARY = re.compile(r"[.!?]\s*$|\n")


def category(token: str) -> str:
    """A crude category of one token string."""
    stripped = token.strip()
    if not stripped:
        return "whitespace"
    if "\n" in token or "\t" in token:
        return "whitespace"
    if any(c.isdigit() for c in stripped):
        return "digits"
    if any(c in _CODE_CHARS for c in stripped):
        return "code"
    if all(not c.isalnum() for c in stripped):
        return "punctuation"
    if stripped[0].isupper():
        return "capitalised"
    return "word"


@dataclass
class Context:
    """One top context, analysed at its peak."""

    tokens: list[str]
    acts: list[float]
    peak: int
    value: float
    word: str  # the word (or symbol) at the peak, as written
    key: str
    prev: str | None  # the key of the word before it
    category: str
    snippet: str  # the local context, from the last sentence start to a few tokens after the peak
    span: tuple[int, int]  # the word's characters inside ``snippet``


def analyse_context(tokens: list[str], acts: list[float]) -> Context | None:
    """The peak of one context and what surrounds it."""
    if not tokens or len(tokens) != len(acts):
        return None
    peak = max(range(len(acts)), key=acts.__getitem__)
    start, end = word_span(tokens, peak)
    word = "".join(tokens[start : end + 1])
    prev = None
    j = start - 1
    while j >= 0 and not tokens[j].strip():
        j -= 1
    if j >= 0:
        ps, pe = word_span(tokens, j)
        prev = key_of("".join(tokens[ps : pe + 1]))
    first = max(0, start - 12)
    for k in range(start - 1, first - 1, -1):
        if _BOUNDARY.search(tokens[k]):
            first = k + 1
            break
    last = min(len(tokens), end + 4)
    for k in range(end + 1, last):
        if "\n" in tokens[k]:
            last = k
            break
    before = "".join(tokens[first:start])
    lead = len(before) - len(before.lstrip())
    snippet = ("".join(tokens[first:last]))[lead:]
    stripped = word.strip()
    offset = len(before) - lead + (len(word) - len(word.lstrip()) if stripped else 0)
    end_at = offset + len(stripped or word)
    if len(snippet.rstrip()) >= end_at:
        snippet = snippet.rstrip()
    return Context(
        tokens=tokens,
        acts=acts,
        peak=peak,
        value=float(acts[peak]),
        word=stripped or word,
        key=key_of(word),
        prev=prev,
        category=category(tokens[peak]),
        snippet=snippet,
        span=(offset, end_at),
    )


def weighted_shares(items: list[tuple[str, float]]) -> list[tuple[str, float, int]]:
    """(key, share of the total weight, count), largest share first (ties: first seen)."""
    total = sum(max(w, 0.0) for _, w in items) or 1.0
    shares: dict[str, list[float]] = {}
    for key, w in items:
        entry = shares.setdefault(key, [0.0, 0.0])
        entry[0] += max(w, 0.0) / total
        entry[1] += 1
    ranked = sorted(shares.items(), key=lambda kv: -kv[1][0])
    return [(k, v[0], int(v[1])) for k, v in ranked]


# --------------------------------------------------------------------------------------------------
# Hypotheses and their tests
# --------------------------------------------------------------------------------------------------


@dataclass
class Probe:
    """A test text and where to read it: a character span, a token category, or (None) anywhere."""

    text: str
    span: tuple[int, int] | None = None
    category: str | None = None
    group: str = ""  # "frame" or "context" for positives


@dataclass
class Hypothesis:
    """A testable claim with its test design and, once run, its result."""

    kind: str  # concept | word | set | context | category
    claim: str
    label: str
    positives: list[Probe]
    negatives: list[Probe]
    keys: list[str] = field(default_factory=list)
    hypothesis_id: int | None = None
    experiment_id: int | None = None
    pos: list[float] = field(default_factory=list)
    neg: list[float] = field(default_factory=list)
    groups: dict[str, list[float]] = field(default_factory=dict)
    auc: float | None = None

    @property
    def tested(self) -> bool:
        """Whether the activations test came back."""
        return self.auc is not None

    @property
    def separation(self) -> float:
        """Mean positive minus mean negative score."""
        return mean(self.pos) - mean(self.neg)

    @property
    def supported(self) -> bool:
        """Positives beat negatives clearly: AUC ≥ 0.75 and a positive mean gap."""
        return self.auc is not None and self.auc >= 0.75 and self.separation > 0


def mean(values: list[float]) -> float:
    """The mean (0.0 for no values)."""
    return sum(values) / len(values) if values else 0.0


def _place(template: str, marker: str, value: str) -> tuple[str, tuple[int, int]]:
    """Fill the first ``marker`` with ``value`` (others too) and return the text and value's span."""
    at = template.index(marker)
    text = template.replace(marker, value)
    return text, (at, at + len(value))


def _fresh(opener: str, snippet: str) -> tuple[str, int]:
    """``opener`` + snippet, with the snippet's first letter lower-cased when it only starts a
    sentence; returns the text and the snippet's offset."""
    if len(snippet) > 1 and snippet[0].isupper() and snippet[1].islower() and not snippet.startswith("I "):
        snippet = snippet[0].lower() + snippet[1:]
    return opener + snippet, len(opener)


def _controls(avoid: set[str], n: int) -> list[str]:
    """Up to ``n`` control words outside ``avoid``; when a unit responds to so many words that none is
    left (a concept survey over thousands of words can name every control), the first ``n`` anyway."""
    return [c for c in CONTROLS if c not in avoid][:n] or list(CONTROLS[:n])


def _swap(probe: Probe, replacement: str) -> Probe:
    assert probe.span is not None
    a, b = probe.span
    return Probe(probe.text[:a] + replacement + probe.text[b:])


def _match_case(word: str, control: str) -> str:
    return control.capitalize() if word[:1].isupper() else control


def word_probes(words: list[str], contexts: list[Context], avoid: set[str]) -> tuple[list[Probe], list[Probe]]:
    """8 positives (frames and fresh local contexts of ``words``) and their 8 matched negatives."""
    positives: list[Probe] = []
    symbol = not any(c.isalnum() for c in words[0])
    frames = SYMBOL_FRAMES if symbol else WORD_FRAMES
    for i, frame in enumerate(frames):
        word = words[i % len(words)]
        text, span = _place(frame, "{w}", word.replace("\\n", "\n"))
        positives.append(Probe(text, span, group="frame"))
    keys = {key_of(w) for w in words}
    local = []
    seen: set[str] = set()
    for ctx in contexts:
        if ctx.key in keys and ctx.snippet.lower() not in seen and ctx.span[1] <= len(ctx.snippet):
            seen.add(ctx.snippet.lower())
            local.append(ctx)
    for i in range(4 if local else 0):
        ctx = local[i % len(local)]
        text, offset = _fresh(OPENERS[i], ctx.snippet)
        positives.append(Probe(text, (ctx.span[0] + offset, ctx.span[1] + offset), group="context"))
    while len(positives) < 8:  # no local contexts: more frames
        frame = frames[len(positives) % len(frames)]
        word = words[len(positives) % len(words)]
        text, span = _place("Again: " + frame, "{w}", word.replace("\\n", "\n"))
        positives.append(Probe(text, span, group="frame"))
    controls = SYMBOL_CONTROLS if symbol else _controls(avoid, 8)
    negatives = []
    for i, probe in enumerate(positives):
        assert probe.span is not None
        original = probe.text[probe.span[0] : probe.span[1]]
        control = controls[i % len(controls)]
        negatives.append(_swap(probe, control if symbol else _match_case(original, control)))
    return positives, negatives


def context_probes(prev: str, contexts: list[Context], avoid: set[str]) -> tuple[list[Probe], list[Probe]]:
    """Positives: ``prev`` followed by control words (read at the word after it); negatives: the same
    texts with ``prev`` swapped for another control word."""
    followers = _controls(avoid | {prev}, 8)
    positives: list[Probe] = []
    negatives: list[Probe] = []
    for i, frame in enumerate(CONTEXT_FRAMES * 2):
        follower = followers[i % len(followers)]
        text = frame.replace("{p}", prev).replace("{c}", follower)
        at = text.index(f"{prev} {follower}") + len(prev) + 1
        positives.append(Probe(text, (at, at + len(follower)), group="frame"))
        other = followers[(i + 3) % len(followers)]
        negatives.append(Probe(frame.replace("{p}", other).replace("{c}", follower)))
    return positives, negatives


def category_probes(name: str) -> tuple[list[Probe], list[Probe]]:
    """The category's fixed positives (read at tokens of the category) and matched negatives."""
    table = CATEGORIES[name]
    return [Probe(t, category=name, group="frame") for t in table.positives], [Probe(t) for t in table.negatives]


def propose(contexts: list[Context], limit: int) -> list[Hypothesis]:
    """Up to ``limit`` hypotheses from the token statistics of the top contexts."""
    if not contexts or limit <= 0:
        return []
    words = weighted_shares([(c.key, c.value) for c in contexts])
    prevs = weighted_shares([(c.prev, c.value) for c in contexts if c.prev])
    cats = weighted_shares([(c.category, c.value) for c in contexts])
    shown = {c.key: c.word for c in contexts[::-1]}  # first-seen spelling wins
    avoid = {k for k, _, _ in words}
    out: list[Hypothesis] = []
    top, _, top_count = words[0]
    example = next(c for c in contexts if c.key == top)
    spelled = shown[top]
    pos, neg = word_probes([spelled], contexts, avoid)
    out.append(
        Hypothesis(
            kind="word",
            claim=f"Fires on {quote(spelled)} (peak in {top_count} of the top {len(contexts)} contexts, "
            f"e.g. {excerpt(example)}), whatever the context.",
            label=f"fires on {quote(spelled)}",
            positives=pos,
            negatives=neg,
            keys=[top],
        )
    )
    if cats and cats[0][0] != "word" and cats[0][1] >= 0.5 and cats[0][0] in CATEGORIES:
        name = cats[0][0]
        pos, neg = category_probes(name)
        out.append(
            Hypothesis(
                kind="category",
                claim=f"Fires on {CATEGORIES[name].phrase} in general (the peak token is of this kind in "
                f"{round(cats[0][1] * 100)}% of the top contexts' weight).",
                label=f"fires on {CATEGORIES[name].phrase}",
                positives=pos,
                negatives=neg,
                keys=[name],
            )
        )
    covered, members = 0.0, []
    for key, share, _ in words[:5]:
        members.append(key)
        covered += share
        if covered >= 0.8:
            break
    if len(members) >= 2 and (covered >= 0.8 or len(out) == 1):
        spellings = [shown[k] for k in members]
        pos, neg = word_probes(spellings, contexts, avoid)
        out.append(
            Hypothesis(
                kind="set",
                claim=f"Fires on a small set of words: {', '.join(quote(s) for s in spellings)} "
                f"({round(covered * 100)}% of the top contexts' weight).",
                label="fires on " + ", ".join(quote(s) for s in spellings[:3]),
                positives=pos,
                negatives=neg,
                keys=members,
            )
        )
    if prevs and prevs[0][1] >= 0.5 and prevs[0][0] != top and any(ch.isalnum() for ch in prevs[0][0]):
        prev = prevs[0][0]
        pos, neg = context_probes(prev, contexts, avoid)
        out.append(
            Hypothesis(
                kind="context",
                claim=f"Fires on the token right after {quote(prev)}, whatever that token is "
                f"({round(prevs[0][1] * 100)}% of the top contexts' weight follow it).",
                label=f"fires on the token after {quote(prev)}",
                positives=pos,
                negatives=neg,
                keys=[prev],
            )
        )
    return out[:limit]


def quote(word: str) -> str:
    """A word or symbol as shown in descriptions (Python quoting keeps whitespace visible)."""
    return repr(word)


PEAK_OPEN, PEAK_CLOSE = "«", "»"
"""How the word a unit peaks on is marked in quoted contexts (guillemets: square brackets would be
read as markup by terminals that render it, and the word would vanish from the CLI's output)."""


def excerpt(ctx: Context, width: int = 70) -> str:
    """The end of a context's snippet with its peak word marked «like this», and the activation; the
    window is cut on the left only, so the peak word and what follows it always stay."""
    a, b = ctx.span
    if not 0 <= a < b <= len(ctx.snippet):  # no readable span: mark the peak word itself
        marked = f"{ctx.snippet.rstrip()} {PEAK_OPEN}{ctx.word}{PEAK_CLOSE}"
    else:
        marked = ctx.snippet[:a] + PEAK_OPEN + ctx.snippet[a:b] + PEAK_CLOSE + ctx.snippet[b:]
    marked = " ".join(marked.split())
    if len(marked) > width:
        start = marked.index(PEAK_OPEN)
        keep = max(width, len(marked) - start)  # never cut into the marked word
        marked = "…" + marked[-keep:].lstrip()
    return f"“{marked}” ({fmt(ctx.value, 3)})"


# --------------------------------------------------------------------------------------------------
# Reading activations
# --------------------------------------------------------------------------------------------------


def _offsets(text: str, tokens: list[str]) -> list[tuple[int, int]] | None:
    """Character range of each token in ``text`` (None when the decoded tokens do not spell it)."""
    joined = "".join(tokens)
    if not joined.endswith(text):
        return None
    position = -(len(joined) - len(text))
    spans = []
    for token in tokens:
        spans.append((position, position + len(token)))
        position += len(token)
    return spans


def score(probe: Probe, tokens: list[str], acts: list[float]) -> float:
    """The probe's score: the largest activation where it says to look (anywhere as a fallback)."""
    if not acts:
        return 0.0
    chosen: list[float] = []
    if probe.span is not None:
        spans = _offsets(probe.text, tokens)
        if spans is not None:
            a, b = probe.span
            chosen = [v for (s, e), v in zip(spans, acts, strict=True) if s < b and e > a]
    elif probe.category is not None:
        chosen = [v for t, v in zip(tokens, acts, strict=True) if _in_category(t, probe.category)]
    return max(chosen) if chosen else max(acts)


def _in_category(token: str, name: str) -> bool:
    kind = category(token)
    if name == "code":
        return kind in ("code", "punctuation", "word", "digits")
    if name == "punctuation":
        return kind in ("punctuation", "code")
    return kind == name


# --------------------------------------------------------------------------------------------------
# The word survey
# --------------------------------------------------------------------------------------------------

SURVEY_VOCABULARY = 3000
"""Frequent English words surveyed (plus the category nouns)."""


def survey_text(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """One survey sentence naming ``words`` ("She talked about the a, the b, the c and the d.") and the
    character span of each word."""
    text, spans = "She talked about ", []
    for i, word in enumerate(words):
        if i:
            text += " and " if i == len(words) - 1 else ", "
        text += "the "
        spans.append((len(text), len(text) + len(word)))
        text += word
    return text + ".", spans


def survey_words() -> list[str]:
    """The survey's words: frequent content words, then the singular category nouns."""
    return list(dict.fromkeys([*vocabulary()[:SURVEY_VOCABULARY], *CATEGORY_NOUNS]))


SURVEY_PER_TEXT = 4
"""Survey words per sentence."""


@dataclass(frozen=True)
class Survey:
    """The word survey's sentences: each names ``SURVEY_PER_TEXT`` words, at known character spans."""

    groups: list[list[str]]
    texts: list[str]
    spans: list[list[tuple[int, int]]]

    def scores(self, rows: Sequence[tuple[Sequence[str], Sequence[float]]]) -> dict[str, float]:
        """Each word's score (`score`: the largest activation on the word) from the unit's activations on
        the survey's texts, in order (tokens and values per text)."""
        if len(rows) != len(self.texts):
            raise ValueError(f"the survey has {len(self.texts)} texts, not {len(rows)}")
        out: dict[str, float] = {}
        for group, text, spans, (tokens, acts) in zip(self.groups, self.texts, self.spans, rows, strict=True):
            for word, span in zip(group, spans, strict=True):
                out[word] = score(Probe(text, span), list(tokens), list(acts))
        return out


@lru_cache(maxsize=1)
def survey() -> Survey:
    """The word survey (`survey_words`, ``SURVEY_PER_TEXT`` to a sentence); built once per process."""
    words = survey_words()
    groups = [words[i : i + SURVEY_PER_TEXT] for i in range(0, len(words), SURVEY_PER_TEXT)]
    built = [survey_text(group) for group in groups]
    return Survey(groups, [text for text, _ in built], [spans for _, spans in built])


@lru_cache(maxsize=8)
def shared_survey(run: str, column: int) -> tuple[list[tuple[list[str], list[float]]], dict[str, float]]:
    """Unit ``column``'s rows of the survey run once for its whole layer (``tools.shared_runs``, folder
    ``run``) and its word scores: read once per process, by the layer planner that attaches the run to
    an investigation and by the policy (which the driver replays from the start at every step)."""
    rows = read_unit(run, column)
    return rows, survey().scores(rows)


def concept_hypothesis(survey: dict[str, float], top_max: float | None, contexts: list[Context]) -> Hypothesis | None:
    """A "words about X" hypothesis when the survey finds at least three distinct strong responders.

    Strong: at least a quarter of the survey's best score, which itself must reach a third of the top exemplar
    (a unit whose best survey word is far below its exemplars is not a word-concept unit), and one of
    the words at the peaks of the top 10 exemplars must be among the strong words.
    """
    if not survey:
        return None
    ranked = sorted(survey, key=lambda w: (-survey[w], w))
    best = survey[ranked[0]]
    if best <= 0 or (top_max is not None and best < top_max / 3):
        return None
    nouns = set(CATEGORY_NOUNS)
    strong = [w for w in ranked if survey[w] >= best / 4]
    responders = distinct([w for w in strong if w not in nouns], 10)
    if len(responders) < 3:
        return None
    # the survey must meet the exemplars: a word the unit peaks on in its top contexts is a strong
    # responder too (otherwise the strong words are the unit's reaction to the survey sentence itself)
    peaks = {c.key for c in contexts[:10]}
    if contexts and not peaks & {key_of(w) for w in strong}:
        return None
    named = [w for w in ranked if w in nouns and survey[w] >= best / 4]
    listed = ", ".join(responders)
    head = f"Responds to words about {named[0]}, such as {listed}" if named else f"Responds to words such as {listed}"
    avoid = set(ranked[: max(40, len(strong))])
    pos, neg = word_probes(responders[:8], contexts, avoid)
    return Hypothesis(
        kind="concept",
        claim=f"{head} ({len(strong)} of {len(survey)} surveyed words reach a quarter of its best survey score, "
        f"{fmt(best, 3)} on {quote(ranked[0])}).",
        label=(f"{named[0]} words: " if named else "words like ") + ", ".join(responders[:3]),
        positives=pos,
        negatives=neg,
        keys=[key_of(w) for w in responders],
    )
