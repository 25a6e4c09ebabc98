"""SAE latents as subjects: registering SAEs (SAELens and sparsify folders written here), addresses,
every tool on latents checked against hand computations, exemplar caches, label jobs, audits, the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from store.db import open_store
from store.errors import AddressError, ConstraintError, InputError
from store.models import ModelRecordCreate, SAERecordCreate
from store.repo import upsert_model_record
from store.saes import create_sae_record, list_sae_records, saes_for_weights, saes_named
from store.settings import Settings
from tests.cli_helpers import assert_clean_error, call_cli, cli_json
from tools.catalog import default_registry
from tools.context import ToolContext
from tools.executor import LocalExecutor, ToolCall
from tools.runtime.addresses import Site, Unit, parse_site, parse_target, parse_unit
from tools.runtime.interventions import Intervention
from tools.runtime.model_runtime import ModelRuntime
from tools.runtime.sae import SAEShape, SparseAutoencoder
from tools.runtime.testing import TINY_TEXTS
from tools.sae.registry import register_sae

D_MODEL, D_SAE, K = 64, 32, 4


# ------------------------------------------------------------------------------------------- files


def _weights(seed: int, d_in: int = D_MODEL, d_sae: int = D_SAE) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "W_enc": torch.randn(d_in, d_sae, generator=g) * 0.2,
        "b_enc": torch.randn(d_sae, generator=g) * 0.1,
        "W_dec": torch.randn(d_sae, d_in, generator=g) * 0.2,
        "b_dec": torch.randn(d_in, generator=g) * 0.1,
    }


def write_saelens(
    folder: Path, hook: str = "blocks.1.hook_resid_post", *, seed: int = 0, d_in: int = D_MODEL, **cfg: Any
) -> dict[str, torch.Tensor]:
    """A ReLU SAE in the SAELens layout (cfg.json + sae_weights.safetensors, and metrics.json); its weights."""
    w = _weights(seed, d_in)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"architecture": "standard", "d_in": d_in, "d_sae": D_SAE, "hook_name": hook, "model_name": "tiny"}
    (folder / "cfg.json").write_text(json.dumps({**config, **cfg}))
    save_file(w, str(folder / "sae_weights.safetensors"))
    (folder / "metrics.json").write_text(json.dumps({"fvu": 0.25, "l0": 7.5}))
    return w


def write_sparsify(folder: Path, *, seed: int = 1) -> dict[str, torch.Tensor]:
    """A TopK SAE in the sparsify layout (folder named after its hookpoint); its weights (SAELens shapes)."""
    w = _weights(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cfg.json").write_text(json.dumps({"k": K, "num_latents": D_SAE, "d_in": D_MODEL}))
    tensors = {"encoder.weight": w["W_enc"].T.contiguous(), "encoder.bias": w["b_enc"]}
    save_file({**tensors, "W_dec": w["W_dec"], "b_dec": w["b_dec"]}, str(folder / "sae.safetensors"))
    return w


def relu_codes(x: torch.Tensor, w: dict[str, torch.Tensor]) -> torch.Tensor:
    """relu((x − b_dec) W_enc + b_enc), written out."""
    return torch.relu((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"])


def topk_codes(x: torch.Tensor, w: dict[str, torch.Tensor], k: int) -> torch.Tensor:
    pre = (x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
    out = torch.zeros_like(pre)
    for row in range(pre.shape[0]):
        for j in sorted(range(pre.shape[1]), key=lambda j: -float(pre[row, j]))[:k]:
            out[row, j] = max(float(pre[row, j]), 0.0)
    return out


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings()


@pytest.fixture
def ctx(settings: Settings) -> ToolContext:
    return ToolContext(settings=settings)


@pytest.fixture
def sae_dir(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    folder = tmp_path / "saes" / "res1"
    return folder, write_saelens(folder)


@pytest.fixture
def registered(
    ctx: ToolContext, tiny_llama_dir: Path, sae_dir: tuple[Path, dict[str, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    """The SAELens SAE registered for layer 1 of the tiny Llama as ``res1``; its weights."""
    folder, w = sae_dir
    register_sae(ctx.engine(), ctx.settings, ctx.runtime(str(tiny_llama_dir)), folder, name="res1")
    return w


@pytest.fixture
def ex(ctx: ToolContext) -> LocalExecutor:
    return LocalExecutor(default_registry(), ctx)


def _call(ex: LocalExecutor, tool: str, **args: Any) -> dict[str, Any]:
    outcome = ex.run(ToolCall(tool=tool, args=args))
    assert outcome.ok, outcome.error
    assert outcome.result is not None
    return outcome.result


# ------------------------------------------------------------------------------------------- addresses


def test_latent_addresses_parse_and_print() -> None:
    assert parse_unit("L6.sae.12") == Unit(Site(6, "sae"), 12, "sae")
    assert str(parse_unit(" L6.sae[res-16k.v2].12 ")) == "L6.sae[res-16k.v2].12"
    assert str(parse_site("L6.sae")) == "L6.sae" and str(parse_site("L6.sae[x]")) == "L6.sae[x]"
    assert isinstance(parse_target("L6.sae[x]"), Site) and isinstance(parse_target("L6.sae[x].0"), Unit)
    for bad in ("L6.sae[].1", "L6.sae[a b].1", "L6.sae.x", "L6.sae[-x].1", "L6.sae.1.2"):
        with pytest.raises(AddressError, match="malformed"):
            parse_target(bad)


def test_resolution_errors_name_what_is_registered(ctx: ToolContext, tiny_llama_dir: Path, registered: Any) -> None:
    runtime = ctx.runtime(str(tiny_llama_dir))
    assert runtime.resolve("L1.sae.3").address == "L1.sae[res1].3"
    assert runtime.resolve("L1.sae").address == "L1.sae[res1]"
    cases = {
        "L2.sae.0": "no SAE is registered for layer 2; registered for",
        "L1.sae.32": "latent 32 out of range in L1.sae.32: L1.sae[res1] has latents 0..31",
        "L1.sae[nope].0": "no SAE named 'nope'",
        "L3.sae[res1].0": "SAE 'res1' reads layer 1, not 3",
        "L9.sae.0": "layers 0..3",
    }
    for address, message in cases.items():
        with pytest.raises(AddressError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
            runtime.resolve(address)
    with pytest.raises(AddressError, match=r"L1\.sae\[res1\] \(resid_post, 32 latents\)"):
        runtime.resolve("L2.sae.0")
    # A second SAE on layer 1: the bare address is ambiguous and names both; a name picks one.
    other = SparseAutoencoder.from_weights(SAEShape(D_MODEL, 8, "relu"), **_weights(5, D_MODEL, 8))
    runtime.attach_sae(1, "small", other, "resid_post")
    with pytest.raises(AddressError, match=r"layer 1 has several SAEs \(res1, small\); name one"):
        runtime.resolve("L1.sae.0")
    assert runtime.resolve("L1.sae[small].7").address == "L1.sae[small].7"
    # The tool reports the error on its field.
    outcome = LocalExecutor(default_registry(), ctx).run(
        ToolCall(tool="activations", args={"model": str(tiny_llama_dir), "subject": "L2.sae.0", "texts": ["hi"]})
    )
    assert not outcome.ok and outcome.field == "subject" and "L1.sae[res1]" in (outcome.error or "")


def test_a_model_without_saes_says_how_to_register_one(ctx: ToolContext, tiny_llama_dir: Path) -> None:
    with pytest.raises(AddressError, match=r"no SAE is registered for .*autointerp sae add"):
        ctx.runtime(str(tiny_llama_dir)).resolve("L1.sae.0")


def test_attach_refuses_a_wrong_shape(ctx: ToolContext, tiny_llama_dir: Path) -> None:
    runtime = ctx.runtime(str(tiny_llama_dir))
    sae = SparseAutoencoder.from_weights(SAEShape(32, 8, "relu"), **_weights(0, 32, 8))
    with pytest.raises(InputError, match=r"reads vectors of 32 values, but L1\.resid_post of .* has 64 \(d_model\)"):
        runtime.attach_sae(1, "x", sae)
    with pytest.raises(InputError, match=r"layer 7 out of range"):
        runtime.attach_sae(7, "x", sae)
    with pytest.raises(InputError, match="bad SAE name"):
        runtime.attach_sae(1, "a b", sae)


# ------------------------------------------------------------------------------------------- registering


def test_sae_add_both_formats_and_list(home: Path, tiny_llama_dir: Path, tmp_path: Path) -> None:
    model = str(tiny_llama_dir)
    saelens = tmp_path / "in" / "saelens"
    write_saelens(saelens)
    sparsify = tmp_path / "in" / "run" / "layers.2"
    write_sparsify(sparsify)
    first = cli_json("sae", "add", "--model", model, "--path", str(saelens), "--name", "res1")
    assert first["created"] and first["address"] == "L1.sae[res1]"
    sae = first["sae"]
    assert (sae["format"], sae["architecture"], sae["layer"], sae["site"], sae["width"], sae["k"]) == (
        "saelens",
        "relu",
        1,
        "resid_post",
        D_SAE,
        None,
    )
    assert sae["hook"] == "blocks.1.hook_resid_post" and sae["metrics"] == {"fvu": 0.25, "l0": 7.5}
    assert sae["source_path"] == str(saelens.resolve()) and Path(sae["path"]).parent == home / "saes"
    second = cli_json("sae", "add", "--model", model, "--path", str(sparsify))
    assert second["sae"]["name"] == "l2-resid_post-32" and second["address"] == "L2.sae[l2-resid_post-32]"
    assert (second["sae"]["format"], second["sae"]["architecture"], second["sae"]["k"]) == ("sparsify", "topk", K)
    assert not cli_json("sae", "add", "--model", model, "--path", str(saelens), "--name", "res1")["created"]

    listed = cli_json("sae", "list", "--model", model)["saes"]
    assert [(s["name"], s["layer"], s["model"]) for s in listed] == [
        ("res1", 1, model),
        ("l2-resid_post-32", 2, model),
    ]
    assert len(cli_json("sae", "list")["saes"]) == 2 and cli_json("sae", "list", "--model", "other")["saes"] == []
    shown = call_cli("sae", "list")
    assert shown.returncode == 0 and "L1.sae[res1]" in shown.stdout and "fvu 0.25" in shown.stdout

    # The registered copy is what is used: the source folders may go.
    for folder in (saelens, sparsify):
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    out = cli_json("activations", "--model", model, "--unit", "L2.sae.5", "--text", "The cat sat.")
    assert out["unit"] == "L2.sae[l2-resid_post-32].5" and len(out["activations"]) == len(out["tokens"])


def test_sae_add_refusals_are_one_clear_line(home: Path, tiny_llama_dir: Path, tmp_path: Path) -> None:
    model = str(tiny_llama_dir)

    def add(folder: Path, *extra: str) -> Any:
        return call_cli("sae", "add", "--model", model, "--path", str(folder), *extra)

    wrong_d_model = tmp_path / "narrow"
    write_saelens(wrong_d_model, d_in=32)
    assert_clean_error(add(wrong_d_model), "reads vectors of 32 values at L1.resid_post", "d_model 64")
    far = tmp_path / "far"
    write_saelens(far, hook="blocks.9.hook_resid_post")
    assert_clean_error(add(far), "reads layer 9", "layers 0..3")
    unknown = tmp_path / "unknown"
    write_saelens(unknown, hook="blocks.1.hook_resid_mid")
    assert_clean_error(add(unknown), "unsupported SAE hook 'blocks.1.hook_resid_mid'")
    wrong_shape = tmp_path / "transposed"
    w = write_saelens(wrong_shape)
    save_file({**w, "W_dec": w["W_dec"].T.contiguous()}, str(wrong_shape / "sae_weights.safetensors"))
    assert_clean_error(add(wrong_shape), "W_dec has shape [64, 32], expected [32, 64]")
    renamed = tmp_path / "mine"
    write_sparsify(renamed)
    assert_clean_error(add(renamed), "names no hook", "--hook")
    assert cli_json("sae", "add", "--model", model, "--path", str(renamed), "--hook", "L3.mlp_out")["address"] == (
        "L3.sae[l3-mlp_out-32]"
    )
    assert_clean_error(add(tmp_path / "missing"), "does not exist")
    assert_clean_error(add(wrong_d_model, "--name", "bad name"), "reads vectors of 32 values")
    good = tmp_path / "good"
    write_saelens(good)
    assert_clean_error(add(good, "--name", "a b"), "bad SAE name 'a b'")
    other = tmp_path / "other"
    write_saelens(other, seed=3)
    assert cli_json("sae", "add", "--model", model, "--path", str(good), "--name", "taken")["created"]
    assert_clean_error(add(other, "--name", "taken"), "an SAE named 'taken' is already registered", "--name")
    assert [s["name"] for s in cli_json("sae", "list")["saes"]] == ["l3-mlp_out-32", "taken"]


# ------------------------------------------------------------------------------------------- the store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def engine(request: pytest.FixtureRequest) -> Any:
    return open_store(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


def _record(model_id: int, name: str, digest: str = "a" * 64, layer: int = 1) -> SAERecordCreate:
    return SAERecordCreate(
        model_id=model_id,
        name=name,
        layer=layer,
        site="resid_post",
        hook=f"blocks.{layer}.hook_resid_post",
        format="saelens",
        architecture="topk",
        d_in=64,
        width=32,
        k=4,
        digest=digest,
        weights_digest="b" * 64,
        path=Path("/home/saes/x"),
        source_path="/src/x",
        cfg={"d_in": 64},
        metrics={"fvu": 0.1, "dead": float("nan")},
    )


def test_sae_records_on_both_stores(engine: Any) -> None:
    model = upsert_model_record(engine, ModelRecordCreate(name="m", source="folder", weights_digest="w" * 64))
    alias = upsert_model_record(engine, ModelRecordCreate(name="/abs/m", source="folder", weights_digest="w" * 64))
    assert model.id is not None and alias.id is not None
    stored, created = create_sae_record(engine, _record(model.id, "res1"))
    assert created and stored.address == "L1.sae[res1]" and stored.model == "m" and stored.k == 4
    assert stored.metrics["fvu"] == 0.1 and stored.path == "/home/saes/x"
    again, created = create_sae_record(engine, _record(model.id, "res1"))
    assert not created and again.id == stored.id
    with pytest.raises(ConstraintError, match=r"an SAE named 'res1' is already registered for m"):
        create_sae_record(engine, _record(model.id, "res1", digest="c" * 64))
    create_sae_record(engine, _record(alias.id, "res2", layer=2))
    assert [r.name for r in saes_for_weights(engine, "w" * 64)] == ["res1", "res2"]
    assert [r.name for r in list_sae_records(engine, model_names=["m"])] == ["res1"]
    assert [r.layer for r in saes_named(engine, ["m"], "res2")] == [2]  # same weights, other reference
    with pytest.raises(ValueError, match="name"):
        _record(model.id, "bad name")


# ------------------------------------------------------------------------------------------- tools


def test_activations_tool_is_the_encoding_by_hand(
    ex: LocalExecutor, ctx: ToolContext, tiny_llama_dir: Path, registered: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    model = str(tiny_llama_dir)
    runtime = ctx.runtime(model)
    texts = TINY_TEXTS[:3]
    x = runtime.run(texts, ["L1.resid_post"]).captures["L1.resid_post"]
    out = _call(ex, "activations", model=model, subject="L1.sae.7", texts=texts)
    assert out["subject"] == "L1.sae[res1].7"
    for row, xs in zip(out["results"], x, strict=True):
        expected = relu_codes(xs, registered)[:, 7]
        assert torch.allclose(torch.tensor(row["activations"]), expected, atol=1e-4)
    # The whole code of a TopK SAE (sparsify) against its hand computation.
    sparsify = tmp_path / "run" / "layers.1"
    w = write_sparsify(sparsify)
    register_sae(ctx.engine(), ctx.settings, runtime, sparsify, name="tk")
    codes = runtime.run(texts, ["L1.sae[tk]"]).captures["L1.sae[tk]"]
    for xs, f in zip(x, codes, strict=True):
        assert torch.allclose(f, topk_codes(xs, w, K), atol=1e-4)
        assert int((f != 0).sum(-1).max()) <= K
    single = _call(ex, "activations", model=model, subject="L1.sae[tk].3", texts=texts[:1])["results"][0]
    assert torch.allclose(torch.tensor(single["activations"]), codes[0][:, 3], atol=1e-4)
    with pytest.raises(AddressError, match="is a whole SAE, not a latent"):
        from tools.runtime.queries import unit_series

        unit_series(runtime, "L1.sae[tk]", ["hi"])


def test_ablating_latents_keeps_the_error_term(ctx: ToolContext, tiny_llama_dir: Path, registered: Any) -> None:
    runtime = ctx.runtime(str(tiny_llama_dir))
    texts = TINY_TEXTS[:3]
    base = runtime.run(texts, ["L1.resid_post"], logits="all")
    # Changing nothing changes nothing: the site is rebuilt around the SAE's error term.
    same = runtime.run(texts, [], [Intervention("L1.sae", "scale", value=1.0)], logits="all")
    assert base.logits is not None and same.logits is not None
    for a, b in zip(base.logits, same.logits, strict=True):
        assert torch.equal(a, b)
    # Zeroing latent 5 removes exactly f_5 · W_dec[5] at every position.
    zero = runtime.run(texts, ["L1.resid_post"], [Intervention("L1.sae.5", "zero")], logits="all")
    w = registered
    for xs, edited in zip(base.captures["L1.resid_post"], zero.captures["L1.resid_post"], strict=True):
        f = relu_codes(xs, w)
        assert torch.allclose(edited, xs - f[:, 5:6] * w["W_dec"][5], atol=1e-5)
    by_hand = [xs - relu_codes(xs, w)[:, 5:6] * w["W_dec"][5] for xs in base.captures["L1.resid_post"]]
    patched = runtime.run(texts, [], [Intervention("L1.resid_post", "patch", source=by_hand)], logits="all")
    assert zero.logits is not None and patched.logits is not None
    for a, b in zip(zero.logits, patched.logits, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_ablate_tool_on_latents(ex: LocalExecutor, tiny_llama_dir: Path, registered: Any) -> None:
    model = str(tiny_llama_dir)
    texts = TINY_TEXTS[:4]
    nothing = _call(ex, "ablate", model=model, targets=[], texts=texts)
    assert nothing["effects"] == [0.0] * 4
    zero = _call(ex, "ablate", model=model, targets=["L1.sae.5", "L1.sae.6"], texts=texts)
    assert zero["baseline"] == nothing["baseline"] and any(abs(e) > 1e-6 for e in zero["effects"])
    for method in ("mean", "resample"):
        out = _call(ex, "ablate", model=model, targets=["L1.sae.5"], texts=texts, method=method)
        assert out["targets"] == ["L1.sae.5"] and len(out["effects"]) == 4


def test_steering_a_latent_adds_its_decoder_row(
    ex: LocalExecutor, ctx: ToolContext, tiny_llama_dir: Path, registered: dict[str, torch.Tensor]
) -> None:
    from tools.effects.steering import unit_push

    runtime = ctx.runtime(str(tiny_llama_dir))
    iv = unit_push(runtime, "L1.sae.9", 3.0)
    ids, mask = runtime.pad(runtime.tokenize([TINY_TEXTS[0], TINY_TEXTS[0]]))
    captured, _ = runtime.forward(ids, mask, ["L1.resid_post"], [iv])
    delta = captured["L1.resid_post"][1] - captured["L1.resid_post"][0]
    assert torch.allclose(delta, 3.0 * registered["W_dec"][9].expand_as(delta), atol=1e-5)
    out = _call(
        ex, "steer", model=str(tiny_llama_dir), subject="L1.sae.9", alpha=40.0, prompt="The cat", max_new_tokens=4
    )
    assert out["target"] == "L1.sae.9" and out["unsteered"] != out["steered"]


def test_unit_logits_of_a_latent(
    ex: LocalExecutor, ctx: ToolContext, tiny_llama_dir: Path, registered: dict[str, torch.Tensor]
) -> None:
    runtime = ctx.runtime(str(tiny_llama_dir))
    out = _call(ex, "unit_logits", model=str(tiny_llama_dir), subject="L1.sae.2", k=5)
    assert out["subject"] == "L1.sae[res1].2"
    norm: Any = runtime.adapter.final_norm()
    gamma = norm.weight.float()
    scores = runtime.adapter.unembedding().float() @ (gamma * registered["W_dec"][2])
    assert [t["token_id"] for t in out["promoted"]] == scores.topk(5).indices.tolist()
    assert [t["score"] for t in out["promoted"]] == pytest.approx(scores.topk(5).values.tolist(), abs=1e-4)


def test_exemplar_cache_over_all_latents(
    ex: LocalExecutor, ctx: ToolContext, tiny_llama_dir: Path, registered: dict[str, torch.Tensor]
) -> None:
    from tools.exemplars.cache import ExemplarCache
    from tools.exemplars.service import open_site_cache

    model = str(tiny_llama_dir)
    runtime = ctx.runtime(model)
    out = _call(ex, "exemplars", model=model, subject="L1.sae.4", k=3, max_tokens=1000)
    assert out["unit"] == "L1.sae[res1].4" and out["exemplars"]
    cache, row = open_site_cache(ctx.engine(), runtime.loaded, "L1.sae[res1]", sae_digest=runtime.saes["res1"].digest)
    assert (
        row.site == "L1.sae[res1]" and cache.n_units == D_SAE and cache.spec.sae_digest == runtime.saes["res1"].digest
    )
    assert "L1.sae[res1]-" in Path(row.path).name
    top = cache.top(4, 1)[0]
    ids = torch.tensor([top.token_ids])
    captured, _ = runtime.forward(ids, None, ["L1.sae[res1].4"])
    stored = torch.tensor(top.activations)  # the cache keeps activations in half precision
    assert torch.allclose(stored, captured["L1.sae[res1].4"][0], atol=1e-3, rtol=1e-2)
    assert out["stats"]["max"] == pytest.approx(float(captured["L1.sae[res1].4"][0][1:].max()), abs=1e-4)
    # Another SAE under the same name does not reuse the cache.
    with pytest.raises(Exception, match="another SAE"):
        open_site_cache(ctx.engine(), runtime.loaded, "L1.sae[res1]", sae_digest="0" * 64)
    assert isinstance(cache, ExemplarCache)


def test_patching_latents(ex: LocalExecutor, ctx: ToolContext, tiny_llama_dir: Path, registered: Any) -> None:
    from tools.patching.latents import patch_latents
    from tools.patching.patch import prepare_pairs

    runtime = ctx.runtime(str(tiny_llama_dir))
    clean, corrupt = "The cat sat on the mat", "The dog sat on the mat"
    pairs = prepare_pairs(runtime, clean, corrupt, " and", " the")
    exact = patch_latents(runtime, pairs, "L1.sae", "exact", top=6)
    assert exact.site == "L1.sae[res1]" and exact.layers == [1] and exact.column_kind == "latent"
    assert len(exact.positions) == 6 and len(exact.scores[0]) == 6
    j, score = exact.positions[0], exact.scores[0][0]
    clean_f = runtime.run([clean], ["L1.sae[res1]"]).captures["L1.sae[res1]"][0][:, j]
    iv = Intervention(f"L1.sae.{j}", "patch", source=[clean_f])
    lds = []
    for texts, ivs in (([clean], []), ([corrupt], []), ([corrupt], [iv])):
        logits = runtime.run(texts, [], ivs, logits="last").logits
        assert logits is not None
        lds.append(float(logits[0][pairs.targets[0]] - logits[0][pairs.foils[0]]))
    assert score == pytest.approx((lds[2] - lds[1]) / (lds[0] - lds[1]), abs=1e-4)
    attribution = patch_latents(runtime, pairs, "L1.sae[res1]", "attribution", top=D_SAE)
    assert sorted(attribution.positions) == list(range(D_SAE))
    out = _call(
        ex,
        "patch_activations",
        model=str(tiny_llama_dir),
        clean=clean,
        corrupt=corrupt,
        target=" and",
        foil=" the",
        sae="L1.sae",
        top=3,
    )
    assert out["column_kind"] == "latent" and len(out["positions"]) == 3
    with pytest.raises(InputError, match="not an SAE's latents"):
        patch_latents(runtime, pairs, "L1.sae.3", "exact")


def test_the_result_cache_knows_the_sae(ctx: ToolContext, tiny_llama_dir: Path, registered: Any) -> None:
    from tools.catalog.activations import ActivationsArgs
    from tools.executor import cache_scope

    model = str(tiny_llama_dir)
    latent = ActivationsArgs(model=model, subject="L1.sae.1", texts=["hi"])
    neuron = ActivationsArgs(model=model, subject="L1.mlp.1", texts=["hi"])
    assert "saes:res1@" in (cache_scope(ctx, latent) or "") and "saes" not in (cache_scope(ctx, neuron) or "")


# ------------------------------------------------------------------------------------------- agents and jobs


def test_builtin_scientist_investigates_a_latent(ex: LocalExecutor, tiny_llama_dir: Path, registered: Any) -> None:
    from agent.builtin import BuiltinScientist
    from tests.test_builtin_policy import Loop

    loop = Loop(ex, BuiltinScientist(exemplar_tokens=2000))
    final, _ = loop.run("L1.sae[res1].4", "model_unit", model=str(tiny_llama_dir), budget=24)
    assert final["label"] and final["description"] and 0.0 <= final["confidence"] <= 1.0
    assert loop.calls[0] == "exemplars" and "activations" in loop.calls and "unit_logits" in loop.calls
    assert all(e in loop.experiments for e in final["evidence"]) and final["evidence"]
    assert "promotes" in final["description"]


def test_label_job_over_latents_locally(home: Path, tiny_llama_dir: Path, tmp_path: Path) -> None:
    model = str(tiny_llama_dir)
    folder = tmp_path / "sae"
    write_saelens(folder)
    cli_json("sae", "add", "--model", model, "--path", str(folder), "--name", "res1")
    args = ["label", "--model", model, "--sae", "res1", "--units", "3:5", "--budget", "6", "--max-tokens", "2000"]
    out = cli_json(*args)
    assert out["job"]["status"] == "succeeded" and out["job"]["params"]["layer"] == 1
    assert out["job"]["params"]["sae"] == "res1"
    assert [u["key"] for u in out["units"]] == ["L1.sae[res1].3", "L1.sae[res1].4"]
    assert all(u["status"] == "succeeded" and u["label"] for u in out["units"])
    again = cli_json(*args, "--layer", "1")  # the same job: the layer is the SAE's anyway
    assert again["job"]["id"] == out["job"]["id"]
    assert_clean_error(call_cli("label", "--model", model, "--sae", "nope", "--units", "0:2"), "no SAE named 'nope'")
    assert_clean_error(
        call_cli("label", "--model", model, "--sae", "res1", "--layer", "2", "--units", "0:2"), "reads layer 1, not 2"
    )
    assert_clean_error(call_cli("label", "--model", model, "--sae", "res1", "--units", "30:40"), "latents 0..31")
    shown = call_cli("jobs", "show", str(out["job"]["id"]))
    assert shown.returncode == 0 and "L1.sae[res1].4" in shown.stdout
    record = cli_json("show", str(out["units"][0]["investigation_id"]))
    [exemplars] = [e for e in record["experiments"] if e["tool"] == "exemplars"]
    assert record["explanation"] and exemplars["args"]["subject"] == "L1.sae[res1].3"
    [shared] = [e for e in record["experiments"] if e["call_id"] == "shared-survey"]  # the layer plan's survey
    assert shared["args"]["subject"] == "L1.sae[res1].3" and shared["id"] in record["explanation"]["evidence"]
    [ablation] = [e for e in record["experiments"] if e["call_id"] == "shared-ablation"]  # and its ablation effects
    assert ablation["args"]["targets"] == ["L1.sae[res1].3"] and ablation["tool"] == "ablate"
    assert ablation["result_summary"]["result"]["units"] == 32
    from sqlmodel import select

    from store.db import session
    from store.models import Subject, SubjectKind

    with session(open_store(Settings().db_url())) as db:
        subjects = db.exec(select(Subject).where(Subject.kind == SubjectKind.sae)).all()
    # the latents, and the whole SAE: the subject of the layer plan's investigation that holds the survey
    assert sorted(s.address for s in subjects) == ["L1.sae[res1]", "L1.sae[res1].3", "L1.sae[res1].4"]


def test_audit_tracks_latents_through_the_baselines_sae(home: Path, tiny_llama_dir: Path, tmp_path: Path) -> None:
    import shutil

    from workers.audit import AuditHooks, AuditRequest, ProbeSpec, run_audit

    model = str(tiny_llama_dir)
    folder = tmp_path / "sae"
    write_saelens(folder)
    cli_json("sae", "add", "--model", model, "--path", str(folder), "--name", "res1")
    candidate = tmp_path / "ckpt"
    shutil.copytree(tiny_llama_dir, candidate)
    from transformers import AutoModelForCausalLM

    weights = AutoModelForCausalLM.from_pretrained(candidate)
    with torch.no_grad():
        torch.manual_seed(3)
        weights.model.layers[0].mlp.down_proj.weight.mul_(-4.0)  # layer 1's residual changes
    weights.save_pretrained(candidate)
    asked: list[str] = []

    def explain(unit: str, ckpt: str, request: AuditRequest, settings: Settings) -> tuple[str | None, int | None]:
        asked.append(unit)
        return "new", 1

    request = AuditRequest(
        baseline=model,
        candidate=str(candidate),
        units=["L1.sae.0", "L1.sae[res1].1", "L1.mlp.2"],
        probe=ProbeSpec(windows=24, ctx_len=16, k=5),
        explain=True,
    )
    report = run_audit(request, Settings(), AuditHooks(explain=explain))
    assert [u.unit for u in report.units] == ["L1.sae[res1].0", "L1.sae[res1].1", "L1.mlp.2"]
    assert any(".sae" in u for u in report.changed) and set(asked) == set(report.changed)
    engine = open_store(Settings().db_url())
    # The SAE is carried to the candidate, so its re-explanation there finds it.
    carried = list_sae_records(engine, model_names=[str(candidate)])
    assert [(r.name, r.path) for r in carried] == [
        (r.name, r.path) for r in list_sae_records(engine, model_names=[model])
    ]
    same = run_audit(request.model_copy(update={"candidate": model, "explain": False}), Settings())
    assert same.changed == []
    bad = request.model_copy(update={"units": ["L2.sae.0"], "explain": False})
    with pytest.raises(AddressError, match=r"L1\.sae\[res1\]"):
        run_audit(bad, Settings())


def test_api_takes_latents(
    home: Path, sqlite_url: str, tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from autointerp.api import create_app

    key = "test-key-0123456789"
    auth = {"Authorization": f"Bearer {key}"}
    settings = Settings(home=home, db=sqlite_url)
    folder = tmp_path / "sae"
    write_saelens(folder)
    engine = open_store(sqlite_url)
    from tools.runtime.loading import load_model

    register_sae(engine, settings, ModelRuntime(load_model(str(tiny_llama_dir), settings)), folder, name="res1")
    sent: list[int] = []
    monkeypatch.setattr("workers.label.enqueue_label_job", lambda s, job_id: sent.append(job_id))
    with TestClient(create_app(settings, api_key=key)) as client:
        body = {"model": str(tiny_llama_dir), "subject": "L1.sae.2", "texts": ["The cat sat."]}
        response = client.post("/tools/activations", json=body, headers=auth)
        assert response.status_code == 200, response.text
        assert response.json()["result"]["subject"] == "L1.sae[res1].2"
        bad = client.post("/tools/activations", json={**body, "subject": "L1.sae.99"}, headers=auth)
        assert bad.status_code == 400 and "latents 0..31" in bad.json()["detail"]
        job = {"kind": "label", "model": str(tiny_llama_dir), "sae": "res1", "units": "0:3"}
        response = client.post("/jobs", json=job, headers=auth)
        assert response.status_code == 202, response.text
        assert sent == [response.json()["id"]]
        from workers.jobs import job_items

        assert [i.key for i in job_items(engine, sent[0])] == [f"L1.sae[res1].{j}" for j in range(3)]
        unknown = client.post("/jobs", json={**job, "sae": "nope"}, headers=auth)
        assert unknown.status_code in (400, 422) and "no SAE named 'nope'" in unknown.json()["detail"]
        neither = client.post("/jobs", json={"kind": "label", "model": "m", "units": "0:3"}, headers=auth)
        assert neither.status_code == 422 and "'layer'" in neither.json()["detail"]
        audit = {
            "kind": "audit",
            "baseline": str(tiny_llama_dir),
            "candidate": str(tiny_llama_dir),
            "units": ["L1.sae[res1].3"],
        }
        monkeypatch.setattr("workers.service_jobs.enqueue", lambda *a: None)
        assert client.post("/jobs", json=audit, headers=auth).status_code == 202


def register_for_celery(
    home: Path, pg_url: str, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Point this process (and the CLI and workers it starts) at PostgreSQL and a fresh Redis key prefix,
    and register a SAELens SAE named ``res1`` for the model; returns the model's path."""
    import uuid

    from tests.test_workers import _env

    for key, value in _env(home, pg_url, f"t{uuid.uuid4().hex[:12]}:").items():
        monkeypatch.setenv(key, value)
    model = str(model_dir)
    folder = tmp_path / "sae"
    write_saelens(folder)
    cli_json("sae", "add", "--model", model, "--path", str(folder), "--name", "res1")
    return model


@pytest.mark.services
def test_label_job_over_latents_through_celery(
    home: Path, pg_url: str, tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_workers import worker

    model = register_for_celery(home, pg_url, tiny_llama_dir, tmp_path, monkeypatch)
    args = ["label", "--model", model, "--sae", "res1", "--units", "0:2", "--budget", "6", "--max-tokens", "2000"]
    with worker(Settings(), ["gpu", "cpu"]):
        out = cli_json(*args, "--executor", "celery", "--timeout", "120")
    assert out["job"]["status"] == "succeeded", [u.get("error") for u in out["units"]]
    assert [u["key"] for u in out["units"]] == ["L1.sae[res1].0", "L1.sae[res1].1"]
    assert all(u["status"] == "succeeded" and u["label"] for u in out["units"])


def test_a_broken_registered_copy_is_named(settings: Settings, tiny_llama_dir: Path, registered: Any) -> None:
    engine = open_store(settings.db_url())
    (record,) = list_sae_records(engine)
    (Path(record.path) / "sae_weights.safetensors").write_bytes(b"not safetensors")
    runtime = ToolContext(settings=settings).runtime(str(tiny_llama_dir))
    with pytest.raises(AddressError, match=r"SAE 'res1' is registered but cannot be loaded: .*not a readable"):
        runtime.resolve("L1.sae[res1].0")
    with pytest.raises(AddressError, match=r"no SAE is registered for layer 1; .*'res1' cannot be loaded"):
        runtime.resolve("L1.sae.0")


def test_a_copy_outside_the_cache_home_is_never_read(
    settings: Settings, tiny_llama_dir: Path, registered: Any, tmp_path: Path
) -> None:
    import shutil

    import sqlalchemy as sa

    engine = open_store(settings.db_url())
    (record,) = list_sae_records(engine)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(record.path, elsewhere)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sae_record SET path = :p"), {"p": str(elsewhere)})
    runtime = ToolContext(settings=settings).runtime(str(tiny_llama_dir))
    with pytest.raises(AddressError, match=r"is not under .*saes"):
        runtime.resolve("L1.sae[res1].0")


def test_cli_cache_exemplars_ablate_steer_patch_on_latents(home: Path, tiny_llama_dir: Path, tmp_path: Path) -> None:
    model = str(tiny_llama_dir)
    folder = tmp_path / "sae"
    write_saelens(folder)
    cli_json("sae", "add", "--model", model, "--path", str(folder), "--name", "res1")
    built = cli_json("cache", "build", "--model", model, "--site", "L1.sae", "--max-tokens", "1000", "--ctx", "16")
    assert built["site"] == "L1.sae[res1]" and not built["reused"]
    shown = call_cli("exemplars", "--model", model, "--unit", "L1.sae[res1].3")
    assert shown.returncode == 0, shown.stderr
    assert "L1.sae[res1].3" in shown.stdout and "quantile" in shown.stdout
    ablated = cli_json("ablate", "--model", model, "--target", "L1.sae.3", "--text", "The cat sat on the mat.")
    assert ablated["targets"] == ["L1.sae.3"]
    steered = cli_json("steer", "--model", model, "--unit", "L1.sae.3", "--alpha", "20", "--prompt", "The cat")
    assert steered["target"] == "L1.sae.3"
    args = ["--clean", "The cat sat on the mat", "--corrupt", "The dog sat on the mat", "--target", " and"]
    patched = call_cli("patch", "--model", model, *args, "--foil", " the", "--sae", "L1.sae", "--top", "3")
    assert patched.returncode == 0, patched.stderr
    assert "L1.sae[res1]." in patched.stdout
