"""Activation patching (exact, naive, attribution), the IOI generator, and the patching heatmap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from store.errors import InputError
from store.settings import Settings
from tools.patching.attribution import attribution_tables
from tools.patching.ioi import NAMES, TEMPLATES, IOIPair, generate_ioi, load_pairs_jsonl, write_ioi_jsonl
from tools.patching.patch import SITES, naive_tables, patch, prepare_pairs
from tools.plots.heatmap import plot_patch_heatmap
from tools.runtime.interventions import Intervention
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime

FOX = "The quick brown fox jumps over the lazy dog."
CAT = "The quick brown cat jumps over the lazy dog."  # differs from FOX at position 3
FOX_CAT = "The quick brown fox jumps over the lazy cat."  # differs from FOX at position 8
# A dataset of two equal-length pairs whose changed tokens sit at different positions.
CLEAN = [FOX, FOX]
CORRUPT = [CAT, FOX_CAT]
TARGETS, FOILS = [" dog", " dog"], [" cat", " cat"]


@pytest.fixture(scope="module", params=["tiny_llama_dir", "tiny_gpt2_dir"])
def runtime(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ModelRuntime:
    folder = request.getfixturevalue(request.param)
    home = tmp_path_factory.mktemp("home")
    return ModelRuntime(load_model(str(folder), Settings(home=home)), batch_size=4)


def _max_diff(a: list[list[float]], b: list[list[float]]) -> float:
    return float((torch.tensor(a) - torch.tensor(b)).abs().max())


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two tables, flattened."""
    x, y = a.flatten().double(), b.flatten().double()
    x, y = x - x.mean(), y - y.mean()
    return float((x @ y) / (x.norm() * y.norm()))


# ---------------------------------------------------------------------------------------------- exact


@pytest.mark.parametrize("site", SITES)
def test_exact_equals_naive(runtime: ModelRuntime, site: str) -> None:
    exact = patch(runtime, CLEAN, CORRUPT, site, TARGETS, FOILS, "exact")
    naive = patch(runtime, CLEAN, CORRUPT, site, TARGETS, FOILS, "naive")
    assert _max_diff(exact.scores, naive.scores) < 1e-4
    assert exact.clean_ld == pytest.approx(naive.clean_ld, abs=1e-4)
    assert exact.corrupt_ld == pytest.approx(naive.corrupt_ld, abs=1e-4)
    columns = runtime.shape.n_heads if site == "heads" else 10
    assert exact.n_pairs == 2 and exact.positions == list(range(columns))
    assert exact.layers == list(range(runtime.shape.n_layers))
    assert len(exact.scores) == runtime.shape.n_layers and all(len(r) == columns for r in exact.scores)
    assert exact.tokens[3] == " fox"


def test_dataset_scores_average_before_normalising(runtime: ModelRuntime) -> None:
    pairs = prepare_pairs(runtime, CLEAN, CORRUPT, TARGETS, FOILS)
    patched, clean, corrupt = naive_tables(runtime, pairs, "mlp_out", cells=[(1, 3), (2, 8)])
    result = patch(runtime, CLEAN, CORRUPT, "mlp_out", TARGETS, FOILS, "exact")
    for layer, pos in [(1, 3), (2, 8)]:
        expected = (patched[:, layer, pos].mean() - corrupt.mean()) / (clean.mean() - corrupt.mean())
        assert result.scores[layer][pos] == pytest.approx(float(expected), abs=1e-4)
    assert result.clean_ld == pytest.approx(float(clean.mean()), abs=1e-5)


def test_exact_falls_back_to_naive_for_unsupported_models(
    runtime: ModelRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = patch(runtime, FOX, CAT, "mlp_out", " dog", " cat", "exact")
    monkeypatch.setattr("tools.patching.patch.supports_exact", lambda loaded: False)
    monkeypatch.setattr("tools.patching.patch.exact_tables", None)  # would raise if called
    fallback = patch(runtime, FOX, CAT, "mlp_out", " dog", " cat", "exact")
    assert fallback.method == "exact" and _max_diff(fallback.scores, reference.scores) < 1e-4


@pytest.mark.parametrize("method", ["exact", "naive"])
def test_causal_invariants(runtime: ModelRuntime, method: str) -> None:
    """Layer 0, changed token: the whole difference → score 1; unchanged tokens at layer 0 → 0;
    positions before the first change are untouched at every layer (causality) → 0."""
    for site in ("resid_pre", "attn_out", "mlp_out"):
        scores = torch.tensor(patch(runtime, FOX, CAT, site, " dog", " cat", method).scores)
        assert scores[:, :3].abs().max() < 1e-5, site
        if site == "resid_pre":
            assert scores[0, 3] == pytest.approx(1.0, abs=1e-5)
            assert scores[0, [p for p in range(10) if p != 3]].abs().max() < 1e-6


# ---------------------------------------------------------------------------------------------- attribution


def _patched_ld(runtime: ModelRuntime, address: str, source: torch.Tensor, positions: tuple[int, ...] | None) -> float:
    """LD(" dog" - " cat") of CAT with ``address`` patched from ``source``."""
    tok = runtime.loaded.tokenizer
    target, foil = (tok(x, add_special_tokens=False)["input_ids"][0] for x in (" dog", " cat"))
    iv = Intervention(address, "patch", source=source, positions=positions)
    logits = runtime.run([CAT], interventions=[iv], logits="last").logits
    assert logits is not None
    return float(logits[0][target] - logits[0][foil])


@pytest.mark.parametrize("site", SITES)
def test_attribution_is_the_first_order_change(runtime: ModelRuntime, site: str) -> None:
    """Attribution = d/dε LD(a_corrupt + ε (a_clean - a_corrupt)) at ε = 0 (central finite differences)."""
    pairs = prepare_pairs(runtime, FOX, CAT, " dog", " cat")
    attr, clean_ld, corrupt_ld = attribution_tables(
        runtime.loaded, pairs.clean_ids, pairs.corrupt_ids, site, pairs.targets, pairs.foils
    )
    assert attr.shape == (1, runtime.shape.n_layers, runtime.shape.n_heads if site == "heads" else 10)
    cells = [(0, 1), (1, 2), (3, 0)] if site == "heads" else [(0, 3), (1, 5), (3, 9)]
    eps = 1e-2
    for layer, col in cells:
        address = f"L{layer}.attn.h{col}" if site == "heads" else f"L{layer}.{site}"
        clean = runtime.run([FOX], capture=[address]).captures[address][0]
        corrupt = runtime.run([CAT], capture=[address]).captures[address][0]

        positions = None if site == "heads" else (col,)
        plus, minus = (
            _patched_ld(runtime, address, corrupt + sign * eps * (clean - corrupt), positions) for sign in (1, -1)
        )
        derivative = (plus - minus) / (2 * eps)
        assert float(attr[0, layer, col]) == pytest.approx(derivative, rel=1e-2, abs=1e-3)
    # Unchanged positions (before the change, and every other token at layer 0) get exactly 0.
    result = patch(runtime, FOX, CAT, site, " dog", " cat", "attribution")
    if site != "heads":
        assert all(v == 0 for v in torch.tensor(result.scores)[:, :3].flatten().tolist())
    assert result.clean_ld == pytest.approx(float(clean_ld[0]), abs=1e-5)
    assert result.corrupt_ld == pytest.approx(float(corrupt_ld[0]), abs=1e-5)


# ---------------------------------------------------------------------------------------------- bad input


def test_bad_inputs_are_named(runtime: ModelRuntime) -> None:
    with pytest.raises(InputError, match=r"clean has 10 tokens and corrupt has 12"):
        patch(runtime, FOX, "A cat sat on the mat and looked at the moon.", "resid_pre", " dog", " cat")
    with pytest.raises(InputError, match=r"target ' elephant' is \d+ tokens"):
        patch(runtime, FOX, CAT, "resid_pre", " elephant", " cat")
    with pytest.raises(InputError, match=r"foil ' elephant' is \d+ tokens"):
        patch(runtime, FOX, CAT, "resid_pre", " dog", " elephant")
    with pytest.raises(InputError, match=r"unknown site 'resid_post'.*resid_pre, attn_out, mlp_out, heads"):
        patch(runtime, FOX, CAT, "resid_post", " dog", " cat")
    with pytest.raises(InputError, match=r"unknown method 'fast'"):
        patch(runtime, FOX, CAT, "resid_pre", " dog", " cat", "fast")
    with pytest.raises(InputError, match=r"no effect to explain"):
        patch(runtime, FOX, FOX, "resid_pre", " dog", " cat")
    with pytest.raises(InputError, match=r"same token length: pair 0 has 10 tokens, pair 1 has 12"):
        patch(
            runtime,
            [FOX, "A cat sat on the mat and looked at the moon."],
            [CAT, "A dog sat on the mat and looked at the moon."],
            "resid_pre",
            " dog",
            " cat",
        )
    with pytest.raises(InputError, match=r"2 clean prompts but 1 corrupt"):
        patch(runtime, CLEAN, [CAT], "resid_pre", " dog", " cat")
    with pytest.raises(InputError, match=r"3 targets for 2 pairs"):
        patch(runtime, CLEAN, CORRUPT, "resid_pre", [" dog"] * 3, " cat")


def test_heatmap_is_written(runtime: ModelRuntime, tmp_path: Path) -> None:
    for site in ("resid_pre", "heads"):
        result = patch(runtime, FOX, CAT, site, " dog", " cat", "exact")
        path = plot_patch_heatmap(result, tmp_path / f"{site}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------- IOI


def test_ioi_generator_is_deterministic_and_swaps_the_second_subject() -> None:
    pairs = generate_ioi(50, seed=7)
    assert pairs == generate_ioi(50, seed=7)
    assert pairs != generate_ioi(50, seed=8)
    assert len(TEMPLATES) >= 8 and len(NAMES) >= 30
    assert {p.template.replace("{B} and {A}", "{A} and {B}", 1) for p in generate_ioi(300, seed=1)} == set(TEMPLATES)
    for pair in pairs:
        io, s = pair.target[1:], pair.foil[1:]
        assert io != s and io in NAMES and s in NAMES
        # Clean: IO once, S twice, S last; corrupt: the last S became IO, nothing else changed.
        assert pair.clean.count(io) == 1 and pair.clean.count(s) == 2
        head, tail = pair.clean.rsplit(s, 1)
        assert pair.corrupt == head + io + tail
        assert pair.clean.index(io) < pair.clean.rindex(s)


def test_ioi_jsonl_round_trip_and_line_numbered_errors(tmp_path: Path) -> None:
    pairs = generate_ioi(5, seed=0)
    path = write_ioi_jsonl(pairs, tmp_path / "ioi" / "pairs.jsonl")
    assert load_pairs_jsonl(path) == pairs
    bad = tmp_path / "bad.jsonl"
    good = pairs[0].model_dump_json()
    bad.write_text(f"{good}\n\n{{not json\n")
    with pytest.raises(InputError, match=r"bad.jsonl:3: not valid JSON"):
        load_pairs_jsonl(bad)
    bad.write_text(f"{good}\n{json.dumps({'clean': 'x', 'corrupt': 'y'})}\n")
    with pytest.raises(InputError, match=r"bad.jsonl:2: not an IOI pair \(target: Field required"):
        load_pairs_jsonl(bad)
    with pytest.raises(InputError, match=r"cannot read pairs"):
        load_pairs_jsonl(tmp_path / "missing.jsonl")


# ---------------------------------------------------------------------------------------------- embedded model


def _solved_pairs(runtime: ModelRuntime, count: int, seed: int) -> list[IOIPair]:
    """IOI pairs the model gets right (clean LD > 0 > corrupt LD)."""
    candidates = generate_ioi(4 * count, seed=seed, tokenizer=runtime.loaded.tokenizer)
    tok = runtime.loaded.tokenizer
    clean = runtime.run([p.clean for p in candidates], logits="last").logits
    corrupt = runtime.run([p.corrupt for p in candidates], logits="last").logits
    assert clean is not None and corrupt is not None
    solved = []
    for pair, lc, lx in zip(candidates, clean, corrupt, strict=True):
        t, f = (tok(x, add_special_tokens=False)["input_ids"][0] for x in (pair.target, pair.foil))
        if lc[t] > lc[f] and lx[t] < lx[f]:
            solved.append(pair)
    return solved[:count]


@pytest.mark.slow
def test_ioi_names_are_single_tokens_and_pairs_equal_length(embedded_runtime: ModelRuntime) -> None:
    tok = embedded_runtime.loaded.tokenizer
    assert all(len(tok(" " + n, add_special_tokens=False)["input_ids"]) == 1 for n in NAMES)
    for pair in generate_ioi(100, seed=0, tokenizer=tok):
        clean, corrupt = embedded_runtime.tokenize([pair.clean, pair.corrupt])
        assert len(clean) == len(corrupt)
        assert sum(a != b for a, b in zip(clean, corrupt, strict=True)) == 1


@pytest.mark.slow
def test_embedded_model_does_ioi(embedded_runtime: ModelRuntime) -> None:
    """Share of clean IOI prompts with LD(IO - S) > 0: 0.94 of 200 observed (seed 0)."""
    tok = embedded_runtime.loaded.tokenizer
    pairs = generate_ioi(100, seed=0, tokenizer=tok)
    logits = embedded_runtime.run([p.clean for p in pairs], logits="last").logits
    assert logits is not None
    ids = [
        (tok(p.target, add_special_tokens=False)["input_ids"][0], tok(p.foil, add_special_tokens=False)["input_ids"][0])
        for p in pairs
    ]
    share = sum(float(row[t] - row[f]) > 0 for row, (t, f) in zip(logits, ids, strict=True)) / len(pairs)
    assert share > 0.85


@pytest.mark.slow
def test_embedded_exact_equals_naive_on_ioi(embedded_runtime: ModelRuntime) -> None:
    pair = _solved_pairs(embedded_runtime, 1, seed=0)[0]
    pairs = prepare_pairs(embedded_runtime, pair.clean, pair.corrupt, pair.target, pair.foil)
    length = len(pairs.clean_ids[0])
    exact = patch(embedded_runtime, pair.clean, pair.corrupt, "resid_pre", pair.target, pair.foil, "exact")
    # The naive loop costs one full forward per cell: check every position of layer 0, and the swapped
    # name and the last two positions of every fourth layer.
    swapped = next(p for p, (a, b) in enumerate(zip(*pairs.clean_ids, *pairs.corrupt_ids, strict=True)) if a != b)
    cells = [(0, p) for p in range(length)]
    cells += [(layer, p) for layer in range(1, 30, 4) for p in (swapped, length - 2, length - 1)]
    naive, clean_ld, corrupt_ld = naive_tables(embedded_runtime, pairs, "resid_pre", cells)
    effect = float(clean_ld[0] - corrupt_ld[0])
    for layer, p in cells:
        expected = (float(naive[0, layer, p]) - float(corrupt_ld[0])) / effect
        assert exact.scores[layer][p] == pytest.approx(expected, abs=1e-4), (layer, p)


@pytest.mark.slow
def test_embedded_attribution_tracks_exact_on_ioi(embedded_runtime: ModelRuntime) -> None:
    """Attribution vs exact on resid_pre: off the swapped name token the first-order estimate is
    close (r ≈ 0.96 observed); on that token at early layers a whole-token change is far from
    linear (exact ≈ 1, attribution ≈ 0), which is why the correlation over all cells is lower."""
    per_pair = []
    for pair in _solved_pairs(embedded_runtime, 3, seed=3):
        args = (pair.clean, pair.corrupt, "resid_pre", pair.target, pair.foil)
        exact = torch.tensor(patch(embedded_runtime, *args, "exact").scores)
        attr = torch.tensor(patch(embedded_runtime, *args, "attribution").scores)
        clean, corrupt = embedded_runtime.tokenize([pair.clean, pair.corrupt])
        swapped = next(p for p, (a, b) in enumerate(zip(clean, corrupt, strict=True)) if a != b)
        keep = [p for p in range(len(clean)) if p != swapped]
        per_pair.append(pearson(exact[:, keep], attr[:, keep]))
        assert exact[0, swapped] == pytest.approx(1.0, abs=1e-4)
    assert min(per_pair) > 0.7
    assert sum(per_pair) / len(per_pair) > 0.85
