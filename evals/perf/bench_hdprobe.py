"""Benchmark: hyperdimensional probe training time and decode latency per prompt, against the model's
own forward measured in the same run.

Run ``python -m evals.perf.bench_hdprobe`` (the embedded model, layers 15:30, D = 4096; ``--model tiny``
for the tiny random Llama, ``--quick`` for a short run). Prints a table; asserts nothing. Ratios:

1. **the baseline**: the model's forward on a batch of key–value prompts with the next-token logits
   (``runtime.run(..., logits="last")``: what the model's own prediction costs), in ms per prompt;
2. **capture**: the same forward capturing the layers' ``resid_post`` (what training and decoding
   read), as a ratio to the baseline (1.00 = capture is free);
3. **decode**: ``HDProbe.decode`` end to end (capture with logits, k-means summary, encoder, unbinding
   and ranking the codebook, the model's top tokens) per prompt, as a ratio to the baseline; and the
   part after the forward alone (summary + encode + rank), per prompt;
4. **training**: one encoder epoch on ``--train`` prompts (batches of 64, AdamW), and a whole run
   (``--epochs`` epochs plus capturing the prompts) estimated from it, as a ratio to capturing the
   same prompts (how much training adds to reading the data).

Functions are timed in rotation (median of ``--repeats``) so background load hits them alike.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from evals.perf.bench_capture import timed_interleaved
from store.settings import Settings
from tools.hdprobe.dataset import concepts, make_prompts
from tools.hdprobe.encoder import Encoder, EncoderConfig, train_encoder
from tools.hdprobe.features import capture_states, kmeans_summary, parse_layers
from tools.hdprobe.probe import HDProbe
from tools.hdprobe.vsa import make_codebook, target
from tools.runtime.embedded import EMBEDDED_NAME
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime
from tools.runtime.testing import build_tiny_model


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=EMBEDDED_NAME, help="a model, or 'tiny' for the tiny random Llama")
    parser.add_argument("--layers", default=None, help="START:STOP (default: the later half)")
    parser.add_argument("--dim", type=int, default=4096)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--prompts", type=int, default=32, help="prompts per timed batch")
    parser.add_argument("--train", type=int, default=3000, help="training prompts of the timed epoch")
    parser.add_argument("--epochs", type=int, default=40, help="epochs of the estimated whole run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a small shared CPU)")
    parser.add_argument("--quick", action="store_true", help="few prompts and repeats: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.prompts, args.train, args.repeats = 8, 256, 2
    torch.set_num_threads(args.threads)
    name = args.model
    if name == "tiny":
        name = str(build_tiny_model(Path(tempfile.mkdtemp()) / "tiny", "llama"))
    runtime = ModelRuntime(load_model(name, Settings()))
    layers = parse_layers(args.layers, runtime.shape.n_layers)
    prompts = make_prompts(0, n_train=max(args.prompts, 16), n_val=8, n_test_pairs=8, n_test_relations=8).train
    texts = [p.text for p in prompts[: args.prompts]]
    codebook = make_codebook(concepts(), args.dim, 0)
    encoder = Encoder(runtime.shape.d_model, args.dim, args.hidden, 0.0).eval()
    probe = HDProbe(encoder, codebook, layers, 5)
    states = capture_states(runtime, texts, layers).states

    def after_forward() -> None:
        vectors = probe.encode(kmeans_summary(states, 5))
        for v, p in zip(vectors, prompts, strict=False):
            probe.rank_answer(v, list(p.pairs[:-1]), p.query, 5)

    times = timed_interleaved(
        {
            "baseline": lambda: runtime.run(texts, logits="last"),
            "capture": lambda: capture_states(runtime, texts, layers, logits=False),
            "decode": lambda: probe.decode(runtime, texts),
            "after": after_forward,
        },
        args.repeats,
    )
    per = {k: 1000 * v / len(texts) for k, v in times.items()}

    x = torch.randn(args.train, runtime.shape.d_model)
    t = torch.stack([target(codebook, p.pairs) for p in (prompts * (args.train // len(prompts) + 1))[: args.train]])
    config = EncoderConfig(hidden=args.hidden, epochs=1)
    started = time.perf_counter()
    train_encoder(x, t, x[:64], t[:64], config)
    epoch = time.perf_counter() - started
    capture_all = per["capture"] / 1000 * args.train
    whole = capture_all + args.epochs * epoch

    rows = [
        ("baseline: forward + logits", f"{per['baseline']:.1f} ms/prompt", "1.00"),
        (f"capture L{layers[0]}..L{layers[1] - 1} resid_post", f"{per['capture']:.1f} ms/prompt",
         f"{per['capture'] / per['baseline']:.2f}"),
        ("decode end to end", f"{per['decode']:.1f} ms/prompt", f"{per['decode'] / per['baseline']:.2f}"),
        ("  summary + encode + rank", f"{per['after']:.2f} ms/prompt", f"{per['after'] / per['baseline']:.3f}"),
        (f"one encoder epoch ({args.train} prompts)", f"{epoch:.2f} s", f"{epoch / capture_all:.3f}"),
        (f"whole run ({args.epochs} epochs + capture)", f"{whole:.0f} s", f"{whole / capture_all:.2f}"),
    ]  # fmt: skip
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {args.model}, D={args.dim}")
    print(f"{len(texts)} prompts per batch, median of {args.repeats}; training ratios are to capturing its prompts")
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'time':>18}  {'ratio':>6}")
    print("-" * (width + 28))
    for label, value, ratio in rows:
        print(f"{label:<{width}}  {value:>18}  {ratio:>6}")


if __name__ == "__main__":
    main()
