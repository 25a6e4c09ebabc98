"""The real embedded model (SmolLM2-135M-Instruct from its PyPI wheel): loading paths, exact activations,
exemplar caches through the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from store.settings import Settings
from tests.cli_helpers import cli_json
from tools.runtime.embedded import embedded_dir
from tools.runtime.interventions import Intervention
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime

pytestmark = pytest.mark.slow

SENTENCES = [
    "The Eiffel Tower is in Paris, France.",
    "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    "She bought three apples, two pears and a melon for $4.50 at the market on Tuesday.",
]


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def independent_neuron(model: torch.nn.Module, token_ids: list[int], layer: int, neuron: int) -> torch.Tensor:
    """MLP neuron ``neuron`` of ``layer`` (the input of down_proj), computed by hand from the weights.

    Only the residual stream entering the layer comes from transformers (``output_hidden_states``);
    the block's attention (GQA with rotary embeddings), norms and gated MLP are written out here.
    """
    config = model.config
    ids = torch.tensor([token_ids])
    with torch.no_grad():
        hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[layer][0].double()
        block = model.model.layers[layer]
        w = {name: p.detach().double() for name, p in block.named_parameters()}
        eps = config.rms_norm_eps
        n_heads, n_kv, head_dim = config.num_attention_heads, config.num_key_value_heads, config.head_dim
        seq = hidden.shape[0]
        x = _rms_norm(hidden, w["input_layernorm.weight"], eps)
        q = (x @ w["self_attn.q_proj.weight"].T).view(seq, n_heads, head_dim).transpose(0, 1)
        k = (x @ w["self_attn.k_proj.weight"].T).view(seq, n_kv, head_dim).transpose(0, 1)
        v = (x @ w["self_attn.v_proj.weight"].T).view(seq, n_kv, head_dim).transpose(0, 1)
        theta = config.rope_parameters["rope_theta"] if hasattr(config, "rope_parameters") else config.rope_theta
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
        angles = torch.arange(seq, dtype=torch.float64)[:, None] * inv_freq[None, :]
        cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
        q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
        group = n_heads // n_kv
        k, v = k.repeat_interleave(group, dim=0), v.repeat_interleave(group, dim=0)
        scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim)
        scores = scores.masked_fill(torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1), float("-inf"))
        heads = scores.softmax(-1) @ v  # [heads, seq, head_dim]
        attn = heads.transpose(0, 1).reshape(seq, n_heads * head_dim) @ w["self_attn.o_proj.weight"].T
        mid = hidden + attn
        y = _rms_norm(mid, w["post_attention_layernorm.weight"], eps)
        gate = y @ w["mlp.gate_proj.weight"][neuron]
        up = y @ w["mlp.up_proj.weight"][neuron]
        return (torch.nn.functional.silu(gate) * up).float()


def test_L12_mlp_303_matches_an_independent_computation(
    home_with_embedded: Path, embedded_runtime: ModelRuntime
) -> None:
    for sentence in SENTENCES:
        result = cli_json(
            "activations",
            "--model",
            "smollm2-135m",
            "--unit",
            "L12.mlp.303",
            "--text",
            sentence,
            home=home_with_embedded,
        )
        tokenizer = embedded_runtime.loaded.tokenizer
        assert result["token_ids"] == tokenizer(sentence)["input_ids"]
        assert len(result["activations"]) == len(result["tokens"]) == len(result["token_ids"])
        expected = independent_neuron(embedded_runtime.model, result["token_ids"], 12, 303)
        got = torch.tensor(result["activations"])
        assert float((got - expected).abs().max()) < 2e-3, (sentence, got, expected)


def test_models_info_of_the_embedded_model(home_with_embedded: Path) -> None:
    info = cli_json("models", "info", "smollm2-135m", home=home_with_embedded)
    assert (info["n_layers"], info["d_model"], info["d_mlp"], info["n_heads"]) == (30, 576, 1536, 9)
    assert len(info["sites"]) == 30 * (5 + 9) and "L29.attn.h8" in info["sites"]


def test_local_folder_and_gguf_file_load_the_same_weights(embedded_home: Path, embedded_runtime: ModelRuntime) -> None:
    settings = Settings(home=embedded_home)
    folder = load_model(str(embedded_dir(embedded_home)), settings)
    assert folder.source == "folder" and folder.digest == embedded_runtime.loaded.digest
    gguf = next((embedded_home / "models").glob("smollm2-135m-gguf/*.gguf"))
    from_gguf = load_model(str(gguf), settings)
    assert from_gguf.source == "gguf" and from_gguf.digest == embedded_runtime.loaded.digest
    ids = torch.tensor([embedded_runtime.tokenize(SENTENCES[:1])[0]])
    with torch.no_grad():
        torch.testing.assert_close(from_gguf.model(input_ids=ids).logits, folder.model(input_ids=ids).logits)


def test_early_stop_gives_the_same_values_as_a_full_pass(embedded_runtime: ModelRuntime) -> None:
    sites = ["L1.mlp", "L7.attn.h3", "L7.resid_post"]
    early = embedded_runtime.run(SENTENCES, sites)
    full = embedded_runtime.run(SENTENCES, sites, logits="last")
    for site in sites:
        for a, b in zip(early.captures[site], full.captures[site], strict=True):
            torch.testing.assert_close(a, b)


def test_patching_the_whole_residual_reproduces_the_source_run(embedded_runtime: ModelRuntime) -> None:
    clean, corrupt = (
        "When Mary and John went to the store, John gave a drink to",
        "When Mary and John went to the store, Mary gave a drink to",
    )
    rt = embedded_runtime
    assert len(rt.tokenize([clean])[0]) == len(rt.tokenize([corrupt])[0])
    src = rt.run([clean], ["L10.resid_pre"], logits="last")
    out = rt.run(
        [corrupt, corrupt],
        [],
        [Intervention("L10.resid_pre", "patch", source=src.captures["L10.resid_pre"][0], rows=(1,))],
        logits="last",
    )
    assert src.logits is not None and out.logits is not None
    torch.testing.assert_close(out.logits[1], src.logits[0], atol=1e-3, rtol=1e-3)
    mary, john = rt.loaded.tokenizer(" Mary")["input_ids"][0], rt.loaded.tokenizer(" John")["input_ids"][0]
    assert float(src.logits[0][mary] - src.logits[0][john]) > 0  # the model does IOI: clean prefers Mary
    assert float(out.logits[0][mary] - out.logits[0][john]) < float(out.logits[1][mary] - out.logits[1][john])


def test_cache_build_and_exemplars_on_the_real_model(home_with_embedded: Path, embedded_runtime: ModelRuntime) -> None:
    built = cli_json(
        "cache",
        "build",
        "--model",
        "smollm2-135m",
        "--layer",
        "1",
        "--max-tokens",
        "8192",
        home=home_with_embedded,
    )
    assert built["n_contexts"] == 128 and built["n_tokens"] == 8192 and built["tokens_per_second"] > 0
    ex = cli_json("exemplars", "--model", "smollm2-135m", "--unit", "L1.mlp.42", "-k", "5", home=home_with_embedded)
    assert len(ex["exemplars"]) == 5 and len(ex["quantiles"]) == 10
    for exemplar in ex["exemplars"] + [e for q in ex["quantiles"] for e in q["exemplars"]]:
        ids = torch.tensor([exemplar["token_ids"]])
        recomputed = embedded_runtime.forward(ids, None, ["L1.mlp.42"])[0]["L1.mlp.42"][0]
        # stored as float16: compare within its precision
        torch.testing.assert_close(torch.tensor(exemplar["activations"]), recomputed, atol=2e-3, rtol=2e-3)
        assert exemplar["max"] == pytest.approx(float(recomputed[1:].max()), abs=1e-4)  # position 0 not scored
    maxima = [e["max"] for e in ex["exemplars"]]
    assert maxima == sorted(maxima, reverse=True) and maxima[0] == pytest.approx(ex["stats"]["max"])


def test_patch_cli_on_ioi(home_with_embedded: Path) -> None:
    clean = "When Mary and John went to the store, John gave a drink to"
    corrupt = "When Mary and John went to the store, Mary gave a drink to"
    plot = home_with_embedded / "patch.png"
    result = cli_json(
        "patch",
        "--model",
        "smollm2-135m",
        "--clean",
        clean,
        "--corrupt",
        corrupt,
        "--target",
        " Mary",
        "--foil",
        " John",
        "--site",
        "resid_pre",
        "--method",
        "exact",
        "--plot",
        str(plot),
        home=home_with_embedded,
    )
    assert {"site", "layers", "positions", "tokens", "scores", "clean_ld", "corrupt_ld"} <= set(result)
    assert result["layers"] == list(range(30)) and len(result["scores"]) == 30
    assert len(result["scores"][0]) == len(result["positions"]) == len(result["tokens"]) == 14
    assert result["clean_ld"] > 0 > result["corrupt_ld"]
    differing = result["tokens"].index(" John", 4)  # the second John: the only position that differs
    assert result["scores"][0][differing] == pytest.approx(1.0, abs=1e-4)
    assert all(abs(v) < 1e-4 for j, v in enumerate(result["scores"][0]) if j != differing)
    # late layers carry the answer at the last token (layer 29 still attends to the corrupt earlier positions)
    assert max(row[-1] for row in result["scores"][24:]) > 0.9
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_ioi_dataset_and_patching_over_pairs(home_with_embedded: Path) -> None:
    pairs = home_with_embedded / "ioi.jsonl"
    made = cli_json(
        "ioi",
        "--model",
        "smollm2-135m",
        "--n",
        "4",
        "--template",
        "0",
        "--same-length",
        "--out",
        str(pairs),
        home=home_with_embedded,
    )
    assert len(made["pairs"]) == 4 and len(pairs.read_text().splitlines()) == 4
    result = cli_json(
        "patch",
        "--model",
        "smollm2-135m",
        "--pairs",
        str(pairs),
        "--site",
        "heads",
        "--method",
        "attribution",
        home=home_with_embedded,
    )
    assert result["n_pairs"] == 4 and len(result["scores"]) == 30 and len(result["scores"][0]) == 9
    assert result["clean_ld"] > 0 > result["corrupt_ld"]
