"""The VSA side of a hyperdimensional probe, on torchhd's MAP model (bipolar ±1 hypervectors).

- **Codebook**: one random MAP hypervector per concept (``torchhd.random(n, D, "MAP")``), seeded.
- **Target** of a prompt with pairs ``(k₁, v₁) … (kₙ, vₙ)`` (the last value is the answer):
  ``normalize(multiset([bind(k₁, v₁), …, bind(kₙ, vₙ)]))``. MAP's ``normalize`` maps a sum's ties
  (0) to −1, so for two pairs the target is ``bind(k₁,v₁)`` where both bound pairs agree and −1 where
  they differ.
- **Decoding** a probe's output ``v = sign(encoder(e))`` for a prompt whose demonstrations are known
  and whose query key is ``k``: first account for the known pairs — at each coordinate, the query's
  bound pair ``x = bind(k, answer)`` is read off as the value(s) of ±1 for which
  ``normalize(known + x)`` gives the observed ``v`` (+1 or −1 when one fits, 0 when both or neither
  do) — then unbind with ``k`` (bind is its own inverse for bipolar vectors) and rank the codebook by
  cosine similarity with the result.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torchhd
from torchhd import MAPTensor

from store.errors import InputError

__all__ = ["Codebook", "estimate_query_binding", "make_codebook", "rank", "target", "unbind_answer"]


class Codebook:
    """Concepts and their MAP hypervectors (``vectors[i]`` is ``concepts[i]``'s)."""

    def __init__(self, concepts: Sequence[str], vectors: torch.Tensor) -> None:
        if len(concepts) != vectors.shape[0]:
            raise ValueError(f"{len(concepts)} concepts but {vectors.shape[0]} hypervectors")
        self.concepts = list(concepts)
        self.vectors = MAPTensor(vectors.float())
        self._index = {c: i for i, c in enumerate(self.concepts)}
        self._lower = {c.lower(): c for c in self.concepts}

    @property
    def dim(self) -> int:
        """Dimensions of the hypervectors."""
        return int(self.vectors.shape[1])

    def canonical(self, concept: str) -> str:
        """The codebook's spelling of ``concept`` (case-insensitive); InputError for an unknown one."""
        found = self._lower.get(concept.strip().lower())
        if found is None:
            examples = ", ".join(self.concepts[:: max(1, len(self.concepts) // 6)][:6])
            raise InputError(
                f"unknown concept {concept.strip()!r}: the probe's codebook has {len(self.concepts)} concepts "
                f"(e.g. {examples})"
            )
        return found

    def vector(self, concept: str) -> MAPTensor:
        """The hypervector of ``concept``; InputError for an unknown one."""
        return MAPTensor(self.vectors[self._index[self.canonical(concept)]])

    def index(self, concept: str) -> int:
        """Row of ``concept`` in the codebook; InputError for an unknown one."""
        return self._index[self.canonical(concept)]


def make_codebook(concepts: Sequence[str], dim: int = 4096, seed: int = 0) -> Codebook:
    """A codebook of ``dim``-dimensional MAP hypervectors for ``concepts``, the same for the same seed."""
    generator = torch.Generator().manual_seed(seed)
    vectors = torchhd.random(len(concepts), dim, "MAP", generator=generator)
    return Codebook(concepts, vectors.as_subclass(torch.Tensor))


def _bound(codebook: Codebook, pairs: Sequence[tuple[str, str]]) -> MAPTensor:
    """``[bind(k, v) for k, v in pairs]`` as an [n, D] MAPTensor."""
    keys = codebook.vectors[[codebook.index(k) for k, _ in pairs]]
    values = codebook.vectors[[codebook.index(v) for _, v in pairs]]
    return MAPTensor(torchhd.bind(MAPTensor(keys), MAPTensor(values)))


def target(codebook: Codebook, pairs: Sequence[tuple[str, str]]) -> torch.Tensor:
    """``normalize(multiset([bind(k, v) for k, v in pairs]))``: the hypervector a prompt should encode to."""
    if not pairs:
        raise InputError("a target needs at least one (key, value) pair")
    return torchhd.normalize(torchhd.multiset(_bound(codebook, pairs))).as_subclass(torch.Tensor)


def estimate_query_binding(codebook: Codebook, known: Sequence[tuple[str, str]], v: torch.Tensor) -> torch.Tensor:
    """The query's bound pair ``x`` read off the output ``v`` given the known pairs (module docstring):
    per coordinate +1 or −1 when only that value reproduces ``v``, 0 when both or neither do."""
    v = torch.where(v > 0, 1.0, -1.0)
    if not known:
        return v
    rest = torchhd.multiset(_bound(codebook, known)).as_subclass(torch.Tensor)
    fits_plus = torch.where(rest + 1 > 0, 1.0, -1.0) == v
    fits_minus = torch.where(rest - 1 > 0, 1.0, -1.0) == v
    return fits_plus.float() - fits_minus.float()


def unbind_answer(codebook: Codebook, known: Sequence[tuple[str, str]], query: str, v: torch.Tensor) -> MAPTensor:
    """The answer's hypervector estimated from output ``v``: the query's bound pair unbound with ``query``."""
    x = MAPTensor(estimate_query_binding(codebook, known, v))
    # MAP: every bipolar hypervector is its own inverse, so unbinding is binding again.
    return MAPTensor(torchhd.bind(x, codebook.vector(query)))


def rank(codebook: Codebook, vector: torch.Tensor, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` concepts most similar (cosine) to ``vector``, best first, with their similarities."""
    sims = torchhd.cosine_similarity(MAPTensor(vector.float()), codebook.vectors).as_subclass(torch.Tensor)
    top = torch.topk(sims, min(k, len(codebook.concepts)))
    return [(codebook.concepts[int(i)], float(s)) for s, i in zip(top.values, top.indices, strict=True)]
