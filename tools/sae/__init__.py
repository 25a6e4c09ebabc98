"""Sparse autoencoders on disk and in the store: SAE latents as subjects (``L{l}.sae.{j}``).

The SAE itself (weights, encode, decode) is ``tools.runtime.sae.SparseAutoencoder``: the runtime
captures and intervenes on latents. This room holds what surrounds it:

- ``formats``: ``load_sae_folder`` (SAELens and EleutherAI-sparsify layouts) → ``SAEFile``;
  ``save_saelens`` (atomic); hook names ↔ our sites.
- ``train``: offline TopK SAE training on streamed activations (resumable), and its metrics (FVU, L0,
  dead fraction, CE recovered).
- ``registry``: ``sae add``/``list``: check, copy and record an SAE; attach the registered ones to a runtime.
"""
