"""Benchmark: the SCR + TPP evaluation's wall time and how it scales with the dataset size.

Run ``python -m evals.perf.bench_shift`` (the embedded model, layer 6, a random TopK SAE; ``--sae PATH``
for a trained one, ``--model tiny`` for the tiny random Llama). For each size n (texts per probe
training set; test sets n/4, as SAEBench's 4000/1000) it builds the bios data of one SCR pair and the
five TPP classes (``tools.shift.datasets``), then times the three stages separately:

1. **capture** — one forward per batch up to the SAE's site, pooled (``capture_pooled``; the cache is
   bypassed so the forward is what is timed). Done once per dataset: every N and every selection
   reuses it. Ratio: seconds per text against the smallest size (1.00 = linear in the texts);
2. **probes** — the 3 SCR and 5 TPP probes (20 epochs of batches of 16) and their latent effects.
   Ratio: seconds per training example against the smallest size;
3. **metrics** — SCR and TPP scores for all 7 values of N (ablation is ``x̄ − f̄[:, S] @ W_dec[S]``
   on the pooled tensors, no model rerun), and for one N; ratio = 7 N / 1 N (≈ 7 if ablation and
   accuracy dominate, far less than 7 × capture if nothing is recomputed per N).

Each stage is timed once per size (the big ones take long); asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from store.settings import Settings
from tools.runtime.embedded import EMBEDDED_NAME
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime
from tools.runtime.sae import SAEShape, SparseAutoencoder
from tools.runtime.testing import build_tiny_model
from tools.sae.formats import load_sae_folder
from tools.shift.datasets import ProbeTask, scr_data, tpp_data
from tools.shift.metrics import (
    N_VALUES,
    Labelled,
    ProbeData,
    ScrSets,
    attribution,
    prepare_scr,
    prepare_tpp,
    score_scr,
    score_tpp,
)
from tools.shift.pooled import Pooled, capture_pooled


def random_sae(d_in: int, width: int, k: int, seed: int = 0) -> SparseAutoencoder:
    """A random TopK SAE as at initialisation: unit-norm decoder rows, the encoder their transpose."""
    g = torch.Generator().manual_seed(seed)
    w_dec = torch.randn(width, d_in, generator=g)
    w_dec = w_dec / w_dec.norm(dim=1, keepdim=True)
    return SparseAutoencoder.from_weights(
        SAEShape(d_in, width, "topk", k),
        W_enc=w_dec.T.contiguous(),
        b_enc=torch.zeros(width),
        W_dec=w_dec,
        b_dec=torch.zeros(d_in),
    )


def probe_data(pool: Pooled, task: ProbeTask) -> ProbeData:
    """A dataset task's train and test splits as rows of ``pool``."""
    return ProbeData(
        Labelled.of(pool, task.train.texts, task.train.targets), Labelled.of(pool, task.test.texts, task.test.targets)
    )


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=EMBEDDED_NAME, help="a model name or folder; 'tiny': the tiny random Llama")
    parser.add_argument("--layer", type=int, default=6)
    parser.add_argument("--site", default="resid_post")
    parser.add_argument("--sae", type=Path, default=None, help="an SAE folder (SAELens/sparsify); default: random TopK")
    parser.add_argument("--sizes", default="256,512,1024,2048", help="texts per probe training set (multiples of 16)")
    parser.add_argument("--dataset", default="bios")
    parser.add_argument("--pair", default="professor,nurse")
    parser.add_argument("--ctx", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings()
        model = args.model
        if model == "tiny":
            model = str(build_tiny_model(Path(tmp) / "tiny", "llama"))
        runtime = ModelRuntime(load_model(model, settings))
        layer, site = min(args.layer, runtime.shape.n_layers - 1), args.site
        if args.sae is not None:
            loaded = load_sae_folder(args.sae)
            sae = loaded.sae
            layer = loaded.layer if loaded.layer is not None else layer
            site = loaded.site or site
            sae_name = f"{args.sae.name} ({loaded.architecture}, {loaded.width} latents)"
        else:
            d_in = runtime.resolve(f"L{layer}.{site}").site.width(runtime.shape)
            sae = random_sae(d_in, 8 * d_in, 32)
            sae_name = f"random TopK ({8 * d_in} latents, k=32)"
        attached = runtime.attach_sae(layer, "bench", sae, site)
        w_dec = attached.sae.W_dec.detach()
        pair = tuple(args.pair.split(","))

        rows: list[dict[str, float]] = []
        for n in sizes:
            started = time.perf_counter()
            scr = scr_data(args.dataset, pair, n_train=n, n_test=n // 4)
            tpp = tpp_data(args.dataset, n_train=n, n_test=n // 4)
            t_data = time.perf_counter() - started

            started = time.perf_counter()
            scr_pool = capture_pooled(runtime, attached, scr.texts(), ctx=args.ctx, batch_size=args.batch_size)
            tpp_pool = capture_pooled(runtime, attached, tpp.texts(), ctx=args.ctx, batch_size=args.batch_size)
            t_capture = time.perf_counter() - started
            n_texts = len(scr_pool) + len(tpp_pool)
            n_tokens = int(scr_pool.counts.sum() + tpp_pool.counts.sum())

            started = time.perf_counter()
            sets = ScrSets(
                task_name=scr.target_attribute,
                spurious_name=scr.spurious_attribute,
                biased=probe_data(scr_pool, scr.biased),
                task=probe_data(scr_pool, scr.target),
                spurious=probe_data(scr_pool, scr.spurious),
            )
            scr_setup = prepare_scr(sets, w_dec)
            tpp_setup = prepare_tpp({c: probe_data(tpp_pool, t) for c, t in tpp.tasks.items()}, w_dec)
            t_probes = time.perf_counter() - started
            n_examples = sum(len(t.train.examples) for t in (scr.biased, scr.target, scr.spurious))
            n_examples += sum(len(t.train.examples) for t in tpp.tasks.values())

            started = time.perf_counter()
            scr_all = score_scr(scr_setup, attribution(), N_VALUES)
            tpp_all = score_tpp(tpp_setup, attribution(), N_VALUES)
            t_metrics = time.perf_counter() - started
            started = time.perf_counter()
            score_scr(scr_setup, attribution(), (20,))
            score_tpp(tpp_setup, attribution(), (20,))
            t_one = time.perf_counter() - started
            rows.append(
                {
                    "n": n,
                    "texts": n_texts,
                    "tokens": n_tokens,
                    "examples": n_examples,
                    "data": t_data,
                    "capture": t_capture,
                    "probes": t_probes,
                    "metrics": t_metrics,
                    "one": t_one,
                    "scr10": scr_all.scores[10],
                    "scr20": scr_all.scores[20],
                    "tpp10": tpp_all.scores[10],
                    "tpp20": tpp_all.scores[20],
                }
            )
            print(f"size {n}: done in {t_data + t_capture + t_probes + t_metrics + t_one:.1f} s", flush=True)

    print(
        f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, model {args.model} L{layer}.{site}, "
        f"SAE {sae_name}, dataset {args.dataset} pair {','.join(pair)} + TPP, ctx {args.ctx}"
    )
    base = rows[0]
    header = (
        f"{'n/set':>6} {'texts':>6} {'tokens':>8} {'data s':>7} {'capture s':>9} {'ms/text':>8} {'ratio':>6} "
        f"{'probes s':>8} {'ratio':>6} {'7N s':>6} {'1N s':>6} {'7N/1N':>6} {'total s':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        per_text = r["capture"] / r["texts"]
        per_example = r["probes"] / r["examples"]
        total = r["data"] + r["capture"] + r["probes"] + r["metrics"]
        print(
            f"{int(r['n']):>6} {int(r['texts']):>6} {int(r['tokens']):>8} {r['data']:>7.1f} {r['capture']:>9.1f} "
            f"{1000 * per_text:>8.1f} {per_text / (base['capture'] / base['texts']):>6.2f} {r['probes']:>8.1f} "
            f"{per_example / (base['probes'] / base['examples']):>6.2f} {r['metrics']:>6.2f} {r['one']:>6.2f} "
            f"{r['metrics'] / r['one']:>6.2f} {total:>8.1f}"
        )
    print("\nscores (attribution selection), for reference:")
    for r in rows:
        print(
            f"  n {int(r['n']):>5}: SCR N=10 {r['scr10']:+.3f}  N=20 {r['scr20']:+.3f}   "
            f"TPP N=10 {r['tpp10']:+.3f}  N=20 {r['tpp20']:+.3f}"
        )


if __name__ == "__main__":
    main()
