"""``make demo``, the main job: fetch the embedded model, cache one layer's exemplars, show its most
selective neurons, run a batch label job over a range of the layer's neurons with the builtin agent,
train a small TopK SAE on the layer's residual stream and label some of its latents, and run a small
generated FIND-style eval (numeric, string and entity functions) scored against ground truth.

The neurons shown are the layer's most *selective* ones: largest max / std, i.e. rare, strong spikes
above an otherwise quiet distribution — the easiest kind to read off exemplars. The label job is the
same one ``autointerp label`` runs (resumable: a second ``make demo`` reuses its explanations). The
SAE is a small one (2x width, ~200k tokens: a couple of minutes) so that the demo stays short; a second
``make demo`` reuses the finished training run. ``autointerp sae train`` trains the full-size one.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine

from autointerp.cli.common import open_runtime, settings_from, store_for
from autointerp.cli.output import highlighted
from store.explanations import explanation_of, scores_of
from store.settings import Settings
from tools.exemplars.service import build_site_cache, open_site_cache, unit_exemplars
from tools.runtime.embedded import EMBEDDED_NAME
from tools.runtime.model_runtime import ModelRuntime

if TYPE_CHECKING:
    from workers.jobs import ItemView


def run_demo(
    console: Console,
    *,
    layer: int = 6,
    max_tokens: int = 60_000,
    units: int = 3,
    k: int = 4,
    label_units: int = 6,
    sae_latents: int = 3,
    sae_tokens: int = 196_608,
    sae_corpus: str | None = None,
    eval_size: tuple[int, int, int] = (8, 8, 4),
    eval_seed: int = 2026,
) -> None:
    """Run the demo job and print its results (``eval_size``: numeric, string and entity functions)."""
    settings = settings_from()
    console.rule(f"1. the embedded model ({EMBEDDED_NAME})")
    runtime = open_runtime(EMBEDDED_NAME, settings, batch_size=32)
    shape = runtime.shape
    console.print(
        f"{runtime.loaded.path}\n{shape.n_layers} layers, d_model {shape.d_model}, "
        f"{shape.d_mlp} MLP neurons per layer, weights sha256 {runtime.loaded.digest[:16]}"
    )
    console.rule(f"2. exemplar cache for layer {layer} (builtin corpus, {max_tokens:,} tokens)")
    engine = store_for(settings)
    built = build_site_cache(runtime, engine, settings, f"L{layer}.mlp", max_tokens=max_tokens)
    speed = (
        "reused from an earlier run"
        if built.reused
        else f"{built.seconds:.1f}s, {built.tokens_per_second:,.0f} tokens/s"
    )
    console.print(f"{built.n_contexts} contexts x {built.ctx_len} tokens ({speed})\n{built.path}")
    cache, _ = open_site_cache(engine, runtime.loaded, f"L{layer}.mlp")
    selectivity = cache.stat_column("max") / cache.stat_column("std").clamp_min(1e-6)
    chosen = selectivity.topk(units).indices.tolist()
    console.rule(f"3. the {units} most selective neurons of layer {layer} (max / std)")
    for index in chosen:
        result = unit_exemplars(runtime, cache, f"L{layer}.mlp.{index}", k=k, per_quantile=0)
        s = result.stats
        console.print(
            f"\n[bold]{result.unit}[/bold]  max {s['max']:.3f}  mean {s['mean']:+.4f}  "
            f"std {s['std']:.4f}  max/std {selectivity[index]:.1f}"
        )
        for e in result.exemplars:
            peak = max(range(len(e.activations)), key=lambda i: e.activations[i])
            console.print(
                f"  {e.max:6.2f} [bold]{e.tokens[peak]!r:>14}[/bold]  ",
                highlighted(e.tokens, e.activations, s["max"]),
                sep="",
            )
    console.print(
        "\nHighlighted tokens: activation ≥ 0.3 x the neuron's max (darker = stronger). "
        f"See `autointerp exemplars --model {EMBEDDED_NAME} --unit L{layer}.mlp.{chosen[0]} --plot hist.png` "
        "for quantile samples and an activation histogram."
    )
    if label_units:
        _label(console, settings, layer, label_units, max_tokens)
    if sae_latents:
        _sae(console, settings, runtime, layer, sae_latents, sae_tokens, max_tokens, sae_corpus)
    if sum(eval_size):
        _evaluate(console, settings, eval_size, eval_seed)


def _label(console: Console, settings: Settings, layer: int, n: int, max_tokens: int) -> None:
    """Step 4: a batch label job over neurons 0..n-1 of the layer, one builtin investigation each."""
    from workers.jobs import find_or_create_label_job, job_items, validate_params
    from workers.label import run_label_job_locally

    console.rule(f"4. label job: neurons 0..{n - 1} of layer {layer}, builtin agent")
    engine = store_for(settings)
    params = validate_params(
        "label",
        {"model": EMBEDDED_NAME, "layer": layer, "units": f"0:{n}", "agent": "builtin", "max_tokens": max_tokens},
    )
    job_id, created = find_or_create_label_job(engine, params)
    console.print(f"[dim]{'new' if created else 'resuming'} job {job_id}: `autointerp jobs show {job_id}`[/dim]")
    started = time.perf_counter()
    view = run_label_job_locally(settings, job_id, progress=True)
    table = Table(
        "unit", "label", "confidence", "sim r (top+rnd / rnd)", "investigation", title=f"job {job_id}: {view.status}"
    )
    for item in job_items(engine, job_id):
        confidence = _confidence(engine, item.investigation_id)
        label = escape(item.label or item.error or item.status)
        table.add_row(item.key, label, confidence, _simulation(engine, item), str(item.investigation_id or "-"))
    console.print(table)
    console.print(
        f"{view.progress.done}/{view.progress.total} units labeled in {time.perf_counter() - started:.0f}s. "
        "Each row's evidence (experiments, hypotheses, tests): `autointerp show <investigation>`. sim r: the "
        "correlation of the explanation's simulator with the neuron on held-out text (20 top + 20 random "
        "contexts / 50 random)."
    )


def _sae(
    console: Console,
    settings: Settings,
    runtime: ModelRuntime,
    layer: int,
    n: int,
    tokens: int,
    max_tokens: int,
    corpus: str | None,
) -> None:
    """Step 5: train (or reuse) a small TopK SAE on the layer's residual stream, register it, label n latents
    (``corpus`` None: the default training corpus, real text mixed with built-in text)."""
    from tools.corpus.sources import DEFAULT_TRAINING_CORPUS
    from tools.sae.registry import register_sae
    from tools.sae.train import TrainSpec, run_dir_for, train_sae
    from workers.jobs import find_or_create_label_job, job_items, validate_params
    from workers.label import run_label_job_locally

    spec = TrainSpec(
        layer=layer,
        latents=2 * runtime.shape.d_model,
        k=32,
        tokens=tokens,
        corpus=corpus or DEFAULT_TRAINING_CORPUS,
        eval_tokens=8_192,
        ce_tokens=2_048,
    )
    width = spec.width(runtime.shape.d_model)
    console.rule(f"5. SAE latents: a TopK SAE on L{layer}.resid_post ({width} latents, k={spec.k}), then labels")
    report = train_sae(runtime, spec, run_dir_for(settings.ensure_home(), spec, runtime))
    m = report.metrics
    how = (
        "reused an earlier run" if report.reused else f"{report.seconds:.0f}s, {report.tokens_per_second:,.0f} tokens/s"
    )
    what = "real text (the Brown Corpus) mixed with built-in text" if corpus is None else corpus
    console.print(
        f"{report.tokens:,} tokens of {what} ({how})\n"
        f"held-out: FVU {m.fvu:.3f}  L0 {m.l0:.1f}  dead {100 * m.dead_fraction:.1f}%  "
        f"CE recovered {m.ce_recovered if m.ce_recovered is not None else float('nan'):.3f}"
    )
    engine = store_for(settings)
    name = f"demo-l{layer}-{width}"
    registration = register_sae(engine, settings, runtime, report.sae_path, name=name)
    console.print(escape(f"registered as {name} ({registration.address}); its latents are L{layer}.sae[{name}].j"))
    params = validate_params(
        "label",
        {"model": EMBEDDED_NAME, "sae": name, "units": f"0:{n}", "agent": "builtin", "max_tokens": max_tokens},
    )
    job_id, created = find_or_create_label_job(engine, params)
    console.print(f"[dim]{'new' if created else 'resuming'} job {job_id}: `autointerp jobs show {job_id}`[/dim]")
    view = run_label_job_locally(settings, job_id, progress=True)
    table = Table(
        "latent", "label", "confidence", "sim r (top+rnd / rnd)", "investigation", title=f"job {job_id}: {view.status}"
    )
    for item in job_items(engine, job_id):
        confidence = _confidence(engine, item.investigation_id)
        label = escape(item.label or item.error or item.status)
        table.add_row(escape(item.key), label, confidence, _simulation(engine, item), str(item.investigation_id or "-"))
    console.print(table)
    console.print(
        "FVU: share of the residual stream's variance the SAE does not reconstruct; CE recovered: 1 = splicing "
        "the reconstruction into the model loses nothing, 0 = as bad as zeroing the residual stream."
    )


def _simulation(engine: Engine, item: ItemView) -> str:
    """The item's simulation correlations (from its result, else from the store's scores), or "-"."""
    if not item.scores and item.investigation_id is not None:
        row = explanation_of(engine, item.investigation_id)
        if row is not None and row.id is not None:
            item = item.model_copy(update={"scores": scores_of(engine, [row.id]).get(row.id, {})})
    return item.simulation() or "-"


def _confidence(engine: Engine, investigation_id: int | None) -> str:
    if investigation_id is None:
        return "-"
    row = explanation_of(engine, investigation_id)
    return f"{row.confidence:.2f}" if row is not None and row.confidence is not None else "-"


def _evaluate(console: Console, settings: Settings, size: tuple[int, int, int], seed: int) -> None:
    """Step 6: a small generated FIND-style suite explained by the builtin agent and scored."""
    from autointerp.cli.eval_cmd import eval_table
    from evals.generators.entities import generate_entities
    from evals.generators.numeric import generate_numeric
    from evals.generators.strings import generate_strings
    from evals.judges.interpret import InterpretingEvaluator
    from evals.runner import Runner
    from evals.suite import write_suite

    numeric, string, entity = size
    console.rule(f"6. FIND-style eval: {numeric} numeric, {string} string, {entity} entity functions (seed {seed})")
    path = settings.home / "suites" / f"demo-{seed}-{numeric}-{string}-{entity}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    items = [*generate_numeric(numeric, seed), *generate_strings(string, seed), *generate_entities(entity, seed)]
    write_suite(items, path)
    result = Runner(str(path), "builtin", InterpretingEvaluator(), settings=settings).run()
    table = Table("function", "truth", "builtin's label", "score", "s", title="per function")
    truths = {item.id: item.description for item in items}
    for item in result.items:
        score = "error" if item.error else ("-" if item.score is None else f"{item.score:.2f}")
        table.add_row(
            item.id, _clip(truths.get(item.id, "")), _clip(item.label or item.error or ""), score, f"{item.seconds:.1f}"
        )
    console.print(table)
    console.print(eval_table(result))
    console.print(
        "score: numeric = NMSE < 0.1 on the grid x = i + 0.5 (pass/fail); string = share of 10 test inputs where "
        "the agent's code matches exactly; entity = 3-way unit tests answered from the description. "
        "These functions come from our own generators, whose families the builtin searches: in-grammar "
        "scores. For scale, FIND's GPT-4 agent on FIND's own functions: numeric 0.33, string code 0.23, "
        "entity 0.56; the builtin outside its grammar (README, Performance): FIND's numeric set 0.754, "
        "hand-written strings 0.283."
    )


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
