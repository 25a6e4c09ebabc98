"""SCR / TPP / S_SHIFT: the formulas on hand-made probes and latents whose answer is known, probe
training, the pooled-ablation identity against a real per-token ablation through the runtime on the
tiny model, the pooled cache, and a random SAE scoring near 0 on a small synthetic task."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch

from store.errors import InputError
from store.settings import Settings
from tools.runtime.interventions import Intervention
from tools.runtime.latents import AttachedSAE
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime
from tools.runtime.sae import SAEShape, SparseAutoencoder
from tools.runtime.testing import TINY_TEXTS
from tools.shift.metrics import (
    Labelled,
    ProbeData,
    ScrProbes,
    ScrSets,
    Selection,
    attribution,
    judged,
    latent_effects,
    prepare_scr,
    prepare_tpp,
    random_latents,
    score_scr,
    score_tpp,
    scr_score,
    top_n,
    tpp_score,
)
from tools.shift.pooled import Pooled, ablate, capture_pooled, pool_path, pooled_activations, pooled_key
from tools.shift.probes import LinearProbe, ProbeConfig, accuracy, train_probe

# ------------------------------------------------------------------------------------------- helpers


def _pool(f: torch.Tensor, w_dec: torch.Tensor, error: torch.Tensor) -> Pooled:
    """A pool whose activations are exactly ``f @ W_dec + error`` (error: the part the SAE misses)."""
    n = f.shape[0]
    return Pooled(tuple(f"text {i}" for i in range(n)), f @ w_dec + error, f, torch.ones(n, dtype=torch.long))


def _data(pool: Pooled, rows: list[int], y: list[int]) -> ProbeData:
    """The same rows as train and test set (hand-made probes need no held-out data)."""
    labelled = Labelled(pool, torch.tensor(rows), torch.tensor(y))
    return ProbeData(labelled, labelled)


def _scr_toy() -> tuple[ScrSets, torch.Tensor, ScrProbes]:
    """Dimensions (task t, spurious s, noise z); t, s ∈ {±1} in four balanced quadrants. Latents:
    0 = relu(s), 1 = relu(−s) (together: exactly the spurious direction), 2 = relu(t), 3 = relu(−t),
    4 = |z| (writes the noise dimension only). The biased probe weighs s twice as much as t."""
    w_dec = torch.tensor([[0.0, 1, 0], [0, -1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1]])
    rows, task, spur = [], [], []
    for t in (1.0, -1.0):
        for s in (1.0, -1.0):
            for z in (0.5, 1.5, 0.7):
                rows.append([max(s, 0), max(-s, 0), max(t, 0), max(-t, 0), z])
                task.append(int(t > 0))
                spur.append(int(s > 0))
    f = torch.tensor(rows)
    pool = _pool(f, w_dec, torch.tensor([0.05, 0.1, 0.3]))
    everything = list(range(len(rows)))
    diagonal = [i for i in everything if task[i] == spur[i]]
    sets = ScrSets(
        task_name="task",
        spurious_name="gender",
        biased=_data(pool, diagonal, [task[i] for i in diagonal]),
        task=_data(pool, everything, task),
        spurious=_data(pool, everything, spur),
    )
    probes = ScrProbes(
        biased=LinearProbe.from_weights(torch.tensor([1.0, 2.0, 0.0])),
        task=LinearProbe.from_weights(torch.tensor([1.0, 0.0, 0.0])),
        spurious=LinearProbe.from_weights(torch.tensor([0.0, 1.0, 0.0])),
    )
    return sets, w_dec, probes


# ------------------------------------------------------------------------------------------- formulas


def test_latent_effects_match_the_formula_written_out() -> None:
    g = torch.Generator().manual_seed(0)
    f = torch.rand(12, 6, generator=g) * (torch.rand(12, 6, generator=g) > 0.5)
    y = torch.tensor([1, 0] * 6)
    w = torch.randn(4, generator=g)
    w_dec = torch.randn(6, 4, generator=g)
    scr = latent_effects(f, y, w, w_dec, "scr")
    tpp = latent_effects(f, y, w, w_dec, "tpp")
    for j in range(6):
        pos = sum(float(f[i, j]) for i in range(12) if y[i] == 1) / 6
        neg = sum(float(f[i, j]) for i in range(12) if y[i] == 0) / 6
        dot = sum(float(w[k]) * float(w_dec[j, k]) for k in range(4))
        assert float(scr[j]) == pytest.approx(abs((pos - neg) * dot), abs=1e-6)
        assert float(tpp[j]) == pytest.approx(max(pos - neg, 0.0) * dot, abs=1e-6)
    with pytest.raises(InputError, match="unknown effect kind"):
        latent_effects(f, y, w, w_dec, "both")  # type: ignore[arg-type]


def test_top_n_takes_only_nonzero_effects_largest_first() -> None:
    effects = torch.tensor([0.0, 3.0, -1.0, 0.5, 0.0, 2.0])
    assert top_n(effects, 2) == [1, 5]
    assert top_n(effects, 3) == [1, 5, 3]
    # Four non-zero effects: N = 10 takes four, and a zero effect ranks above a negative one (SAEBench's topk).
    assert top_n(effects, 10) == [1, 5, 3, 0] or top_n(effects, 10) == [1, 5, 3, 4]
    assert top_n(torch.zeros(5), 3) == []


def test_scr_score_and_its_denominator_guard() -> None:
    assert scr_score(0.85, 0.8, 0.9) == pytest.approx(0.5)
    assert scr_score(0.9, 0.8, 0.8005) == 0.0  # denominator below 0.001
    assert scr_score(0.9, 0.8, 0.7) == 0.0  # the oracle is worse than the biased probe
    assert scr_score(0.7, 0.8, 0.9) == pytest.approx(-1.0)


def test_tpp_score_formula() -> None:
    clean = {"a": 0.9, "b": 0.8, "c": 1.0}
    after = {"a": 0.6, "b": 0.7, "c": 0.9}
    intended, unintended, score = tpp_score(clean, after, "a")
    assert (intended, unintended, score) == pytest.approx((0.3, 0.1, 0.2))
    with pytest.raises(InputError, match="at least one other class"):
        tpp_score({"a": 1.0}, {"a": 1.0}, "a")


# ------------------------------------------------------------------------------------------- SCR


def test_scr_on_a_toy_where_the_answer_is_known() -> None:
    sets, w_dec, probes = _scr_toy()
    setup = prepare_scr(sets, w_dec, probes=probes)
    # The spurious probe's effects: latents 0 and 1 (|±1 · ±1| = 1); task and noise latents: 0.
    assert setup.effects["spurious"].tolist() == pytest.approx([1.0, 1.0, 0.0, 0.0, 0.0])
    result = score_scr(setup, attribution(), n_values=(1, 2, 5))
    first, second = result.directions
    # Direction 1: the biased probe follows s on task data (50%); the task oracle is perfect.
    assert (first.ablated, first.evaluated, first.base_accuracy, first.oracle_accuracy) == ("gender", "task", 0.5, 1.0)
    by_n = {p.n: p for p in first.points}
    assert sorted(by_n[2].latents) == [0, 1] and by_n[5].latents == by_n[2].latents  # only 2 non-zero effects
    assert by_n[2].accuracy == 1.0 and by_n[2].score == pytest.approx(1.0)
    # One of the two spurious latents removes s for one sign only: 3 quadrants of 4 right, S = 0.5.
    assert by_n[1].accuracy == 0.75 and by_n[1].score == pytest.approx(0.5)
    # Direction 2: the biased probe is already perfect on gender data, oracle − base = 0: guarded to 0.
    assert (second.base_accuracy, second.oracle_accuracy) == (1.0, 1.0)
    assert all(p.score == 0.0 for p in second.points)
    assert result.reported == 1 and result.scores == pytest.approx({1: 0.5, 2: 1.0, 5: 1.0})
    assert result.biased_accuracy == 1.0


def test_scr_selection_hook_irrelevant_latent_judged_subset_and_random() -> None:
    sets, w_dec, probes = _scr_toy()
    setup = prepare_scr(sets, w_dec, probes=probes)
    irrelevant = score_scr(setup, Selection("noise latent", lambda request: [4]), n_values=(2,))
    assert irrelevant.scores == {2: 0.0} and irrelevant.selection == "noise latent"
    # The judge marked only latent 1 as gender-related: of the top 2 it keeps that one, S = 0.5.
    shift = score_scr(setup, judged({"gender": {1, 3}}), n_values=(2,))
    assert shift.directions[0].points[0].latents == [1] and shift.scores == pytest.approx({2: 0.5})
    # Nothing marked for the concept: nothing ablated, S = 0.
    assert score_scr(setup, judged({"task": {2}}), n_values=(2,)).scores == {2: 0.0}
    # SHIFT's ranking by the biased probe: |Δmean · w_biased·W_dec| on the biased set ranks 0, 1 (2·1)
    # above 2, 3 (1·1); the judge then keeps the gender ones.
    assert setup.effects["biased"].tolist() == pytest.approx([2.0, 2.0, 1.0, 1.0, 0.0])
    biased_rank = score_scr(setup, judged({"gender": {0, 1, 2}}, ranking="biased"), n_values=(2, 4))
    assert [sorted(p.latents) for p in biased_rank.directions[0].points] == [[0, 1], [0, 1, 2]]
    # Random: reproducible, nested across N, in range.
    rand = score_scr(setup, random_latents(seed=3), n_values=(2, 4))
    again = score_scr(setup, random_latents(seed=3), n_values=(2, 4))
    assert rand == again
    small, large = (p.latents for p in rand.directions[0].points)
    assert set(small) <= set(large) and len(large) == 4 and all(0 <= j < 5 for j in large)
    with pytest.raises(InputError, match=r"outside 0\.\.4"):
        score_scr(setup, Selection("bad", lambda request: [7]), n_values=(1,))
    with pytest.raises(InputError, match="twice"):
        score_scr(setup, Selection("bad", lambda request: [1, 1]), n_values=(2,))


def test_scr_reports_direction_two_when_the_probe_leans_on_the_task() -> None:
    sets, w_dec, _ = _scr_toy()
    probes = ScrProbes(
        biased=LinearProbe.from_weights(torch.tensor([2.0, 1.0, 0.0])),
        task=LinearProbe.from_weights(torch.tensor([1.0, 0.0, 0.0])),
        spurious=LinearProbe.from_weights(torch.tensor([0.0, 1.0, 0.0])),
    )
    result = score_scr(prepare_scr(sets, w_dec, probes=probes), attribution(), n_values=(2,))
    second = result.directions[1]
    assert result.reported == 2 and (second.base_accuracy, second.oracle_accuracy) == (0.5, 1.0)
    # Removing the task latents leaves the biased probe reading s (and the error term's t offset 0.05·2).
    assert sorted(second.points[0].latents) == [2, 3] and result.scores == pytest.approx({2: 1.0})


# ------------------------------------------------------------------------------------------- TPP


def test_tpp_on_class_specific_latents() -> None:
    """Three classes, x = 2·e_c; latent c = x_c, W_dec = I. Probe c: w = 2e_c − Σ_other e_o, b = −1.
    Ablating latent c turns class c's positives into 0 (logit −1, wrong: accuracy 0.5) and leaves
    every other probe perfect, so TPP_c = (1 − 0.5) − 0 = 0.5 for each class."""
    names = ["a", "b", "c"]
    f = torch.cat([2 * torch.eye(3)[c].repeat(4, 1) for c in range(3)])
    pool = _pool(f, torch.eye(3), torch.zeros(3))
    label = [c for c in range(3) for _ in range(4)]
    classes = {}
    probes = {}
    for c, name in enumerate(names):
        pos = [i for i in range(12) if label[i] == c]
        neg = [i for i in range(12) if label[i] != c][::2]  # two of each other class
        classes[name] = _data(pool, pos + neg, [1] * 4 + [0] * 4)
        probes[name] = LinearProbe.from_weights(2 * torch.eye(3)[c] - (1 - torch.eye(3)[c]), bias=-1.0)
    setup = prepare_tpp(classes, torch.eye(3), probes=probes)
    assert setup.clean == {"a": 1.0, "b": 1.0, "c": 1.0}
    # Class a's effects: latent 0 (Δmean 2 × w·W_dec 2 = 4); the others are less active on a: clamped to 0.
    assert setup.effects["a"].tolist() == pytest.approx([4.0, 0.0, 0.0])
    result = score_tpp(setup, attribution(), n_values=(1, 2))
    for cls in result.classes:
        for point in cls.points:
            assert point.latents == [names.index(cls.name)]
            assert (point.intended, point.unintended, point.score) == pytest.approx((0.5, 0.0, 0.5))
    assert result.scores == pytest.approx({1: 0.5, 2: 0.5})
    # Ablating a class's latent together with another's: the other probe drops too (unintended).
    both = score_tpp(setup, Selection("two", lambda r: sorted({names.index(r.concept), 0})), n_values=(2,))
    b_point = both.classes[1].points[0]
    assert b_point.accuracies == {"a": 0.5, "b": 0.5, "c": 1.0}
    assert (b_point.intended, b_point.unintended, b_point.score) == pytest.approx((0.5, 0.25, 0.25))
    with pytest.raises(InputError, match="at least two classes"):
        prepare_tpp({"a": classes["a"]}, torch.eye(3))


# ------------------------------------------------------------------------------------------- probes


def _separable(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 8, generator=g)
    x[:, 0] += 3.0 * (2 * y - 1)  # class means 6 apart on one dimension
    return x, y


def test_probe_learns_a_separable_toy_reproducibly() -> None:
    x_train, y_train = _separable(800, 0)
    x_test, y_test = _separable(200, 1)
    first = train_probe(x_train, y_train, x_test, y_test)  # SAEBench's settings: 20 epochs of batches of 16
    again = train_probe(x_train, y_train, x_test, y_test)
    other = train_probe(x_train, y_train, x_test, y_test, ProbeConfig(seed=1))
    assert first.test_accuracy >= 0.99
    assert torch.equal(first.probe.weight, again.probe.weight) and first.epoch == again.epoch
    assert not torch.equal(first.probe.weight, other.probe.weight)
    # The kept probe is the one whose test accuracy is reported.
    assert accuracy(first.probe, x_test, y_test) == first.test_accuracy
    # The direction found is the separating one.
    assert int(first.probe.weight.abs().argmax()) == 0
    with pytest.raises(InputError, match="labels must be 0 or 1"):
        train_probe(x_train, y_train * 2, x_test, y_test)


def _saebench_loop(
    x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor, config: ProbeConfig
) -> tuple[list[torch.Tensor], list[float]]:
    """SAEBench's ``train_probe_gpu`` loop (autograd, ``torch.optim.AdamW``, BCE + L1 on the weight),
    with the same seeded initialisation and order: the weights and test accuracy after each epoch."""
    g = torch.Generator().manual_seed(config.seed)
    probe = LinearProbe(x.shape[1])
    bound = 1.0 / x.shape[1] ** 0.5
    with torch.no_grad():
        probe.net.weight.uniform_(-bound, bound, generator=g)
        probe.net.bias.uniform_(-bound, bound, generator=g)
    optimizer = torch.optim.AdamW(probe.parameters(), lr=config.lr)
    criterion = torch.nn.BCEWithLogitsLoss()
    weights, accuracies = [], []
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=g)
        for start in range(0, len(x), config.batch_size):
            batch = order[start : start + config.batch_size]
            loss = criterion(probe(x[batch]), y[batch].float())
            loss += config.l1_penalty * torch.sum(torch.abs(probe.net.weight))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        weights.append(torch.cat([probe.net.weight.detach()[0], probe.net.bias.detach()]))
        accuracies.append(accuracy(probe, x_test, y_test))
    return weights, accuracies


def test_probe_training_is_saebench_autograd_and_adamw_written_out() -> None:
    x_train, y_train = _separable(200, 4)
    x_test, y_test = _separable(100, 5)
    x_train[:, 3] += 0.4 * (2 * y_train - 1)  # a second, weaker cue
    config = ProbeConfig(epochs=4)
    weights, accuracies = _saebench_loop(x_train, y_train, x_test, y_test, config)
    for epochs in (1, 4):
        trained = train_probe(x_train, y_train, x_test, y_test, config.model_copy(update={"epochs": epochs}))
        assert trained.history == accuracies[:epochs]
        best = trained.epoch - 1
        ours = torch.cat([trained.probe.weight, trained.probe.net.bias.detach()])
        torch.testing.assert_close(ours, weights[best], atol=1e-5, rtol=1e-4)


def test_probe_keeps_the_best_epoch_not_the_last() -> None:
    """A huge learning rate makes the test accuracy oscillate; the probe kept is the best epoch's."""
    x_train, y_train = _separable(64, 2)
    x_test, y_test = _separable(64, 3)
    config = ProbeConfig(epochs=8, lr=5.0, l1_penalty=0.5)
    trained = train_probe(x_train, y_train, x_test, y_test, config)
    history = trained.history
    assert len(history) == 8 and history[-1] < max(history)  # the last epoch is not the best here
    assert trained.epoch == history.index(max(history)) + 1 and trained.test_accuracy == max(history)
    assert accuracy(trained.probe, x_test, y_test) == trained.test_accuracy
    # Fewer epochs replay the same run (seeded): the same history, cut.
    shorter = train_probe(x_train, y_train, x_test, y_test, config.model_copy(update={"epochs": 3}))
    assert shorter.history == history[:3]


# ------------------------------------------------------------------------------------------- pooling on the tiny model

D_SAE = 96


def _random_sae(d_in: int, seed: int, *, d_sae: int = D_SAE, k: int = 8) -> SparseAutoencoder:
    """A random TopK SAE (decoder rows unit-norm, encoder its transpose), as an SAE at initialisation."""
    g = torch.Generator().manual_seed(seed)
    w_dec = torch.randn(d_sae, d_in, generator=g)
    w_dec = w_dec / w_dec.norm(dim=1, keepdim=True)
    return SparseAutoencoder.from_weights(
        SAEShape(d_in, d_sae, "topk", k),
        W_enc=w_dec.T.contiguous(),
        b_enc=torch.randn(d_sae, generator=g) * 0.1,
        W_dec=w_dec,
        b_dec=torch.randn(d_in, generator=g) * 0.1,
    )


@pytest.fixture
def tiny(tiny_llama_dir: Path, tmp_path: Path) -> tuple[ModelRuntime, AttachedSAE, Settings]:
    settings = Settings(home=tmp_path / "home")
    runtime = ModelRuntime(load_model(str(tiny_llama_dir), settings), batch_size=4)
    attached = runtime.attach_sae(1, "rnd", _random_sae(64, 0), "resid_post")
    return runtime, attached, settings


def test_pooled_ablation_equals_a_per_token_ablation_through_the_runtime(
    tiny: tuple[ModelRuntime, AttachedSAE, Settings],
) -> None:
    runtime, attached, _ = tiny
    texts = [*TINY_TEXTS, "The cat<|endoftext|> sat on the mat."]
    pooled = capture_pooled(runtime, attached, texts, batch_size=3)
    eos = runtime.loaded.tokenizer.eos_token_id
    plain = runtime.run(texts, ["L1.resid_post"])
    for i, tokens in enumerate(plain.tokens):
        keep = torch.tensor([t != eos for t in tokens])
        acts = plain.captures["L1.resid_post"][i][keep]
        assert int(pooled.counts[i]) == int(keep.sum())
        torch.testing.assert_close(pooled.x[i], acts.mean(dim=0), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(pooled.f[i], attached.sae.encode(acts).mean(dim=0), atol=1e-5, rtol=1e-5)
    assert int(pooled.counts[-1]) == len(plain.tokens[-1]) - 1  # the literal EOS token is not counted
    chosen = [3, 17, 40, 41, 90]
    scale = torch.ones(D_SAE)
    scale[chosen] = 0.0
    ablated = runtime.run(texts, ["L1.resid_post"], [Intervention(target="L1.sae[rnd]", op="scale", value=scale)])
    expected = pooled.ablated(attached.sae.W_dec.detach(), chosen)
    for i, tokens in enumerate(ablated.tokens):
        keep = torch.tensor([t != eos for t in tokens])
        per_token = ablated.captures["L1.resid_post"][i][keep].mean(dim=0)
        torch.testing.assert_close(expected[i], per_token, atol=1e-5, rtol=1e-5)
    # It is a real change, and ablating nothing changes nothing.
    assert (expected - pooled.x).abs().max() > 1e-2
    assert torch.equal(ablate(pooled.x, pooled.f, attached.sae.W_dec.detach(), []), pooled.x)
    # ctx cuts every text to its first tokens.
    short = capture_pooled(runtime, attached, texts, ctx=4)
    assert int(short.counts.max()) <= 4 and not torch.allclose(short.x, pooled.x)


def test_pooled_cache_is_written_once_and_reused(
    tiny: tuple[ModelRuntime, AttachedSAE, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, attached, settings = tiny
    forwards: list[int] = []
    real_forward = runtime.forward

    def counting_forward(*args: Any, **kwargs: Any) -> Any:
        forwards.append(len(args[0]))
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(runtime, "forward", counting_forward)
    first = pooled_activations(runtime, "L1.sae[rnd]", TINY_TEXTS, settings=settings)
    calls = len(forwards)
    path = pool_path(settings, pooled_key(runtime, attached, TINY_TEXTS))
    assert calls > 0 and path.is_file() and path.parent.parent == settings.home / "shift"
    second = pooled_activations(runtime, attached, TINY_TEXTS, settings=settings)
    assert len(forwards) == calls  # read from disk, no forward
    assert (
        torch.equal(first.x, second.x) and torch.equal(first.f, second.f) and torch.equal(first.counts, second.counts)
    )
    # Another ctx, other texts or another SAE: another key.
    assert pooled_key(runtime, attached, TINY_TEXTS, ctx=16) != pooled_key(runtime, attached, TINY_TEXTS)
    assert pooled_key(runtime, attached, TINY_TEXTS[:-1]) != pooled_key(runtime, attached, TINY_TEXTS)
    other = runtime.attach_sae(1, "rnd2", _random_sae(64, 1), "resid_post")
    assert pooled_key(runtime, other, TINY_TEXTS) != pooled_key(runtime, attached, TINY_TEXTS)
    # A corrupt file is recaptured and replaced.
    path.write_bytes(b"not safetensors")
    third = pooled_activations(runtime, attached, TINY_TEXTS, settings=settings)
    assert len(forwards) > calls and torch.equal(third.f, first.f)
    assert list(path.parent.glob("*.tmp")) == []
    with pytest.raises(InputError, match="not an SAE"):
        pooled_activations(runtime, "L1.resid_post", TINY_TEXTS, settings=settings)
    with pytest.raises(InputError, match="not among the"):
        first.rows(["no such text"])


# ------------------------------------------------------------------------------------------- end to end, tiny model

TASK = (["cat", "fox", "dog", "mat", "moon"], ["Paris", "Rome", "France", "Italy", "capital"])
SPURIOUS = (["one", "two", "three", "four"], ["seven", "eight", "nine", "ten"])
FILLER = ["the", "a", "and", "is", "of", "at", "on", "said", "will", "be"]


def _text(rng: random.Random, task: int, spur: int) -> str:
    words = rng.choices(TASK[1 - task], k=5) + rng.choices(SPURIOUS[1 - spur], k=5) + rng.choices(FILLER, k=4)
    rng.shuffle(words)
    return " ".join(words) + "."


def _quadrants(rng: random.Random, per: int) -> list[tuple[str, int, int]]:
    return [(_text(rng, t, s), t, s) for t in (1, 0) for s in (1, 0) for _ in range(per)]


def _scr_sets(pool: Pooled, train: list[tuple[str, int, int]], test: list[tuple[str, int, int]]) -> ScrSets:
    def data(rows: list[tuple[str, int, int]], which: int, biased: bool = False) -> Labelled:
        picked = [r for r in rows if not biased or r[1] == r[2]]
        labels = [r[1] if which == 1 else r[2] for r in picked]
        return Labelled.of(pool, [r[0] for r in picked], labels)

    return ScrSets(
        task_name="animal",
        spurious_name="number",
        biased=ProbeData(data(train, 1, True), data(test, 1, True)),
        task=ProbeData(data(train, 1), data(test, 1)),
        spurious=ProbeData(data(train, 2), data(test, 2)),
    )


def test_random_sae_scores_near_zero_end_to_end_on_the_tiny_model(
    tiny: tuple[ModelRuntime, AttachedSAE, Settings],
) -> None:
    """Texts whose task (animal vs city words) and spurious cue (small vs large numbers) are word
    choices; the probe trained where they coincide leans on one. A random SAE's top latents by
    attribution carry no more of the cue than random ones: SCR near 0 at every N, as the random
    control; TPP over the four quadrant classes likewise."""
    runtime, attached, settings = tiny
    rng = random.Random(0)
    train, test = _quadrants(rng, 100), _quadrants(rng, 50)
    pool = pooled_activations(runtime, attached, [r[0] for r in train + test], settings=settings)
    sets = _scr_sets(pool, train, test)
    config = ProbeConfig(lr=0.02)  # the tiny model's activations are ~30x smaller than a real model's
    setup = prepare_scr(sets, attached.sae.W_dec, config=config)
    base = score_scr(setup, attribution(), n_values=(2, 5, 10))
    first, second = base.directions
    assert min(first.oracle_accuracy, second.oracle_accuracy) >= 0.85  # both concepts are linearly readable
    assert base.biased_accuracy >= 0.9
    # The biased probe leans on one cue: on the other concept's balanced data it is far from perfect.
    reported = base.directions[base.reported - 1]
    assert reported.oracle_accuracy - reported.base_accuracy >= 0.1
    for result in (base, score_scr(setup, random_latents(), n_values=(2, 5, 10))):
        assert all(abs(score) <= 0.3 for score in result.scores.values()), result.scores
    classes = {}
    for quadrant in ((0, 0), (0, 1), (1, 0), (1, 1)):

        def one_vs_rest(rows: list[tuple[str, int, int]], q: tuple[int, int] = quadrant) -> Labelled:
            pos = [r for r in rows if (r[1], r[2]) == q]
            neg = [r for r in rows if (r[1], r[2]) != q][::3]  # as many negatives, from every other class
            return Labelled.of(pool, [r[0] for r in pos + neg], [1] * len(pos) + [0] * len(neg))

        classes[f"{quadrant[0]}{quadrant[1]}"] = ProbeData(one_vs_rest(train), one_vs_rest(test))
    tpp = score_tpp(prepare_tpp(classes, attached.sae.W_dec, config=config), attribution(), n_values=(2, 5))
    assert all(c.clean_accuracy >= 0.75 for c in tpp.classes)
    assert all(abs(score) <= 0.15 for score in tpp.scores.values()), tpp.scores
