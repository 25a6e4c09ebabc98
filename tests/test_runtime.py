"""Model runtime on tiny random models: capture, padding, early stop, interventions, errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from store.errors import AddressError, InputError, ModelLoadError
from store.settings import Settings
from tools.runtime.interventions import Intervention
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime, TruncationWarning
from tools.runtime.testing import TINY_TEXTS

FAMILIES = ["tiny_llama_dir", "tiny_gpt2_dir"]


@pytest.fixture(params=FAMILIES)
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> ModelRuntime:
    folder = request.getfixturevalue(request.param)
    return ModelRuntime(load_model(str(folder), Settings(home=tmp_path / "home")), batch_size=4)


def _independent_capture(runtime: ModelRuntime, text: str, layer: int) -> dict[str, torch.Tensor]:
    """Sites of one block read with plain torch hooks on one unpadded text (no runtime code involved)."""
    model, adapter = runtime.model, runtime.adapter
    seen: dict[str, torch.Tensor] = {}
    handles = [
        adapter.mlp_down_proj(layer).register_forward_hook(lambda m, a, o: seen.__setitem__("mlp", a[0][0])),
        adapter.attn_out_proj(layer).register_forward_hook(lambda m, a, o: seen.__setitem__("heads", a[0][0])),
        adapter.blocks()[layer].register_forward_hook(
            lambda m, a, o: seen.__setitem__("resid_post", (o[0] if isinstance(o, tuple) else o)[0])
        ),
        adapter.mlp(layer).register_forward_hook(lambda m, a, o: seen.__setitem__("mlp_out", o[0])),
    ]
    ids = torch.tensor([runtime.tokenize([text])[0]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]
    for handle in handles:
        handle.remove()
    seen["logits"] = logits
    return seen


def test_capture_matches_independent_hooks_and_ignores_padding(runtime: ModelRuntime) -> None:
    texts = [TINY_TEXTS[0], "Hi", TINY_TEXTS[2], TINY_TEXTS[5]]  # very different lengths: lots of padding
    head_dim = runtime.shape.head_dim
    result = runtime.run(texts, ["L2.mlp", "L2.mlp.5", "L2.resid_post", "L2.mlp_out", "L2.attn.h1"], logits="all")
    for i, text in enumerate(texts):
        ref = _independent_capture(runtime, text, 2)
        n = len(result.tokens[i])
        assert result.captures["L2.mlp"][i].shape == (n, runtime.shape.d_mlp)
        torch.testing.assert_close(result.captures["L2.mlp"][i], ref["mlp"], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(result.captures["L2.mlp.5"][i], ref["mlp"][:, 5], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(result.captures["L2.resid_post"][i], ref["resid_post"], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(result.captures["L2.mlp_out"][i], ref["mlp_out"], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(
            result.captures["L2.attn.h1"][i], ref["heads"][:, head_dim : 2 * head_dim], atol=1e-4, rtol=1e-4
        )
        assert result.logits is not None
        torch.testing.assert_close(result.logits[i], ref["logits"], atol=1e-3, rtol=1e-3)


def test_resid_pre_of_next_layer_equals_resid_post(runtime: ModelRuntime) -> None:
    result = runtime.run(TINY_TEXTS[:3], ["L1.resid_post", "L2.resid_pre"])
    for a, b in zip(result.captures["L1.resid_post"], result.captures["L2.resid_pre"], strict=True):
        torch.testing.assert_close(a, b)


def test_forward_stops_after_deepest_needed_layer(runtime: ModelRuntime) -> None:
    calls: list[int] = []
    handles = [
        block.register_forward_pre_hook(lambda m, a, i=i: calls.append(i))
        for i, block in enumerate(runtime.adapter.blocks())
    ]
    head_calls: list[int] = []
    handles.append(runtime.adapter.final_norm().register_forward_pre_hook(lambda m, a: head_calls.append(1)))
    try:
        runtime.run(TINY_TEXTS[:2], ["L1.mlp.3", "L0.resid_post"])
        assert calls == [0, 1]
        assert head_calls == []
        calls.clear()
        runtime.run(TINY_TEXTS[:2], ["L2.resid_pre"])
        assert calls == [0, 1, 2]
        calls.clear()
        runtime.run(TINY_TEXTS[:2], ["L0.mlp.1"], logits="last")  # logits need the whole model
        assert calls == [0, 1, 2, 3]
        assert head_calls == [1]
    finally:
        for handle in handles:
            handle.remove()


def test_each_row_gets_its_own_intervention_in_one_forward(runtime: ModelRuntime) -> None:
    text = TINY_TEXTS[1]
    texts = [text] * 4
    ivs = [
        Intervention("L1.mlp_out", "zero", rows=(1,)),
        Intervention("L1.mlp.3", "set", value=2.5, rows=(2,)),
        Intervention("L2.resid_pre", "scale", value=0.5, rows=(3,), positions=(-1,)),
    ]
    together = runtime.run(texts, ["L3.resid_post"], ivs, logits="last")
    assert together.logits is not None
    for row, iv in enumerate([None, *ivs]):
        alone = runtime.run(
            [text],
            ["L3.resid_post"],
            [] if iv is None else [Intervention(iv.target, iv.op, iv.value, rows=(0,), positions=iv.positions)],
            logits="last",
        )
        assert alone.logits is not None
        torch.testing.assert_close(together.logits[row], alone.logits[0], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(together.logits[0], together.logits[1])
    assert not torch.allclose(together.logits[0], together.logits[3])


def test_intervention_values_are_what_the_model_sees(runtime: ModelRuntime) -> None:
    texts = TINY_TEXTS[:2]
    clean = runtime.run(texts, ["L1.mlp"]).captures["L1.mlp"]
    cases = {
        "zero": (Intervention("L1.mlp.4", "zero"), lambda x: torch.zeros_like(x)),
        "set": (Intervention("L1.mlp.4", "set", value=1.25), lambda x: torch.full_like(x, 1.25)),
        "add": (Intervention("L1.mlp.4", "add", value=1.0), lambda x: x + 1.0),
        "scale": (Intervention("L1.mlp.4", "scale", value=-2.0), lambda x: x * -2.0),
        "mean-given": (Intervention("L1.mlp.4", "mean", value=0.75), lambda x: torch.full_like(x, 0.75)),
    }
    for name, (iv, expected) in cases.items():
        got = runtime.run(texts, ["L1.mlp"], [iv]).captures["L1.mlp"]
        for before, after in zip(clean, got, strict=True):
            torch.testing.assert_close(after[:, 4], expected(before[:, 4]), msg=name)
            torch.testing.assert_close(after[:, :4], before[:, :4], msg=name)  # other neurons untouched
    batch = runtime.run(texts, ["L1.mlp"], [Intervention("L1.mlp.4", "mean")]).captures["L1.mlp"]
    real_mean = torch.cat([c[:, 4] for c in clean]).mean()
    for after in batch:
        torch.testing.assert_close(after[:, 4], torch.full_like(after[:, 4], float(real_mean)))


def test_patch_from_another_run(runtime: ModelRuntime) -> None:
    a, b = "The cat sat on the mat.", "The fox sat on the mat."
    assert len(runtime.tokenize([a])[0]) == len(runtime.tokenize([b])[0])
    source = runtime.run([b], ["L0.resid_pre"], logits="all")
    patched = runtime.run(
        [a, a],
        [],
        [Intervention("L0.resid_pre", "patch", source=source.captures["L0.resid_pre"][0], rows=(1,))],
        logits="all",
    )
    assert patched.logits is not None and source.logits is not None
    torch.testing.assert_close(patched.logits[1], source.logits[0], atol=1e-4, rtol=1e-4)  # fully patched: b
    assert not torch.allclose(patched.logits[0], source.logits[0])
    # One position only: the last token's residual at layer 2 from b; earlier positions are unchanged.
    src2 = runtime.run([b], ["L2.resid_pre"]).captures["L2.resid_pre"][0]
    one = runtime.run(
        [a],
        ["L2.resid_pre", "L3.resid_post"],
        [Intervention("L2.resid_pre", "patch", source=[src2], rows=(0,), positions=(-1,))],
    )
    clean = runtime.run([a], ["L2.resid_pre", "L3.resid_post"])
    torch.testing.assert_close(one.captures["L2.resid_pre"][0][-1], src2[-1])
    torch.testing.assert_close(one.captures["L3.resid_post"][0][:-1], clean.captures["L3.resid_post"][0][:-1])


def test_interventions_span_batches(runtime: ModelRuntime) -> None:
    texts = TINY_TEXTS[:6]  # batch_size 4: rows 4 and 5 are in the second batch
    rows = (1, 5)
    result = runtime.run(texts, ["L0.mlp"], [Intervention("L0.mlp.2", "set", value=9.0, rows=rows)])
    for i, capture in enumerate(result.captures["L0.mlp"]):
        assert bool((capture[:, 2] == 9.0).all()) == (i in rows)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("L99.mlp.0", "layers 0..3"),
        ("L1.mlp.96", "valid indices are 0..95"),
        ("L1.attn.h4", "heads 0..3"),
        ("L1.resid.64", "valid indices are 0..63"),
        ("L1.sae.0", "L1.sae.0: no SAE is registered for"),
        ("layer1.mlp.0", "malformed"),
        ("L1.mlp.-1", "malformed"),
        ("L1.mlp_in", "malformed"),
    ],
)
def test_bad_addresses(runtime: ModelRuntime, address: str, message: str) -> None:
    with pytest.raises(AddressError, match=message.replace(".", r"\.")):
        runtime.run(["hello"], [address])


def test_bad_texts_and_interventions(runtime: ModelRuntime) -> None:
    with pytest.raises(InputError, match="text 1 is empty"):
        runtime.run(["hello", "   "], ["L0.mlp"])
    with pytest.raises(InputError, match="not one string"):
        runtime.run("hello", ["L0.mlp"])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="needs a value"):
        Intervention("L0.mlp", "set")
    with pytest.raises(InputError, match="unknown intervention op"):
        Intervention("L0.mlp", "explode")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="outside row 0"):
        runtime.run(["hello"], ["L1.mlp"], [Intervention("L0.mlp", "zero", positions=(50,))])
    with pytest.raises(InputError, match="entries but the target is"):
        runtime.run(["hello"], ["L1.mlp"], [Intervention("L0.mlp", "set", value=torch.zeros(3))])


def test_long_text_is_truncated_with_a_warning(runtime: ModelRuntime) -> None:
    long_text = " ".join(["word"] * 400)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runtime.run([long_text], ["L0.mlp.0"])
    assert any(issubclass(w.category, TruncationWarning) for w in caught)
    assert len(result.tokens[0]) == runtime.loaded.max_length == 128


def test_loader_errors(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    with pytest.raises(ModelLoadError, match="unknown model 'no such model!'"):
        load_model("no such model!", settings)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(str(tmp_path / "missing.gguf"), settings)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00 this is not a real gguf file" * 10)
    with pytest.raises(ModelLoadError, match="cannot read GGUF file"):
        load_model(str(bad), settings)
    not_model = tmp_path / "notes.txt"
    not_model.write_text("hello")
    with pytest.raises(ModelLoadError, match=r"not a \.gguf model"):
        load_model(str(not_model), settings)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(ModelLoadError, match=r"^no config\.json in .*empty$"):
        load_model(str(empty_dir), settings)


def test_unsupported_architecture_is_named(
    tmp_path: Path, tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoModelForCausalLM, GPTNeoXConfig

    from tools.runtime.adapters import ADAPTERS

    # As if GPT-NeoX had no adapter and the structural fallback found no block list.
    monkeypatch.delitem(ADAPTERS, "gpt_neox")
    monkeypatch.setattr("tools.runtime.adapters.fallback._block_list", lambda model, n_layers: None)

    folder = tmp_path / "neox"
    config = GPTNeoXConfig(
        vocab_size=400, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).write_bytes((tiny_llama_dir / name).read_bytes())
    with pytest.raises(ModelLoadError, match=r"'gpt_neox' has no adapter, and its decoder blocks could not be found"):
        load_model(str(folder), Settings(home=tmp_path / "home"))


def test_digest_identifies_weights(tmp_path: Path, tiny_llama_dir: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    first = load_model(str(tiny_llama_dir), settings)
    again = load_model(str(tiny_llama_dir), settings)
    assert first.digest == again.digest and len(first.digest) == 64
    from tests.conftest import build_tiny_model

    other = load_model(str(build_tiny_model(tmp_path / "other", "llama", seed=1)), settings)
    assert other.digest != first.digest
    assert other.config_digest == first.config_digest
