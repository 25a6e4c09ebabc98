"""Steering: greedy generation from one prompt twice in one batch, unchanged and with an added
activation (a unit's activation + alpha, or alpha × a direction at a site), at every position."""

from __future__ import annotations

import torch

from store.errors import InputError
from tools.runtime.interventions import Intervention
from tools.runtime.model_runtime import ModelRuntime


def unit_push(runtime: ModelRuntime, subject: str, alpha: float) -> Intervention:
    """Add ``alpha`` to a single unit's activation on the steered row (row 1); for an SAE latent that
    adds ``alpha · W_dec[j]`` to the site the SAE reads (``tools.runtime.latents``)."""
    target = runtime.resolve(subject)
    if target.index is None:
        raise InputError(f"{subject} is not a single unit; give a unit or a direction")
    return Intervention(target.address, "add", value=alpha, rows=(1,))


def direction_push(runtime: ModelRuntime, site: str, direction: list[float], alpha: float) -> Intervention:
    """Add ``alpha × direction`` at a whole-vector site on the steered row (row 1); at an SAE's code
    (``L6.sae[name]``) the direction is over its latents and adds ``alpha · direction @ W_dec``."""
    resolved = runtime.resolve(site)
    width = runtime.width(resolved)
    if resolved.index is not None or len(direction) != width:
        raise InputError(
            f"direction has {len(direction)} entries; site {site} needs a site address and {width} entries"
        )
    return Intervention(resolved.address, "add", value=torch.tensor(direction) * alpha, rows=(1,))


def steered_generations(
    runtime: ModelRuntime, prompt: str, intervention: Intervention, max_new_tokens: int
) -> tuple[str, str]:
    """The greedy continuations of ``prompt`` without and with ``intervention`` (applied to row 1)."""
    tokenizer = runtime.loaded.tokenizer
    prompt_ids = runtime.tokenize([prompt])[0]
    rows = [list(prompt_ids), list(prompt_ids)]
    eos = tokenizer.eos_token_id
    finished = [False, False]
    for _ in range(max_new_tokens):
        if len(rows[0]) >= runtime.loaded.max_length:
            break
        input_ids, mask = runtime.pad(rows)
        lengths = [len(r) for r in rows]
        _, logits = runtime.forward(input_ids, mask, [], [intervention], logits=True, lengths=lengths)
        assert logits is not None
        for r in range(2):
            if finished[r]:
                continue
            token = int(logits[r, lengths[r] - 1].argmax())
            rows[r].append(token)
            finished[r] = token == eos
        if all(finished):
            break
    unsteered, steered = (tokenizer.decode(r[len(prompt_ids) :], skip_special_tokens=True) for r in rows)
    return unsteered, steered
