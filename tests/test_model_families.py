"""Model families beyond Llama and GPT-2 (Gemma 1/2/3, GPT-NeoX, Phi-3) and the structural fallback
(Falcon, BLOOM): every site read against plain torch hooks on each family's own modules, early stop,
interventions, patching, ablation, steering, direct logit attribution, and SAE hook names."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import transformers
from torch import nn
from torch.nn import functional as F

from store.errors import InputError, ModelLoadError
from store.settings import Settings
from tools.effects.ablation import ablations, measure
from tools.effects.logit_attribution import logit_attribution
from tools.effects.metrics import MetricFn, MetricSpec
from tools.effects.steering import direction_push, steered_generations, unit_push
from tools.patching.attribution import attribution_tables
from tools.patching.patch import SITES, patch, prepare_pairs
from tools.runtime.adapters import ADAPTERS, PARTS, adapter_for
from tools.runtime.adapters.fallback import discover
from tools.runtime.interventions import Intervention
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime
from tools.runtime.testing import TINY_TEXTS, build_tiny_model
from tools.sae.formats import hook_to_site, load_sae_folder

GEMMA3 = pytest.param(
    "gemma3_text",
    marks=pytest.mark.skipif(not hasattr(transformers, "Gemma3TextConfig"), reason="no Gemma3TextConfig"),
)
ADAPTED: list[Any] = ["gemma", "gemma2", GEMMA3, "gpt_neox", "phi3"]
FALLBACK = ["falcon", "bloom"]
ALL: list[Any] = [*ADAPTED, *FALLBACK]
LAYER = 1  # of 3

# Each family's own modules, written out here (not taken from the adapter): where the MLP output
# projection, the attention output projection, the attention and MLP contributions, the blocks and
# the final norm are. Gemma 2/3 add each sub-block's output through a post-norm.
_LLAMA_LIKE = {
    "mlp": "model.layers.{l}.mlp.down_proj",
    "heads": "model.layers.{l}.self_attn.o_proj",
    "attn_out": "model.layers.{l}.self_attn",
    "mlp_out": "model.layers.{l}.mlp",
    "block": "model.layers.{l}",
    "norm": "model.norm",
}
_GEMMA_POST = {
    **_LLAMA_LIKE,
    "attn_out": "model.layers.{l}.post_attention_layernorm",
    "mlp_out": "model.layers.{l}.post_feedforward_layernorm",
}
_FALCON_LIKE = {
    "mlp": "transformer.h.{l}.mlp.dense_4h_to_h",
    "heads": "transformer.h.{l}.self_attention.dense",
    "attn_out": "transformer.h.{l}.self_attention.dense",
    "mlp_out": "transformer.h.{l}.mlp.dense_4h_to_h",
    "block": "transformer.h.{l}",
    "norm": "transformer.ln_f",
}
OWN: dict[str, dict[str, str]] = {
    "gemma": _LLAMA_LIKE,
    "gemma2": _GEMMA_POST,
    "gemma3_text": _GEMMA_POST,
    "phi3": _LLAMA_LIKE,
    "gpt_neox": {
        "mlp": "gpt_neox.layers.{l}.mlp.dense_4h_to_h",
        "heads": "gpt_neox.layers.{l}.attention.dense",
        "attn_out": "gpt_neox.layers.{l}.attention",
        "mlp_out": "gpt_neox.layers.{l}.mlp",
        "block": "gpt_neox.layers.{l}",
        "norm": "gpt_neox.final_layer_norm",
    },
    "falcon": _FALCON_LIKE,
    "bloom": _FALCON_LIKE,
}
FAMILY_NAME = {"gemma2": "gemma", "gemma3_text": "gemma", "falcon": "fallback", "bloom": "fallback"}

FOX = "The quick brown fox jumps over the lazy dog."
CAT = "The quick brown cat jumps over the lazy dog."  # differs from FOX at position 3
FOX_CAT = "The quick brown fox jumps over the lazy cat."  # differs from FOX at position 8
CLEAN, CORRUPT = [FOX, FOX], [CAT, FOX_CAT]
TARGETS, FOILS = [" dog", " dog"], [" cat", " cat"]


@pytest.fixture(scope="module")
def folders(model_root: Path) -> dict[str, Path]:
    """Tiny model folders, built on first use."""

    class Lazy(dict[str, Path]):
        def __missing__(self, family: str) -> Path:
            self[family] = build_tiny_model(model_root / f"tiny-{family}", family)
            return self[family]

    return Lazy()


@pytest.fixture(scope="module", params=ALL)
def family(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def runtime(family: str, folders: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> ModelRuntime:
    home = tmp_path_factory.mktemp("home")
    return ModelRuntime(load_model(str(folders[family]), Settings(home=home)), batch_size=4)


def _module(runtime: ModelRuntime, family: str, what: str, layer: int = LAYER) -> nn.Module:
    return runtime.model.get_submodule(OWN[family][what].format(l=layer))


def _independent(runtime: ModelRuntime, family: str, text: str, layer: int = LAYER) -> dict[str, torch.Tensor]:
    """One unpadded text through the model with plain torch hooks on the family's own modules."""
    seen: dict[str, torch.Tensor] = {}

    def reader(key: str, side: str) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            value = args[0] if side == "in" else (output[0] if isinstance(output, tuple) else output)
            seen[key] = value[0].detach().clone()  # Falcon adds into the MLP's output tensor later

        return hook

    wanted = [
        ("mlp", "in"),
        ("heads", "in"),
        ("attn_out", "out"),
        ("mlp_out", "out"),
        ("block", "out"),
    ]
    handles = [_module(runtime, family, what, layer).register_forward_hook(reader(what, side)) for what, side in wanted]
    handles.append(
        _module(runtime, family, "block", layer).register_forward_pre_hook(
            lambda m, a: seen.__setitem__("resid_pre", a[0][0].detach().clone())
        )
    )
    ids = torch.tensor([runtime.tokenize([text])[0]])
    try:
        with torch.no_grad():
            seen["logits"] = runtime.model(input_ids=ids).logits[0]
    finally:
        for handle in handles:
            handle.remove()
    return seen


# ---------------------------------------------------------------------------------------------- adapters


def test_factory_picks_the_family_adapter(runtime: ModelRuntime, family: str) -> None:
    adapter = runtime.adapter
    assert adapter.family == FAMILY_NAME.get(family, family)
    assert (family in ADAPTERS) == (family not in FALLBACK)
    assert adapter.missing_sites == () and adapter.found_sites == PARTS
    shape, config = runtime.shape, runtime.model.config
    config_head_dim: Any = getattr(config, "head_dim", None)
    assert shape.n_layers == 3 and shape.d_model == 48 and shape.n_heads == 4
    assert shape.d_mlp == (192 if family in FALLBACK else 96)
    heads: Any = _module(runtime, family, "heads")
    assert heads.in_features == shape.n_heads * shape.head_dim
    if family.startswith("gemma"):  # heads wider than d_model / n_heads: o_proj reads 64 values, writes 48
        assert shape.head_dim == config_head_dim == 16 and heads.in_features == 64 != shape.d_model
    down: Any = _module(runtime, family, "mlp")
    assert down.in_features == shape.d_mlp and down.out_features == shape.d_model


def test_sites_match_independent_hooks_and_ignore_padding(runtime: ModelRuntime, family: str) -> None:
    texts = [TINY_TEXTS[0], "Hi", TINY_TEXTS[2], TINY_TEXTS[5]]  # very different lengths: lots of padding
    sites = ["mlp", "mlp.5", "attn.h1", "attn.h3", "attn_out", "mlp_out", "resid_pre", "resid_post"]
    addresses = [f"L{LAYER}.{s}" for s in sites]
    result = runtime.run(texts, addresses, logits="all")
    head_dim, tol = runtime.shape.head_dim, {"atol": 1e-4, "rtol": 1e-4}
    close: Any = torch.testing.assert_close
    assert result.logits is not None
    for i, text in enumerate(texts):
        ref = _independent(runtime, family, text)
        got = {s: result.captures[a][i] for s, a in zip(sites, addresses, strict=True)}
        assert got["mlp"].shape == (len(result.tokens[i]), runtime.shape.d_mlp)
        close(got["mlp"], ref["mlp"], **tol)
        close(got["mlp.5"], ref["mlp"][:, 5], **tol)
        close(got["attn.h1"], ref["heads"][:, head_dim : 2 * head_dim], **tol)
        close(got["attn.h3"], ref["heads"][:, 3 * head_dim : 4 * head_dim], **tol)
        for site in ("attn_out", "mlp_out", "resid_pre"):
            close(got[site], ref[site], **tol)
        close(got["resid_post"], ref["block"], **tol)
        # attn_out and mlp_out are what the block adds to the residual (post-norms included, for Gemma 2/3)
        close(got["resid_pre"] + got["attn_out"] + got["mlp_out"], got["resid_post"], **tol)
        close(result.logits[i], ref["logits"], atol=1e-3, rtol=1e-3)


def test_forward_stops_after_deepest_needed_block(runtime: ModelRuntime, family: str) -> None:
    calls: list[int] = []
    blocks = [_module(runtime, family, "block", layer) for layer in range(3)]
    handles = [block.register_forward_pre_hook(lambda m, a, i=i: calls.append(i)) for i, block in enumerate(blocks)]
    norm_calls: list[int] = []
    handles.append(_module(runtime, family, "norm").register_forward_pre_hook(lambda m, a: norm_calls.append(1)))
    try:
        runtime.run(TINY_TEXTS[:2], ["L1.mlp.3", "L0.resid_post"])
        assert calls == [0, 1] and norm_calls == []
        for site in ("attn.h2", "attn_out", "mlp_out"):
            calls.clear()
            runtime.run(TINY_TEXTS[:2], [f"L0.{site}"])
            assert calls == [0], site
        calls.clear()
        runtime.run(TINY_TEXTS[:2], ["L2.resid_pre"])
        assert calls == [0, 1, 2] and norm_calls == []
        calls.clear()
        runtime.run(TINY_TEXTS[:2], ["L0.mlp.1"], logits="last")  # logits need the whole model
        assert calls == [0, 1, 2] and norm_calls == [1]
    finally:
        for handle in handles:
            handle.remove()


def test_interventions_act_on_what_reaches_the_residual(runtime: ModelRuntime, family: str) -> None:
    text = [TINY_TEXTS[1]]
    keep = [f"L{LAYER}.resid_pre", f"L{LAYER}.attn_out", f"L{LAYER}.resid_post"]
    zeroed = runtime.run(text, keep, [Intervention(f"L{LAYER}.mlp_out", "zero")])
    pre, attn, post = (zeroed.captures[a][0] for a in keep)
    torch.testing.assert_close(post, pre + attn, atol=1e-4, rtol=1e-4)
    # Doubling mlp_out adds it once more to the residual (it is not the input of a norm).
    plain = runtime.run(text, [*keep, f"L{LAYER}.mlp_out"])
    doubled = runtime.run(text, keep, [Intervention(f"L{LAYER}.mlp_out", "scale", value=2.0)])
    expected = plain.captures[keep[2]][0] + plain.captures[f"L{LAYER}.mlp_out"][0]
    torch.testing.assert_close(doubled.captures[keep[2]][0], expected, atol=1e-4, rtol=1e-4)


def test_neuron_write_direction(runtime: ModelRuntime, family: str) -> None:
    """``mlp_out_weight`` row i is what neuron i adds to mlp_out per unit (Gemma 2/3: the down-projection's
    column times the post-norm's gain 1 + w, its 1/RMS factor left out)."""
    weight = runtime.adapter.mlp_out_weight(LAYER)
    down: Any = _module(runtime, family, "mlp")
    assert weight.shape == (runtime.shape.d_mlp, runtime.shape.d_model)
    if family in ("gemma2", "gemma3_text"):
        post: Any = _module(runtime, family, "mlp_out")
        gain = 1.0 + post.weight
        torch.testing.assert_close(weight[3], down.weight[:, 3] * gain)
        return
    text, site = [TINY_TEXTS[1]], f"L{LAYER}.mlp_out"
    base = runtime.run(text, [site]).captures[site][0]
    pushed = runtime.run(text, [site], [Intervention(f"L{LAYER}.mlp.3", "add", value=1.0)]).captures[site][0]
    torch.testing.assert_close(pushed - base, weight[3].expand_as(base), atol=1e-4, rtol=1e-4)


def test_final_norm_scale_and_unit_logits(runtime: ModelRuntime, family: str) -> None:
    adapter = runtime.adapter
    norm: Any = _module(runtime, family, "norm")
    assert adapter.final_norm() is norm
    model: Any = runtime.model
    assert adapter.unembedding() is model.get_output_embeddings().weight
    x = torch.tensor([1.0, -1.0] * 24)  # mean 0, variance 1, RMS 1: a norm only scales (and shifts) it
    bias = getattr(norm, "bias", None)
    with torch.no_grad():
        normed = norm(x[None])[0] - (bias if bias is not None else 0.0)
    scale = adapter.final_norm_scale()
    assert scale is not None
    torch.testing.assert_close(normed, x * scale, atol=1e-3, rtol=1e-3)
    address, up, down = logit_attribution(runtime, "L1.mlp.3", 5)
    assert address == "L1.mlp.3" and len(up) == len(down) == 5
    expected = adapter.unembedding() @ (scale * adapter.mlp_out_weight(1)[3])
    assert up[0].score == pytest.approx(float(expected.max()), rel=1e-4)
    assert down[0].score == pytest.approx(float(expected.min()), rel=1e-4)
    assert all(math.isfinite(t.score) for t in [*up, *down])


def test_ablation_and_steering(runtime: ModelRuntime) -> None:
    texts = TINY_TEXTS[:3]
    metric = MetricFn(MetricSpec(kind="loss"), runtime.loaded.tokenizer)
    baseline = measure(runtime, metric, texts, [])
    for method in ("zero", "mean", "resample"):
        ivs = ablations(runtime, ["L1.mlp.3", "L1.attn.h1", "L2.mlp_out"], method, texts)
        losses = measure(runtime, metric, texts, ivs)
        assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
        assert losses != baseline, method
    for iv in (
        unit_push(runtime, "L1.mlp.3", 8.0),
        direction_push(runtime, "L1.resid_post", [1.0] * runtime.shape.d_model, 8.0),
    ):
        ids, mask = runtime.pad([runtime.tokenize([FOX])[0]] * 2)
        _, logits = runtime.forward(ids, mask, [], [iv], logits=True)
        assert logits is not None and logits.shape == (2, ids.shape[1], 400)
        assert torch.isfinite(logits).all() and not torch.equal(logits[0], logits[1])
        plain, steered = steered_generations(runtime, "The quick", iv, 3)
        assert isinstance(plain, str) and isinstance(steered, str)


# ---------------------------------------------------------------------------------------------- patching


def _max_diff(a: list[list[float]], b: list[list[float]]) -> float:
    return float((torch.tensor(a) - torch.tensor(b)).abs().max())


@pytest.mark.parametrize("site", SITES)
def test_exact_patching_equals_naive(runtime: ModelRuntime, site: str) -> None:
    exact = patch(runtime, CLEAN, CORRUPT, site, TARGETS, FOILS, "exact")
    naive = patch(runtime, CLEAN, CORRUPT, site, TARGETS, FOILS, "naive")
    assert _max_diff(exact.scores, naive.scores) < 1e-4
    assert exact.clean_ld == pytest.approx(naive.clean_ld, abs=1e-4)
    columns = runtime.shape.n_heads if site == "heads" else 10
    assert len(exact.scores) == 3 and all(len(row) == columns for row in exact.scores)
    scores = torch.tensor(patch(runtime, FOX, CAT, site, " dog", " cat", "exact").scores)
    assert torch.isfinite(scores).all()
    if site != "heads":  # causality: positions before the first change are untouched at every layer
        assert scores[:, :3].abs().max() < 1e-5
    if site == "resid_pre":  # the changed token at layer 0 carries the whole difference
        assert scores[0, 3] == pytest.approx(1.0, abs=1e-5)


def _patched_ld(runtime: ModelRuntime, address: str, source: torch.Tensor, positions: tuple[int, ...] | None) -> float:
    tok = runtime.loaded.tokenizer
    target, foil = (tok(x, add_special_tokens=False)["input_ids"][0] for x in (" dog", " cat"))
    logits = runtime.run(
        [CAT], interventions=[Intervention(address, "patch", source=source, positions=positions)], logits="last"
    ).logits
    assert logits is not None
    return float(logits[0][target] - logits[0][foil])


@pytest.mark.parametrize("site", SITES)
def test_attribution_patching_is_the_first_order_change(runtime: ModelRuntime, site: str) -> None:
    pairs = prepare_pairs(runtime, FOX, CAT, " dog", " cat")
    attr, _, _ = attribution_tables(
        runtime.loaded, pairs.clean_ids, pairs.corrupt_ids, site, pairs.targets, pairs.foils
    )
    assert attr.shape == (1, 3, runtime.shape.n_heads if site == "heads" else 10) and torch.isfinite(attr).all()
    cells = [(0, 1), (2, 3)] if site == "heads" else [(0, 3), (2, 9)]
    eps = 1e-2
    for layer, col in cells:
        address = f"L{layer}.attn.h{col}" if site == "heads" else f"L{layer}.{site}"
        clean = runtime.run([FOX], capture=[address]).captures[address][0]
        corrupt = runtime.run([CAT], capture=[address]).captures[address][0]
        positions = None if site == "heads" else (col,)
        plus, minus = (
            _patched_ld(runtime, address, corrupt + sign * eps * (clean - corrupt), positions) for sign in (1, -1)
        )
        assert float(attr[0, layer, col]) == pytest.approx((plus - minus) / (2 * eps), rel=2e-2, abs=2e-3)


# ---------------------------------------------------------------------------------------------- fallback


@pytest.mark.parametrize("name", FALLBACK)
def test_fallback_logs_what_it_found(
    name: str, folders: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="tools.runtime.adapters.fallback"):
        loaded = load_model(str(folders[name]), Settings(home=tmp_path / "home"))
    (message,) = [r.getMessage() for r in caplog.records if r.name == "tools.runtime.adapters.fallback"]
    assert message.startswith(f"architecture {name!r} has no adapter; the structural fallback found 3 blocks at ")
    for part in (
        "mlp = input of transformer.h.{l}.mlp.dense_4h_to_h (192 neurons)",
        "mlp_out = output of transformer.h.{l}.mlp.dense_4h_to_h",
        "head = input of transformer.h.{l}.self_attention.dense (4 x 12)",
        "attn_out = output of transformer.h.{l}.self_attention.dense",
        "final_norm = transformer.ln_f",
        "not found: nothing",
    ):
        assert part in message
    assert "\n" not in message
    assert loaded.adapter.found_sites == PARTS and loaded.adapter.missing_sites == ()


class _OpaqueLinear(nn.Module):
    """A linear map the fallback cannot recognise (not an nn.Linear, no Conv1D attributes)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.w, self.b = linear.weight, linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.w, self.b)


@pytest.mark.parametrize("name", FALLBACK)
def test_fallback_missing_site_is_one_line_error(name: str, folders: dict[str, Path], tmp_path: Path) -> None:
    loaded = load_model(str(folders[name]), Settings(home=tmp_path / "home"))
    for block in loaded.model.transformer.h:
        block.mlp.dense_4h_to_h = _OpaqueLinear(block.mlp.dense_4h_to_h)
    adapter = discover(loaded.model)
    loaded.adapter = adapter
    assert adapter.missing_sites == ("mlp_out", "mlp") and "not found: mlp_out, mlp" in adapter.report
    runtime = ModelRuntime(loaded)
    for address, site in (("L1.mlp.3", "L1.mlp"), ("L1.mlp", "L1.mlp"), ("L0.mlp_out", "L0.mlp_out")):
        with pytest.raises(InputError) as info:
            runtime.run([FOX], [address])
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"{site} is unavailable: ")
        assert "MLP output projection" in message and f"{name!r}" in message
        assert "found: resid_pre, resid_post, attn_out, head, final_norm, unembedding" in message
    with pytest.raises(InputError, match="MLP output projection"):
        logit_attribution(runtime, "L1.mlp.3", 3)
    # What was found still works.
    result = runtime.run([FOX], ["L1.resid_post", "L1.attn.h2"], logits="last")
    assert result.captures["L1.resid_post"][0].shape == (10, 48) and result.logits is not None
    assert patch(runtime, FOX, CAT, "attn_out", " dog", " cat", "attribution").layers == [0, 1, 2]


def test_no_block_list_names_the_architecture() -> None:
    class Weird(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = SimpleNamespace(model_type="weird", hidden_size=8)
            self.body = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))

    with pytest.raises(ModelLoadError, match=r"^architecture 'weird' has no adapter, and its decoder blocks could not"):
        adapter_for(Weird())


# ---------------------------------------------------------------------------------------------- SAE hooks


@pytest.mark.parametrize(
    ("hook", "expected"),
    [
        # EleutherAI sparsify hookpoints: Hugging Face module paths (GPT-NeoX / Pythia)
        ("gpt_neox.layers.6", (6, "resid_post")),
        ("gpt_neox.layers.6.mlp", (6, "mlp_out")),
        ("gpt_neox.layers.6.attention", (6, "attn_out")),
        ("layers.6.attention", (6, "attn_out")),
        ("layers.6.mlp", (6, "mlp_out")),
        # Gemma and Phi-3 module paths (Llama's)
        ("model.layers.6", (6, "resid_post")),
        ("model.layers.6.mlp", (6, "mlp_out")),
        ("model.layers.6.self_attn", (6, "attn_out")),
        ("model.language_model.layers.6", (6, "resid_post")),  # Gemma 3 multimodal checkpoints
        # Gemma Scope's SAELens hook names (TransformerLens, family-independent)
        ("blocks.20.hook_resid_post", (20, "resid_post")),
        ("blocks.20.hook_mlp_out", (20, "mlp_out")),
        ("blocks.20.hook_attn_out", (20, "attn_out")),
    ],
)
def test_sae_hook_names_of_the_families(hook: str, expected: tuple[int, str]) -> None:
    assert hook_to_site(hook) == expected


def test_gemma_scope_attention_sae_on_heads_is_refused() -> None:
    with pytest.raises(InputError, match=r"unsupported SAE hook 'blocks\.20\.attn\.hook_z'"):
        hook_to_site("blocks.20.attn.hook_z")


def test_sparsify_folder_named_by_a_gpt_neox_module_path(tmp_path: Path) -> None:
    from tests.test_sae_formats import _weights, _write_sparsify

    tensors = _weights()
    d_sae, d_in = tensors["W_dec"].shape
    cfg = {"activation": "topk", "k": 2, "num_latents": d_sae, "d_in": d_in}
    sparsify = {"encoder.weight": tensors["W_enc"].T.contiguous(), "encoder.bias": tensors["b_enc"]}
    sparsify |= {"W_dec": tensors["W_dec"], "b_dec": tensors["b_dec"]}
    folder = _write_sparsify(tmp_path / "gpt_neox.layers.2.mlp", cfg, sparsify)
    assert load_sae_folder(folder).address == "L2.mlp_out"
