"""``autointerp sae train``: train a TopK SAE on a model's site offline, then register it (``tools.sae.train``).

Hooked into the ``sae`` group of ``autointerp.cli.sae_cmd`` as ``sae_app.command("train")(sae_train_command)``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from autointerp.cli.common import DB_HELP, JSON_HELP, MODEL_HELP, open_runtime, settings_from, store_for
from autointerp.cli.output import emit
from tools.corpus.sources import DEFAULT_TRAINING_CORPUS
from tools.sae.registry import SAERegistration
from tools.sae.train import TrainReport

JsonOpt = Annotated[str | None, typer.Option("--json", help=JSON_HELP, metavar="PATH")]
DbOpt = Annotated[str | None, typer.Option("--db", help=DB_HELP, metavar="URL")]


class SAETrainResult(BaseModel):
    """What ``autointerp sae train`` returns: the training report and, unless --no-register, the registration."""

    training: TrainReport
    registration: SAERegistration | None = None


def sae_train_command(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    layer: Annotated[int, typer.Option("--layer", "-l", min=0, help="Layer of the site.")],
    site: Annotated[str, typer.Option("--site", help="resid_post, resid_pre, mlp_out or attn_out.")] = "resid_post",
    latents: Annotated[
        int | None, typer.Option("--latents", min=2, help="Number of latents (default 8 × the site's width).")
    ] = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Active latents per token (TopK).")] = 32,
    tokens: Annotated[int, typer.Option("--tokens", min=1, help="Training tokens.")] = 1_400_000,
    corpus: Annotated[
        str, typer.Option("--corpus", help="builtin, brown, mix:..., a .txt/.jsonl file, or hf:NAME...")
    ] = DEFAULT_TRAINING_CORPUS,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Tokens per optimiser step.")] = 4096,
    lr: Annotated[
        float | None, typer.Option("--lr", min=0.0, help="Adam learning rate (default 2e-4/√(latents/2¹⁴)).")
    ] = None,
    ctx: Annotated[int, typer.Option("--ctx", min=4, max=4096, help="Context window length.")] = 64,
    seed: Annotated[int, typer.Option("--seed", help="Initialisation and shuffling seed.")] = 0,
    name: Annotated[
        str | None, typer.Option("--name", help="Register it under this name (default l{layer}-{site}-{width}).")
    ] = None,
    register: Annotated[
        bool, typer.Option("--register/--no-register", help="Register the trained SAE for the model.")
    ] = True,
    restart: Annotated[
        bool, typer.Option("--restart", help="Ignore a checkpoint or finished run of this spec.")
    ] = False,
    json_path: JsonOpt = None,
    db: DbOpt = None,
    device: Annotated[str | None, typer.Option("--device", help="torch device (default cpu).")] = None,
    dtype: Annotated[str | None, typer.Option("--dtype", help="float32 (default), float16 or bfloat16.")] = None,
) -> None:
    """Train a TopK SAE on a site's activations (streamed, early stop after the layer), resumable after
    Ctrl-C or a kill; write it in the SAELens layout with its metrics and register it."""
    from tools.sae.registry import register_sae
    from tools.sae.train import TrainSpec, run_dir_for, train_sae

    if site not in ("resid_post", "resid_pre", "mlp_out", "attn_out"):
        raise typer.BadParameter("choose one of resid_post, resid_pre, mlp_out, attn_out", param_hint="--site")
    settings = settings_from(db=db, device=device, dtype=dtype)
    engine = store_for(settings) if register else None
    runtime = open_runtime(model, settings)
    spec = TrainSpec(
        layer=layer,
        site=site,
        latents=latents,
        k=k,
        tokens=tokens,
        batch=batch,
        lr=lr,
        corpus=corpus,
        ctx=ctx,
        seed=seed,
    )
    run_dir = run_dir_for(settings.ensure_home(), spec, runtime)
    report = train_sae(runtime, spec, run_dir, progress=json_path != "-", resume=not restart)
    result = SAETrainResult(training=report)
    if engine is not None:
        result.registration = register_sae(engine, settings, runtime, report.sae_path, name=name)

    def render(c: Console) -> None:
        m = report.metrics
        how = "reused a finished run" if report.reused else f"trained in {report.seconds:.0f}s"
        if report.resumed_from_step:
            how += f" (resumed at step {report.resumed_from_step})"
        c.print(
            f"SAE on {escape(report.site)} of {escape(report.model)}: {report.width} latents, k={report.k}, "
            f"{report.tokens:,} tokens of {escape(report.corpus)}, {how}"
            + ("" if report.reused else f", {report.tokens_per_second:,.0f} tokens/s")
        )
        ce = f"  CE recovered {m.ce_recovered:.3f}" if m.ce_recovered is not None else ""
        c.print(
            f"  held-out ({m.eval_tokens:,} tokens): FVU {m.fvu:.3f}  L0 {m.l0:.1f}  "
            f"dead {100 * m.dead_fraction:.1f}%{ce}"
        )
        c.print(escape(f"  {report.sae_path}"))
        if result.registration is not None:
            what = "registered" if result.registration.created else "already registered"
            c.print(f"  {what}: [bold]{escape(result.registration.address)}[/bold]")

    emit(result, json_path, render)
