"""``autointerp sae``: register sparse autoencoders for a model, list them, train one (``tools.sae``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from autointerp.cli.common import DB_HELP, JSON_HELP, MODEL_HELP, open_runtime, settings_from, store_for
from autointerp.cli.output import emit
from autointerp.cli.sae_train_cmd import sae_train_command
from store.models import SAERecordRead

sae_app = typer.Typer(
    help="Sparse autoencoders: register one for a model's site; its latents are then L{l}.sae.{j}.",
    no_args_is_help=True,
)

JsonOpt = Annotated[str | None, typer.Option("--json", help=JSON_HELP, metavar="PATH")]
DbOpt = Annotated[str | None, typer.Option("--db", help=DB_HELP, metavar="URL")]


def _metrics(record: SAERecordRead) -> str:
    if not isinstance(record.metrics, dict):
        return ""
    shown = []
    for key in ("fvu", "l0", "dead_fraction", "ce_recovered"):
        value = record.metrics.get(key)
        if isinstance(value, int | float):
            shown.append(f"{key} {value:.3g}")
    return " ".join(shown)


def _line(r: SAERecordRead) -> str:
    """One SAE on one line: address, site (and hook), format, architecture, width, digest, metrics, model."""
    hook = f" ({r.hook})" if r.hook and r.hook != f"L{r.layer}.{r.site}" else ""
    arch = r.architecture + (f" k={r.k}" if r.k else "")
    metrics = _metrics(r)
    return (
        f"[bold]{escape(r.address)}[/bold]  L{r.layer}.{r.site}{escape(hook)}  {r.format} {arch}  {r.width} latents  "
        f"digest {r.digest[:12]}" + (f"  {metrics}" if metrics else "") + f"  [dim]{escape(r.model or '')}[/dim]"
    )


@sae_app.command("add")
def sae_add(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    path: Annotated[
        str,
        typer.Option(
            "--path",
            help="SAE folder: SAELens (cfg.json + sae_weights.safetensors) or sparsify (cfg.json + sae.safetensors).",
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", help="Name, unique in the model (default l{layer}-{site}-{width}); L{l}.sae[NAME].{j}."),
    ] = None,
    hook: Annotated[
        str | None,
        typer.Option(
            "--hook", help="Where it reads, when its files do not say: blocks.6.hook_resid_post, L6.resid_post."
        ),
    ] = None,
    json_path: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """Register an SAE for a site of a model: checked against the model, copied into the cache home,
    recorded in the store. Its latents are then subjects of every tool, agent and job."""
    settings = settings_from(db=db)
    engine = store_for(settings)
    runtime = open_runtime(model, settings)
    from tools.sae.registry import register_sae

    result = register_sae(engine, settings, runtime, path, name=name, hook=hook)

    def render(c: Console) -> None:
        what = "registered" if result.created else "already registered"
        r = result.sae
        c.print(
            f"{what}: [bold]{escape(r.address)}[/bold] on {escape(r.model or '')}: "
            f"{r.architecture} SAE, {r.width} latents" + (f" (k={r.k})" if r.k else "") + f", reads L{r.layer}.{r.site}"
        )
        c.print(
            escape(f"  latents: {r.address}.0 .. {r.address}.{r.width - 1}")
            + f"  (L{r.layer}.sae.{{j}} while it is the layer's only SAE)"
        )
        c.print(escape(f"  copy: {r.path}"))

    emit(result, json_path, render)


@sae_app.command("list")
def sae_list(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model's SAEs. " + MODEL_HELP)] = None,
    json_path: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """The registered SAEs (of one model with --model): address, site, format, shape, digest, metrics."""
    from tools.sae.registry import list_saes

    settings = settings_from(db=db)
    result = list_saes(store_for(settings), model)

    def render(c: Console) -> None:
        if not result.saes:
            c.print("no SAE is registered" + (f" for {escape(model)}" if model else ""))
        for record in result.saes:
            c.print(_line(record))

    emit(result, json_path, render)


sae_app.command("train")(sae_train_command)
