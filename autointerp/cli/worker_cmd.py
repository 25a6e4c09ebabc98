"""``autointerp worker``, ``beat``, ``label`` and ``jobs``: the Celery workers and batch labeling."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from autointerp.cli.common import DB_HELP, JSON_HELP, MODEL_HELP
from autointerp.cli.output import emit, err_console
from store.errors import InputError
from workers.jobs import ItemView, JobView, check_executor

JsonOpt = Annotated[str | None, typer.Option("--json", help=JSON_HELP, metavar="PATH")]
DbOpt = Annotated[str | None, typer.Option("--db", help=DB_HELP, metavar="URL")]
ExecutorOpt = Annotated[
    str, typer.Option("--executor", help="local (in this process) or celery (on workers; AUTOINTERP_BROKER_URL).")
]

jobs_app = typer.Typer(help="Queued work: label jobs and their progress.", no_args_is_help=True)


def _settings(db: str | None) -> Any:
    from autointerp.cli.common import settings_from

    return settings_from(db=db)


def _queues(spec: str) -> list[str]:
    from workers.celery_app import QUEUES

    queues = [q.strip() for q in spec.split(",") if q.strip()]
    bad = [q for q in queues if q not in QUEUES]
    if not queues or bad:
        raise InputError(f"bad --queues {spec!r}; give a comma-separated list of: {', '.join(QUEUES)}")
    return queues


def worker_command(
    queues: Annotated[str, typer.Option("--queues", "-Q", help="Queues to serve: gpu, cpu or gpu,cpu.")] = "gpu,cpu",
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Worker processes.")] = 1,
    pool: Annotated[str, typer.Option("--pool", help="prefork (default), solo or threads.")] = "prefork",
    loglevel: Annotated[str, typer.Option("--loglevel", help="DEBUG, INFO, WARNING...")] = "INFO",
    hostname: Annotated[str | None, typer.Option("--hostname", "-n", help="Worker node name.")] = None,
    db: DbOpt = None,
) -> None:
    """Start a Celery worker serving the gpu and/or cpu queues (Ctrl-C stops it after its current task)."""
    from store.db import open_store
    from workers.celery_app import create_app
    from workers.tasks import WorkerState, register_tasks
    from workers.watch import register_service_tasks

    if pool not in ("prefork", "solo", "threads"):
        raise InputError(f"unknown --pool {pool!r}; expected prefork, solo or threads")
    settings = _settings(db)
    chosen = _queues(queues)
    if settings.db is None:
        settings.ensure_home()
    open_store(settings.db_url())  # fail fast (one line) when the store is unreachable; migrate once
    app = create_app(settings)
    register_tasks(app, WorkerState(settings, chosen))
    register_service_tasks(app, settings)
    if pool == "prefork" and "gpu" in chosen:
        from tools.runtime.loading import preload_model_code

        preload_model_code()
    argv = [
        "worker",
        f"--queues={','.join(chosen)}",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)


def beat_command(
    loglevel: Annotated[str, typer.Option("--loglevel", help="DEBUG, INFO, WARNING...")] = "INFO",
    db: DbOpt = None,
) -> None:
    """Start the scheduler: sends the sweep that re-sends lost work every AUTOINTERP_SWEEP_INTERVAL s."""
    from celery.apps.beat import Beat

    from workers.celery_app import create_app
    from workers.watch import register_service_tasks

    settings = _settings(db)
    home = settings.ensure_home()
    app = create_app(settings)
    register_service_tasks(app, settings)  # adds the checkpoint watcher's schedule entry
    Beat(app=app, loglevel=loglevel, schedule=str(home / "celerybeat-schedule"), quiet=False).run()


class LabelOut(BaseModel):
    """What ``autointerp label`` returns."""

    job: JobView
    units: list[ItemView]


def _render_job(c: Console, view: JobView, items: list[ItemView] | None = None) -> None:
    total = view.progress.total if view.progress.total is not None else "?"
    c.print(f"job {view.id} ({view.kind}) [bold]{view.status}[/bold]  {view.progress.done}/{total} done")
    if view.error:
        c.print(f"[red]error:[/red] {view.error}")
    if items:
        table = Table()
        # The unit is what a reader looks rows up by: never cut it, however narrow the terminal.
        table.add_column("unit", no_wrap=True, min_width=max(len(item.key) for item in items))
        for header in ("status", "tries", "investigation", "label", "sim r (top+rnd / rnd)"):
            table.add_column(header)
        for item in items:
            label = item.label or (item.error or "")[:80]
            table.add_row(
                escape(item.key),
                item.status,
                str(item.attempts),
                str(item.investigation_id or ""),
                escape(label),
                item.simulation(),
            )
        c.print(table)


def label_command(
    model: Annotated[str | None, typer.Option("--model", "-m", help=MODEL_HELP)] = None,
    layer: Annotated[int | None, typer.Option("--layer", "-l", min=0, help="Layer whose MLP neurons to label.")] = None,
    sae: Annotated[
        str | None, typer.Option("--sae", help="Label this registered SAE's latents instead (autointerp sae list).")
    ] = None,
    units: Annotated[str | None, typer.Option("--units", help="START:STOP (STOP excluded), one index, or all.")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="builtin, openai:<model> or anthropic:<model>.")] = None,
    executor: ExecutorOpt = "local",
    budget: Annotated[int, typer.Option("--budget", min=1, max=1000, help="Tool calls per unit.")] = 24,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1000, help="Corpus tokens of the cache.")] = 100_000,
    plan: Annotated[
        str, typer.Option("--plan", help="layer: shared experiments run once per layer; unit: each unit runs its own.")
    ] = "layer",
    processes: Annotated[
        str,
        typer.Option(
            "--processes",
            help="Local processes labeling at once: a number, or auto (one per core, at least 64 units each).",
        ),
    ] = "auto",
    job_id: Annotated[int | None, typer.Option("--job", help="Resume job ID (else: same params, same job).")] = None,
    new: Annotated[bool, typer.Option("--new", help="Start a new job even if one has these params.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="With celery: wait and show progress.")] = True,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="With celery: seconds to wait.")] = 24 * 3600,
    json_path: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """Label a range of a layer's MLP neurons (or of an SAE's latents, --sae NAME): one investigation
    per unit, resumable.

    A re-run with the same parameters finds the same job and skips its finished units (``--new``
    starts over; ``--job ID`` resumes a job by id).
    """
    from store.db import open_store
    from store.settings import Settings
    from workers.jobs import fill_sae_layer, find_or_create_label_job, job_items, job_params, job_view, validate_params
    from workers.label import enqueue_label_job, run_label_job_locally

    check_executor(executor, "--executor")
    settings = _settings(db)
    if settings.db is None:
        settings.ensure_home()
    engine = open_store(settings.db_url())
    if job_id is None:
        if model is None or (layer is None and sae is None) or units is None:
            raise InputError("give --model, --layer (or --sae NAME) and --units (or --job ID to resume a job)")
        if units.strip().lower() == "all":
            units = _all_units(engine, settings, model, layer, sae)
        params = validate_params(
            "label",
            {
                "model": model,
                "layer": layer,
                "sae": sae,
                "units": units,
                "agent": agent or Settings().llm,
                "budget": budget,
                "max_tokens": max_tokens,
                "plan": plan,
            },
        )
    else:
        try:
            params = job_params(engine, job_id)
        except Exception as exc:
            raise InputError(f"no label job with id {job_id}; `autointerp jobs list` shows the jobs") from exc
    params = fill_sae_layer(engine, params)
    count = _processes(processes, len(params.keys()))
    if executor == "local":
        _check_units(params, settings)  # bad units: one line, exit 2, nothing stored
    found, created = find_or_create_label_job(engine, params, job_id=job_id, new=new)
    quiet = json_path == "-"
    if not quiet:
        err_console.print(f"[dim]{'new' if created else 'resuming'} job {found} ({len(params.keys())} units)[/dim]")
    if executor == "local":
        if count > 1 and not quiet:
            err_console.print(f"[dim]labeling in {count} local processes[/dim]")
        run_label_job_locally(settings, found, progress=not quiet, processes=count)
    else:
        enqueue_label_job(settings, found)
        if wait:
            _wait_for(engine, found, timeout=timeout, progress=not quiet)
    view = job_view(engine, found)
    items = job_items(engine, found)
    result = LabelOut(job=view, units=items)
    emit(result, json_path, lambda c: _render_job(c, view, items))
    if view.status == "failed":
        raise typer.Exit(1)


def _processes(value: str, n_units: int) -> int:
    """``--processes``: a number from 1 to 64, or ``auto`` (`workers.local_pool.auto_processes`)."""
    from workers.local_pool import auto_processes

    text = value.strip().lower()
    if text == "auto":
        return auto_processes(n_units)
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise InputError(f"--processes must be a number from 1 to 64 or auto, not {value!r}")
    return min(int(text), max(1, n_units))


def _all_units(engine: Any, settings: Any, model: str, layer: int | None, sae: str | None) -> str:
    """``--units all``: every neuron of the layer's MLP, or every latent of the SAE."""
    from autointerp.cli.common import open_runtime

    runtime = open_runtime(model, settings)
    if sae is None:
        return f"0:{runtime.shape.d_mlp}"
    from tools.sae.registry import sae_layer

    target = runtime.resolve(f"L{sae_layer(engine, model, sae)}.sae[{sae}]")
    assert target.sae is not None
    return f"0:{target.sae.sae.shape.d_sae}"


def _check_units(params: Any, settings: Any) -> None:
    from autointerp.cli.common import open_runtime

    runtime = open_runtime(params.model, settings)
    keys = params.keys()
    runtime.resolve(keys[0])
    runtime.resolve(keys[-1])


def _wait_for(engine: Any, job_id: int, *, timeout: float, progress: bool) -> None:
    from tqdm import tqdm

    from workers.jobs import job_view

    deadline = time.monotonic() + timeout
    view = job_view(engine, job_id)
    bar = tqdm(
        total=view.progress.total, initial=view.progress.done, unit="unit", desc=f"job {job_id}", disable=not progress
    )
    try:
        while view.status in ("queued", "running"):
            if time.monotonic() > deadline:
                hint = f"check with `autointerp jobs show {job_id}`"
                err_console.print(f"[yellow]still {view.status} after {timeout:.0f}s; {hint}[/yellow]")
                return
            time.sleep(0.5)
            view = job_view(engine, job_id)
            bar.update(view.progress.done - bar.n)
    finally:
        bar.close()


class JobsOut(BaseModel):
    """What ``autointerp jobs list`` returns."""

    jobs: list[JobView]


@jobs_app.command("list")
def jobs_list(
    kind: Annotated[str | None, typer.Option("--kind", help="Only jobs of this kind (label, audit, ...).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest N jobs.")] = 50,
    json_path: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """The newest jobs with their status and progress."""
    from store.db import open_store
    from store.models import JobKind
    from workers.jobs import list_jobs

    if kind is not None and kind not in {k.value for k in JobKind}:
        raise InputError(f"unknown job kind {kind!r}; expected one of: {', '.join(k.value for k in JobKind)}")
    settings = _settings(db)
    if settings.db is None:
        settings.ensure_home()
    views = list_jobs(open_store(settings.db_url()), kind=kind, limit=limit)
    result = JobsOut(jobs=views)

    def render(c: Console) -> None:
        table = Table("id", "kind", "status", "done", "params", "error")
        for v in views:
            params = " ".join(
                f"{k}={v.params[k]}" for k in ("model", "layer", "sae", "start", "stop") if v.params.get(k) is not None
            )
            total = v.progress.total if v.progress.total is not None else "?"
            table.add_row(
                str(v.id),
                v.kind,
                v.status,
                f"{v.progress.done}/{total}",
                escape(params[:60]),
                escape((v.error or "")[:60]),
            )
        c.print(table if views else "no jobs")

    emit(result, json_path, render)


@jobs_app.command("show")
def jobs_show(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    json_path: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """One job: status, progress, error and every unit."""
    from store.db import open_store
    from workers.jobs import job_items, job_view

    settings = _settings(db)
    if settings.db is None:
        settings.ensure_home()
    engine = open_store(settings.db_url())
    view = job_view(engine, job_id)
    items = job_items(engine, job_id)
    result = LabelOut(job=view, units=items)
    emit(result, json_path, lambda c: _render_job(c, view, items))
