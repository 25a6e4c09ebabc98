"""``autointerp tools``, ``ablate`` and ``steer``: the tool registry from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.backends.factory import llm_chat_model
from autointerp.cli.common import JSON_HELP, MODEL_HELP, settings_from
from autointerp.cli.output import emit, err_console, to_json
from store.errors import InputError
from tools.catalog import default_registry
from tools.catalog.patching import IOIOut
from tools.context import ToolContext
from tools.executor import LocalExecutor
from tools.patching.ioi import write_ioi_jsonl
from tools.patching.patch import PatchResult
from tools.plots.heatmap import plot_patch_heatmap

tools_app = typer.Typer(help="The tools the agent calls: list them, call one.", no_args_is_help=True)

JsonOpt = Annotated[str | None, typer.Option("--json", help=JSON_HELP, metavar="PATH")]


class ToolListing(BaseModel):
    """Every tool with its description and argument schema."""

    tools: list[dict[str, Any]]


def executor(no_cache: bool = False) -> LocalExecutor:
    """A local executor over the built-in tools with settings from the environment."""
    return LocalExecutor(
        default_registry(), ToolContext(settings=settings_from(), chat_models=llm_chat_model), cache=not no_cache
    )


@tools_app.command("list")
def tools_list(
    fmt: Annotated[str, typer.Option("--format", help="plain, openai or anthropic schema shape.")] = "plain",
    json_path: JsonOpt = None,
) -> None:
    """Every registered tool with its schema."""
    registry = default_registry()
    if fmt == "openai":
        listing = ToolListing(tools=registry.openai_tools())
    elif fmt == "anthropic":
        listing = ToolListing(tools=registry.anthropic_tools())
    elif fmt == "plain":
        listing = ToolListing(
            tools=[
                {
                    "name": s.name,
                    "description": s.description,
                    "queue": s.queue,
                    "cacheable": s.cacheable,
                    "input_schema": s.input_schema(),
                    "output_schema": s.result_model.model_json_schema(),
                }
                for s in registry.specs()
            ]
        )
    else:
        raise InputError(f"unknown --format {fmt!r}; choose plain, openai or anthropic")

    def render(c: Console) -> None:
        table = Table("tool", "queue", "arguments", "what it does", show_lines=True)
        for spec in registry.specs():
            props = spec.input_schema().get("properties", {})
            table.add_row(spec.name, spec.queue, ", ".join(props), spec.description.split("\n\n")[0])
        c.print(table)

    emit(listing, json_path, render)


@tools_app.command("call")
def tools_call(
    name: Annotated[str, typer.Argument(help="Tool name (see `autointerp tools list`).")],
    args: Annotated[str, typer.Option("--args", help="Arguments as a JSON object.")] = "{}",
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Recompute even when a result is stored.")] = False,
    json_path: JsonOpt = None,
) -> None:
    """Call one tool with JSON arguments and print its result."""
    try:
        parsed = json.loads(args)
    except ValueError as exc:
        raise InputError(f"--args is not valid JSON: {exc}") from None
    result = executor(no_cache).submit(name, parsed)
    emit(result, json_path, lambda c: c.print_json(to_json(result)))


def ablate_command(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    target: Annotated[list[str], typer.Option("--target", help="Unit or site to ablate (repeatable).")],
    text: Annotated[list[str] | None, typer.Option("--text", "-t", help="Text to measure on (repeatable).")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Or a corpus: builtin or a file.")] = None,
    n_texts: Annotated[int, typer.Option("--n-texts", min=1)] = 16,
    method: Annotated[str, typer.Option("--method", help="zero, mean or resample.")] = "zero",
    metric: Annotated[str, typer.Option("--metric", help="loss, logit, logit_diff or prob.")] = "loss",
    token: Annotated[str | None, typer.Option("--token", help="Token for logit/prob.")] = None,
    target_token: Annotated[str | None, typer.Option("--target-token", help="Target for logit_diff.")] = None,
    foil: Annotated[str | None, typer.Option("--foil", help="Foil for logit_diff.")] = None,
    json_path: JsonOpt = None,
) -> None:
    """Ablate units or sites and show how a metric changes on each text."""
    args = {
        "model": model,
        "targets": target,
        "method": method,
        "texts": text,
        "dataset": dataset,
        "n_texts": n_texts,
        "metric": {"kind": metric, "token": token, "target": target_token, "foil": foil},
    }
    result = executor().submit("ablate", args)
    data = result.model_dump()

    def render(c: Console) -> None:
        table = Table(
            "text",
            "baseline",
            "ablated",
            "effect",
            title=escape(f"{data['metric']} with {data['method']} ablation of {', '.join(data['targets'])}"),
        )
        for t, b, a, e in zip(data["texts"], data["baseline"], data["ablated"], data["effects"], strict=True):
            table.add_row(t[:60].replace("\n", " "), f"{b:.4f}", f"{a:.4f}", f"{e:+.4f}")
        table.add_row(
            "[bold]mean[/bold]",
            f"{data['mean_baseline']:.4f}",
            f"{data['mean_ablated']:.4f}",
            f"[bold]{data['mean_effect']:+.4f}[/bold]",
        )
        c.print(table)

    emit(result, json_path, render)


def steer_command(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    prompt: Annotated[str, typer.Option("--prompt", "-p")],
    alpha: Annotated[float, typer.Option("--alpha")],
    unit: Annotated[str | None, typer.Option("--unit", "-u", help="Unit to push.")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, max=128)] = 24,
    json_path: JsonOpt = None,
) -> None:
    """Generate with and without pushing a unit, side by side."""
    result = executor().submit(
        "steer", {"model": model, "subject": unit, "alpha": alpha, "prompt": prompt, "max_new_tokens": max_new_tokens}
    )
    data = result.model_dump()

    def render(c: Console) -> None:
        c.print(f"[bold]prompt[/bold]     {data['prompt']}")
        c.print(f"[bold]unsteered[/bold]  {data['unsteered']}")
        c.print(f"[bold]steered[/bold]    {data['steered']}   ({escape(data['target'])}, alpha {data['alpha']:+g})")

    emit(result, json_path, render)


def patch_command(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    clean: Annotated[str | None, typer.Option("--clean", help="Clean prompt.")] = None,
    corrupt: Annotated[str | None, typer.Option("--corrupt", help="Corrupt prompt (same token length).")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Clean answer token, e.g. ' Mary'.")] = None,
    foil: Annotated[str | None, typer.Option("--foil", help="Competing token, e.g. ' John'.")] = None,
    pairs: Annotated[str | None, typer.Option("--pairs", help="JSONL file of pairs (averaged).")] = None,
    site: Annotated[str, typer.Option("--site", help="resid_pre, attn_out, mlp_out or heads.")] = "resid_pre",
    method: Annotated[str, typer.Option("--method", help="exact, attribution or naive.")] = "exact",
    sae: Annotated[
        str | None, typer.Option("--sae", help="Patch an SAE's latents instead (L6.sae or L6.sae[NAME]).")
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, max=1024, help="With --sae: latents to score.")] = 32,
    plot: Annotated[Path | None, typer.Option("--plot", help="Save the heatmap PNG here.")] = None,
    json_path: JsonOpt = None,
) -> None:
    """Activation or attribution patching sweep, as a layers x positions (or heads) heatmap; with --sae,
    the SAE's latents that restore the clean answer."""
    args = {
        "model": model,
        "clean": clean,
        "corrupt": corrupt,
        "target": target,
        "foil": foil,
        "pairs": pairs,
        "site": site,
        "method": method,
        "sae": sae,
        "top": top if sae is not None else None,
    }
    result = executor().submit("patch_activations", {k: v for k, v in args.items() if v is not None})
    assert isinstance(result, PatchResult)
    if plot is not None:
        err_console.print(f"[dim]wrote {plot_patch_heatmap(result, plot)}[/dim]")

    def render(c: Console) -> None:
        c.print(
            escape(f"{result.method} patching of {result.site}: LD clean {result.clean_ld:+.3f}, ")
            + f"corrupt {result.corrupt_ld:+.3f}, {result.n_pairs} pair(s)"
        )
        if result.column_kind == "latent":
            table = Table("latent", "score", title="normalised scores (1 = restores the clean answer)")
            for j, value in zip(result.positions, result.scores[0], strict=True):
                table.add_row(escape(f"{result.site}.{j}"), f"{_cell(value)} {value:+.3f}")
            c.print(table)
            return
        columns = [f"h{p}" for p in result.positions] if result.site == "heads" else result.tokens
        strip_title = f"layers {result.layers[0]}..{result.layers[-1]} (green +, red -)"
        table = Table("column", strip_title, "strongest", title="normalised scores (1 = restores the clean answer)")
        for j, name in enumerate(columns):
            values = [row[j] for row in result.scores]
            best = max(range(len(values)), key=lambda i: abs(values[i]))
            strip = "".join(_cell(v) for v in values)
            table.add_row(repr(name), strip, f"L{result.layers[best]} {values[best]:+.2f}")
        c.print(table)

    emit(result, json_path, render)


def _cell(value: float) -> str:
    """One character of a text heatmap: shade by magnitude, colour by sign."""
    shades = " ░▒▓█"
    level = min(int(abs(value) * (len(shades) - 1) + 0.5), len(shades) - 1)
    colour = "green" if value > 0 else "red"
    return f"[{colour}]{shades[level]}[/{colour}]"


def ioi_command(
    out: Annotated[Path, typer.Option("--out", help="Write the pairs here as JSONL (for patch --pairs).")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Keep single-token names of this model.")] = None,
    n: Annotated[int, typer.Option("--n", min=1, max=5000)] = 20,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    template: Annotated[int | None, typer.Option("--template", min=0, help="One template only (index).")] = None,
    same_length: Annotated[bool, typer.Option("--same-length", help="Only pairs as long as the first.")] = False,
    json_path: JsonOpt = None,
) -> None:
    """Generate IOI prompt pairs (clean/corrupt by name swap) as a JSONL file."""
    args = {"model": model, "n": n, "seed": seed, "template": template, "same_length": same_length}
    result = executor().submit("ioi_dataset", args)
    assert isinstance(result, IOIOut)
    write_ioi_jsonl(result.pairs, out)
    emit(result, json_path, lambda c: c.print(f"wrote {len(result.pairs)} pairs to {out}"))
