"""The offline evaluator: cosine similarity in the packaged MiniLM sentence embedder's space."""

from __future__ import annotations

from tools.functions.entity_neuron import SentenceEmbedder, get_embedder


class EmbeddingEvaluator:
    """Offline evaluator: similarity between the description and each input in MiniLM embedding space.

    ``choose`` = argmax of cosine(description, option) (ties go to the first option).
    ``detect`` = cosine(description, text) strictly above the median cosine of the batch: a balanced
    prediction (about half the texts predicted active), which suits detection sets built with as many
    positives as negatives and makes the score depend only on the ranking, not on a fixed threshold.
    A batch of one text, or one where all cosines are equal, is predicted all False.
    """

    name = "embedding"

    def __init__(self, embedder: SentenceEmbedder | None = None) -> None:
        self._embedder = embedder

    @property
    def embedder(self) -> SentenceEmbedder:
        """The sentence embedder (the shared packaged MiniLM unless one was given)."""
        if self._embedder is None:
            self._embedder = get_embedder()
        return self._embedder

    def _cosines(self, description: str, texts: list[str]) -> list[float]:
        vectors = self.embedder.embed([description, *[str(t) for t in texts]])
        return [float(v) for v in vectors[1:] @ vectors[0]]

    def choose(self, description: str, options: list[str]) -> int:
        """Index of the option most similar to the description."""
        if not options:
            raise ValueError("choose needs at least one option")
        cos = self._cosines(description, options)
        return max(range(len(cos)), key=lambda i: (cos[i], -i))

    def detect(self, description: str, texts: list[str]) -> list[bool]:
        """True for the texts more similar to the description than the batch median."""
        if not texts:
            return []
        cos = self._cosines(description, texts)
        ordered = sorted(cos)
        mid = len(ordered) // 2
        median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        return [c > median for c in cos]
