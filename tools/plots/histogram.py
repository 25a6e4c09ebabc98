"""A unit's activation histogram with its quantile bands and top exemplars (``exemplars --plot``)."""

from __future__ import annotations

from pathlib import Path

from tools.plots.figure import save_figure
from tools.schemas import ExemplarsResult


def plot_activation_histogram(result: ExemplarsResult, path: Path) -> Path:
    """Save a PNG: the unit's activation histogram over the corpus (log counts), the activation
    ranges of its 10 quantile samples, and the maxima of its top exemplars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = result.stats["histogram"]
    counts = hist["counts"]
    low, high = hist["low"], hist["high"]
    width = (high - low) / len(counts)
    edges = [low + i * width for i in range(len(counts))]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=110)
    shown = [(edge, count) for edge, count in zip(edges, counts, strict=True) if count > 0]
    ax.bar([e for e, _ in shown], [c for _, c in shown], width=width, align="edge", color="#4c72b0", label="all tokens")
    ax.set_yscale("log")
    s = result.stats
    margin = 0.05 * (s["max"] - s["min"]) + width
    ax.set_xlim(s["min"] - margin, s["max"] + margin)
    ax.set_xlabel("activation")
    ax.set_ylabel("tokens (log)")
    for q in result.quantiles:
        ax.axvspan(q.low, q.high, color="#55a868", alpha=0.06 + 0.03 * q.quantile)
    for i, exemplar in enumerate(result.exemplars):
        ax.axvline(exemplar.max, color="#c44e52", lw=1, alpha=0.8, label="top exemplars" if i == 0 else None)
    ax.set_title(
        f"{result.unit} of {result.model}: max {s['max']:.3f}, mean {s['mean']:.4f}, "
        f"firing {100 * s['frac_firing']:.1f}% of {s['count']:,} tokens",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    return save_figure(fig, path)
