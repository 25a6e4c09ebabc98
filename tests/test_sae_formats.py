"""SAE folders: SAELens and sparsify layouts written by the tests' own code, read back and checked
against explicit matmuls; bad folders refused with one line naming the file; save → load round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from store.errors import InputError
from tools.runtime.sae import SAEShape, SparseAutoencoder
from tools.sae.formats import hook_to_site, load_sae_folder, save_saelens

D_IN, D_SAE, K = 8, 24, 3


def _weights(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "W_enc": torch.randn(D_IN, D_SAE, generator=g),
        "b_enc": torch.randn(D_SAE, generator=g) * 0.1,
        "W_dec": torch.randn(D_SAE, D_IN, generator=g),
        "b_dec": torch.randn(D_IN, generator=g),
    }


def _write_saelens(folder: Path, cfg: dict, tensors: dict[str, torch.Tensor]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cfg.json").write_text(json.dumps(cfg))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "sae_weights.safetensors"))
    return folder


def _write_sparsify(folder: Path, cfg: dict, tensors: dict[str, torch.Tensor]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cfg.json").write_text(json.dumps(cfg))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "sae.safetensors"))
    return folder


def _topk_by_hand(pre: torch.Tensor, k: int) -> torch.Tensor:
    out = torch.zeros_like(pre)
    for row in range(pre.shape[0]):
        order = sorted(range(pre.shape[1]), key=lambda j: -float(pre[row, j]))[:k]
        for j in order:
            out[row, j] = max(float(pre[row, j]), 0.0)
    return out


X = torch.randn(5, D_IN, generator=torch.Generator().manual_seed(7))


def test_saelens_pre6_topk_encode_decode_by_hand(tmp_path: Path) -> None:
    w = _weights()
    cfg = {
        "architecture": "standard",
        "d_in": D_IN,
        "d_sae": D_SAE,
        "hook_name": "blocks.3.hook_resid_post",
        "hook_layer": 3,
        "activation_fn_str": "topk",
        "activation_fn_kwargs": {"k": K},
        "model_name": "tiny",
        "normalize_activations": "none",
    }
    sf = load_sae_folder(_write_saelens(tmp_path / "sae", cfg, w))
    assert (sf.format, sf.architecture, sf.width, sf.k, sf.d_in) == ("saelens", "topk", D_SAE, K, D_IN)
    assert (sf.hook, sf.layer, sf.site, sf.address) == ("blocks.3.hook_resid_post", 3, "resid_post", "L3.resid_post")
    assert sf.model_name == "tiny" and sf.metrics is None and len(sf.digest) == 64
    pre = (X - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
    f = _topk_by_hand(pre, K)
    assert torch.allclose(sf.sae.encode(X), f, atol=1e-5)
    assert torch.allclose(sf.sae.decode(f), f @ w["W_dec"] + w["b_dec"], atol=1e-5)
    assert int((sf.sae.encode(X) != 0).sum(-1).max()) <= K


def test_saelens_v6_metadata_layout_and_relu(tmp_path: Path) -> None:
    w = _weights(1)
    cfg = {
        "architecture": "standard",
        "d_in": D_IN,
        "d_sae": D_SAE,
        "dtype": "float32",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {"model_name": "m", "hook_name": "blocks.2.hook_mlp_out", "sae_lens_version": "6.5.0"},
    }
    sf = load_sae_folder(_write_saelens(tmp_path / "sae", cfg, w))
    assert (sf.architecture, sf.layer, sf.site, sf.model_name) == ("relu", 2, "mlp_out", "m")
    f = torch.relu((X - w["b_dec"]) @ w["W_enc"] + w["b_enc"])
    assert torch.allclose(sf.sae.encode(X), f, atol=1e-5)


def test_saelens_v6_topk_k_top_level(tmp_path: Path) -> None:
    cfg = {
        "architecture": "topk",
        "d_in": D_IN,
        "d_sae": D_SAE,
        "k": 5,
        "metadata": {"hook_name": "blocks.0.hook_attn_out"},
    }
    sf = load_sae_folder(_write_saelens(tmp_path / "sae", cfg, _weights()))
    assert (sf.architecture, sf.k, sf.site) == ("topk", 5, "attn_out")


def test_saelens_jumprelu_threshold_and_b_dec_not_applied(tmp_path: Path) -> None:
    w = _weights(2)
    w["threshold"] = torch.rand(D_SAE) * 0.5
    cfg = {
        "architecture": "jumprelu",
        "d_in": D_IN,
        "d_sae": D_SAE,
        "hook_name": "blocks.1.hook_resid_pre",
        "apply_b_dec_to_input": False,
    }
    sf = load_sae_folder(_write_saelens(tmp_path / "sae", cfg, w))
    assert (sf.architecture, sf.site) == ("jumprelu", "resid_pre")
    pre = X @ w["W_enc"] + w["b_enc"]  # b_dec not subtracted: apply_b_dec_to_input false
    f = pre * (pre > w["threshold"])
    assert torch.allclose(sf.sae.encode(X), f, atol=1e-4)
    assert torch.allclose(sf.sae(X), f @ w["W_dec"] + w["b_dec"], atol=1e-4)


def test_sparsify_layout_by_hand(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(3)
    enc_w, enc_b = torch.randn(D_SAE, D_IN, generator=g), torch.randn(D_SAE, generator=g) * 0.1
    W_dec, b_dec = torch.randn(D_SAE, D_IN, generator=g), torch.randn(D_IN, generator=g)
    tensors = {"encoder.weight": enc_w, "encoder.bias": enc_b, "W_dec": W_dec, "b_dec": b_dec}
    cfg = {
        "activation": "topk",
        "expansion_factor": 3,
        "normalize_decoder": True,
        "num_latents": 0,
        "k": K,
        "d_in": D_IN,
    }
    root = tmp_path / "run"
    (root).mkdir()
    (root / "config.json").write_text(json.dumps({"model": "EleutherAI/pythia-70m"}))
    sf = load_sae_folder(_write_sparsify(root / "layers.4", cfg, tensors))
    assert (sf.format, sf.architecture, sf.width, sf.k) == ("sparsify", "topk", D_SAE, K)
    assert (sf.hook, sf.layer, sf.site, sf.model_name) == ("layers.4", 4, "resid_post", "EleutherAI/pythia-70m")
    pre = (X - b_dec) @ enc_w.T + enc_b
    f = _topk_by_hand(pre, K)
    assert torch.allclose(sf.sae.encode(X), f, atol=1e-5)
    assert torch.allclose(sf.sae.decode(f), f @ W_dec + b_dec, atol=1e-5)

    mlp = load_sae_folder(_write_sparsify(root / "layers.5.mlp", {**cfg, "num_latents": D_SAE}, tensors))
    assert (mlp.layer, mlp.site) == (5, "mlp_out")
    renamed = load_sae_folder(_write_sparsify(root / "mine", cfg, tensors))
    assert (renamed.hook, renamed.layer, renamed.site) == (None, None, None)
    assert load_sae_folder(root / "mine", hook="layers.2.self_attn").address == "L2.attn_out"


@pytest.mark.parametrize(
    ("hook", "expected"),
    [
        ("blocks.6.hook_resid_post", (6, "resid_post")),
        ("model.layers.12", (12, "resid_post")),
        ("transformer.h.3.attn", (3, "attn_out")),
        ("L4.mlp_out", (4, "mlp_out")),
    ],
)
def test_hook_names(hook: str, expected: tuple[int, str]) -> None:
    assert hook_to_site(hook) == expected


@pytest.mark.parametrize("hook", ["blocks.6.hook_resid_mid", "blocks.6.attn.hook_z", "hook_embed", "layers.x"])
def test_unknown_hooks_refused(hook: str) -> None:
    with pytest.raises(InputError, match="unsupported SAE hook"):
        hook_to_site(hook)


def _one_line(exc: pytest.ExceptionInfo[InputError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_wrong_shapes_name_tensor_and_both_shapes(tmp_path: Path) -> None:
    w = _weights()
    w["W_dec"] = torch.randn(D_IN, D_SAE)  # transposed
    cfg = {"architecture": "topk", "d_in": D_IN, "d_sae": D_SAE, "k": K, "hook_name": "blocks.0.hook_resid_post"}
    folder = _write_saelens(tmp_path / "sae", cfg, w)
    with pytest.raises(InputError) as exc:
        load_sae_folder(folder)
    message = _one_line(exc)
    assert "sae_weights.safetensors" in message and "W_dec" in message
    assert f"[{D_IN}, {D_SAE}]" in message and f"[{D_SAE}, {D_IN}]" in message

    tensors = {"encoder.weight": torch.randn(D_SAE, D_IN + 1), "encoder.bias": torch.zeros(D_SAE)}
    tensors |= {"W_dec": torch.randn(D_SAE, D_IN), "b_dec": torch.zeros(D_IN)}
    sp = _write_sparsify(tmp_path / "layers.1", {"k": K, "num_latents": D_SAE, "d_in": D_IN}, tensors)
    with pytest.raises(InputError, match=r"encoder\.weight has shape \[24, 9\], expected \[24, 8\]"):
        load_sae_folder(sp)


def test_bad_folders_refused(tmp_path: Path) -> None:
    cfg = {"architecture": "topk", "d_in": D_IN, "d_sae": D_SAE, "k": K, "hook_name": "blocks.0.hook_resid_post"}
    cases: list[tuple[Path, str]] = []
    cases.append((tmp_path / "absent", "does not exist"))
    (tmp_path / "empty").mkdir()
    cases.append((tmp_path / "empty", "no cfg.json"))
    (tmp_path / "noweights").mkdir()
    (tmp_path / "noweights" / "cfg.json").write_text(json.dumps(cfg))
    cases.append((tmp_path / "noweights", "no weights"))
    nan = _weights()
    nan["b_enc"][3] = float("nan")
    cases.append((_write_saelens(tmp_path / "nan", cfg, nan), "b_enc has 1 NaN"))
    cases.append((_write_saelens(tmp_path / "arch", {**cfg, "architecture": "gated"}, _weights()), "'gated'"))
    cases.append(
        (
            _write_saelens(tmp_path / "hook", {**cfg, "hook_name": "blocks.0.hook_resid_mid"}, _weights()),
            "hook_resid_mid",
        )
    )
    missing = _weights()
    del missing["b_dec"]
    cases.append((_write_saelens(tmp_path / "missing", cfg, missing), "no tensor 'b_dec'"))
    cases.append((_write_saelens(tmp_path / "bigk", {**cfg, "k": D_SAE + 1}, _weights()), "larger than d_sae"))
    norm = {**cfg, "normalize_activations": "expected_average_only_in"}
    cases.append((_write_saelens(tmp_path / "norm", norm, _weights()), "normalize_activations"))
    bad_json = _write_saelens(tmp_path / "json", cfg, _weights())
    (bad_json / "cfg.json").write_text("{not json")
    cases.append((bad_json, "not readable JSON"))
    corrupt = _write_saelens(tmp_path / "corrupt", cfg, _weights())
    (corrupt / "sae_weights.safetensors").write_bytes(b"garbage")
    cases.append((corrupt, "not a readable safetensors"))
    for folder, expected in cases:
        with pytest.raises(InputError) as exc:
            load_sae_folder(folder)
        message = _one_line(exc)
        assert expected in message, (folder.name, message)
        assert folder.name in message, message


@pytest.mark.parametrize("architecture", ["topk", "relu", "jumprelu"])
def test_save_load_round_trip(tmp_path: Path, architecture: str) -> None:
    shape = SAEShape(D_IN, D_SAE, architecture, K if architecture == "topk" else None)  # type: ignore[arg-type]
    w = _weights(5)
    sae = SparseAutoencoder.from_weights(
        shape, **w, threshold=torch.rand(D_SAE) if architecture == "jumprelu" else None
    )
    folder = save_saelens(
        sae,
        tmp_path / "out",
        hook_name="L6.resid_post",
        model_name="smollm2-135m",
        extra_cfg={"autointerp": {"tokens": 10}},
        metrics={"fvu": 0.2, "nan": float("nan")},
    )
    sf = load_sae_folder(folder)
    assert (sf.hook, sf.layer, sf.site, sf.architecture, sf.k) == (
        "blocks.6.hook_resid_post",
        6,
        "resid_post",
        architecture,
        shape.k,
    )
    assert sf.cfg["autointerp"] == {"tokens": 10} and sf.metrics == {"fvu": 0.2, "nan": "NaN"}
    assert sf.cfg["metadata"]["hook_name"] == "blocks.6.hook_resid_post" and sf.cfg["hook_layer"] == 6
    assert torch.allclose(sf.sae(X), sae(X), atol=1e-6)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left
    # Saving again replaces the folder whole.
    again = save_saelens(sae, folder, hook_name="blocks.6.hook_resid_post", model_name="x")
    assert load_sae_folder(again).model_name == "x" and load_sae_folder(again).metrics is None
    with pytest.raises(InputError, match="already exists"):
        save_saelens(sae, folder, hook_name="blocks.6.hook_resid_post", model_name="x", overwrite=False)
