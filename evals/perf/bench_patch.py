"""Benchmark: exact activation patching vs the naive loop vs nnsight's loop, and attribution's cost.

Run ``python -m evals.perf.bench_patch``. On one IOI prompt pair (about 15 tokens) and the embedded
model, sweeps ``resid_pre`` over every layer x position and prints a table; asserts nothing about time:

1. time of ``exact`` (ours; also without skipping no-op cells), of ``naive`` (one full forward per
   cell through ``ModelRuntime.run``) and of nnsight's loop (one ``model.trace`` per cell, written as
   nnsight's activation-patching tutorial does it), the speedup of ours over naive, and the largest
   absolute difference between their score tables;
2. ``attribution``'s time as a multiple of one plain forward of the same prompt;
3. the Pearson correlation between attribution and exact scores, on that pair and on several more
   solved IOI pairs, over all cells and without the swapped name's column (where a whole-token change
   is far from the linear regime attribution assumes).

Pairs are IOI pairs the model solves (clean LD > 0 > corrupt LD).

nnsight is not a project dependency: ``pip install nnsight`` into the venv to include it (the table
says why it is missing otherwise).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from store.settings import Settings
from tools.patching.exact import ExactPatcher, exact_table
from tools.patching.ioi import IOIPair, generate_ioi
from tools.patching.patch import PatchResult, patch, prepare_pairs
from tools.runtime.embedded import EMBEDDED_NAME
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime


def _timed(fn: Callable[[], Any], repeats: int, warmup: bool = True) -> tuple[float, Any]:
    """Median seconds over ``repeats`` calls (after one warm-up call when asked) and the last result."""
    if warmup:
        fn()
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def solves(runtime: ModelRuntime, pair: IOIPair) -> bool:
    """Whether the model gets the pair right: clean LD > 0 > corrupt LD."""
    tok = runtime.loaded.tokenizer
    logits = runtime.run([pair.clean, pair.corrupt], logits="last").logits
    assert logits is not None
    t, f = (tok(x, add_special_tokens=False)["input_ids"][0] for x in (pair.target, pair.foil))
    return bool(logits[0][t] > logits[0][f] and logits[1][t] < logits[1][f])


def pick_pair(runtime: ModelRuntime, length: int, seed: int) -> IOIPair:
    """A solved IOI pair of ``length`` tokens (or the closest length)."""
    pairs = generate_ioi(64, seed=seed, tokenizer=runtime.loaded.tokenizer)
    lengths = [len(runtime.tokenize([p.clean])[0]) for p in pairs]
    for i in sorted(range(len(pairs)), key=lambda i: (abs(lengths[i] - length), i)):
        if solves(runtime, pairs[i]):
            return pairs[i]
    raise SystemExit("no generated IOI pair is solved by the model")


def nnsight_scores(runtime: ModelRuntime, pair: IOIPair) -> list[list[float]]:
    """resid_pre patching with nnsight: one trace per (layer, position), as its tutorial writes it."""
    import nnsight
    from nnsight import TransformersModel

    tokenizer = runtime.loaded.tokenizer
    model: Any = TransformersModel(runtime.model, tokenizer=tokenizer)
    target = tokenizer(pair.target, add_special_tokens=False)["input_ids"][0]
    foil = tokenizer(pair.foil, add_special_tokens=False)["input_ids"][0]
    layers = model.model.layers
    n_layers = len(layers)
    with torch.inference_mode():
        with model.trace(pair.clean):
            clean_hs = nnsight.save([layers[i].input.clone() for i in range(n_layers)])
            logits = model.lm_head.output
            clean_ld = (logits[0, -1, target] - logits[0, -1, foil]).save()
        with model.trace(pair.corrupt):
            logits = model.lm_head.output
            corrupt_ld = (logits[0, -1, target] - logits[0, -1, foil]).save()
        length = clean_hs[0].shape[1]
        scores: list[list[float]] = []
        for layer in range(n_layers):
            row: list[float] = []
            for pos in range(length):
                with model.trace(pair.corrupt):
                    layers[layer].input[:, pos] = clean_hs[layer][:, pos]
                    logits = model.lm_head.output
                    patched_ld = (logits[0, -1, target] - logits[0, -1, foil]).save()
                row.append(float((patched_ld - corrupt_ld) / (clean_ld - corrupt_ld)))
            scores.append(row)
    return scores


def _max_diff(a: list[list[float]], b: list[list[float]]) -> float:
    return float((torch.tensor(a) - torch.tensor(b)).abs().max())


def pearson(a: list[list[float]], b: list[list[float]]) -> float:
    """Pearson correlation of two score tables, flattened."""
    x, y = torch.tensor(a).flatten().double(), torch.tensor(b).flatten().double()
    x, y = x - x.mean(), y - y.mean()
    return float((x @ y) / (x.norm() * y.norm()))


def _row(name: str, seconds: float, cells: int, diff: str) -> tuple[str, str, str, str]:
    return (name, f"{seconds:.2f}", f"{1000 * seconds / cells:.1f}", diff)


def bench_sweep(runtime: ModelRuntime, pair: IOIPair, repeats: int, skip_naive: bool) -> PatchResult:
    """Time the resid_pre sweep three ways and print the table; returns the exact result."""
    pairs = prepare_pairs(runtime, pair.clean, pair.corrupt, pair.target, pair.foil)
    cells = len(pairs.clean_ids[0]) * runtime.shape.n_layers
    engine = ExactPatcher(runtime.loaded)
    ids = (pairs.clean_ids[0], pairs.corrupt_ids[0], "resid_pre", pairs.targets[0], pairs.foils[0])
    args = (pair.clean, pair.corrupt, "resid_pre", pair.target, pair.foil)
    t_exact, exact = _timed(lambda: patch(runtime, *args, "exact"), repeats)
    t_all, _ = _timed(lambda: exact_table(engine, *ids, skip_noop=False), repeats)
    rows = [_row("exact (ours)", t_exact, cells, "0 (reference)"), _row("exact, no cell skipped", t_all, cells, "-")]
    speedups = []
    if not skip_naive:
        t_naive, naive = _timed(lambda: patch(runtime, *args, "naive"), 1, warmup=False)
        rows.append(_row("naive loop (ModelRuntime)", t_naive, cells, f"{_max_diff(naive.scores, exact.scores):.2e}"))
        speedups.append(f"exact over naive: {t_naive / t_exact:.1f}x ({t_naive / t_all:.1f}x with no cell skipped)")
        try:
            t_nn, nn_scores = _timed(lambda: nnsight_scores(runtime, pair), 1, warmup=False)
            rows.append(_row("nnsight loop", t_nn, cells, f"{_max_diff(nn_scores, exact.scores):.2e}"))
            rows.append(("  nnsight vs naive", "", "", f"{_max_diff(nn_scores, naive.scores):.2e}"))
            speedups.append(f"exact over nnsight: {t_nn / t_exact:.1f}x ({t_nn / t_all:.1f}x with no cell skipped)")
        except Exception as exc:  # not installed, or cannot wrap the model: say why
            rows.append(("nnsight loop", "n/a", "n/a", f"{type(exc).__name__}: {str(exc).splitlines()[0][:70]}"))
    print(f"{'resid_pre sweep':<28}{'seconds':>9}{'ms/cell':>9}   max |score diff| vs exact")
    for name, secs, per_cell, diff in rows:
        print(f"{name:<28}{secs:>9}{per_cell:>9}   {diff}")
    for line in speedups:
        print(f"speedup of {line} (target >= 3x over naive)")
    return exact


def bench_attribution(runtime: ModelRuntime, pair: IOIPair, repeats: int) -> PatchResult:
    """Attribution's time against one plain forward (alternated, so other load hits both alike)."""
    ids = torch.tensor(runtime.tokenize([pair.corrupt]), device=runtime.device)

    def plain() -> None:
        with torch.inference_mode():
            runtime.model(input_ids=ids, use_cache=False)

    def attribution() -> PatchResult:
        return patch(runtime, pair.clean, pair.corrupt, "resid_pre", pair.target, pair.foil, "attribution")

    plain_times, attr_times, attr = [], [], attribution()
    plain()
    for _ in range(max(7, repeats)):
        plain_times.append(_timed(plain, 1, warmup=False)[0])
        seconds, attr = _timed(attribution, 1, warmup=False)
        attr_times.append(seconds)
    t_plain, t_attr = statistics.median(plain_times), statistics.median(attr_times)
    print(
        f"\nplain forward (all logits): {1000 * t_plain:.1f} ms; attribution, all cells: {1000 * t_attr:.1f} ms "
        f"= {t_attr / t_plain:.2f}x a forward (target <= 3x)"
    )
    return attr


def _correlations(runtime: ModelRuntime, pair: IOIPair, exact: PatchResult, attr: PatchResult) -> tuple[float, float]:
    """Pearson r of attribution vs exact over all cells and without the swapped token's column."""
    clean, corrupt = runtime.tokenize([pair.clean, pair.corrupt])
    swapped = next(i for i, (a, b) in enumerate(zip(clean, corrupt, strict=True)) if a != b)
    keep = [i for i in range(len(clean)) if i != swapped]
    off = [[row[i] for i in keep] for row in exact.scores], [[row[i] for i in keep] for row in attr.scores]
    return pearson(attr.scores, exact.scores), pearson(*off)


def bench_correlation(runtime: ModelRuntime, pairs: list[IOIPair]) -> None:
    """Attribution vs exact (resid_pre) on several IOI pairs the model solves."""
    print(f"\npearson(attribution, exact) on resid_pre, {len(pairs)} solved IOI pairs:")
    all_r, off_r = [], []
    for pair in pairs:
        args = (pair.clean, pair.corrupt, "resid_pre", pair.target, pair.foil)
        exact, attr = patch(runtime, *args, "exact"), patch(runtime, *args, "attribution")
        r_all, r_off = _correlations(runtime, pair, exact, attr)
        all_r.append(r_all)
        off_r.append(r_off)
    print(f"  all cells:                 mean {statistics.mean(all_r):.3f}  ({', '.join(f'{r:.2f}' for r in all_r)})")
    print(f"  without the swapped token: mean {statistics.mean(off_r):.3f}  ({', '.join(f'{r:.2f}' for r in off_r)})")


def solved_pairs(runtime: ModelRuntime, count: int, seed: int) -> list[IOIPair]:
    """The first ``count`` generated IOI pairs the model solves."""
    candidates = generate_ioi(4 * count, seed=seed, tokenizer=runtime.loaded.tokenizer)
    return [pair for pair in candidates if solves(runtime, pair)][:count]


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=15, help="prompt length in tokens (closest IOI pair)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=8, help="IOI pairs for the attribution correlation")
    parser.add_argument("--skip-naive", action="store_true", help="skip the naive and nnsight loops (slow)")
    args = parser.parse_args(argv)

    runtime = ModelRuntime(load_model(EMBEDDED_NAME, Settings()))
    pair = pick_pair(runtime, args.length, args.seed)
    length = len(runtime.tokenize([pair.clean])[0])
    n_layers = runtime.shape.n_layers
    print(f"model {EMBEDDED_NAME} ({n_layers} layers), torch threads {torch.get_num_threads()}, {runtime.device}")
    print(f"clean:   {pair.clean!r}\ncorrupt: {pair.corrupt!r}\n{length} tokens, {length * n_layers} cells\n")
    exact = bench_sweep(runtime, pair, args.repeats, args.skip_naive)
    attr = bench_attribution(runtime, pair, args.repeats)
    r_all, r_off = _correlations(runtime, pair, exact, attr)
    print(f"pearson(attribution, exact) on this pair: {r_all:.3f} (all cells), {r_off:.3f} (without the swapped token)")
    if args.pairs:
        bench_correlation(runtime, solved_pairs(runtime, args.pairs, args.seed + 1))


if __name__ == "__main__":
    main()
