"""The LLM-free oracle a SHIFT judge is measured against: which concept a latent really tracks,
read from the generated datasets' labels.

For a latent j and a binary labelled set (e.g. the gender-balanced ``male / female`` task), the
separation is Cohen's d of the latent's mean-pooled activation ``f̄_j`` between the two sides
(pooled standard deviation; 0 when the latent never varies). A latent is **related** to the concept
whose set it separates most strongly, when that |d| reaches ``MIN_SEPARATION`` (a "medium" effect);
a latent that separates nothing counts as related to nothing. The oracle knows the labels, which a
judge never sees: it says what an ideal annotator would mark, so the judge's marks can be scored
(precision and recall) and the oracle's own selection scored with the same SCR/TPP formulas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from pydantic import BaseModel

from tools.shift.metrics import Labelled

#: The |Cohen's d| a latent needs on a concept's set to count as tracking it.
MIN_SEPARATION = 0.5


def separation(data: Labelled, latents: Sequence[int]) -> torch.Tensor:
    """|Cohen's d| of each latent's pooled activation between the positives and negatives of ``data`` [len(latents)]."""
    f = data.f[:, list(latents)].double()
    y = data.y.bool()
    pos, neg = f[y], f[~y]
    if pos.shape[0] < 2 or neg.shape[0] < 2:
        return torch.zeros(len(latents))
    pooled_var = ((pos.shape[0] - 1) * pos.var(0) + (neg.shape[0] - 1) * neg.var(0)) / (f.shape[0] - 2)
    d = (pos.mean(0) - neg.mean(0)).abs() / pooled_var.sqrt().clamp_min(1e-12)
    return torch.where(pooled_var > 0, d, torch.zeros_like(d)).float()


class OracleMarks(BaseModel):
    """The concept each latent tracks (or None), with the separations behind it."""

    related: dict[int, str | None]
    separations: dict[int, dict[str, float]]

    def marked(self) -> dict[str, set[int]]:
        """Latents by the concept they track: what ``tools.shift.metrics.judged`` takes."""
        out: dict[str, set[int]] = {}
        for latent, concept in self.related.items():
            if concept is not None:
                out.setdefault(concept, set()).add(latent)
        return out


def oracle_marks(
    sets: Mapping[str, Labelled], latents: Sequence[int], *, min_separation: float = MIN_SEPARATION
) -> OracleMarks:
    """For each latent, the concept of ``sets`` (concept → its balanced labelled set) it separates
    most, when |d| ≥ ``min_separation``."""
    latents = sorted(set(latents))
    table = {concept: separation(data, latents) for concept, data in sets.items()}
    related: dict[int, str | None] = {}
    separations: dict[int, dict[str, float]] = {}
    for i, latent in enumerate(latents):
        values = {concept: float(d[i]) for concept, d in table.items()}
        best = max(values, key=lambda c: values[c]) if values else None
        related[latent] = best if best is not None and values[best] >= min_separation else None
        separations[latent] = values
    return OracleMarks(related=related, separations=separations)


class Agreement(BaseModel):
    """How a judge's marks for one concept compare with the oracle's, on the latents both saw."""

    concept: str
    latents: int
    oracle_positive: int
    judge_positive: int
    true_positive: int
    precision: float | None
    recall: float | None
    accuracy: float


def agreement(
    concept: str, judge: Mapping[int, Sequence[str]], oracle: OracleMarks, latents: Sequence[int]
) -> Agreement:
    """Precision, recall and accuracy of the judge's "related to ``concept``" against the oracle's."""
    seen = sorted(set(latents) & set(judge) & set(oracle.related))
    truth = {j for j in seen if oracle.related[j] == concept}
    said = {j for j in seen if concept in judge[j]}
    hits = len(truth & said)
    agree = sum((j in truth) == (j in said) for j in seen)
    return Agreement(
        concept=concept,
        latents=len(seen),
        oracle_positive=len(truth),
        judge_positive=len(said),
        true_positive=hits,
        precision=hits / len(said) if said else None,
        recall=hits / len(truth) if truth else None,
        accuracy=agree / len(seen) if seen else 0.0,
    )
