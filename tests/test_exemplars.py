"""Exemplar cache: streaming accumulators vs brute force, build/read on a tiny model, resume, corruption."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from store.errors import CacheError
from store.settings import Settings
from tools.corpus.windows import iter_windows
from tools.exemplars.cache import CacheSpec, ExemplarCache, build_exemplar_cache, scoring_skip
from tools.exemplars.stats import RunningStats, TopKBuffer
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime
from tools.runtime.testing import TINY_TEXTS


class ListCorpus:
    """Documents shuffled from the tiny texts, deterministic."""

    def __init__(self, n_docs: int = 120, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.docs = [" ".join(rng.choice(TINY_TEXTS) for _ in range(3)) for _ in range(n_docs)]

    def texts(self) -> Iterator[str]:
        yield from self.docs


def test_topk_buffer_equals_sorting_everything() -> None:
    gen = torch.Generator().manual_seed(0)
    n_units, ctx, k = 7, 5, 4
    buffer = TopKBuffer(n_units, k, ctx)
    all_acts = []
    for batch in range(6):
        acts = torch.randn((3, ctx, n_units), generator=gen)
        maxes = acts.amax(dim=1)
        buffer.update(maxes, maxes, torch.arange(batch * 3, batch * 3 + 3), acts)
        all_acts.append(acts)
    everything = torch.cat(all_acts)  # [contexts, ctx, units]
    maxes = everything.amax(dim=1)
    for unit in range(n_units):
        expected = maxes[:, unit].topk(k)
        torch.testing.assert_close(buffer.values[unit], expected.values)
        assert buffer.ids[unit].tolist() == expected.indices.tolist()
        for slot, ctx_id in enumerate(expected.indices.tolist()):
            torch.testing.assert_close(
                buffer.acts[unit, slot].float(), everything[ctx_id, :, unit], atol=2e-3, rtol=2e-3
            )


def test_running_stats_equal_numpy() -> None:
    gen = torch.Generator().manual_seed(1)
    stats = RunningStats(5, bins=16)
    chunks = [torch.randn((40, 5), generator=gen) * (i + 1) for i in range(4)]
    for chunk in chunks:
        stats.update(chunk)
    data = torch.cat(chunks).double().numpy()
    summary = stats.summary()
    np.testing.assert_allclose(summary["stats.mean"].numpy(), data.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(summary["stats.std"].numpy(), data.std(axis=0), rtol=1e-4)
    np.testing.assert_allclose(summary["stats.max"].numpy(), data.max(axis=0), rtol=1e-6)
    np.testing.assert_allclose(summary["stats.frac_firing"].numpy(), (data > 0).mean(axis=0), rtol=1e-6)
    assert summary["stats.hist"].sum(dim=1).tolist() == [160.0] * 5
    # the range grew to cover the later, wider chunks, and the counts equal numpy's on the same edges
    for unit in range(5):
        r = float(summary["stats.hist_range"][unit])
        assert r >= np.abs(data[:, unit]).max()
        expected, _ = np.histogram(data[:, unit], bins=16, range=(-r, r))
        np.testing.assert_array_equal(summary["stats.hist"][unit].numpy(), expected)
    assert int(summary["stats.count"][0]) == 160


@pytest.fixture
def tiny_runtime(tiny_llama_dir: Path, tmp_path: Path) -> ModelRuntime:
    return ModelRuntime(load_model(str(tiny_llama_dir), Settings(home=tmp_path / "home")), batch_size=8)


def _spec(runtime: ModelRuntime, site: str = "L1.mlp", **kw: object) -> CacheSpec:
    values: dict[str, object] = dict(
        model_name="tiny",
        model_digest=runtime.loaded.digest,
        site=site,
        corpus="list",
        corpus_digest="d",
        ctx_len=16,
        max_tokens=16 * 90,
        k=5,
        reservoir=30,
        skip_first=scoring_skip(runtime.loaded.tokenizer),
    )
    values.update(kw)
    return CacheSpec.model_validate(values)


def test_cache_agrees_with_brute_force(tiny_runtime: ModelRuntime, tmp_path: Path) -> None:
    spec = _spec(tiny_runtime)
    corpus = ListCorpus()
    path = tmp_path / "c.safetensors"
    report = build_exemplar_cache(tiny_runtime, spec, corpus, path, batch_size=8, progress=False)
    assert report.n_contexts == 90 and not report.reused
    windows = list(iter_windows(corpus, tiny_runtime.loaded.tokenizer, 16, 16 * 90))
    ids = torch.tensor(windows)
    captured, _ = tiny_runtime.forward(ids, None, ["L1.mlp"])
    full = captured["L1.mlp"]  # [contexts, ctx, units]
    scored = full[:, spec.skip_first :, :]
    maxes = scored.amax(dim=1)
    cache = ExemplarCache(path)
    for unit in (0, 7, 50):
        top = cache.top(unit)
        expected = maxes[:, unit].topk(spec.k)
        assert [round(e.max, 4) for e in top] == [round(float(v), 4) for v in expected.values]
        for exemplar, ctx_id in zip(top, expected.indices.tolist(), strict=True):
            assert exemplar.token_ids == windows[ctx_id]
            np.testing.assert_allclose(exemplar.activations, full[ctx_id, :, unit].numpy(), atol=5e-3, rtol=5e-3)
        stats = cache.stats(unit)
        column = scored[:, :, unit].reshape(-1).double()
        assert stats["count"] == column.numel()
        assert stats["mean"] == pytest.approx(float(column.mean()), abs=1e-5)
        assert stats["max"] == pytest.approx(float(column.max()), abs=1e-6)
        assert stats["frac_firing"] == pytest.approx(float((column > 0).double().mean()), abs=1e-6)
        quantiles = cache.quantiles(unit, per_quantile=2)
        assert [q.quantile for q in quantiles] == list(range(10))
        lows = [q.low for q in quantiles]
        assert lows == sorted(lows) and all(q.low <= q.high for q in quantiles)
        for q in quantiles:
            for e in q.exemplars:
                assert q.low <= e.max <= q.high and e.max > 0


def test_reuse_and_any_site(tiny_runtime: ModelRuntime, tmp_path: Path) -> None:
    path = tmp_path / "resid.safetensors"
    spec = _spec(tiny_runtime, site="L2.resid_post")
    first = build_exemplar_cache(tiny_runtime, spec, ListCorpus(), path, progress=False)
    assert ExemplarCache(path).n_units == tiny_runtime.shape.d_model
    again = build_exemplar_cache(tiny_runtime, spec, ListCorpus(), path, progress=False)
    assert again.reused and again.digest == first.digest


class Interrupt(Exception):
    pass


def test_interrupted_build_resumes_to_the_same_result(tiny_runtime: ModelRuntime, tmp_path: Path) -> None:
    spec = _spec(tiny_runtime)
    reference = tmp_path / "ref.safetensors"
    build_exemplar_cache(tiny_runtime, spec, ListCorpus(), reference, batch_size=8, progress=False)

    path = tmp_path / "resumed.safetensors"

    def stop_at(done: int) -> None:
        if done >= 48:
            raise Interrupt

    with pytest.raises(Interrupt):
        build_exemplar_cache(
            tiny_runtime,
            spec,
            ListCorpus(),
            path,
            batch_size=8,
            checkpoint_every=2,
            progress=False,
            on_batch=stop_at,
        )
    assert not path.exists()  # no half-written cache
    report = build_exemplar_cache(tiny_runtime, spec, ListCorpus(), path, batch_size=8, progress=False)
    assert report.resumed_from == 48
    assert not path.with_name(path.name + ".partial").exists()
    got, want = load_file(str(path)), load_file(str(reference))
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], msg=key, equal_nan=True)


def test_killed_build_leaves_no_cache_and_resumes(tiny_llama_dir: Path, tmp_path: Path) -> None:
    """SIGKILL in the middle of a build (a real process), then a second process finishes it."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
        from pathlib import Path
        from store.settings import Settings
        from tests.test_exemplars import ListCorpus, _spec
        from tools.exemplars.cache import build_exemplar_cache
        from tools.runtime.loading import load_model
        from tools.runtime.model_runtime import ModelRuntime
        rt = ModelRuntime(load_model({str(tiny_llama_dir)!r}, Settings(home=Path({str(tmp_path)!r}) / "h")))
        kill = sys.argv[1] == "kill"
        def on_batch(done):
            if kill and done >= 40:
                os.kill(os.getpid(), signal.SIGKILL)
        r = build_exemplar_cache(rt, _spec(rt), ListCorpus(), Path({str(tmp_path / "k.safetensors")!r}),
                                 batch_size=8, checkpoint_every=1, progress=False, on_batch=on_batch)
        print("resumed_from", r.resumed_from)
        """
    )
    killed = subprocess.run([sys.executable, "-c", script, "kill"], capture_output=True, text=True, check=False)
    assert killed.returncode == -9, killed.stderr
    assert not (tmp_path / "k.safetensors").exists()
    finished = subprocess.run([sys.executable, "-c", script, "go"], capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert "resumed_from 40" in finished.stdout
    ExemplarCache(tmp_path / "k.safetensors")


def test_corrupt_or_foreign_cache_files_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01 not safetensors at all")
    with pytest.raises(CacheError, match="unreadable or corrupt"):
        ExemplarCache(garbage)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(CacheError, match="not an autointerp exemplar cache"):
        ExemplarCache(foreign)


def test_windows_have_fixed_length_and_respect_budget(tiny_runtime: ModelRuntime) -> None:
    windows = list(iter_windows(ListCorpus(), tiny_runtime.loaded.tokenizer, 16, 16 * 10 + 5))
    assert len(windows) == 10 and {len(w) for w in windows} == {16}


def test_a_concurrent_build_of_the_same_cache_is_refused(tiny_runtime: ModelRuntime, tmp_path: Path) -> None:
    import fcntl

    path = tmp_path / "busy.safetensors"
    with path.with_name(path.name + ".lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as another build process would
        with pytest.raises(CacheError, match="another process is building"):
            build_exemplar_cache(tiny_runtime, _spec(tiny_runtime), ListCorpus(), path, progress=False)
    assert not path.exists()
    build_exemplar_cache(tiny_runtime, _spec(tiny_runtime), ListCorpus(), path, progress=False)
    assert path.is_file()
