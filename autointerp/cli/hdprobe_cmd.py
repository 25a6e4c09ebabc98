"""``autointerp hdprobe``: train a hyperdimensional probe for a model, decode prompts with it, list the
trained probes and the codebook's concepts (``tools.hdprobe``).

Hooked into the main app as ``app.add_typer(hdprobe_app, name="hdprobe")``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from autointerp.cli.common import (
    DB_HELP,
    JOB_EXECUTOR_HELP,
    JSON_HELP,
    MODEL_HELP,
    open_runtime,
    settings_from,
    store_for,
)
from autointerp.cli.output import emit
from store.models import HDProbeRecordRead

hdprobe_app = typer.Typer(
    help="Hyperdimensional (VSA) probes: decode the answer concept of key-value prompts from later-layer states.",
    no_args_is_help=True,
)

JsonOpt = Annotated[str | None, typer.Option("--json", help=JSON_HELP, metavar="PATH")]
DbOpt = Annotated[str | None, typer.Option("--db", help=DB_HELP, metavar="URL")]
LayersOpt = Annotated[
    str | None, typer.Option("--layers", help="Layers read, START:STOP, e.g. 15:30 (default: the later half).")
]


class HDProbeQueued(BaseModel):
    """What ``autointerp hdprobe train --executor celery`` returns."""

    job_id: int


class HDProbeList(BaseModel):
    """The trained probes."""

    probes: list[HDProbeRecordRead]


class Concepts(BaseModel):
    """The relations and every concept of the codebook."""

    relations: dict[str, str]
    concepts: list[str]


def _accuracy(metrics: object, split: str) -> str:
    if not isinstance(metrics, dict) or not isinstance(metrics.get(split), dict):
        return "-"
    acc = metrics[split]
    return f"{acc.get('top1', 0):.2f} / {acc.get('top5', 0):.2f}"


@hdprobe_app.command("train")
def hdprobe_train(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    layers: LayersOpt = None,
    dim: Annotated[int, typer.Option("--dim", min=64, max=65_536, help="Dimension of the hypervectors.")] = 4096,
    prompts: Annotated[int, typer.Option("--prompts", min=16, help="Training prompts.")] = 3000,
    val: Annotated[int, typer.Option("--val", min=8, help="Validation prompts.")] = 400,
    test: Annotated[int, typer.Option("--test", min=8, help="Prompts of each test split.")] = 400,
    hidden: Annotated[int, typer.Option("--hidden", min=8, help="Width of the encoder's hidden layer.")] = 1024,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Training epochs.")] = 40,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Dataset, codebook and training seed.")] = 0,
    restart: Annotated[
        bool, typer.Option("--restart", help="Ignore a checkpoint or finished run of this spec.")
    ] = False,
    executor: Annotated[str, typer.Option("--executor", help=JOB_EXECUTOR_HELP)] = "local",
    json_path: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """Train a probe: generate key-value and analogy prompts, capture the layers' last-token states,
    train the encoder (resumable after Ctrl-C), measure it on held-out pairs and relations, store it."""
    from tools.hdprobe.probe import HDProbeSpec, train_probe

    params: dict[str, object] = {"layers": layers, "dim": dim, "n_train": prompts, "n_val": val, "n_test": test}
    params |= {"hidden": hidden, "epochs": epochs, "seed": seed}
    settings = settings_from(db=db)
    if executor not in ("local", "celery"):
        raise typer.BadParameter("choose local or celery", param_hint="--executor")
    if executor == "celery":
        from workers.service_jobs import submit_service_job

        job_id = submit_service_job(settings, "hdprobe", {"model": model, **params}, "celery")
        queued = HDProbeQueued(job_id=job_id)
        emit(queued, json_path, lambda c: c.print(f"queued hdprobe job {job_id}: autointerp jobs show {job_id}"))
        return
    spec = HDProbeSpec.model_validate(params)
    engine = store_for(settings)
    runtime = open_runtime(model, settings)
    result = train_probe(
        runtime, engine, settings.ensure_home(), spec, model=model, progress=json_path != "-", resume=not restart
    )

    def render(c: Console) -> None:
        r, m = result.record, result.metrics
        how = "reused a finished run" if result.reused else f"trained in {m.get('seconds', 0):.0f}s"
        if result.training is not None and result.training.resumed_from_epoch:
            how += f" (resumed after epoch {result.training.resumed_from_epoch})"
        c.print(f"HD probe {r.id} for {escape(r.model)}: layers {r.layers}, D={r.dim}, {r.n_concepts} concepts; {how}")
        c.print(f"  validation cosine {m.get('val_cosine', 0):.3f} (best epoch {m.get('best_epoch')})")
        for split in ("val", "test_pairs", "test_relations"):
            c.print(f"  {split}: top-1 / top-5 {_accuracy(m, split)}")
        c.print(escape(f"  {r.path}"))

    emit(result, json_path, render)


@hdprobe_app.command("decode")
def hdprobe_decode(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    text: Annotated[
        list[str], typer.Option("--text", "-t", help="A prompt such as 'France : Paris = Italy :' (repeatable).")
    ],
    layers: LayersOpt = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=50, help="Concepts listed per prompt.")] = 5,
    json_path: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """Decode prompts with the model's newest probe: the ranked concepts beside the model's next tokens."""
    from tools.catalog.hd_probe import HDProbeArgs, hd_probe
    from tools.context import ToolContext

    settings = settings_from(db=db)
    ctx = ToolContext(settings=settings, _engine=store_for(settings))
    out = hd_probe(ctx, HDProbeArgs(model=model, texts=text, layers=layers, k=k))

    def render(c: Console) -> None:
        table = Table("prompt", "decoded (cosine)", "model's next tokens", "agree", title=f"HD probe {out.probe_id}")
        for r in out.results:
            decoded = ", ".join(f"{x.concept} {x.similarity:.2f}" for x in r.concepts)
            tokens = ", ".join(f"{t.token!r} {t.probability:.2f}" for t in r.model_next_tokens)
            table.add_row(escape(r.text), escape(decoded), escape(tokens), "yes" if r.agrees_top1 else "no")
        c.print(table)
        c.print(
            f"layers {out.layers}, D={out.dim}; agreement with the model: top-1 {out.agreement_top1:.2f}, "
            f"top-k {out.agreement_topk:.2f}"
        )

    emit(out, json_path, render)


@hdprobe_app.command("list")
def hdprobe_list(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model's probes. " + MODEL_HELP)] = None,
    json_path: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """The trained probes (of one model with --model): layers, dimension, metrics, artifact."""
    from store.hdprobes import list_hd_probes

    settings = settings_from(db=db)
    digest = open_runtime(model, settings).loaded.digest if model else None
    result = HDProbeList(probes=list_hd_probes(store_for(settings), digest))

    def render(c: Console) -> None:
        if not result.probes:
            c.print("no HD probe is trained" + (f" for {escape(model)}" if model else ""))
        for r in result.probes:
            c.print(
                f"[bold]{r.id}[/bold]  {escape(r.model)}  layers {r.layers}  D={r.dim}  "
                f"held-out pairs {_accuracy(r.metrics, 'test_pairs')}  "
                f"held-out relations {_accuracy(r.metrics, 'test_relations')}  [dim]{escape(r.path)}[/dim]"
            )

    emit(result, json_path, render)


@hdprobe_app.command("concepts")
def hdprobe_concepts(json_path: JsonOpt = None) -> None:
    """The relations the prompts are made of and every concept of the codebook."""
    from tools.hdprobe.dataset import concepts, relations

    result = Concepts(relations={n: r.description for n, r in relations().items()}, concepts=list(concepts()))

    def render(c: Console) -> None:
        for name, description in result.relations.items():
            c.print(f"[bold]{name}[/bold]: {escape(description)}")
        c.print(escape(", ".join(result.concepts)))

    emit(result, json_path, render)
