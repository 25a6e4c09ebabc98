"""The builtin scientist's policy for model units (MLP neurons, residual coordinates, heads, latents).

1. ``exemplars`` (k=20, two contexts per quantile; the layer's cache is built when missing). If that
   fails, ``activations`` on a fixed set of varied texts stands in for the exemplars.
2. Token statistics of the top contexts: the word at each context's peak (sub-word tokens joined:
   ``' sm' + 'elled'`` → ``smelled``) and the word before it, weighted by the peak activation; a
   crude category of each peak token (digits, punctuation, capitalised, code-like, whitespace).
   Up to three hypotheses: the top word, a category that dominates, a small set of words, or "the
   token after <word>".
3. Each hypothesis is tested with ``activations`` on 16 new texts: 8 positives (the word in generic
   frames, and in the exemplars' local contexts behind fresh openers) and 8 matched negatives (the
   same texts with the word swapped for a control word). The score of a positive is the largest
   activation on the hypothesised word; of a negative, the largest anywhere. The separation (AUC:
   how often a positive beats a negative) decides support; every test is recorded as evidence.
4. ``unit_logits`` (what the unit writes) and, budget permitting, a zero ``ablate`` on the best
   hypothesis's positives (loss): causal evidence.
5. The explanation: the best-separated hypothesis, with examples, the test numbers, secondary words,
   the promoted tokens; confidence from the separation.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from agent.builtin import Call, Final, Outcome, Policy, PolicyRun, Step, clip_words, fmt, quoted

# --------------------------------------------------------------------------------------------------
# Text material
# --------------------------------------------------------------------------------------------------

#: Texts standing in for exemplars when the exemplar cache cannot be read or built.
FALLBACK_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "By noon, the whole street smelled of fresh bread.",
    "She paid 37 dollars for 2 tickets on 12 May 1998.",
    "def add(a, b):\n    return a + b\n",
    "Paris is the capital of France, and Rome is the capital of Italy.",
    "Wait, what?! He said: 'No way...'",
    "The committee will meet again next Tuesday to discuss the budget.",
    "I think that we should probably leave before it starts raining.",
    "for (int i = 0; i < n; i++) { total += x[i]; }",
    "Maria and John visited the Louvre in October.",
    "Season with salt and pepper to taste.",
    "Once upon a time, there lived a king who loved music.",
]

WORD_FRAMES = [
    "She wrote {w} on the board.",
    "The next word on the list was {w}, and then we stopped.",
    "He kept repeating {w} under his breath.",
    "In the margin someone had scribbled {w} in pencil.",
]
SYMBOL_FRAMES = [
    "red{w} green and blue",
    "He paused{w} then spoke again.",
    "the end{w} the beginning",
    "Yes{w} no{w} maybe.",
]
OPENERS = ["Later that day, ", "In the story, ", "Meanwhile, ", "As I remember it, "]
SYMBOL_CONTROLS = [" and", " then", " or", " so"]
CONTROLS = ["table", "walked", "green", "river", "slowly", "paper", "opened", "music", "window", "seven"]
CONTEXT_FRAMES = [
    "They said {p} {c} again.",
    "It was {p} {c} after all.",
    "Only {p} {c} remained.",
    "We found {p} {c} there.",
]

#: name → (words for people, positives, matched negatives)
CATEGORIES: dict[str, tuple[str, list[str], list[str]]] = {
    "digits": (
        "digits and numbers",
        [
            "The code is 4821.",
            "She paid 37 dollars for it.",
            "Call me at 555 0199.",
            "See page 12 of the report.",
            "It happened in 1987.",
            "We counted 64 birds.",
            "Room 305 is upstairs.",
            "The score was 3 to 2.",
        ],
        [
            "The code is secret.",
            "She paid nothing for it.",
            "Call me at home tonight.",
            "See the first page of the report.",
            "It happened in the spring.",
            "We counted many birds.",
            "The room is upstairs.",
            "The score was close.",
        ],
    ),
    "punctuation": (
        "punctuation marks",
        [
            "Wait, what?",
            "Yes! It worked.",
            "red, green; blue.",
            "He said: no.",
            "(see above)",
            "Really?! Okay...",
            "one - two - three",
            '"Hi," she said.',
        ],
        [
            "wait what",
            "yes it worked",
            "red green blue",
            "he said no",
            "see above",
            "really okay",
            "one two three",
            "hi she said",
        ],
    ),
    "capitalised": (
        "capitalised words (names, sentence starts)",
        [
            "Maria flew to Berlin.",
            "We met John in Paris.",
            "The Amazon flows through Brazil.",
            "Ask Professor Smith about it.",
            "They moved to London in June.",
            "Tokyo and Osaka are large cities.",
            "Ask Peter or Anna.",
            "Microsoft and Google compete.",
        ],
        [
            "the bird flew to the nest.",
            "we met a friend in the park.",
            "the river flows through the valley.",
            "ask the teacher about it.",
            "they moved to the city in summer.",
            "towns and villages are small places.",
            "ask him or her.",
            "shops and markets compete.",
        ],
    ),
    "code": (
        "source code",
        [
            "def add(a, b): return a + b",
            "for (int i = 0; i < n; i++) {",
            "x = [i * 2 for i in range(10)]",
            "if (x == null) return;",
            "import numpy as np",
            "print(f'{name}')",
            "const y = foo(bar);",
            "SELECT * FROM users;",
        ],
        [
            "we added the two numbers together",
            "for every person in the room",
            "the list of doubled numbers",
            "if nothing is there we go home",
            "they imported fruit from abroad",
            "she printed her name",
            "the value stays the same",
            "choose everyone from the club",
        ],
    ),
    "whitespace": (
        "whitespace and line breaks",
        [
            "First line\nSecond line",
            "a\n\nb",
            "    indented text",
            "items:\n- one\n- two",
            "end.\n\nNew paragraph.",
            "x  =  1",
            "Title\n=====\n",
            "\tTabbed in",
        ],
        [
            "First line, second line",
            "a and b",
            "indented text",
            "items: one, two",
            "end. New paragraph.",
            "x = 1",
            "Title",
            "Tabbed in",
        ],
    ),
}

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


def _joins(left: str, right: str) -> bool:
    """Whether ``right`` continues the word ``left`` ends (no space between, letters on both sides)."""
    return bool(left) and bool(right) and left[-1].isalnum() and right[0].isalnum()


def word_span(tokens: list[str], i: int) -> tuple[int, int]:
    """Token range [start, end] of the word containing token ``i`` (sub-word pieces joined)."""
    start, end = i, i
    while start > 0 and _joins(tokens[start - 1], tokens[start]):
        start -= 1
    while end + 1 < len(tokens) and _joins(tokens[end], tokens[end + 1]):
        end += 1
    return start, end


def key_of(text: str) -> str:
    """How a word or symbol is compared: words lower-cased and stripped; whitespace kept visible."""
    stripped = text.strip()
    if not stripped:
        return "\\n" if "\n" in text else "␣"
    return stripped.lower() if any(c.isalnum() for c in stripped) else stripped


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
        return _mean(self.pos) - _mean(self.neg)

    @property
    def supported(self) -> bool:
        """Positives beat negatives clearly: AUC ≥ 0.75 and a positive mean gap."""
        return self.auc is not None and self.auc >= 0.75 and self.separation > 0


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def auc(pos: list[float], neg: list[float]) -> float:
    """How often a positive scores above a negative (ties count half)."""
    if not pos or not neg:
        return 0.5
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


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
    return [c for c in CONTROLS if c not in avoid][:n]


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
    _, positives, negatives = CATEGORIES[name]
    return [Probe(t, category=name, group="frame") for t in positives], [Probe(t) for t in negatives]


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
            claim=f"Fires on {_quote(spelled)} (peak in {top_count} of the top {len(contexts)} contexts, "
            f"e.g. {_excerpt(example)}), whatever the context.",
            label=f"fires on {_quote(spelled)}",
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
                claim=f"Fires on {CATEGORIES[name][0]} in general (the peak token is of this kind in "
                f"{round(cats[0][1] * 100)}% of the top contexts' weight).",
                label=f"fires on {CATEGORIES[name][0]}",
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
                claim=f"Fires on a small set of words: {', '.join(_quote(s) for s in spellings)} "
                f"({round(covered * 100)}% of the top contexts' weight).",
                label="fires on " + ", ".join(_quote(s) for s in spellings[:3]),
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
                claim=f"Fires on the token right after {_quote(prev)}, whatever that token is "
                f"({round(prevs[0][1] * 100)}% of the top contexts' weight follow it).",
                label=f"fires on the token after {_quote(prev)}",
                positives=pos,
                negatives=neg,
                keys=[prev],
            )
        )
    return out[:limit]


def _quote(word: str) -> str:
    return repr(word)


def _excerpt(ctx: Context, width: int = 70) -> str:
    a, b = ctx.span
    marked = ctx.snippet[:a] + "[" + ctx.snippet[a:b] + "]" + ctx.snippet[b:]
    marked = " ".join(marked.split())
    return f"“{marked[-width:]}” ({fmt(ctx.value, 3)})"


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


def _results(outcome: Outcome) -> list[dict[str, Any]]:
    results = (outcome.result or {}).get("results") if outcome.ok else None
    return [r for r in results or [] if isinstance(r, dict)]


# --------------------------------------------------------------------------------------------------
# The policy
# --------------------------------------------------------------------------------------------------


SubRun = Generator[Step, list[Outcome], None]

SURVEY_VOCABULARY = 3000
"""Frequent English words surveyed (plus the category nouns), `SURVEY_PER_TEXT` per sentence, 256 sentences per call."""
SURVEY_PER_TEXT = 4
SURVEY_BATCH = 256


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
    from agent.builtin_entities import CATEGORY_NOUNS, vocabulary

    return list(dict.fromkeys([*vocabulary()[:SURVEY_VOCABULARY], *CATEGORY_NOUNS]))


def concept_hypothesis(survey: dict[str, float], top_max: float | None, contexts: list[Context]) -> Hypothesis | None:
    """A "words about X" hypothesis when the survey finds at least three distinct strong responders.

    Strong: at least a quarter of the survey's best score, which itself must reach a third of the top exemplar
    (a unit whose best survey word is far below its exemplars is not a word-concept unit), and one of
    the words at the peaks of the top 10 exemplars must be among the strong words.
    """
    from agent.builtin_entities import CATEGORY_NOUNS, distinct

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
        f"{fmt(best, 3)} on {_quote(ranked[0])}).",
        label=(f"{named[0]} words: " if named else "words like ") + ", ".join(responders[:3]),
        positives=pos,
        negatives=neg,
        keys=[key_of(w) for w in responders],
    )


class UnitPolicy(Policy):
    """Exemplars → hypotheses → activation tests → unit_logits / ablate → explanation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.contexts: list[Context] = []
        self.exemplar_source: str = ""
        self.exemplar_ids: list[int] = []
        self.top_max: float | None = None
        self.hypotheses: list[Hypothesis] = []
        self.promoted: list[str] = []
        self.suppressed: list[str] = []
        self.logits_id: int | None = None
        self.ablation: tuple[float, int | None] | None = None
        self.errors: list[str] = []
        self.survey: dict[str, float] = {}
        self.survey_ids: list[int] = []

    def _model_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"subject": self.task.subject}
        if self.task.model:
            args["model"] = self.task.model
        return args

    def steps(self) -> PolicyRun:
        """The investigation (module docstring)."""
        yield from self._look()
        if not self.contexts:
            return self.best()
        if self.task.can("activations") and self.remaining() >= 8:
            yield from self._survey()
        concept = concept_hypothesis(self.survey, self.top_max, self.contexts)
        n = max(0, min(3, (self.remaining() - 1) // 3))
        self.hypotheses = propose(self.contexts, max(n, 1 if self.remaining() >= 2 else 0))
        if concept is not None:
            self.hypotheses = [concept, *self.hypotheses][: max(n, 1)]
        if self.hypotheses and self.task.can("propose_hypothesis") and self.remaining() >= 2 * len(self.hypotheses):
            outcomes = yield Step(
                "Write down hypotheses suggested by the tokens at the exemplars' peaks.",
                [Call("propose_hypothesis", {"text": h.claim, "confidence": 0.5}) for h in self.hypotheses],
            )
            for h, o in zip(self.hypotheses, outcomes, strict=True):
                value = (o.result or {}).get("hypothesis_id") if o.ok else None
                h.hypothesis_id = value if isinstance(value, int) else None
        for h in self.hypotheses:
            if self.remaining() < 1 or not self.task.can("activations"):
                break
            yield from self._test(h)
        if self.remaining() >= 1 and self.task.can("unit_logits"):
            [logits] = yield Step(
                "Check what the unit writes: the tokens its output direction promotes and suppresses.",
                [Call("unit_logits", {**self._model_args(), "k": 10})],
            )
            self._absorb_logits(logits)
        chosen = self._chosen()
        if chosen is not None and chosen.supported and self.remaining() >= 2 and self.task.can("ablate"):
            texts = [p.text for p in chosen.positives]
            args = self._model_args()
            subject = args.pop("subject")
            [ablated] = yield Step(
                "Zero-ablate the unit on the positive texts to see whether it matters for predicting them.",
                [Call("ablate", {**args, "targets": [subject], "texts": texts, "method": "zero"})],
            )
            if ablated.ok and ablated.result is not None:
                effect = ablated.result.get("mean_effect")
                if isinstance(effect, int | float):
                    self.ablation = (float(effect), ablated.experiment_id)
                    if (
                        chosen.hypothesis_id is not None
                        and ablated.experiment_id is not None
                        and self.remaining() >= 1
                        and self.task.can("record_evidence")
                    ):
                        yield Step(
                            "Record the ablation as causal evidence.",
                            [
                                Call(
                                    "record_evidence",
                                    {
                                        "hypothesis_id": chosen.hypothesis_id,
                                        "experiment_ids": [ablated.experiment_id],
                                        "supports": effect > 0,
                                        "weight": 0.5,
                                        "note": f"zero ablation changes the loss on the positives by {effect:+.4f}",
                                    },
                                )
                            ],
                        )
        return self.best()

    # ------------------------------------------------------------------ steps
    def _look(self) -> SubRun:
        if self.task.can("exemplars") and self.remaining() >= 1:
            args: dict[str, Any] = {**self._model_args(), "k": 20, "per_quantile": 2}
            if self.task.options.exemplar_tokens:
                args["max_tokens"] = self.task.options.exemplar_tokens
            [found] = yield Step(
                "Start from the unit's dataset exemplars: the contexts where it activates most.",
                [Call("exemplars", args)],
            )
            if found.ok and found.result is not None:
                self._absorb_exemplars(found)
                if self.contexts:
                    return
            elif found.error:
                self.errors.append(f"exemplars: {found.error}")
        if self.task.can("activations") and self.remaining() >= 1:
            [ran] = yield Step(
                "No exemplars: run the unit on a set of varied texts instead.",
                [Call("activations", {**self._model_args(), "texts": FALLBACK_TEXTS})],
            )
            if ran.ok:
                rows = sorted(_results(ran), key=lambda r: -float(r.get("max") or 0.0))
                self.contexts = [c for c in (_context_of(r) for r in rows[:8]) if c is not None]
                self.top_max = self.contexts[0].value if self.contexts else None
                self.exemplar_source = "a fixed set of varied texts"
                if ran.experiment_id is not None:
                    self.exemplar_ids.append(ran.experiment_id)
            elif ran.error:
                self.errors.append(f"activations: {ran.error}")

    def _survey(self) -> SubRun:
        words = survey_words()
        groups = [words[i : i + SURVEY_PER_TEXT] for i in range(0, len(words), SURVEY_PER_TEXT)]
        built = [survey_text(group) for group in groups]
        texts = [text for text, _ in built]
        outcomes = yield Step(
            f"Survey the unit on {len(words)} frequent words and category nouns, {SURVEY_PER_TEXT} per sentence, "
            "to see whether it responds to a concept rather than one token.",
            [
                Call("activations", {**self._model_args(), "texts": texts[i : i + SURVEY_BATCH]})
                for i in range(0, len(texts), SURVEY_BATCH)
            ],
        )
        rows = [row for outcome in outcomes for row in _results(outcome)]
        self.survey_ids = [o.experiment_id for o in outcomes if o.experiment_id is not None]
        if len(rows) != len(texts):
            return
        for group, (text, spans), row in zip(groups, built, rows, strict=True):
            tokens = [str(t) for t in row.get("tokens") or []]
            acts = [float(v) for v in row.get("activations") or []]
            for word, span in zip(group, spans, strict=True):
                self.survey[word] = score(Probe(text, span), tokens, acts)

    def _absorb_exemplars(self, found: Outcome) -> None:
        assert found.result is not None
        rows = [r for r in found.result.get("exemplars") or [] if isinstance(r, dict)]
        self.contexts = [c for c in (_context_of(r) for r in rows) if c is not None]
        self.contexts.sort(key=lambda c: -c.value)
        self.top_max = self.contexts[0].value if self.contexts else None
        self.exemplar_source = "dataset exemplars"
        if found.experiment_id is not None:
            self.exemplar_ids.append(found.experiment_id)

    def _test(self, h: Hypothesis) -> SubRun:
        probes = h.positives + h.negatives
        [ran] = yield Step(
            f"Test the hypothesis {h.label!r} on new texts with and without it.",
            [Call("activations", {**self._model_args(), "texts": [p.text for p in probes]})],
        )
        rows = _results(ran)
        if len(rows) != len(probes):
            if ran.error:
                self.errors.append(f"activations: {ran.error}")
            return
        h.experiment_id = ran.experiment_id
        scores = [
            score(p, [str(t) for t in r.get("tokens") or []], [float(v) for v in r.get("activations") or []])
            for p, r in zip(probes, rows, strict=True)
        ]
        h.pos, h.neg = scores[: len(h.positives)], scores[len(h.positives) :]
        for p, s in zip(h.positives, h.pos, strict=True):
            h.groups.setdefault(p.group, []).append(s)
        h.auc = auc(h.pos, h.neg)
        recordable = h.hypothesis_id is not None and h.experiment_id is not None
        if recordable and self.remaining() >= 1 and self.task.can("record_evidence"):
            yield Step(
                f"Record the test of {h.label!r}: separation AUC {h.auc:.2f}.",
                [
                    Call(
                        "record_evidence",
                        {
                            "hypothesis_id": h.hypothesis_id,
                            "experiment_ids": [h.experiment_id],
                            "supports": h.supported,
                            "weight": round(max(0.1, min(10.0, 2 * abs(h.auc - 0.5) * 2)), 3),
                            "note": _test_note(h),
                        },
                    )
                ],
            )

    def _absorb_logits(self, logits: Outcome) -> None:
        if not logits.ok or logits.result is None:
            return
        self.logits_id = logits.experiment_id

        def tokens(name: str) -> list[str]:
            rows = logits.result.get(name) if logits.result else None
            return [str(r.get("token")) for r in rows or [] if isinstance(r, dict)]

        self.promoted, self.suppressed = _readable(tokens("promoted")), _readable(tokens("suppressed"))

    # ------------------------------------------------------------------ explanation
    def _chosen(self) -> Hypothesis | None:
        tested = [h for h in self.hypotheses if h.tested]
        if not tested:
            return self.hypotheses[0] if self.hypotheses else None
        priority = {"concept": -1, "word": 0, "category": 1, "set": 2, "context": 3}
        best = max(tested, key=lambda h: (h.supported, round(h.auc or 0.0, 1), -priority[h.kind], h.separation))
        return best

    def best(self) -> Final:
        """The best-separated hypothesis, in a testable paragraph."""
        if not self.contexts:
            why = "; ".join(self.errors) or "no experiment could be run"
            return Final(
                label="no conclusion",
                description=f"No activations of {self.task.subject} could be observed ({why}).",
                confidence=0.0,
            )
        chosen = self._chosen() or propose(self.contexts, 1)[0]  # untested when the budget allowed no test
        confirmed = chosen.supported or not chosen.tested
        if confirmed:
            sentences = [chosen.claim.rstrip(".") + "."]
        else:
            sentences = [
                "No simple explanation held up. The top contexts suggested: "
                + chosen.claim.rstrip(".")
                + "; but new texts did not confirm it."
            ]
        if self.top_max is not None and self.top_max <= 1e-6:
            sentences.insert(0, f"The unit hardly activates at all (largest activation {fmt(self.top_max, 3)}).")
        strongest = self.contexts[: min(3, len(self.contexts))]
        sentences.append(f"Strongest {self.exemplar_source}: " + "; ".join(_excerpt(c) for c in strongest) + ".")
        others = [
            (k, c)
            for k, c in _best_per_key(self.contexts).items()
            if k not in chosen.keys and chosen.kind in ("word", "context")
        ]
        if others:
            sentences.append(
                "Weaker on: " + ", ".join(f"{_quote(c.word)} (up to {fmt(c.value, 3)})" for _, c in others[:4]) + "."
            )
        prevs = weighted_shares([(c.prev, c.value) for c in self.contexts if c.prev and c.key in chosen.keys])
        if chosen.kind in ("word", "set") and prevs and prevs[0][1] >= 0.4 and prevs[0][2] >= 2:
            sentences.append(f"In its top contexts it usually follows {_quote(prevs[0][0])}.")
        if chosen.tested:
            sentences.append(_test_sentence(chosen))
        for h in self.hypotheses:
            if h is not chosen and h.tested:
                verdict = "supported" if h.supported else "not supported"
                sentences.append(f"Alternative {h.label!r}: {verdict} (AUC {h.auc:.2f}).")
        if self.promoted:
            shown = ", ".join(repr(t) for t in self.promoted[:6])
            sentences.append(f"Its output promotes the tokens {shown}")
            if self.suppressed:
                sentences[-1] += f" and suppresses {', '.join(repr(t) for t in self.suppressed[:4])}"
            sentences[-1] += "."
        if self.ablation is not None:
            effect, _ = self.ablation
            sentences.append(f"Zero-ablating it changes the loss on the positive texts by {effect:+.4f} nats.")
        confidence = _confidence(chosen, self.top_max)
        evidence = list(self.exemplar_ids)
        for h in self.hypotheses:
            if h.supported and h.experiment_id is not None and h is chosen:
                evidence.append(h.experiment_id)
        if self.logits_id is not None:
            evidence.append(self.logits_id)
        if self.ablation is not None and self.ablation[0] > 0 and self.ablation[1] is not None:
            evidence.append(self.ablation[1])
        return Final(
            label=clip_words(chosen.label if confirmed else f"unconfirmed: {chosen.label}"),
            description=" ".join(sentences),
            confidence=confidence,
            evidence=evidence,
        )

    # ------------------------------------------------------------------ chat
    def chat_call(self, question: str) -> Call | None:
        """ "Test it on X" / quoted texts → ``activations`` on them."""
        texts = quoted(question)
        if not texts:
            match = re.search(r"\b(?:test|try|run|check)\b.*?\b(?:on|with)\b\s*:?\s*(.+)$", question, re.I | re.S)
            if match is None:
                match = re.search(r"\bwhat about\b\s*:?\s*(.+)$", question, re.I | re.S)
            if match is not None and match.group(1).strip(" ?."):
                texts = [match.group(1).strip().rstrip("?")]
        if not texts:
            return None
        return Call("activations", {**self._model_args(), "texts": texts[:16]})

    def describe(self, call: Call, outcome: Outcome) -> str:
        """Where each text peaks, compared with the top exemplar."""
        rows = _results(outcome)
        if not rows:
            return f"That experiment failed: {outcome.error}"
        reference = f" (top exemplar: {fmt(self.top_max, 3)})" if self.top_max is not None else ""
        parts = []
        for r in rows:
            tokens = [str(t) for t in r.get("tokens") or []]
            argmax = r.get("argmax")
            token = tokens[argmax] if isinstance(argmax, int) and 0 <= argmax < len(tokens) else "?"
            parts.append(f"on {r.get('text')!r} the unit peaks at {fmt(float(r.get('max') or 0.0), 3)} on {token!r}")
        return "; ".join(parts) + reference + "."


def _context_of(row: dict[str, Any]) -> Context | None:
    tokens = [str(t) for t in row.get("tokens") or []]
    acts = [float(v) for v in row.get("activations") or []]
    return analyse_context(tokens, acts)


def _readable(tokens: list[str]) -> list[str]:
    """Tokens a person can read first (no byte fragments or control characters)."""
    clean = [t for t in tokens if t.strip() and "\ufffd" not in t and t.isprintable()]
    return clean + [t for t in tokens if t not in clean]


def _best_per_key(contexts: list[Context]) -> dict[str, Context]:
    best: dict[str, Context] = {}
    for c in contexts:
        if c.key not in best or c.value > best[c.key].value:
            best[c.key] = c
    return dict(sorted(best.items(), key=lambda kv: -kv[1].value))


def _test_note(h: Hypothesis) -> str:
    return (
        f"positives mean {fmt(_mean(h.pos), 3)} (min {fmt(min(h.pos), 3)}), negatives mean {fmt(_mean(h.neg), 3)} "
        f"(max {fmt(max(h.neg), 3)}), AUC {h.auc:.2f}"
    )


def _test_sentence(h: Hypothesis) -> str:
    text = (
        f"On new texts it reaches {fmt(_mean(h.pos), 3)} on average where the hypothesis says it should fire, "
        f"against {fmt(_mean(h.neg), 3)} (anywhere) on matched texts without it (AUC {h.auc:.2f})"
    )
    frame, local = h.groups.get("frame"), h.groups.get("context")
    if frame and local:
        text += f"; {fmt(_mean(local), 3)} in contexts like its exemplars', {fmt(_mean(frame), 3)} in generic sentences"
    return text + "."


def _confidence(h: Hypothesis, top_max: float | None) -> float:
    """From the separation (AUC), scaled by how close the positives come to the top exemplar."""
    if h.auc is None:
        return 0.2
    strength = max(0.0, 2 * (h.auc - 0.5))
    if not h.supported:
        return round(min(0.3, 0.3 * strength), 3)
    reach = min(1.0, max(0.0, _mean(h.pos) / top_max)) if top_max and top_max > 0 else 0.5
    return round((0.15 + 0.8 * strength) * (0.5 + 0.5 * reach), 3)
