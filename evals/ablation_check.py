"""How close the layer plan's ablation estimates come to exact zero-ablation.

Run ``python -m evals.ablation_check`` (the embedded model, ``L6.mlp``, the 32 corpus passages the
layer plan uses; ``--site``, ``--units`` for others). It estimates every unit's effect at once
(``tools.effects.ablation_estimates.zero_ablation_estimates``), then ablates for real (one forward per
unit) the ``--units`` units with the largest estimated mean |effect| and as many of the first units
of the site, and prints the Pearson correlation of estimate and truth per (text, unit) and per unit
(mean over the texts), with each unit's two means. Slow by design: the exact side costs one forward
pass per unit.
"""

from __future__ import annotations

import argparse
import time

import torch

from agent.layer_plan import ABLATION_TEXTS
from agent.runner import Session
from tools.effects.ablation import corpus_texts
from tools.effects.ablation_estimates import exact_zero_effects, zero_ablation_estimates
from tools.runtime.embedded import EMBEDDED_NAME


def _pearson(x: torch.Tensor, y: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([x.flatten(), y.flatten()]))[0, 1])


def main(argv: list[str] | None = None) -> int:
    """Compare the estimates with exact ablation (module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m evals.ablation_check", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=EMBEDDED_NAME)
    parser.add_argument("--site", default="L6.mlp", help="A site (L6.mlp) or an SAE (L6.sae[NAME]).")
    parser.add_argument("--texts", type=int, default=ABLATION_TEXTS)
    parser.add_argument("--units", type=int, default=12, help="Strongest units checked, and as many first units.")
    args = parser.parse_args(argv)
    runtime = Session().ctx.runtime(args.model)
    texts = corpus_texts("builtin", args.texts)
    started = time.perf_counter()
    estimates, _ = zero_ablation_estimates(runtime, args.site, texts)
    estimate_seconds = time.perf_counter() - started
    strongest = estimates.mean(dim=0).abs().argsort(descending=True)[: args.units].tolist()
    chosen = list(dict.fromkeys([*strongest, *range(args.units)]))
    address = runtime.resolve(args.site).address
    started = time.perf_counter()
    exact = exact_zero_effects(runtime, [f"{address}.{u}" for u in chosen], texts)
    exact_seconds = time.perf_counter() - started
    picked = estimates[:, chosen]
    print(f"{address}: {estimates.shape[1]} units estimated on {len(texts)} texts in {estimate_seconds:.1f}s")
    print(f"exact ablation of {len(chosen)} units: {exact_seconds:.1f}s ({exact_seconds / len(chosen):.1f}s per unit)")
    print(f"pearson r per (text, unit): {_pearson(picked, exact):.3f}")
    print(f"pearson r of the per-unit means: {_pearson(picked.mean(dim=0), exact.mean(dim=0)):.3f}")
    for unit, est, true in zip(chosen, picked.mean(dim=0).tolist(), exact.mean(dim=0).tolist(), strict=True):
        print(f"  unit {unit:>6}  estimate {est:+.5f}  exact {true:+.5f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
