"""Hyperdimensional probes (Bronzini et al. 2025, *Hyperdimensional Probe: Decoding LLM Representations
via Vector Symbolic Architectures*), implemented here from the method on torchhd's MAP model.

A probe maps a model's last-token residual states onto a hypervector: the states of the later layers
are summarised into one vector (k-means over the layers, centroids summed), an MLP encodes it into a
D-dimensional bipolar hypervector, and that vector is decoded symbolically: unbound with the codebook
vectors of the concepts in the prompt and compared with every concept's hypervector.

| module | what |
|---|---|
| ``dataset`` | key–value and analogy prompts from the relation word lists; held-out pairs and relations |
| ``vsa`` | the MAP codebook, targets ``normalize(multiset(bind(k, v) ...))``, unbinding and ranking |
| ``features`` | last-token states of the layers, the k-means summary, the logit lens, next-token top-k |
| ``encoder`` | the MLP encoder and its resumable training (BCE + 0.1·MSE, AdamW, best by validation cosine) |
| ``probe`` | training a probe end to end (artifact + store record), loading one, decoding prompts |
| ``data/`` | the relations' word pairs and the prompt templates |

This file imports nothing: each module is imported by its full name.
"""
