"""The SHIFT judges' shared ground: the 0–4 relatedness rubric, what a judge returns, when a latent
counts as related to a concept, and the prompt text (``data/judge_prompt.json``).

The rubric is the automated SHIFT paper's (Karvonen, Rager, Marks, Nanda 2024, "Evaluating Sparse
Autoencoders on Targeted Concept Erasure Tasks"; their LLM judge's prompt in ``canrager/sae_eval``):
an integer 0–4 per concept, 4 when most examples, activations and promoted tokens are clearly related,
0 when nothing is related even distantly. Their pipeline then keeps a latent for a class when the
class's score is above ``llm_judge_binary_threshold = 0.5`` *on the raw 0–4 scale* (no
normalisation: any score ≥ 1 counts), and for a class made of several concepts (``professor /
nurse``, ``male_professor / female_nurse``) it takes the maximum of the concepts' scores first:
`is_related` does exactly that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from store.datafiles import load_data
from store.errors import AutointerpError

__all__ = [
    "DATA_FILES",
    "MAX_SCORE",
    "MIN_SCORE",
    "PACKAGE",
    "RELATED_THRESHOLD",
    "ConceptScore",
    "JudgeError",
    "JudgePrompt",
    "is_related",
    "judge_prompt",
    "related_concepts",
    "rubric",
]


class JudgePrompt(BaseModel):
    """The LLM judge's prompt: system text (with ``{concepts}`` and ``{answer_format}``), the evidence
    message (``{latent}``, ``{promoted}``, ``{examples}``) and the retry message (``{problem}``,
    ``{answer_format}``), each as a list of lines."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: tuple[str, ...]
    evidence: tuple[str, ...]
    retry: tuple[str, ...]


PACKAGE = "tools.shift"
DATA_FILES = {"judge_prompt.json": JudgePrompt}

MIN_SCORE, MAX_SCORE = 0, 4
#: A latent counts as related to a concept when its score is above this (raw 0–4 scale, as the paper's code).
RELATED_THRESHOLD = 0.5
_RUBRIC_LINE = re.compile(r"^([0-4]): (.+)$")


class JudgeError(AutointerpError):
    """A judge could not score a latent (an LLM that never gave a usable answer, a backend error)."""


class ConceptScore(NamedTuple):
    """A judge's verdict on one concept: the 0–4 score and why."""

    score: float
    rationale: str


def judge_prompt() -> JudgePrompt:
    """The prompt texts (``data/judge_prompt.json``)."""
    prompt: JudgePrompt = load_data(PACKAGE, "judge_prompt.json", JudgePrompt)
    return prompt


def rubric() -> dict[int, str]:
    """What each score means, 4 down to 0 (the rubric lines of the judge's prompt)."""
    found = {}
    for line in judge_prompt().system:
        match = _RUBRIC_LINE.match(line)
        if match:
            found[int(match.group(1))] = match.group(2)
    return dict(sorted(found.items(), reverse=True))


def related_concepts(scores: Mapping[str, float], threshold: float = RELATED_THRESHOLD) -> list[str]:
    """The concepts scored above ``threshold``, highest score first."""
    return [c for c, s in sorted(scores.items(), key=lambda item: -item[1]) if s > threshold]


def is_related(scores: Mapping[str, float], concepts: Sequence[str], threshold: float = RELATED_THRESHOLD) -> bool:
    """Whether a latent counts as related to a class made of ``concepts`` (e.g. ``["professor",
    "nurse"]``): the maximum of their scores above ``threshold``. A concept not scored counts 0."""
    return max((scores.get(c, 0.0) for c in concepts), default=0.0) > threshold
