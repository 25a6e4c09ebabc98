"""Activation patching and attribution patching with a logit-difference metric.

| module | what |
|---|---|
| ``patch`` | ``patch(runtime, clean, corrupt, site, target, foil, method)``: the entry point and the naive reference |
| ``exact`` | exact patching that reuses what causality leaves unchanged (Llama, GPT-2) |
| ``attribution`` | attribution patching: every cell's first-order estimate from one backward pass |
| ``latents`` | patching an SAE's latents (each at every position, error term kept), ranked by attribution |
| ``ioi`` | indirect-object-identification prompt pairs |
"""
