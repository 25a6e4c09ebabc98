"""``make demo``: fetch the embedded model, cache one layer's exemplars, show a few neurons, and let
the builtin agent explain the most selective one.

The neurons shown are the layer's most *selective* ones: largest max / std, i.e. rare, strong spikes
above an otherwise quiet distribution — the easiest kind to read off exemplars.
"""

from __future__ import annotations

from rich.console import Console

from autointerp.cli.common import open_runtime, settings_from, store_for
from autointerp.cli.output import highlighted
from store.settings import Settings
from tools.cache_service import build_site_cache, open_site_cache, unit_exemplars
from tools.embedded import EMBEDDED_NAME


def run_demo(
    console: Console, *, layer: int = 6, max_tokens: int = 60_000, units: int = 4, k: int = 5, explain_units: int = 2
) -> None:
    """Run the demo job and print its results."""
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
    if explain_units:
        _explain(console, settings, [f"L{layer}.mlp.{i}" for i in chosen[:explain_units]])


def _explain(console: Console, settings: Settings, units: list[str]) -> None:
    """Step 4: the builtin agent investigates neurons (experiments, hypotheses, evidence, explanation)."""
    from agent.runner import explain

    console.rule(f"4. the builtin agent explains {', '.join(units)}")
    for unit in units:
        result = explain(unit, model=EMBEDDED_NAME, backend="builtin", settings=settings)
        e = result.explanation
        if e is None:
            console.print(f"{unit}: no explanation")
            continue
        console.print(
            f"\n[bold]{unit}[/bold]: [bold green]{e.label}[/bold green]  (confidence {e.confidence:.2f}, "
            f"{result.experiments} experiments, {result.seconds:.0f}s)"
        )
        console.print(e.description)
        console.print(f"[dim]transcript: autointerp show {result.investigation_id}[/dim]")
