"""Benchmark: a label job over one layer, one investigation at a time vs the layer planner.

Run ``python -m evals.perf.bench_label`` (the embedded model, neurons 0..255 of layer 6 — ``--start``,
``--units`` for others; ``--model tiny`` for the tiny random Llama). The layer's
exemplar cache is built first and shared by both (a label job builds it once per layer either way),
and the held-out text of the simulation scores is captured before the clock starts. Then two label
jobs over the same neurons, each in its own store (so nothing of one is reused by the other), run to
the end in this process:

1. ``plan=unit``: every investigation runs its own experiments (the word survey and a zero
   ablation included), each with its own forward passes: the runtime's site cache is off
   (``site_cache_mb=0``), so nothing is shared between units;
2. ``plan=layer``: ``agent.layer_plan`` runs the word survey and the ablation-effect estimates once
   for the whole layer (timed as part of this job), every investigation reads its unit's column of
   them, and units whose hypothesis tests use the same texts share their forward passes (the
   runtime's site cache, on by default).

Each plan keeps its tool results in its own folder (``Settings.results``), so neither reuses the
other's results.

Prints units/hour of each and their ratio (the planner's speed-up), and the quality of the
explanations on the same units: the mean simulation correlations (top+random, random-only) and the
mean confidence of each, with the mean paired difference. Asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from agent.layer_plan import ABLATION_TOOL, SURVEY_TOOL
from agent.runner import Session
from evals.scoring.simulation import held_out_site
from store.db import open_store, session
from store.models import Experiment, JobItem
from store.settings import Settings
from tools.exemplars.service import build_site_cache
from tools.runtime.embedded import EMBEDDED_NAME
from tools.runtime.testing import build_tiny_model
from workers.label import submit_label_job


def _results(settings: Settings, job_id: int) -> dict[str, dict[str, Any]]:
    with session(open_store(settings.db_url())) as db:
        items = db.exec(select(JobItem).where(JobItem.job_id == job_id)).all()
    return {i.key: dict(i.result or {}) for i in items}


def _shared_seconds(settings: Settings) -> float:
    with session(open_store(settings.db_url())) as db:
        rows = db.exec(select(Experiment).where(col(Experiment.tool).in_([SURVEY_TOOL, ABLATION_TOOL]))).all()
    return sum(r.seconds for r in rows)


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    """Time both plans on the same units and print the comparison (module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m evals.perf.bench_label", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=EMBEDDED_NAME, help="A model name, or 'tiny' for the tiny random Llama.")
    parser.add_argument("--layer", type=int, default=6)
    parser.add_argument("--units", type=int, default=256, help="How many neurons of the layer (from --start).")
    parser.add_argument("--start", type=int, default=0, help="First neuron.")
    parser.add_argument("--budget", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=100_000)
    args = parser.parse_args(argv)
    home = Settings().ensure_home()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model == "tiny":
            model = str(build_tiny_model(Path(tmp) / "tiny", "llama"))
        base = Settings(home=home, db=f"sqlite:///{Path(tmp) / 'cache.db'}")
        prep = Session(base)
        runtime = prep.ctx.runtime(model)
        site = f"L{args.layer}.mlp"
        started = time.perf_counter()
        build_site_cache(runtime, prep.engine, base, site, max_tokens=args.max_tokens, progress=True)
        held_out_site(runtime, f"{site}.0")
        print(f"exemplar cache and held-out capture: {time.perf_counter() - started:.1f}s (shared, not timed)")
        rows: dict[str, dict[str, dict[str, Any]]] = {}
        seconds: dict[str, float] = {}
        for plan in ("unit", "layer"):
            settings = Settings(
                home=home,
                db=f"sqlite:///{Path(tmp) / f'{plan}.db'}",
                results=Path(tmp) / f"{plan}-results",
                site_cache_mb=0 if plan == "unit" else Settings().site_cache_mb,
            )
            started = time.perf_counter()
            params = {"model": model, "layer": args.layer, "units": f"{args.start}:{args.start + args.units}"}
            params |= {"budget": args.budget, "max_tokens": args.max_tokens, "plan": plan}
            job_id = submit_label_job(settings, params, executor="local")
            results = _results(settings, job_id)
            seconds[plan] = time.perf_counter() - started
            rows[plan] = results
            rate = 3600 * len(results) / seconds[plan]
            shared = _shared_seconds(settings)
            print(
                f"plan={plan}: {len(results)} units in {seconds[plan]:.1f}s = {rate:.0f} units/hour"
                + (f" (of which the shared runs {shared:.1f}s)" if shared else ""),
                flush=True,
            )
    speedup = seconds["unit"] / seconds["layer"]
    print(f"layer planner speed-up (units/hour, same units, same run): {speedup:.2f}x")
    keys = sorted(set(rows["unit"]) & set(rows["layer"]))
    for metric in ("sim_corr_top_random", "sim_corr_random", "confidence"):
        per = {
            plan: [
                float(rows[plan][k].get(metric, rows[plan][k].get("scores", {}).get(metric, 0.0)) or 0.0) for k in keys
            ]
            for plan in ("unit", "layer")
        }
        diffs = [b - a for a, b in zip(per["unit"], per["layer"], strict=True)]
        sd = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
        print(
            f"{metric:<22} per-unit {_mean(per['unit']):.3f}  layer plan {_mean(per['layer']):.3f}  "
            f"paired diff {_mean(diffs):+.3f} (sd {sd:.3f}, n {len(diffs)})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
