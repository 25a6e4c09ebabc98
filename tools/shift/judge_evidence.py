"""What a SHIFT judge sees of a latent: its top contexts from the SAE's exemplar cache, with the tokens
it activates on marked ``<<token>>(7)`` (activation on a 0–10 scale of the latent's maximum), and the
tokens its decoder row promotes by direct logit attribution.

As in the automated SHIFT paper, each context marks its strongest few activating tokens (five by
default); positions the cache leaves out of scoring (the BOS, or position 0 as an attention sink) are
never marked.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field

from store.datafiles import load_data
from store.errors import AddressError
from tools.effects.logit_attribution import TokenScore, logit_attribution
from tools.exemplars.cache import ExemplarCache
from tools.runtime.model_runtime import ModelRuntime
from tools.shift.judge_lexicon import concept_lexicon

__all__ = [
    "DATA_FILES",
    "MARKS",
    "PACKAGE",
    "EvidenceSummary",
    "LatentEvidence",
    "MarkedContext",
    "ProbeConfig",
    "ProbeReadings",
    "latent_evidence",
    "mark_context",
    "probe_latents",
    "probe_words",
]


class ProbeConfig(BaseModel):
    """How latents are tested on concept words: carrier sentences (``{w}``, or ``{W}`` capitalised),
    words inserted bare (pronouns; other lower-case words get ``the``), control words, and how many
    words and first names per concept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    carriers: tuple[str, ...]
    bare: tuple[str, ...]
    controls: tuple[str, ...]
    max_words: int = Field(ge=1)
    max_names: int = Field(ge=0)


PACKAGE = "tools.shift"
DATA_FILES = {"judge_probes.json": ProbeConfig}

#: Activating tokens marked per context (the paper's ``num_top_emphasized_tokens``).
MARKS = 5
_PROBE_BATCH = 64


class MarkedContext(BaseModel):
    """One top context of a latent: its tokens, the latent's activation on each, which positions are
    marked (strongest first) and the text with those marked ``<<token>>(a)``."""

    tokens: list[str]
    activations: list[float]
    marked: list[int] = Field(description="Marked positions, strongest activation first.")
    max: float
    text: str


class ProbeReadings(BaseModel):
    """A latent's strongest activation on each probed word (over the carrier sentences), for concept
    words and control words."""

    words: dict[str, float]
    controls: dict[str, float]


class LatentEvidence(BaseModel):
    """Everything a judge is shown about one latent."""

    latent: str = Field(description="Canonical address, e.g. L6.sae[res].12.")
    index: int
    contexts: list[MarkedContext]
    promoted: list[TokenScore] = Field(description="Tokens the latent's decoder row promotes most (DLA).")
    skip: int = Field(0, description="Leading positions of each context left out of scoring.")
    probes: ProbeReadings | None = Field(None, description="Activations on concept words in test sentences.")

    def summary(self) -> EvidenceSummary:
        """The evidence without per-token arrays: marked texts, promoted tokens, the probed words it fires on."""
        fired = {}
        if self.probes is not None:
            ranked = sorted(self.probes.words.items(), key=lambda item: -item[1])
            fired = {w: round(a, 4) for w, a in ranked[:_SUMMARY_PROBES] if a > 0}
        return EvidenceSummary(
            contexts=[c.text for c in self.contexts],
            promoted=[t.token for t in self.promoted],
            skip=self.skip,
            probes=fired,
        )


_SUMMARY_PROBES = 20


class EvidenceSummary(BaseModel):
    """The evidence as a person (or the store) keeps it: marked texts, promoted tokens, and the probed
    words the latent fires on most (with its activation)."""

    contexts: list[str]
    promoted: list[str]
    skip: int = 0
    probes: dict[str, float] = Field(default_factory=dict)


def mark_context(
    tokens: Sequence[str],
    activations: Sequence[float],
    *,
    scale: float,
    marks: int = MARKS,
    skip: int = 0,
) -> MarkedContext:
    """Mark the ``marks`` strongest positive activations of a context (positions ≥ ``skip``); each
    marked token is written ``<<token>>(a)`` with ``a`` = round(10 · activation / ``scale``)."""
    if len(tokens) != len(activations):
        raise ValueError(f"{len(tokens)} tokens but {len(activations)} activations")
    candidates = [p for p in range(skip, len(tokens)) if activations[p] > 0]
    marked = sorted(candidates, key=lambda p: (-activations[p], p))[:marks]
    chosen = set(marked)
    parts = []
    for p, token in enumerate(tokens):
        if p in chosen:
            level = round(10 * activations[p] / scale) if scale > 0 else 0
            parts.append(f"<<{token}>>({level})")
        else:
            parts.append(token)
    peak = max((activations[p] for p in range(skip, len(tokens))), default=0.0)
    return MarkedContext(
        tokens=list(tokens), activations=[float(a) for a in activations], marked=marked, max=peak, text="".join(parts)
    )


def latent_evidence(
    runtime: ModelRuntime,
    cache: ExemplarCache,
    latent: str,
    *,
    k: int = 20,
    promoted: int = 10,
    marks: int = MARKS,
    probes: ProbeReadings | None = None,
) -> LatentEvidence:
    """The evidence for SAE latent ``latent`` (e.g. ``L6.sae.12``): its ``k`` top contexts from
    ``cache`` (the SAE's exemplar cache), marked, its ``promoted`` most promoted tokens, and the
    ``probes`` readings when given (`probe_latents`)."""
    target = runtime.resolve(latent)
    if target.sae is None or target.index is None:
        raise AddressError(f"{latent} is not an SAE latent; give one such as L6.sae.12")
    if cache.spec.sae_digest != target.sae.digest:
        raise AddressError(f"the exemplar cache {cache.path} is not the cache of {target.sae.address}")
    exemplars = cache.top(target.index, k)
    skip = cache.spec.skip_first
    scale = max((e.max for e in exemplars), default=0.0)
    contexts = [
        mark_context(runtime.token_strings(e.token_ids), e.activations, scale=scale, marks=marks, skip=skip)
        for e in exemplars
    ]
    _, up, _ = logit_attribution(runtime, target.address, promoted)
    return LatentEvidence(
        latent=target.address, index=target.index, contexts=contexts, promoted=up, skip=skip, probes=probes
    )


def probe_config() -> ProbeConfig:
    """The probe settings (``data/judge_probes.json``)."""
    config: ProbeConfig = load_data(PACKAGE, "judge_probes.json", ProbeConfig)
    return config


def probe_words(concepts: Sequence[str]) -> list[str]:
    """The words the latents are tested on for ``concepts``: per concept its first
    ``max_words`` probe words and ``max_names`` first names, in order, without repeats."""
    config = probe_config()
    words: dict[str, None] = {}
    for concept in concepts:
        lexicon = concept_lexicon(concept)
        words.update(dict.fromkeys(lexicon.probe[: config.max_words]))
        words.update(dict.fromkeys(lexicon.names[: config.max_names]))
    return list(words)


def _phrase(word: str, config: ProbeConfig) -> str:
    return word if word[:1].isupper() or word.lower() in config.bare else f"the {word}"


def _sentences(word: str, config: ProbeConfig) -> list[tuple[str, int, int]]:
    """Each carrier with ``word`` in it, and the word's character span."""
    out = []
    for carrier in config.carriers:
        phrase = _phrase(word, config)
        slot = "{W}" if "{W}" in carrier else "{w}"
        if slot == "{W}":
            phrase = phrase[:1].upper() + phrase[1:]
        start = carrier.index(slot) + len(phrase) - len(word)
        out.append((carrier.replace(slot, phrase), start, start + len(word)))
    return out


def probe_latents(
    runtime: ModelRuntime, sae: str, indices: Sequence[int], concepts: Sequence[str]
) -> dict[int, ProbeReadings]:
    """Test latents ``indices`` of SAE ``sae`` (``L6.sae[name]``) on the words of ``concepts`` and on
    the control words, each in every carrier sentence (one batched run): per latent, its strongest
    activation on each word's tokens."""
    config = probe_config()
    words = probe_words(concepts)
    controls = [w for w in config.controls if w not in words]
    jobs = [(w, text, a, b) for w in [*words, *controls] for text, a, b in _sentences(w, config)]
    columns = torch.tensor(list(indices), dtype=torch.long)
    best: dict[str, torch.Tensor] = {}
    for first in range(0, len(jobs), _PROBE_BATCH):
        batch = jobs[first : first + _PROBE_BATCH]
        run = runtime.run([text for _, text, _, _ in batch], [sae])
        for (word, text, start, end), ids, codes in zip(batch, run.tokens, run.captures[sae], strict=True):
            pieces = runtime.token_strings(ids)
            offset = "".join(pieces).rfind(text)
            if offset < 0:
                continue
            positions, position = [], 0
            for p, piece in enumerate(pieces):
                if position < offset + end and position + len(piece) > offset + start:
                    positions.append(p)
                position += len(piece)
            if not positions:
                continue
            value = codes[positions][:, columns].float().amax(dim=0)
            best[word] = value if word not in best else torch.maximum(best[word], value)
    readings = {}
    for i, index in enumerate(indices):
        readings[index] = ProbeReadings(
            words={w: float(best[w][i]) for w in words if w in best},
            controls={w: float(best[w][i]) for w in controls if w in best},
        )
    return readings
