"""``--report DIR``: a markdown report of an eval run with plots (score by family and complication,
the NMSE histogram of numeric items)."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from evals.runner import EvalResult, ItemResult
from tools.plots.figure import save_figure


def _by(items: list[ItemResult], key: str) -> dict[str, list[float]]:
    groups: dict[str, list[float]] = defaultdict(list)
    for item in items:
        value = getattr(item, key)
        if value and item.kind != "invalid":
            groups[f"{item.kind}:{value}" if key == "family" else str(value)].append(
                item.score if item.score is not None and item.error is None else 0.0
            )
    return dict(sorted(groups.items()))


def _bar(groups: dict[str, list[float]], title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(groups)
    means = [sum(v) / len(v) for v in groups.values()]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(names) + 2), 4), dpi=110)
    ax.bar(range(len(names)), means, color="#4c72b0")
    ax.set_xticks(range(len(names)), [f"{n} ({len(groups[n])})" for n in names], rotation=60, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("mean score")
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def _nmse_histogram(items: list[ItemResult], path: Path) -> Path | None:
    values = [i.nmse for i in items if i.kind == "numeric" and i.nmse is not None and math.isfinite(i.nmse)]
    if not values:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logs = [math.log10(max(v, 1e-12)) for v in values]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    ax.hist(logs, bins=30, color="#55a868")
    ax.axvline(-1, color="#c44e52", label="pass: NMSE < 0.1")
    ax.set_xlabel("log10 NMSE")
    ax.set_ylabel("functions")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def write_report(result: EvalResult, folder: Path) -> Path:
    """Write ``report.md`` and its PNG plots into ``folder``; return the markdown's path."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Eval: {result.agent} on {Path(result.suite).name}",
        "",
        f"Evaluator: `{result.evaluator}`. Suite: `{result.suite}`.",
        "",
        "| kind | n | score | unit tests | detection |",
        "|---|---|---|---|---|",
    ]

    def fmt(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}"

    for kind, summary in result.by_kind.items():
        lines.append(
            f"| {kind} | {summary.n} | {fmt(summary.score)} | {fmt(summary.unit_test_acc)} | {fmt(summary.detection)} |"
        )
    plots = [
        ("score by family", _by(result.items, "family"), "by_family.png"),
        ("score by complication", _by(result.items, "complication"), "by_complication.png"),
    ]
    for title, groups, name in plots:
        if groups:
            _bar(groups, title, folder / name)
            lines += ["", f"## {title.capitalize()}", "", f"![{title}]({name})"]
    if _nmse_histogram(result.items, folder / "nmse.png") is not None:
        lines += ["", "## NMSE of numeric functions", "", "![NMSE histogram](nmse.png)"]
    failed = [i for i in result.items if i.error]
    if failed:
        lines += ["", "## Items that could not be scored", ""]
        lines += [f"- `{i.id}`: {i.error}" for i in failed]
    lines += ["", "## Items", "", "| id | kind | score | label |", "|---|---|---|---|"]
    lines += [f"| {i.id} | {i.kind} | {fmt(i.score)} | {(i.label or '').replace('|', '/')} |" for i in result.items]
    path = folder / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
