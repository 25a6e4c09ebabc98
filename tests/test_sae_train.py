"""Offline TopK SAE training on the tiny model: the hand-written gradients against autograd, the
metrics on hand cases, training that lowers FVU with unit-norm decoder rows, and a run killed with
SIGKILL that resumes to the same steps, the same tokens (none repeated, none missed) and the same SAE."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from store.settings import Settings
from tests.cli_helpers import assert_clean_error, call_cli, cli_json
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime
from tools.sae.formats import load_sae_folder
from tools.sae.train import (
    TopKTrainer,
    TrainSpec,
    ce_recovered,
    dead_fraction,
    evaluate_sae,
    fvu,
    l0,
    token_hash,
    train_sae,
)

REPO = Path(__file__).parent.parent

# A tiny run: 31 tokens per window (position 0 skipped), blocks of 9 windows (279 tokens: 4 batches
# of 64 and 23 carried over), 24 steps across several blocks.
SPEC = dict(
    layer=2,
    site="resid_post",
    latents=96,
    k=4,
    tokens=64 * 24,
    batch=64,
    ctx=32,
    buffer_tokens=256,
    aux_dead_tokens=256,
    warmup_steps=2,
    eval_tokens=620,
    ce_tokens=124,
)


@pytest.fixture(scope="module")
def runtime(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelRuntime:
    home = tmp_path_factory.mktemp("home")
    return ModelRuntime(load_model(str(tiny_llama_dir), Settings(home=home)))


def _autograd_loss(tr: TopKTrainer, raw: torch.Tensor, dead: torch.Tensor | None) -> torch.Tensor:
    p = {n: t.clone().requires_grad_(True) for n, t in tr.params.items()}
    x = raw / tr.scale
    pre = (x - p["b_dec"]) @ p["W_enc_t"].T + p["b_enc"]
    top_v, top_i = pre.topk(tr.k, dim=-1)
    f = torch.zeros_like(pre).scatter(-1, top_i, top_v.relu())
    x_hat = f @ p["W_dec"] + p["b_dec"]
    total_var = (x - x.mean(0)).pow(2).sum()
    loss = (x_hat - x).pow(2).sum() / total_var
    if dead is not None and int(dead.sum()):
        n_dead = int(dead.sum())
        k_aux = min(tr.k_aux, n_dead)
        masked = torch.where(dead[None], pre, torch.tensor(float("-inf")))
        a_v, a_i = masked.topk(k_aux, dim=-1)
        e_hat = torch.zeros_like(pre).scatter(-1, a_i, a_v.relu()) @ p["W_dec"]
        aux = min(n_dead / tr.k_aux, 1.0) * (e_hat - (x - x_hat).detach()).pow(2).sum() / total_var
        loss = loss + tr.auxk_alpha * aux
    loss.backward()
    tr._autograd = {n: t.grad for n, t in p.items()}  # type: ignore[attr-defined]
    return loss


@pytest.mark.parametrize("with_aux", [False, True])
def test_hand_written_gradients_match_autograd(with_aux: bool) -> None:
    torch.manual_seed(0)
    d, n, k = 12, 40, 3
    tr = TopKTrainer(d, n, k, lr=1e-3, auxk_alpha=0.5, aux_dead_tokens=10, seed=1)
    raw = torch.randn(32, d) * 5 + 2
    tr.init_from_sample(raw)
    with torch.no_grad():
        tr.params["b_enc"].copy_(torch.randn(n) * 0.1)
    dead = None
    if with_aux:
        tr.tokens_seen = 100
        tr.last_fired = torch.full((n,), 100)
        tr.last_fired[:15] = -1  # 15 dead latents (k_aux = 6)
        dead = tr.last_fired < 0
    grads, stats, _ = tr.loss_and_grads(raw)
    _autograd_loss(tr, raw, dead)
    assert (stats.n_dead > 0) == with_aux
    for name, want in tr._autograd.items():  # type: ignore[attr-defined]
        torch.testing.assert_close(grads[name], want, rtol=1e-4, atol=1e-6, msg=name)


def test_metrics_on_hand_cases() -> None:
    x = torch.tensor([[1.0, 0.0], [3.0, 0.0], [2.0, 2.0], [2.0, -2.0]])  # mean (2, 0); Σ‖x − x̄‖² = 1 + 1 + 4 + 4
    x_hat = x.clone()
    x_hat[0, 0] = 2.0  # squared error 1
    assert fvu(x, x_hat) == pytest.approx(1 / 10)
    assert fvu(x, x) == 0.0
    f = torch.tensor([[0.0, 1.0, 2.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    assert l0(f) == pytest.approx(1.0)
    last = torch.tensor([-1, 10, 500, 1_200_000, 2_000_000])
    assert dead_fraction(last, 2_000_000) == pytest.approx(3 / 5)  # -1, 10, 500 silent for the last 1M tokens
    assert dead_fraction(last[:3], 600) == pytest.approx(1 / 3)  # a short run: only never-fired is dead
    assert ce_recovered(2.0, 2.5, 7.0) == pytest.approx(0.9)
    assert ce_recovered(2.0, 2.0, 7.0) == 1.0 and ce_recovered(2.0, 7.0, 7.0) == 0.0
    ids = torch.arange(1000)
    assert token_hash(ids) == (token_hash(ids[:300]) + token_hash(ids[300:])) % 2**64
    assert token_hash(ids) != token_hash(torch.cat([ids[:-1], ids[:1]]))  # one repeated, one missed


def test_training_lowers_fvu_with_unit_norm_decoder(runtime: ModelRuntime, tmp_path: Path) -> None:
    spec = TrainSpec(**{**SPEC, "tokens": 64 * 60, "k": 8, "lr": 3e-3})
    untrained = TopKTrainer(64, 96, 8, lr=1e-3)
    report = train_sae(runtime, spec, tmp_path / "run", progress=False, encoder_precision="float32")
    assert report.steps == 60 and report.tokens == 64 * 60 and not report.reused
    sae_file = load_sae_folder(report.sae_path)
    assert (sae_file.architecture, sae_file.width, sae_file.k, sae_file.address) == ("topk", 96, 8, "L2.resid_post")
    norms = sae_file.sae.W_dec.detach().norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones(96), atol=1e-5, rtol=0)
    assert sae_file.metrics is not None and sae_file.metrics["fvu"] == pytest.approx(report.metrics.fvu)
    assert set(sae_file.metrics) >= {"fvu", "l0", "dead_fraction", "ce_recovered"}
    assert sae_file.cfg["autointerp_training"]["steps"] == 60

    # The same held-out windows with the initial (untrained) SAE: FVU is higher.
    from tools.sae.train import _Stream, _training_corpus  # the run's own held-out windows

    held = _Stream(_training_corpus(spec, 100), runtime.loaded.tokenizer, 32, 20).held_out()
    x = torch.cat([runtime.forward(torch.tensor(held), None, ["L2.resid_post"])[0]["L2.resid_post"][:, 1:]])
    untrained.init_from_sample(x.reshape(-1, 64))
    before = evaluate_sae(runtime, untrained.to_sae(), "L2.resid_post", held, skip=1, ce_windows=0)
    m = report.metrics
    assert m.fvu < 0.75 * before.fvu, (m.fvu, before.fvu)
    assert m.eval_tokens == 620 and 0 < m.l0 <= 8 and 0 <= m.dead_fraction <= 1
    assert m.ce_clean is not None and m.ce_sae is not None and m.ce_zero is not None and m.ce_recovered is not None
    assert m.ce_recovered == pytest.approx(ce_recovered(m.ce_clean, m.ce_sae, m.ce_zero))

    again = train_sae(runtime, spec, tmp_path / "run", progress=False)
    assert again.reused and again.metrics == report.metrics


def test_killed_run_resumes_without_repeating_tokens(tiny_llama_dir: Path, tmp_path: Path) -> None:
    """SIGKILL at step 13 (checkpoint at step 10, in the middle of a block); a second process finishes."""
    script = textwrap.dedent(
        f"""
        import json, os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from store.settings import Settings
        from tools.runtime.loading import load_model
        from tools.runtime.model_runtime import ModelRuntime
        from tools.sae.train import TrainSpec, train_sae
        run, log, kill = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "kill"
        rt = ModelRuntime(load_model({str(tiny_llama_dir)!r}, Settings(home=Path({str(tmp_path)!r}) / "h")))
        def on_step(step, ids):
            with log.open("a") as handle:
                handle.write(json.dumps([step, ids.tolist()]) + "\\n")
            if kill and step == 13:
                os.kill(os.getpid(), signal.SIGKILL)
        spec = TrainSpec(**json.loads({json.dumps(json.dumps(SPEC))}))
        report = train_sae(rt, spec, run, progress=False, checkpoint_every=5, encoder_precision="float32",
                           on_step=on_step)
        print(report.model_dump_json())
        """
    )

    def run(kind: str, folder: str, log: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / folder), str(tmp_path / log), kind],
            capture_output=True,
            text=True,
            timeout=300,
        )

    killed = run("kill", "resumed", "killed.log")
    assert killed.returncode == -9, killed.stderr
    assert (tmp_path / "resumed" / "checkpoint.safetensors").is_file()
    assert not (tmp_path / "resumed" / "sae").exists()  # no half-written SAE
    finished = run("go", "resumed", "resumed.log")
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout.strip().splitlines()[-1])
    plain = run("go", "plain", "plain.log")
    assert plain.returncode == 0, plain.stderr
    reference = json.loads(plain.stdout.strip().splitlines()[-1])

    def steps(log: str) -> dict[int, list[int]]:
        rows = [json.loads(line) for line in (tmp_path / log).read_text().splitlines()]
        return {step: ids for step, ids in rows}

    before, after, whole = steps("killed.log"), steps("resumed.log"), steps("plain.log")
    assert max(before) == 13 and report["resumed_from_step"] == 10 and min(after) == 11
    assert report["steps"] == reference["steps"] == 24 and report["tokens"] == 24 * 64
    kept = {step: ids for step, ids in before.items() if step <= 10} | after
    assert sorted(kept) == list(range(1, 25))
    used = [i for ids in kept.values() for i in ids]
    assert len(used) == len(set(used)) == 24 * 64  # no token trained on twice
    assert kept == whole  # the same batches, in the same order, as the uninterrupted run
    assert report["tokens_hash"] == reference["tokens_hash"] == f"{token_hash(torch.tensor(used)):016x}"
    got = load_sae_folder(report["sae_path"]).sae
    want = load_sae_folder(reference["sae_path"]).sae
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        torch.testing.assert_close(getattr(got, name), getattr(want, name), rtol=1e-4, atol=1e-5, msg=name)


def test_sae_train_command_trains_registers_and_lists(home: Path, tiny_llama_dir: Path) -> None:
    """``autointerp sae train`` end to end: trains, writes SAELens files, registers; ``sae list`` shows the metrics."""
    model = str(tiny_llama_dir)
    args = ["sae", "train", "--model", model, "--layer", "1", "--latents", "64", "-k", "4", "--tokens", "2048"]
    args += ["--batch", "256", "--corpus", "builtin", "--ctx", "32", "--name", "trained"]
    out = cli_json(*args)
    training = out["training"]
    assert training["steps"] == 8 and training["tokens"] == 2048 and training["width"] == 64
    assert 0 < training["metrics"]["fvu"] < 1 and training["metrics"]["l0"] <= 4
    assert out["registration"]["address"] == "L1.sae[trained]" and out["registration"]["created"]
    assert (Path(training["sae_path"]) / "sae_weights.safetensors").is_file()
    listed = cli_json("sae", "list", "--model", model)
    (record,) = [r for r in listed["saes"] if r["name"] == "trained"]
    assert record["architecture"] == "topk" and record["k"] == 4 and record["width"] == 64
    assert record["metrics"]["fvu"] == pytest.approx(training["metrics"]["fvu"])
    again = cli_json(*args)  # a finished run is reused, and registering the same SAE again changes nothing
    assert again["training"]["reused"] and not again["registration"]["created"]
    assert_clean_error(call_cli(*args[:4], "--layer", "9", "--latents", "64"), "layer 9")
    assert_clean_error(call_cli(*args[:4], "--layer", "1", "--latents", "8", "-k", "9"), "k=9", "(8)")
    for bad in (["--layer", "1", "--site", "hook_z"], ["--layer", "abc"]):  # usage errors: exit 2, no traceback
        proc = call_cli(*args[:4], *bad)
        assert proc.returncode == 2 and "Invalid value" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
