"""``python -m evals.simulation_report``: explain–simulate–score on random neurons of one layer, the
builtin agent's explanations beside the one-shot baseline, measured in the same run.

For each of ``--units`` neurons drawn with ``--seed`` from the layer's MLP (default: 64 of layer 6 of
the embedded model):

1. the builtin agent investigates the neuron (the label job's budget: 24 tool calls) and writes an
   explanation whose ``code`` is its simulator;
2. the **one-shot baseline** reads only the 20 top contexts of the neuron's exemplar cache: the token
   at each peak, with its activation, as a token-weight simulator (no experiment);
3. both simulators are scored on the same held-out contexts (``evals.scoring.simulation``: one forward
   pass over the held-out draw for the whole layer).

Prints a line per neuron as it is done, then the means (a simulator that could not be built or run
counts as 0) and the time per unit; ``--json PATH`` writes everything, rewritten after every neuron.
Investigations go to their own store (``<home>/simulation-report.db`` unless ``--db``); the exemplar
cache file in the home is reused.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from pydantic import BaseModel

from agent.builtin.unit_hypotheses import analyse_context
from agent.builtin.unit_simulators import one_shot_simulator
from agent.graph import Budget
from agent.runner import Session, make_brain
from evals.scoring.simulation import SimulationScore, held_out_site, simulation_score
from store.settings import Settings
from tools.exemplars.service import build_site_cache, open_site_cache

METRICS = ("sim_corr_top_random", "sim_corr_random", "sim_detection", "sim_fuzzing")


class UnitRow(BaseModel):
    """One neuron: the builtin's label and both simulators' scores, with the seconds each step took."""

    unit: str
    label: str
    builtin: SimulationScore
    baseline: SimulationScore
    investigate_s: float
    score_s: float
    builtin_code: str | None = None
    baseline_code: str | None = None


class Report(BaseModel):
    """The whole measurement."""

    model: str
    layer: int
    seed: int
    units: list[str]
    cache_s: float
    held_out_s: float
    rows: list[UnitRow]
    means: dict[str, dict[str, float]]
    seconds_per_unit: dict[str, float]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def summarise(rows: list[UnitRow]) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Mean of each metric for the builtin and the baseline (missing scores count as 0), and the mean
    seconds per unit of investigating and scoring."""
    means = {
        who: {m: round(_mean([getattr(getattr(r, who), m) or 0.0 for r in rows]), 4) for m in METRICS}
        for who in ("builtin", "baseline")
    }
    for who in ("builtin", "baseline"):
        means[who]["failed"] = float(sum(getattr(r, who).error is not None for r in rows))
    seconds = {
        "investigate": round(_mean([r.investigate_s for r in rows]), 2),
        "score": round(_mean([r.score_s for r in rows]), 2),
    }
    return means, seconds


def run_report(
    model: str, layer: int, n: int, seed: int, db: str | None, budget: int, json_path: str | None = None
) -> Report:
    """Investigate, simulate and score ``n`` random neurons of ``layer`` (module docstring); the report
    so far is written to ``json_path`` after every unit."""
    settings = Settings(db=db) if db else Settings()
    if db is None:
        settings = Settings(db=f"sqlite:///{settings.ensure_home() / 'simulation-report.db'}")
    session = Session(settings)
    runtime = session.ctx.runtime(model)
    site = f"L{layer}.mlp"
    started = time.perf_counter()
    build_site_cache(runtime, session.engine, settings, site, max_tokens=100_000, progress=False)
    cache, _ = open_site_cache(session.engine, runtime.loaded, site)
    cache_s = time.perf_counter() - started
    width = runtime.shape.d_mlp
    indices = random.Random(seed).sample(range(width), n)  # draw order: any prefix is a random sample too
    units = [f"{site}.{i}" for i in indices]
    started = time.perf_counter()
    site_acts = held_out_site(runtime, units[0])
    held_out_s = time.perf_counter() - started
    brain = make_brain("builtin")
    rows: list[UnitRow] = []
    report: Report | None = None
    for unit, index in zip(units, indices, strict=True):
        started = time.perf_counter()
        investigation_id, first = session.create(unit, model, "builtin", Budget(tool_calls=budget))
        result = session.run(investigation_id, brain, first)
        investigate_s = time.perf_counter() - started
        explanation = result.explanation
        started = time.perf_counter()
        held = site_acts.unit(index)
        contexts = [
            c
            for c in (
                analyse_context(runtime.token_strings(e.token_ids), list(e.activations)) for e in cache.top(index, 20)
            )
            if c is not None
        ]
        baseline = one_shot_simulator(contexts)
        row = UnitRow(
            unit=unit,
            label=explanation.label if explanation else "(no explanation)",
            builtin=simulation_score(explanation.code if explanation else None, held),
            baseline=simulation_score(baseline.dumps() if baseline else None, held),
            investigate_s=round(investigate_s, 2),
            score_s=round(time.perf_counter() - started, 2),
            builtin_code=explanation.code if explanation else None,
            baseline_code=baseline.dumps() if baseline else None,
        )
        rows.append(row)
        print(_line(row), flush=True)
        means, seconds = summarise(rows)
        report = Report(
            model=model,
            layer=layer,
            seed=seed,
            units=units[: len(rows)],
            cache_s=round(cache_s, 2),
            held_out_s=round(held_out_s, 2),
            rows=rows,
            means=means,
            seconds_per_unit=seconds,
        )
        if json_path:  # after every unit: a run cut short still leaves its report so far
            Path(json_path).write_text(json.dumps(report.model_dump(), indent=1))
    if report is None:
        raise ValueError("no units to report on: give --units 1 or more")
    return report


def _fmt(value: float | None) -> str:
    return f"{value:+.3f}" if value is not None else "   -  "


def _line(row: UnitRow) -> str:
    b, o = row.builtin, row.baseline
    return (
        f"{row.unit:<12} {_fmt(b.sim_corr_top_random)} {_fmt(b.sim_corr_random)} {_fmt(b.sim_detection)} "
        f"{_fmt(b.sim_fuzzing)} | {_fmt(o.sim_corr_top_random)} {_fmt(o.sim_corr_random)} {_fmt(o.sim_detection)} "
        f"{_fmt(o.sim_fuzzing)} | {row.investigate_s:6.1f}s {row.score_s:5.1f}s  {row.label[:40]}"
    )


HEADER = (
    f"{'unit':<12} {'builtin: top+rnd':>6} {'rnd':>6} {'det':>6} {'fuzz':>6} | "
    f"{'one-shot: top+rnd':>6} {'rnd':>6} {'det':>6} {'fuzz':>6} | investigate score  label"
)


def render(report: Report) -> str:
    """The summary a person reads: means side by side and the time per unit."""
    lines = [
        f"{report.model} layer {report.layer}: {len(report.units)} random MLP neurons (seed {report.seed}); "
        f"exemplar cache {report.cache_s:.0f}s, held-out capture (32,768 tokens, whole layer) {report.held_out_s:.1f}s",
        f"{'metric':<22} {'builtin':>9} {'one-shot':>9}",
    ]
    for m in METRICS:
        lines.append(f"{m:<22} {report.means['builtin'][m]:>9.3f} {report.means['baseline'][m]:>9.3f}")
    failed = report.means["builtin"]["failed"], report.means["baseline"]["failed"]
    lines.append(f"{'no simulator / failed':<22} {failed[0]:>9.0f} {failed[1]:>9.0f}")
    s = report.seconds_per_unit
    lines.append(f"seconds per unit: investigation {s['investigate']:.1f}, simulation scoring {s['score']:.2f} (both)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The command line (module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m evals.simulation_report", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--layer", type=int, default=6)
    parser.add_argument("--units", type=int, default=64, help="How many random neurons.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the neuron sample.")
    parser.add_argument("--budget", type=int, default=24, help="Tool calls per investigation.")
    parser.add_argument("--db", default=None, help="Store URL (default: <home>/simulation-report.db).")
    parser.add_argument("--json", dest="json_path", default=None, help="Write the report as JSON here.")
    args = parser.parse_args(argv)
    print(HEADER, flush=True)
    report = run_report(args.model, args.layer, args.units, args.seed, args.db, args.budget, args.json_path)
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
