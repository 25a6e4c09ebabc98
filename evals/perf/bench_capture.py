"""Benchmark: capture overhead, early stop, and exemplar-cache throughput on the embedded model.

Run ``make bench`` (or ``python -m evals.perf.bench_capture``). Prints a table; asserts nothing
about time. Every ratio is against a baseline measured in the same run:

1. capture of all MLP neurons of all 30 layers vs a plain forward of the same model and batch
   (ratio = plain time / capture time; >= 0.95 means capture costs at most ~5% over the plain pass);
2. exemplar-cache build for layer 1 vs layer 28 (ratio = layer-28 time / layer-1 time; early stop);
3. cache-build throughput (tokens/s) and the memory a build adds (peak resident memory sampled
   during the build minus the resident memory with the model loaded), each build in a fresh
   process, at two corpus sizes (memory must not grow with the corpus).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

from store.settings import Settings
from tools.corpus.sources import load_corpus
from tools.corpus.windows import iter_windows
from tools.exemplars.cache import CacheSpec, build_exemplar_cache, scoring_skip
from tools.runtime.embedded import EMBEDDED_NAME
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime


def timed_interleaved(fns: dict[str, Any], repeats: int) -> dict[str, float]:
    """Median seconds of each function, run in rotation so background load hits all of them alike."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_capture(runtime: ModelRuntime, batch: int, ctx: int, repeats: int) -> dict[str, float]:
    """Median seconds of plain forwards and of capturing every MLP neuron of every layer."""
    corpus = load_corpus("builtin")
    windows = list(iter_windows(corpus, runtime.loaded.tokenizer, ctx, batch * ctx))
    ids = torch.tensor(windows[:batch])
    model: Any = runtime.model
    sites = [f"L{layer}.mlp" for layer in range(runtime.shape.n_layers)]

    def plain() -> None:
        with torch.inference_mode():
            model(input_ids=ids, use_cache=False)

    def plain_base() -> None:
        with torch.inference_mode():
            model.model(input_ids=ids, use_cache=False)

    def capture() -> None:
        runtime.forward(ids, None, sites)

    def capture_logits() -> None:
        runtime.forward(ids, None, sites, logits=True)

    return timed_interleaved(
        {"plain": plain, "plain_base": plain_base, "capture": capture, "capture_logits": capture_logits}, repeats
    )


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


class _PeakSampler:
    """Samples this process's resident memory every 10 ms in a thread; ``peak`` is the largest seen."""

    def __init__(self) -> None:
        self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_mb())

    def __enter__(self) -> _PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


def child_build(layer: int, tokens: int, home: str) -> dict[str, float]:
    """In this process: load the model, then build one cache (none when layer < 0).

    Reports the build's time, the resident memory once the model is loaded, and the peak resident
    memory sampled during the build (the cache's own cost is the difference).
    """
    settings = Settings(home=Path(home))
    runtime = ModelRuntime(load_model(EMBEDDED_NAME, settings))
    gc.collect()
    result: dict[str, float] = {"seconds": 0.0, "tokens": 0.0, "rss_loaded_mb": _rss_mb()}
    result["peak_build_mb"] = result["rss_loaded_mb"]
    if layer >= 0:
        corpus = load_corpus("builtin")
        spec = CacheSpec(
            model_name=EMBEDDED_NAME,
            model_digest=runtime.loaded.digest,
            site=f"L{layer}.mlp",
            corpus=corpus.spec,
            corpus_digest=corpus.digest(),
            max_tokens=tokens,
            skip_first=scoring_skip(runtime.loaded.tokenizer),
        )
        with tempfile.TemporaryDirectory() as tmp, _PeakSampler() as sampler:
            report = build_exemplar_cache(runtime, spec, corpus, Path(tmp) / "c.safetensors", progress=False)
        result.update(seconds=report.seconds, tokens=float(report.n_tokens), peak_build_mb=sampler.peak)
    return result


def _run_child(layer: int, tokens: int, home: str) -> dict[str, float]:
    cmd = [sys.executable, "-m", "evals.perf.bench_capture", "--child", str(layer), str(tokens), home]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=3, metavar=("LAYER", "TOKENS", "HOME"), help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=8, help="contexts per forward in the capture test")
    parser.add_argument("--ctx", type=int, default=128, help="tokens per context in the capture test")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=16_384, help="tokens per cache build")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_build(int(args.child[0]), int(args.child[1]), args.child[2])))
        return

    settings = Settings()
    home = str(settings.ensure_home())
    runtime = ModelRuntime(load_model(EMBEDDED_NAME, settings))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {EMBEDDED_NAME} float32 on cpu\n")

    t = bench_capture(runtime, args.batch, args.ctx, args.repeats)
    n_tok = args.batch * args.ctx
    rows: list[tuple[str, str, str]] = [
        ("plain forward with logits (baseline)", f"{t['plain'] * 1e3:.0f} ms", "1.00"),
        (
            "capture all 30x1536 MLP neurons (stops after L29.mlp)",
            f"{t['capture'] * 1e3:.0f} ms",
            f"{t['plain'] / t['capture']:.2f}",
        ),
        (
            "capture all MLP neurons + logits (full pass)",
            f"{t['capture_logits'] * 1e3:.0f} ms",
            f"{t['plain'] / t['capture_logits']:.2f}",
        ),
        ("plain forward without lm_head (2nd baseline)", f"{t['plain_base'] * 1e3:.0f} ms", "-"),
        ("capture all MLP neurons vs 2nd baseline", "", f"{t['plain_base'] / t['capture']:.2f}"),
    ]

    small, large = args.tokens, args.tokens * 4
    builds = {layer: _run_child(layer, small, home) for layer in (1, 12, 28)}
    big = _run_child(12, large, home)
    ratio = builds[28]["seconds"] / builds[1]["seconds"]
    rows.append(
        (
            "cache build layer 28 / layer 1 time (early stop)",
            f"{builds[28]['seconds']:.1f} s / {builds[1]['seconds']:.1f} s",
            f"{ratio:.2f}",
        )
    )
    for layer, b in [*builds.items(), (12, big)]:
        rows.append(
            (
                f"cache build L{layer}.mlp, {int(b['tokens']):,} tokens",
                f"{b['tokens'] / b['seconds']:,.0f} tok/s",
                f"+{b['peak_build_mb'] - b['rss_loaded_mb']:,.0f} MB",
            )
        )
    rows.append(
        (
            "  memory: peak RSS during the build minus RSS with the model loaded",
            "",
            f"(base {builds[1]['rss_loaded_mb']:,.0f} MB)",
        )
    )

    width = max(len(r[0]) for r in rows)
    print(f"capture batch: {args.batch} x {args.ctx} = {n_tok} tokens, median of {args.repeats}\n")
    print(f"{'measurement':<{width}}  {'time / speed':>22}  {'ratio / memory':>16}")
    print("-" * (width + 42))
    for name, value, ratio_text in rows:
        print(f"{name:<{width}}  {value:>22}  {ratio_text:>16}")


if __name__ == "__main__":
    main()
