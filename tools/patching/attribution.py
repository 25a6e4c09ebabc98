"""Attribution patching (Nanda): a first-order estimate of every patching cell at once.

For a cell with clean activation ``a_clean`` and corrupt activation ``a_corrupt``::

    LD_patched - LD_corrupt  ≈  (a_clean - a_corrupt) · ∂LD/∂a   (gradient taken on the corrupt run)

All cells of all layers come from two runs (clean and corrupt, batched into one forward with grad,
capturing the site tensors through plain torch hooks) and one backward. The model's weights stay
frozen: the input embeddings are made a leaf that requires grad, so every site tensor
downstream is part of the graph, and ``torch.autograd.grad`` returns the gradient of the summed
logit differences with respect to each captured tensor (each pair's LD depends only on its own row).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn

from tools.runtime.addresses import Site
from tools.runtime.loading import LoadedModel


def _site_of(layer: int, site: str) -> Site:
    if site == "heads":
        return Site(layer, "head", 0)  # head 0's hook point is the whole o_proj input
    return Site(layer, site)  # type: ignore[arg-type]


def _keep_output(output: Any, store: list[torch.Tensor]) -> Any:
    """Record a module's output (its first element for a tuple) and hand the model a copy in its place:
    a model may add into an output in place later (Falcon adds the attention output into the MLP's),
    which must not change the recorded tensor; the gradient still reaches it through the copy."""
    value = output[0] if isinstance(output, tuple) else output
    store.append(value)
    return (value.clone(), *output[1:]) if isinstance(output, tuple) else value.clone()


@contextmanager
def _capture(loaded: LoadedModel, site: str, store: list[torch.Tensor]) -> Iterator[None]:
    """Hooks that append each layer's ``site`` tensor to ``store`` and make the input embeddings a grad leaf."""
    with ExitStack() as stack:
        for layer in range(loaded.shape.n_layers):
            point = loaded.adapter.hook_point(_site_of(layer, site))
            if point.kind == "pre":

                def pre(mod: nn.Module, args: tuple[Any, ...]) -> None:
                    store.append(args[0])

                handle = point.module.register_forward_pre_hook(pre)
            else:

                def post(mod: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
                    return _keep_output(output, store)

                handle = point.module.register_forward_hook(post)
            stack.callback(handle.remove)

        def leaf(mod: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
            return output.detach().requires_grad_(True)

        embeddings = loaded.model.get_input_embeddings()
        stack.callback(embeddings.register_forward_hook(leaf).remove)
        yield


def _logit_diffs(loaded: LoadedModel, ids: torch.Tensor, targets: torch.Tensor, foils: torch.Tensor) -> torch.Tensor:
    logits = loaded.model(input_ids=ids, use_cache=False, logits_to_keep=1).logits[:, -1]
    rows = torch.arange(ids.shape[0], device=ids.device)
    return logits[rows, targets] - logits[rows, foils]


def attribution_tables(
    loaded: LoadedModel,
    clean_ids: Sequence[Sequence[int]],
    corrupt_ids: Sequence[Sequence[int]],
    site: str,
    targets: Sequence[int],
    foils: Sequence[int],
    *,
    pairs_per_pass: int = 8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Attribution estimates of LD_patched - LD_corrupt for every cell of every pair, and the LDs.

    Prompts must all have one length T. Returns ``(attr, clean_ld, corrupt_ld)``: ``attr`` is
    [pairs, layers, T] for position sites and [pairs, layers, heads] for ``heads``; the LDs are [pairs].
    """
    parts = [
        _attribution_pass(
            loaded,
            clean_ids[start : start + pairs_per_pass],
            corrupt_ids[start : start + pairs_per_pass],
            site,
            targets[start : start + pairs_per_pass],
            foils[start : start + pairs_per_pass],
        )
        for start in range(0, len(clean_ids), pairs_per_pass)
    ]
    return tuple(torch.cat([part[i] for part in parts]) for i in range(3))  # type: ignore[return-value]


def _attribution_pass(
    loaded: LoadedModel,
    clean_ids: Sequence[Sequence[int]],
    corrupt_ids: Sequence[Sequence[int]],
    site: str,
    targets: Sequence[int],
    foils: Sequence[int],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One batched pass: clean rows then corrupt rows through one forward (with grad), one backward.

    Batching the clean and the corrupt run costs less than two forwards on small prompts; the clean
    rows get no gradient (the differentiated sum holds only the corrupt rows' logit differences).
    """
    count = len(clean_ids)
    device = next(loaded.model.parameters()).device
    ids = torch.tensor([list(x) for x in [*clean_ids, *corrupt_ids]], dtype=torch.long, device=device)
    target_t = torch.tensor([*targets, *targets], device=device)
    foil_t = torch.tensor([*foils, *foils], device=device)
    acts: list[torch.Tensor] = []
    with _capture(loaded, site, acts), torch.enable_grad():
        lds = _logit_diffs(loaded, ids, target_t, foil_t)
        grads = torch.autograd.grad(lds[count:].sum(), acts)
    per_layer = []
    shape = loaded.shape
    for act, grad in zip(acts, grads, strict=True):
        act = act.detach()
        contrib = (act[:count] - act[count:]) * grad[count:]  # [pairs, T, width]
        if site == "heads":
            contrib = contrib.reshape(*contrib.shape[:2], shape.n_heads, shape.head_dim).sum(dim=(1, 3))
        else:
            contrib = contrib.sum(dim=-1)
        per_layer.append(contrib.float())
    attr = torch.stack(per_layer, dim=1).cpu()
    lds = lds.detach().float().cpu()
    return attr, lds[:count], lds[count:]


@contextmanager
def keep_site(loaded: LoadedModel, site: Site, store: list[torch.Tensor]) -> Iterator[None]:
    """Hooks that append the tensor at ``site``'s hook point to ``store``, inside the autograd graph,
    and make the input embeddings a grad leaf (so the weights stay frozen): differentiate with respect
    to ``store[0]`` under ``torch.enable_grad()``."""
    point = loaded.adapter.hook_point(site)
    with ExitStack() as stack:
        if point.kind == "pre":

            def pre(mod: nn.Module, args: tuple[Any, ...]) -> None:
                store.append(args[0])

            stack.callback(point.module.register_forward_pre_hook(pre).remove)
        else:

            def post(mod: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
                return _keep_output(output, store)

            stack.callback(point.module.register_forward_hook(post).remove)

        def leaf(mod: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
            return output.detach().requires_grad_(True)

        stack.callback(loaded.model.get_input_embeddings().register_forward_hook(leaf).remove)
        yield


def site_gradient(
    loaded: LoadedModel,
    ids: Sequence[Sequence[int]],
    site: Site,
    targets: Sequence[int],
    foils: Sequence[int],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One site's activations, the gradient of each row's logit difference with respect to them, and
    the logit differences: ``(act [rows, T, width], grad [rows, T, width], ld [rows])``.

    Prompts must all have one length T. What SAE-latent attribution patching reads
    (``tools.patching.latents``): the gradient with respect to a latent is ``grad · W_dec[j]``.
    """
    device = next(loaded.model.parameters()).device
    batch = torch.tensor([list(x) for x in ids], dtype=torch.long, device=device)
    store: list[torch.Tensor] = []
    cols = loaded.adapter.site_slice(site) or slice(None)
    with keep_site(loaded, site, store), torch.enable_grad():
        lds = _logit_diffs(
            loaded, batch, torch.tensor(list(targets), device=device), torch.tensor(list(foils), device=device)
        )
        (grad,) = torch.autograd.grad(lds.sum(), [store[0]])
    act = store[0].detach()[..., cols].float()
    return act, grad[..., cols].float(), lds.detach().float()
