"""An audit report on disk: ``report.md`` (tables a person reads), ``report.json`` (the
`AuditReport`), and ``shift.png`` (every unit's mean shift against its exemplar overlap, with the
thresholds drawn and the changed units in red)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from tools.plots.figure import save_figure
from workers.audit import AuditReport


class ReportFiles(BaseModel):
    """Where a report was written."""

    markdown: str
    json_path: str
    plot: str


def render_markdown(report: AuditReport, plot_name: str = "shift.png") -> str:
    """The report as markdown: the rule, a summary, the changed units, then every unit."""
    lines = [
        f"# Checkpoint audit of {report.model}",
        "",
        f"- baseline: `{report.baseline}`",
        f"- candidate: `{report.candidate}`",
        f"- probe: {report.probe.windows} windows x {report.probe.ctx_len} tokens of the built-in corpus "
        f"({report.probe_tokens:,} tokens scored), top-{report.probe.k} windows compared",
        f"- rule: {report.rule}",
        f"- **{len(report.changed)} of {len(report.units)} units changed**",
        "",
        f"![mean shift vs exemplar overlap]({plot_name})",
        "",
    ]
    changed = [u for u in report.units if u.changed]
    if changed:
        lines += ["## Changed units", "", "| unit | why | baseline label | candidate label |", "|---|---|---|---|"]
        for u in changed:
            new = u.candidate_label or "(not re-explained)"
            if u.candidate_investigation is not None:
                new += f" (investigation {u.candidate_investigation})"
            lines.append(f"| {u.unit} | {'; '.join(u.reasons)} | {u.baseline_label or '-'} | {new} |")
        lines.append("")
    lines += [
        "## All units",
        "",
        "| unit | changed | mean b → c | std b → c | max b → c | firing b → c | mean shift | Jaccard | corr |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for u in report.units:
        b, c = u.baseline, u.candidate
        corr = f"{u.correlation:.3f}" if u.correlation is not None else "-"
        lines.append(
            f"| {u.unit} | {'**yes**' if u.changed else 'no'} | {b.mean:.4f} → {c.mean:.4f} "
            f"| {b.std:.4f} → {c.std:.4f} "
            f"| {b.max:.3f} → {c.max:.3f} | {100 * b.frac_firing:.1f}% → {100 * c.frac_firing:.1f}% "
            f"| {u.mean_shift:.3f} | {u.jaccard:.2f} | {corr} |"
        )
    return "\n".join(lines) + "\n"


def plot_shift(report: AuditReport, path: Path) -> Path:
    """Scatter of mean shift (x) against top-k Jaccard (y), threshold lines, changed units in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for changed, color, name in ((False, "#4c72b0", "unchanged"), (True, "#c44e52", "changed")):
        units = [u for u in report.units if u.changed == changed]
        if units:
            ax.scatter([u.mean_shift for u in units], [u.jaccard for u in units], c=color, label=name, s=24)
    if len(report.units) <= 40:
        for u in report.units:
            ax.annotate(u.unit, (u.mean_shift, u.jaccard), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.axvline(report.tau, color="grey", ls="--", lw=1)
    ax.axhline(report.jaccard_min, color="grey", ls="--", lw=1)
    ax.set_xlabel("|Δmean| / baseline std")
    ax.set_ylabel(f"top-{report.probe.k} exemplar Jaccard")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"{len(report.changed)} of {len(report.units)} units changed ({report.rule})", fontsize=8)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def write_report(report: AuditReport, folder: Path) -> ReportFiles:
    """Write ``report.md``, ``report.json`` and ``shift.png`` into ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    plot = plot_shift(report, folder / "shift.png")
    markdown = folder / "report.md"
    markdown.write_text(render_markdown(report, plot.name))
    json_path = folder / "report.json"
    json_path.write_text(report.model_dump_json(indent=2))
    return ReportFiles(markdown=str(markdown), json_path=str(json_path), plot=str(plot))
