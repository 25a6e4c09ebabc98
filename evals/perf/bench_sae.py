"""Benchmark: SAE training throughput against the forward it stands on, and the cost of encoding latents.

Run ``python -m evals.perf.bench_sae`` (the embedded model; ``--model`` for another). Prints a table;
asserts nothing. Every ratio is against a baseline measured in the same run, on the same batch:

1. **the physical limit**: capturing the site with early stop after the layer (the forward up to it),
   in tokens/s — SAE training cannot stream activations faster than this;
2. **one training step** (``TopKTrainer.step``) on that batch's activations, and forward + step, whose
   throughput as a ratio to the forward's is the best a streaming trainer can reach (1.0 = the SAE
   costs nothing);
3. **a real run** (``train_sae``: blocks, shuffling, checkpoints, one block's worth of tokens; the
   held-out evaluation excluded) as a ratio to the forward's throughput;
4. **capture overhead of latents**: capturing every latent of an attached SAE (``L6.sae[name]``:
   the site captured and encoded) vs capturing the raw site (ratio = raw time / latents time).

Functions are timed in rotation (median of ``--repeats``) so background load hits them alike.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Literal

import torch

from evals.perf.bench_capture import timed_interleaved
from store.settings import Settings
from tools.corpus.sources import load_corpus
from tools.corpus.windows import iter_windows
from tools.exemplars.cache import scoring_skip
from tools.runtime.embedded import EMBEDDED_NAME
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime
from tools.sae.train import TopKTrainer, TrainSpec, bf16_matmul_is_faster, train_sae


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=EMBEDDED_NAME)
    parser.add_argument("--layer", type=int, default=6)
    parser.add_argument("--site", default="resid_post")
    parser.add_argument("--windows", type=int, default=64, help="windows per batch (ctx 64: 63 tokens each)")
    parser.add_argument("--ctx", type=int, default=64)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--expansion", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--run-tokens", type=int, default=131_072, help="tokens of the real train_sae run (0: skip)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        runtime = ModelRuntime(load_model(args.model, Settings()))
        site = f"L{args.layer}.{args.site}"
        d_in = runtime.resolve(site).site.width(runtime.shape)
        width = args.expansion * d_in
        skip = scoring_skip(runtime.loaded.tokenizer)
        windows = list(iter_windows(load_corpus("builtin"), runtime.loaded.tokenizer, args.ctx))[: args.windows]
        ids = torch.tensor(windows)
        n_tok = ids.shape[0] * (args.ctx - skip)
        precision: Literal["float32", "bfloat16"] = "bfloat16" if bf16_matmul_is_faster(d_in, width) else "float32"
        spec = TrainSpec(layer=args.layer, site=args.site, k=args.k)
        trainer = TopKTrainer(d_in, width, args.k, lr=spec.learning_rate(d_in), encoder_precision=precision)

        def capture() -> torch.Tensor:
            captured, _ = runtime.forward(ids, None, [site])
            return captured[site][:, skip:].reshape(-1, d_in).float()

        x = capture()
        trainer.init_from_sample(x)

        def step() -> None:
            trainer.step(x)

        def forward_and_step() -> None:
            trainer.step(capture())

        runtime.attach_sae(args.layer, "bench", trainer.to_sae(), args.site)

        def latents() -> None:
            runtime.forward(ids, None, [f"L{args.layer}.sae[bench]"])

        t = timed_interleaved(
            {"capture": capture, "step": step, "both": forward_and_step, "latents": latents}, args.repeats
        )
        rows: list[tuple[str, str, str]] = []
        fwd_tps = n_tok / t["capture"]
        rows.append((f"capture {site} (forward to L{args.layer}, early stop)", f"{fwd_tps:,.0f} tok/s", "1.00"))
        rows.append(
            (
                f"SAE step alone ({width} latents, k={args.k}, {precision} encoder)",
                f"{n_tok / t['step']:,.0f} tok/s",
                "",
            )
        )
        rows.append(
            ("forward + SAE step, same batch", f"{n_tok / t['both']:,.0f} tok/s", f"{t['capture'] / t['both']:.2f}")
        )
        if args.run_tokens:
            run_spec = TrainSpec(
                layer=args.layer,
                site=args.site,
                k=args.k,
                latents=width,
                tokens=args.run_tokens,
                corpus="builtin",
                ctx=args.ctx,
                eval_tokens=args.ctx - skip,
                ce_tokens=0,
            )
            report = train_sae(runtime, run_spec, Path(tmp) / "run", progress=False, encoder_precision=precision)
            rows.append(
                (
                    f"train_sae, {report.tokens:,} tokens (blocks, shuffle, checkpoints)",
                    f"{report.tokens_per_second:,.0f} tok/s",
                    f"{report.tokens_per_second / fwd_tps:.2f}",
                )
            )
        rows.append(
            (
                f"capture all {width} latents of L{args.layer}.sae[bench] vs raw site",
                f"{1000 * t['latents']:,.1f} ms vs {1000 * t['capture']:,.1f} ms",
                f"{t['capture'] / t['latents']:.2f}",
            )
        )

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {args.model} float32 on cpu")
    print(
        f"batch: {ids.shape[0]} windows x {args.ctx} tokens, {n_tok} tokens after skipping {skip}; "
        f"median of {args.repeats}\n"
    )
    width_col = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width_col}}  {'time / speed':>24}  {'ratio':>6}")
    print("-" * (width_col + 34))
    for name, value, ratio in rows:
        print(f"{name:<{width_col}}  {value:>24}  {ratio:>6}")


if __name__ == "__main__":
    main()
