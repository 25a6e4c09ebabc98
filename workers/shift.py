"""Shift jobs: SHIFT annotation of an SAE's latents scored with SCR and TPP (``POST /jobs`` kind
``shift``, ``autointerp shift``).

A shift job evaluates one registered SAE on one generated dataset (``tools.shift.evaluation``):
it captures the dataset's pooled activations once, trains SAEBench's probes, asks the judge
(``builtin`` or an LLM) to annotate the latents that rank highest for each ablated concept through
the ``shift_annotate`` tool — every score is stored in ``shift_annotation`` under the job — and scores
four selections with the same formulas: attribution only (SAEBench), judged (S_SHIFT), the
label-reading oracle, and random latents. The report (``report.md``, ``report.json``,
``curves.png``) is written to ``<home>/shift/job-<id>/``.

The job runs on the ``gpu`` queue as one task, claimed like audit and eval jobs
(``workers.service_jobs``); ``autointerp shift`` runs the same job in-process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from store.errors import InputError
from store.models import SAE_NAME_PATTERN
from store.repo import update_job_progress
from store.settings import Settings
from tools.catalog.shift import MAX_LATENTS, ShiftAnnotateArgs, ShiftAnnotateOut, shift_annotate
from tools.context import ToolContext
from tools.plots.shift_curves import plot_shift_curves
from tools.registry import ToolError
from tools.sae.registry import sae_layer
from tools.shift.evaluation import ShiftScores, ShiftSpec, annotation_plan, prepare_shift, score_shift

__all__ = [
    "SHIFT_TASK",
    "ShiftFiles",
    "ShiftJobParams",
    "ShiftReport",
    "execute_shift_job",
    "render_markdown",
    "run_shift",
    "shift_folder",
    "write_shift_report",
]

#: The Celery task that runs a shift job (queue ``gpu``).
SHIFT_TASK = "autointerp.shift"
#: The N values the report's summary table shows (the issue's and SAEBench's headline numbers).
SUMMARY_N = (10, 20)


class ShiftJobParams(ShiftSpec):
    """A shift job: the model, the registered SAE, the judge, and the evaluation's spec."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    model: str = Field(min_length=1, max_length=4096)
    sae: str = Field(pattern=SAE_NAME_PATTERN, description="A registered SAE's name (autointerp sae list).")
    judge: str = Field("builtin", min_length=1, max_length=200, description="builtin or an LLM spec.")
    max_tokens: int = Field(
        100_000, ge=1_000, le=10_000_000, description="Tokens of a judge exemplar cache built here."
    )

    def spec(self) -> ShiftSpec:
        """The evaluation's own fields."""
        return ShiftSpec.model_validate({name: getattr(self, name) for name in ShiftSpec.model_fields})


class LatentVerdict(BaseModel):
    """One annotated latent in the report: its scores per concept and what it counts as related to."""

    latent: int
    scores: dict[str, float]
    related: list[str]
    oracle: str | None


class ShiftReport(BaseModel):
    """What a shift job found."""

    model: str
    sae: str
    address: str
    judge: str
    job_id: int | None
    params: ShiftJobParams
    scores: ShiftScores
    annotations: list[LatentVerdict]
    annotation_ids: list[int]
    seconds: float

    def summary(self) -> dict[str, dict[str, float | None]]:
        """SCR and TPP at N = 10 and 20 per selection: ``{"attribution": {"scr@10": …, "tpp@20": …}}``."""
        out: dict[str, dict[str, float | None]] = {}
        for result in self.scores.selections:
            row: dict[str, float | None] = {}
            for n in SUMMARY_N:
                row[f"scr@{n}"] = self.scores.score(result.selection, "scr", n)
                row[f"tpp@{n}"] = self.scores.score(result.selection, "tpp", n)
            out[result.selection] = row
        return out


def _annotate(
    ctx: ToolContext, params: ShiftJobParams, address: str, latents: list[int], concepts: list[str], job_id: int | None
) -> list[ShiftAnnotateOut]:
    outs = []
    for start in range(0, len(latents), MAX_LATENTS):
        chunk = latents[start : start + MAX_LATENTS]
        args = ShiftAnnotateArgs(
            model=params.model,
            latents=[f"{address}.{j}" for j in chunk],
            concepts=concepts,
            judge=params.judge,
            max_tokens=params.max_tokens,
            job_id=job_id,
        )
        try:
            outs.append(shift_annotate(ctx, args))
        except ToolError as exc:
            raise InputError(f"shift_annotate failed: {exc}") from None
    return outs


def run_shift(
    ctx: ToolContext,
    params: ShiftJobParams,
    *,
    job_id: int | None = None,
    progress: bool = False,
    on_step: Callable[[int, int], None] | None = None,
) -> ShiftReport:
    """Evaluate ``params.sae`` (module docstring); ``on_step(done, total)`` after each of the 3 steps."""
    started = time.perf_counter()
    layer = sae_layer(ctx.engine(), params.model, params.sae)
    address = f"L{layer}.sae[{params.sae}]"
    runtime = ctx.runtime(params.model)
    setup = prepare_shift(runtime, address, params.spec(), settings=ctx.settings, progress=progress)
    if on_step is not None:
        on_step(1, 3)
    plan = annotation_plan(setup)
    annotate_started = time.perf_counter()
    outs = _annotate(ctx, params, address, plan.latents, plan.concepts, job_id)
    setup.seconds["annotation"] = time.perf_counter() - annotate_started
    if on_step is not None:
        on_step(2, 3)
    related = {latent.index: latent.related for out in outs for latent in out.latents}
    scores = score_shift(setup, related, plan=plan)
    if on_step is not None:
        on_step(3, 3)
    verdicts = [
        LatentVerdict(
            latent=latent.index,
            scores={j.concept: j.score for j in latent.judgements},
            related=latent.related,
            oracle=scores.oracle.get(latent.index),
        )
        for out in outs
        for latent in out.latents
    ]
    return ShiftReport(
        model=params.model,
        sae=params.sae,
        address=address,
        judge=params.judge,
        job_id=job_id,
        params=params,
        scores=scores,
        annotations=verdicts,
        annotation_ids=[i for out in outs for i in out.annotation_ids],
        seconds=time.perf_counter() - started,
    )


# ------------------------------------------------------------------------------------------- the report
def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def render_markdown(report: ShiftReport, plot_name: str = "curves.png") -> str:
    """The report as markdown: what ran, the headline table, the judge against the oracle, per-N tables."""
    s = report.scores
    p = report.params
    lines = [
        f"# SHIFT / SCR / TPP of `{report.address}` on {report.model}",
        "",
        f"- dataset: **{s.dataset}**, SCR pair {s.pair[0]} / {s.pair[1]}, {p.n_train} train / {p.n_test} test "
        f"texts per probe, {s.texts:,} distinct texts (seed {p.seed})",
        f"- judge: `{report.judge}`; it annotated {len(report.annotations)} latents (the top {p.judged_top} by "
        "effect of each ablated concept); judged and oracle selections are scored for "
        f"N ≤ {p.judged_top}",
        "- time: "
        + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in s.seconds.items())
        + f"; total {report.seconds:.1f}s",
        "",
        f"![accuracy and TPP vs N]({plot_name})",
        "",
        "## Summary",
        "",
        "| selection | " + " | ".join(f"SCR N={n} | TPP N={n}" for n in SUMMARY_N) + " |",
        "|---|" + "---|" * (2 * len(SUMMARY_N)),
    ]
    for name, row in report.summary().items():
        cells = " | ".join(f"{_fmt(row[f'scr@{n}'])} | {_fmt(row[f'tpp@{n}'])}" for n in SUMMARY_N)
        lines.append(f"| {name} | {cells} |")
    lines += [
        "",
        "SCR: (A_abl − A_base) / (A_oracle − A_base) of the biased probe in the reported direction; TPP: the "
        "accuracy drop of the ablated class's probe minus the mean drop of the others. attribution = SAEBench's "
        "top-N by effect; judged = those of the top-N the judge marked related to the ablated concept (S_SHIFT); "
        "oracle = those the label-reading oracle marks; random = N random latents.",
        "",
        "## The judge against the oracle",
        "",
        "| concept | latents | oracle says related | judge says related | both | precision | recall | accuracy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in s.agreement:
        precision = "-" if a.precision is None else f"{a.precision:.2f}"
        recall = "-" if a.recall is None else f"{a.recall:.2f}"
        lines.append(
            f"| {a.concept} | {a.latents} | {a.oracle_positive} | {a.judge_positive} | {a.true_positive} "
            f"| {precision} | {recall} | {a.accuracy:.2f} |"
        )
    for result in s.selections:
        scr = result.scr
        lines += ["", f"## {result.selection}: SCR", ""]
        lines += [
            "| direction | ablated | tested on | base | oracle | "
            + " | ".join(f"N={p.n}" for p in scr.directions[0].points)
            + " |"
        ]
        lines += ["|---|---|---|---|---|" + "---|" * len(scr.directions[0].points)]
        for d in scr.directions:
            mark = " (reported)" if d.direction == scr.reported else ""
            cells = " | ".join(f"{p.accuracy:.3f} ({p.score:+.2f})" for p in d.points)
            lines.append(
                f"| {d.direction}{mark} | {d.ablated} | {d.evaluated} | {d.base_accuracy:.3f} "
                f"| {d.oracle_accuracy:.3f} | {cells} |"
            )
        if result.tpp is not None:
            tpp = result.tpp
            ns = sorted(tpp.scores)
            lines += [
                "",
                f"## {result.selection}: TPP",
                "",
                "| class | clean | " + " | ".join(f"N={n}" for n in ns) + " |",
            ]
            lines += ["|---|---|" + "---|" * len(ns)]
            for c in tpp.classes:
                lines.append(
                    f"| {c.name} | {c.clean_accuracy:.3f} | " + " | ".join(f"{p.score:+.3f}" for p in c.points) + " |"
                )
            lines.append("| **mean** | | " + " | ".join(f"**{tpp.scores[n]:+.3f}**" for n in ns) + " |")
    lines += ["", "## Annotated latents", "", "| latent | related (judge) | oracle | scores |", "|---|---|---|---|"]
    for v in sorted(report.annotations, key=lambda v: v.latent):
        scores = ", ".join(f"{c} {x:.1f}" for c, x in v.scores.items() if x > 0) or "all 0"
        lines.append(f"| {v.latent} | {', '.join(v.related) or '-'} | {v.oracle or '-'} | {scores} |")
    return "\n".join(lines) + "\n"


class ShiftFiles(BaseModel):
    """Where a report was written."""

    markdown: str
    json_path: str
    plot: str


def write_shift_report(report: ShiftReport, folder: Path) -> ShiftFiles:
    """Write ``report.md``, ``report.json`` and ``curves.png`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    plot = plot_shift_curves(
        report.scores, folder / "curves.png", title=f"{report.address} of {report.model}, judge {report.judge}"
    )
    markdown = folder / "report.md"
    markdown.write_text(render_markdown(report, plot.name))
    json_path = folder / "report.json"
    json_path.write_text(report.model_dump_json(indent=2))
    return ShiftFiles(markdown=str(markdown), json_path=str(json_path), plot=str(plot))


def shift_folder(settings: Settings, job_id: int) -> Path:
    """Where a shift job writes its report: ``<home>/shift/job-<id>/``."""
    return settings.home.expanduser() / "shift" / f"job-{job_id}"


def execute_shift_job(
    settings: Settings,
    engine: Engine,
    job_id: int,
    params: dict[str, object],
    ctx: ToolContext | None = None,
    *,
    progress: bool = False,
) -> ShiftReport:
    """Run a stored shift job's ``params`` with progress on job ``job_id``; write its report. Status
    changes are the caller's (``workers.service_jobs.run_service_job``)."""
    from agent.backends.factory import llm_chat_model
    from evals.suite import service_files

    parsed = ShiftJobParams.model_validate(params)

    def step(done: int, total: int) -> None:
        update_job_progress(engine, job_id, done=done, total=total)

    if ctx is None:
        ctx = ToolContext(settings=settings, _engine=engine, files=service_files(settings), chat_models=llm_chat_model)
    report = run_shift(
        ctx,
        parsed,
        job_id=job_id,
        progress=progress,
        on_step=step,
    )
    write_shift_report(report, shift_folder(settings, job_id))
    return report
