"""SHIFT annotation: a judge scores how related each SAE latent is to named concepts (``gender``,
``nurse``, ...), 0–4 on the automated SHIFT paper's rubric, from the latent's evidence — its top
contexts with the activating tokens marked and the tokens it promotes by direct logit attribution.

| module | what it holds |
|---|---|
| ``judge_rubric`` | the rubric, `ConceptScore`, `JudgeError`, the related rule (max score > 0.5) |
| ``judge_evidence`` | `LatentEvidence`: marked top contexts (exemplar cache), promoted tokens, word probes |
| ``judge_lexicon`` | the builtin judge's concept word lists, words from tokens, corpus background rates |
| ``judge_builtin`` | `BuiltinJudge`: offline, from word lists, chance-corrected shares, DLA tokens, probes |
| ``judge_llm`` | `LLMJudge`: the rubric prompt to a LangChain chat model, replies parsed robustly |
| ``judge`` (here) | the `Judge` protocol, `make_judge`, `annotate` and the store rows |

    judge = make_judge("builtin")                      # or make_judge("openai:gpt-4o", chat_models)
    probes = probe_latents(runtime, "L6.sae[res]", [12], ["gender", "professor", "nurse"])  # builtin only
    evidence = latent_evidence(runtime, cache, "L6.sae.12", probes=probes[12])
    [annotation] = annotate(judge, [evidence], ["gender", "professor", "nurse"])
    annotation.related                                 # e.g. ["gender"]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

from store.models import ShiftAnnotationCreate
from tools.shift.judge_builtin import BuiltinJudge
from tools.shift.judge_evidence import EvidenceSummary, LatentEvidence, latent_evidence, mark_context, probe_latents
from tools.shift.judge_lexicon import ConceptBackground, concept_lexicon, corpus_background
from tools.shift.judge_llm import LLMJudge, parse_scores
from tools.shift.judge_rubric import (
    MAX_SCORE,
    MIN_SCORE,
    RELATED_THRESHOLD,
    ConceptScore,
    JudgeError,
    is_related,
    related_concepts,
    rubric,
)

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel

__all__ = [
    "MAX_SCORE",
    "MIN_SCORE",
    "RELATED_THRESHOLD",
    "BuiltinJudge",
    "ConceptBackground",
    "ConceptScore",
    "Judge",
    "JudgeError",
    "LLMJudge",
    "LatentAnnotation",
    "LatentEvidence",
    "annotate",
    "annotation_rows",
    "concept_lexicon",
    "corpus_background",
    "is_related",
    "latent_evidence",
    "make_judge",
    "mark_context",
    "parse_scores",
    "probe_latents",
    "related_concepts",
    "rubric",
]

#: An LLM judge spec: ``provider:model`` (``openai:gpt-4o``, ``anthropic:claude-…``).
LLM_SPEC = re.compile(r"^[a-z][a-z0-9_-]*:\S.*$")


class Judge(Protocol):
    """Scores a latent's evidence against concepts: ``{concept: (score 0–4, rationale)}``."""

    @property
    def name(self) -> str:
        """``builtin`` or the LLM spec."""
        ...

    def score(self, evidence: LatentEvidence, concepts: Sequence[str]) -> dict[str, ConceptScore]:
        """One `ConceptScore` per concept."""
        ...


def make_judge(
    spec: str,
    chat_models: Callable[[str], BaseChatModel] | None = None,
    *,
    background: ConceptBackground | None = None,
) -> Judge:
    """The judge ``spec`` names: ``builtin`` (with the corpus ``background`` when given) or an LLM
    ``provider:model`` made by ``chat_models``. `JudgeError` names the fix for an unknown spec or an
    LLM spec without a chat-model factory; the factory's own errors pass through."""
    spec = spec.strip()
    if spec == "builtin":
        return BuiltinJudge(background)
    if not LLM_SPEC.match(spec):
        raise JudgeError(f"unknown judge {spec!r}; use 'builtin' or an LLM spec such as 'openai:gpt-4o'")
    if chat_models is None:
        raise JudgeError(
            f"judge {spec!r} needs an LLM, and no chat model factory is configured here "
            "(ToolContext.chat_models is None); use judge='builtin' or run where an LLM backend is set up"
        )
    return LLMJudge(chat_models(spec), spec)


class LatentAnnotation(BaseModel):
    """A judge's verdict on one latent: score and rationale per concept, the concepts it counts as
    related to (score > `RELATED_THRESHOLD`), and the evidence it saw."""

    latent: str
    index: int
    scores: dict[str, float]
    rationales: dict[str, str]
    related: list[str] = Field(description="Concepts scored above the threshold, highest first.")
    evidence: EvidenceSummary
    measurements: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="The builtin judge's measurements per concept (empty for an LLM)."
    )


def annotate(
    judge: Judge, evidence: Sequence[LatentEvidence], concepts: Sequence[str], *, threshold: float = RELATED_THRESHOLD
) -> list[LatentAnnotation]:
    """Judge every latent's ``evidence`` against ``concepts``; `JudgeError` from the judge passes through."""
    out = []
    for item in evidence:
        measurements: dict[str, dict[str, Any]] = {}
        if isinstance(judge, BuiltinJudge):
            measured = judge.verdicts(item, concepts)
            verdicts = {c: verdict for c, (verdict, _) in measured.items()}
            measurements = {c: stats.as_dict() for c, (_, stats) in measured.items()}
        else:
            verdicts = judge.score(item, concepts)
        scores = {c: verdicts[c].score for c in concepts}
        out.append(
            LatentAnnotation(
                latent=item.latent,
                index=item.index,
                scores=scores,
                rationales={c: verdicts[c].rationale for c in concepts},
                related=related_concepts(scores, threshold),
                evidence=item.summary(),
                measurements=measurements,
            )
        )
    return out


def annotation_rows(
    annotations: Sequence[LatentAnnotation],
    *,
    model: str,
    sae: str,
    sae_digest: str | None,
    judge: str,
    job_id: int | None = None,
) -> list[ShiftAnnotationCreate]:
    """One store row per (latent, concept), with the evidence (and the builtin's measurements)."""
    rows = []
    for item in annotations:
        for concept, score in item.scores.items():
            evidence: dict[str, Any] = item.evidence.model_dump()
            if concept in item.measurements:
                evidence["measurements"] = item.measurements[concept]
            rows.append(
                ShiftAnnotationCreate(
                    job_id=job_id,
                    model=model,
                    sae=sae,
                    sae_digest=sae_digest,
                    latent=item.latent,
                    latent_index=item.index,
                    concept=concept,
                    score=score,
                    judge=judge,
                    rationale=item.rationales[concept],
                    evidence=evidence,
                )
            )
    return rows
