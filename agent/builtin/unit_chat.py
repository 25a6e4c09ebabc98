"""Chat turns about a model unit: each request becomes a designed experiment and a reply with its numbers.

* **fires** ("does it fire on X and Y?", "what about months?"): each word (a category a person names
  adds a few members: ``data/chat_requests.json``) in three generic sentences, against the same
  sentences with control words (the probe machinery of ``agent.builtin.unit_hypotheses``); per word a
  yes / weakly / no with the means, the controls and the separation (AUC).
* **texts** ("try: …", quoted texts): per-token activations of exactly those texts, the peak tokens
  marked «like this».
* **compare** ("compare days vs weeks"): two words in the same sentences and in the top exemplar's
  context (minimal pairs), or two texts side by side.
* **word_or_context** ("is it the word or the context?"): the peak word in its exemplar context, alone
  in neutral sentences, and the exemplar context with the word swapped for a control word.
* **ablate**, **logits**, **steer**, **exemplars**: the ``ablate``, ``unit_logits``, ``steer`` and
  ``exemplars`` tools, described in words.

Every reply names its experiments ("[experiment #12]"); why / revise / summary / help are
``agent.builtin.chat_turns.common_turn``'s.
"""

from __future__ import annotations

from typing import Any

from agent.builtin.chat_requests import CHAT_DATA, Request, RequestKind, category_members
from agent.builtin.chat_turns import Answer, ChatContext, ChatRun, Finding, common_turn, experiment_refs
from agent.builtin.protocol import Call, Outcome, Step, auc, fmt
from agent.builtin.unit_hypotheses import (
    CONTROLS,
    PEAK_CLOSE,
    PEAK_OPEN,
    WORD_FRAMES,
    Context,
    Probe,
    analyse_context,
    excerpt,
    mean,
    score,
)
from agent.builtin.units import UnitPolicy
from tools.simulation.words import key_of

__all__ = ["mark_peaks", "unit_turn"]

FRAMES_PER_WORD = 3
MAX_WORDS = 8
SHOWN_EXEMPLARS = 5


def unit_turn(request: Request, ctx: ChatContext) -> ChatRun:
    """The chat turn for ``request`` about a model unit (module docstring)."""
    policy = ctx.policy
    if not isinstance(policy, UnitPolicy):
        return (yield from common_turn(request, ctx))
    chat = _UnitChat(policy)
    kind = request.kind
    if kind is RequestKind.fires:
        return (yield from chat.fires(list(request.words)))
    if kind is RequestKind.texts:
        return (yield from chat.texts(list(request.texts)))
    if kind is RequestKind.compare:
        return (yield from chat.compare(request.texts[0], request.texts[1]))
    if kind is RequestKind.word_or_context:
        return (yield from chat.word_or_context())
    if kind is RequestKind.ablate:
        return (yield from chat.ablate(list(request.texts)))
    if kind is RequestKind.logits:
        return (yield from chat.logits())
    if kind is RequestKind.steer:
        return (yield from chat.steer(request.alpha, request.prompt))
    if kind is RequestKind.exemplars:
        return (yield from chat.exemplars(request.quantile))
    return (yield from common_turn(request, ctx))


def rows_of(outcome: Outcome) -> list[dict[str, Any]]:
    """The per-text rows of an ``activations`` outcome ([] when it failed)."""
    results = (outcome.result or {}).get("results") if outcome.ok else None
    return [r for r in results or [] if isinstance(r, dict)]


def _series(row: dict[str, Any]) -> tuple[list[str], list[float]]:
    return [str(t) for t in row.get("tokens") or []], [float(v) for v in row.get("activations") or []]


def mark_peaks(tokens: list[str], acts: list[float], threshold: float) -> str:
    """The text with every run of tokens at or above ``threshold`` marked «like this»."""
    out: list[str] = []
    inside = False
    for token, value in zip(tokens, acts, strict=True):
        hot = value >= threshold and bool(token.strip())
        if hot and not inside:
            lead = token[: len(token) - len(token.lstrip())]
            out.append(lead + PEAK_OPEN + token[len(lead) :])
            inside = True
            continue
        if not hot and inside:
            out.append(PEAK_CLOSE)
            inside = False
        out.append(token)
    if inside:
        out.append(PEAK_CLOSE)
    return " ".join("".join(out).split())


class _UnitChat:
    """The experiments of a chat about one unit, designed from what the investigation saw."""

    def __init__(self, policy: UnitPolicy) -> None:
        self.policy = policy
        self.task = policy.task
        self.top = policy.top_max

    def _args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"subject": self.task.subject}
        if self.task.model:
            args["model"] = self.task.model
        return args

    def _reference(self) -> str:
        return f" (its top exemplar reaches {fmt(self.top, 3)})" if self.top is not None else ""

    def _threshold(self, acts: list[float]) -> float:
        peak = max(acts) if acts else 0.0
        floor = 0.2 * self.top if self.top and self.top > 0 else 1e-6
        return max(0.5 * peak, floor, 1e-6)

    def _controls(self, avoid: set[str], n: int) -> list[str]:
        seen = avoid | {c.key for c in self.policy.contexts}
        return [c for c in CONTROLS if key_of(c) not in seen][:n] or list(CONTROLS[:n])

    def _activations(self, reason: str, texts: list[str]) -> Step:
        return Step(reason, [Call("activations", {**self._args(), "texts": texts})])

    # ------------------------------------------------------------------ does it fire on X?
    def fires(self, asked: list[str]) -> ChatRun:
        words: list[str] = []
        for word in asked:
            for w in [word, *category_members(word)]:
                if w not in words:
                    words.append(w)
        words = words[:MAX_WORDS]
        frames = WORD_FRAMES[:FRAMES_PER_WORD]
        controls = self._controls({key_of(w) for w in words}, 3)
        positives = [_placed(frame, w) for w in words for frame in frames]
        negatives = [Probe(frame.replace("{w}", c)) for frame in frames for c in controls]
        [ran] = yield self._activations(
            f"Put {', '.join(map(repr, words))} in {len(frames)} generic sentences each, against the same "
            f"sentences with control words ({', '.join(controls)}).",
            [p.text for p in positives + negatives],
        )
        rows = rows_of(ran)
        if len(rows) != len(positives) + len(negatives):
            return Answer(f"That experiment failed: {ran.error} {experiment_refs([ran.experiment_id])}".strip())
        scores = [score(p, *_series(r)) for p, r in zip(positives + negatives, rows, strict=True)]
        neg = scores[len(positives) :]
        ref = experiment_refs([ran.experiment_id])
        lines = [
            f"I put each word in {len(frames)} generic sentences and compared them with the same sentences "
            f"holding control words ({', '.join(controls)}) {ref}:"
        ]
        yes, no, parts = [], [], []
        for i, word in enumerate(words):
            pos = scores[i * len(frames) : (i + 1) * len(frames)]
            separation = auc(pos, neg)
            strong = self.top is None or mean(pos) >= 0.25 * self.top
            if separation >= 0.75 and mean(pos) > mean(neg) and strong:
                verdict = "yes"
                yes.append(word)
            elif separation >= 0.6 and mean(pos) > mean(neg):
                verdict = "weakly"
            else:
                verdict = "no"
                no.append(word)
            lines.append(
                f"- {word!r}: {verdict} — {fmt(mean(pos), 3)} on the word on average (max {fmt(max(pos), 3)}), "
                f"controls {fmt(mean(neg), 3)} (max {fmt(max(neg), 3)}) anywhere; AUC {separation:.2f}"
            )
            parts.append(f"{word!r} {verdict} ({fmt(mean(pos), 3)})")
        lines.append(
            "yes: above the controls (AUC ≥ 0.75) and at least a quarter of its top exemplar; weakly: above the "
            f"controls but weaker{self._reference()}."
        )
        sentence = f"Does it fire on these words? {'; '.join(parts)}; controls {fmt(mean(neg), 3)}."
        return Answer("\n".join(lines), Finding(sentence, _ids(ran), None, tuple(yes)))

    # ------------------------------------------------------------------ try: texts
    def texts(self, texts: list[str]) -> ChatRun:
        [ran] = yield self._activations("Run the unit on exactly the texts you gave.", texts)
        rows = rows_of(ran)
        if not rows:
            return Answer(f"That experiment failed: {ran.error}")
        lines, parts = [f"Per-token activations {experiment_refs([ran.experiment_id])}:"], []
        for row in rows:
            tokens, acts = _series(row)
            if not acts:
                continue
            peak = max(range(len(acts)), key=acts.__getitem__)
            token = tokens[peak].strip() or repr(tokens[peak])
            marked = mark_peaks(tokens, acts, self._threshold(acts))
            lines.append(f"- “{marked}” peaks at {fmt(acts[peak], 3)} on {PEAK_OPEN}{token}{PEAK_CLOSE}")
            parts.append(f"on “{_short(str(row.get('text')))}” it peaks at {fmt(acts[peak], 3)} on {token!r}")
        lines.append(f"Marked: tokens at half the text's peak or more{self._reference()}.")
        sentence = "; ".join(parts)
        return Answer("\n".join(lines), Finding(sentence[:1].upper() + sentence[1:] + ".", _ids(ran)))

    # ------------------------------------------------------------------ compare A vs B
    def compare(self, a: str, b: str) -> ChatRun:
        if len(a.split()) > 2 or len(b.split()) > 2:
            [ran] = yield self._activations("Run both texts side by side.", [a, b])
            rows = rows_of(ran)
            if len(rows) != 2:
                return Answer(f"That experiment failed: {ran.error}")
            peaks = []
            lines = [f"Side by side {experiment_refs([ran.experiment_id])}:"]
            for row in rows:
                tokens, acts = _series(row)
                peaks.append(max(acts) if acts else 0.0)
                lines.append(f"- “{mark_peaks(tokens, acts, self._threshold(acts))}”: peak {fmt(peaks[-1], 3)}")
            winner = "the first" if peaks[0] > peaks[1] else "the second"
            lines.append(f"{winner.capitalize()} text drives it more, by {fmt(abs(peaks[0] - peaks[1]), 3)}.")
            sentence = f"“{_short(a)}” peaks at {fmt(peaks[0], 3)}, “{_short(b)}” at {fmt(peaks[1], 3)}."
            return Answer("\n".join(lines), Finding(sentence, _ids(ran)))
        frames = WORD_FRAMES[:FRAMES_PER_WORD]
        probes = [_placed(frame, w) for w in (a, b) for frame in frames]
        top = self._top_context()
        if top is not None:
            probes += [_swapped(top, w) for w in (a, b)]
        [ran] = yield self._activations(
            f"Minimal pairs: {a!r} and {b!r} in the same sentences"
            + (" and in the top exemplar's context." if top is not None else "."),
            [p.text for p in probes],
        )
        rows = rows_of(ran)
        if len(rows) != len(probes):
            return Answer(f"That experiment failed: {ran.error}")
        scores = [score(p, *_series(r)) for p, r in zip(probes, rows, strict=True)]
        n = len(frames)
        generic = {a: scores[:n], b: scores[n : 2 * n]}
        local = {a: scores[2 * n], b: scores[2 * n + 1]} if top is not None else {}
        lines = [f"Minimal pairs {experiment_refs([ran.experiment_id])}:"]
        for w in (a, b):
            line = f"- {w!r}: {fmt(mean(generic[w]), 3)} on average in {n} generic sentences"
            if w in local:
                line += f", {fmt(local[w], 3)} in the top exemplar's context"
            lines.append(line)
        diff = mean(generic[a]) - mean(generic[b])
        lead, other = (a, b) if diff >= 0 else (b, a)
        lines.append(f"{lead!r} drives it more than {other!r}, by {fmt(abs(diff), 3)} on average{self._reference()}.")
        if top is not None:
            lines.append(f"(The exemplar context: {excerpt(top)}.)")
        sentence = (
            f"Compared with the same sentences, {a!r} gives {fmt(mean(generic[a]), 3)} and {b!r} "
            f"{fmt(mean(generic[b]), 3)}."
        )
        return Answer("\n".join(lines), Finding(sentence, _ids(ran)))

    def _top_context(self) -> Context | None:
        for c in self.policy.contexts:
            if 0 <= c.span[0] < c.span[1] <= len(c.snippet) and c.snippet.strip():
                return c
        return None

    # ------------------------------------------------------------------ is it the word or the context?
    def word_or_context(self) -> ChatRun:
        chosen: list[Context] = []
        for c in self.policy.contexts:
            if 0 <= c.span[0] < c.span[1] <= len(c.snippet) and all(c.snippet != d.snippet for d in chosen):
                chosen.append(c)
            if len(chosen) == 2:
                break
        if not chosen:
            return Answer("I have no exemplar contexts to take apart; ask me to show exemplars first.")
        control = self._controls({c.key for c in chosen}, 1)[0]
        probes: list[tuple[str, Probe]] = []
        for c in chosen:
            probes.append(("context", Probe(c.snippet, c.span)))
            probes += [("alone", _placed(frame, c.word)) for frame in WORD_FRAMES[:2]]
            probes.append(("swapped", _swapped(c, control)))
        [ran] = yield self._activations(
            "Take the top contexts apart: the word in its exemplar context, the word alone in neutral "
            f"sentences, and the context with the word swapped for {control!r}.",
            [p.text for _, p in probes],
        )
        rows = rows_of(ran)
        if len(rows) != len(probes):
            return Answer(f"That experiment failed: {ran.error}")
        groups: dict[str, list[float]] = {"context": [], "alone": [], "swapped": []}
        for (group, probe), row in zip(probes, rows, strict=True):
            tokens, acts = _series(row)
            groups[group].append(max(acts) if group == "swapped" and acts else score(probe, tokens, acts))
        inside, alone, swapped = (mean(groups[g]) for g in ("context", "alone", "swapped"))
        if inside <= 1e-6:
            verdict = "neither: it hardly fires even in its own exemplar contexts"
        elif swapped >= 0.5 * inside:
            verdict = "the context: it still fires with the word swapped out"
        elif alone >= 0.6 * inside:
            verdict = "the word: it fires on it in neutral sentences nearly as much as in its exemplars' contexts"
        elif alone < 0.3 * inside:
            verdict = "both: the word needs its context (alone it fires far less, and the context without it does not)"
        else:
            verdict = "mostly the word, helped by its context"
        words = ", ".join(sorted({repr(c.word) for c in chosen}))
        lines = [
            f"Word or context, for {words} {experiment_refs([ran.experiment_id])}:",
            f"- in its exemplar contexts: {fmt(inside, 3)} on average "
            + "; ".join(excerpt(c).rsplit(" (", 1)[0] for c in chosen),
            f"- the word alone in neutral sentences: {fmt(alone, 3)}",
            f"- the contexts with the word swapped for {control!r}: {fmt(swapped, 3)} (largest anywhere)",
            f"So it is {verdict}.",
        ]
        sentence = (
            f"Word or context: {fmt(inside, 3)} in its exemplar contexts, {fmt(alone, 3)} for the word alone, "
            f"{fmt(swapped, 3)} with the word swapped out ({verdict.split(':')[0]})."
        )
        return Answer("\n".join(lines), Finding(sentence, _ids(ran)))

    # ------------------------------------------------------------------ ablate / logits / steer / exemplars
    def ablate(self, texts: list[str]) -> ChatRun:
        if not texts:
            texts = list(dict.fromkeys(c.snippet for c in self.policy.contexts if c.snippet.strip()))[:4]
        if not texts:
            return Answer("Give me texts to ablate it on: ablate it on 'I waited three days.'")
        args = self._args()
        subject = args.pop("subject")
        [ran] = yield Step(
            "Zero-ablate the unit on the texts and measure the loss.",
            [Call("ablate", {**args, "targets": [subject], "texts": texts, "method": "zero"})],
        )
        result = ran.result if ran.ok else None
        if result is None:
            return Answer(f"That ablation failed: {ran.error}")
        effects = [float(e) for e in result.get("effects") or []]
        mean_effect = float(result.get("mean_effect") or 0.0)
        lines = [
            f"Zero-ablating {self.task.subject} changes the loss by {mean_effect:+.4f} nats on average over "
            f"{len(effects)} texts (baseline {fmt(float(result.get('mean_baseline') or 0.0), 4)}) "
            f"{experiment_refs([ran.experiment_id])}:"
        ]
        for text, effect in zip(texts, effects, strict=False):
            lines.append(f"- “{_short(text)}”: {effect:+.4f}")
        verdict = "it matters for predicting them" if mean_effect > 1e-3 else "it barely matters for them"
        lines.append(f"So {verdict}.")
        sentence = f"Zero-ablating it changes the loss by {mean_effect:+.4f} nats on {len(effects)} texts."
        return Answer("\n".join(lines), Finding(sentence, _ids(ran), mean_effect > 0))

    def logits(self) -> ChatRun:
        [ran] = yield Step(
            "Read what the unit writes: the tokens its output direction promotes and suppresses.",
            [Call("unit_logits", {**self._args(), "k": 10})],
        )
        if not ran.ok or ran.result is None:
            return Answer(f"That experiment failed: {ran.error}")

        def tokens(name: str) -> list[str]:
            rows = (ran.result or {}).get(name) or []
            found = [str(r.get("token")) for r in rows if isinstance(r, dict)]
            return [t for t in found if t.strip() and t.isprintable() and "\ufffd" not in t] or found

        promoted, suppressed = tokens("promoted")[:10], tokens("suppressed")[:6]
        text = (
            f"Through the unembedding it promotes {', '.join(map(repr, promoted))} and suppresses "
            f"{', '.join(map(repr, suppressed))} {experiment_refs([ran.experiment_id])}."
        )
        return Answer(text, Finding(f"It writes {', '.join(map(repr, promoted[:5]))}.", _ids(ran)))

    def steer(self, alpha: float | None, prompt: str | None) -> ChatRun:
        top = self._top_context()
        if prompt is None:
            prompt = top.snippet[: top.span[0]].strip() if top is not None else ""
            prompt = prompt or "Once upon a time"
        if alpha is None:
            alpha = round(CHAT_DATA.steer_alpha_scale * (self.top or 2.0), 1)
        [ran] = yield Step(
            f"Generate from the prompt with and without pushing the unit by {fmt(alpha)}.",
            [Call("steer", {**self._args(), "alpha": alpha, "prompt": prompt, "max_new_tokens": 16})],
        )
        if not ran.ok or ran.result is None:
            return Answer(f"Steering failed: {ran.error}")
        plain, pushed = str(ran.result.get("unsteered", "")), str(ran.result.get("steered", ""))
        same = "the same" if plain.strip() == pushed.strip() else "different"
        text = (
            f"Steering {self.task.subject} by {fmt(alpha)} on “{prompt}” {experiment_refs([ran.experiment_id])}:\n"
            f"- unsteered: “{' '.join(plain.split())}”\n- steered:   “{' '.join(pushed.split())}”\n"
            f"The continuations are {same}."
        )
        return Answer(text, Finding(f"Pushed by {fmt(alpha)}, its continuation is {same}.", _ids(ran)))

    def exemplars(self, quantile: int | None) -> ChatRun:
        args: dict[str, Any] = {**self._args(), "k": SHOWN_EXEMPLARS, "per_quantile": 3 if quantile is not None else 0}
        if self.task.options.exemplar_tokens:
            args["max_tokens"] = self.task.options.exemplar_tokens
        what = f"quantile {quantile}" if quantile is not None else f"the top {SHOWN_EXEMPLARS}"
        [ran] = yield Step(f"Show {what} of the unit's dataset exemplars.", [Call("exemplars", args)])
        if not ran.ok or ran.result is None:
            return Answer(f"That experiment failed: {ran.error}")
        rows = [r for r in ran.result.get("exemplars") or [] if isinstance(r, dict)]
        if quantile is not None:
            rows = []
            for q in ran.result.get("quantiles") or []:
                if isinstance(q, dict) and q.get("quantile") == quantile:
                    rows = [r for r in q.get("exemplars") or [] if isinstance(r, dict)]
        contexts = [c for c in (analyse_context(*_series(r)) for r in rows) if c is not None]
        if not contexts:
            return Answer(f"No exemplars in {what} {experiment_refs([ran.experiment_id])}.")
        lines = [f"Exemplars, {what} {experiment_refs([ran.experiment_id])}:"]
        lines += [f"- {excerpt(c, 90)}" for c in contexts]
        words = ", ".join(dict.fromkeys(repr(c.word) for c in contexts))
        return Answer("\n".join(lines), Finding(f"In {what} of its exemplars it peaks on {words}.", _ids(ran)))


def _placed(frame: str, word: str) -> Probe:
    at = frame.index("{w}")
    return Probe(frame.replace("{w}", word), (at, at + len(word)))


def _swapped(ctx: Context, word: str) -> Probe:
    a, b = ctx.span
    original = ctx.snippet[a:b]
    replacement = word.capitalize() if original[:1].isupper() else word
    return Probe(ctx.snippet[:a] + replacement + ctx.snippet[b:], (a, a + len(replacement)))


def _short(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _ids(outcome: Outcome) -> list[int]:
    return [outcome.experiment_id] if outcome.experiment_id is not None else []
