"""A SHIFT evaluation's curves: the biased probe's accuracy against the number of latents ablated for
each selection (SCR, the reported direction, with the base and oracle accuracies drawn), and the mean
TPP score against N."""

from __future__ import annotations

from pathlib import Path

from tools.plots.figure import save_figure
from tools.shift.evaluation import ShiftScores

_COLOURS = {"attribution": "#4c72b0", "judged": "#dd8452", "oracle": "#55a868", "random": "#8c8c8c"}


def plot_shift_curves(scores: ShiftScores, path: Path, *, title: str = "") -> Path:
    """Save a PNG with the SCR accuracy-vs-N and TPP-vs-N curves of every selection in ``scores``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_tpp = any(result.tpp is not None for result in scores.selections)
    fig, axes = plt.subplots(1, 2 if with_tpp else 1, figsize=(11 if with_tpp else 6, 4), dpi=110, squeeze=False)
    scr_ax = axes[0][0]
    reference = scores.selections[0].scr
    direction = reference.directions[reference.reported - 1]
    for result in scores.selections:
        points = result.scr.directions[result.scr.reported - 1].points
        colour = _COLOURS.get(result.selection)
        scr_ax.plot(
            [p.n for p in points], [p.accuracy for p in points], "o-", color=colour, label=result.selection, ms=4
        )
    scr_ax.axhline(direction.base_accuracy, color="#c44e52", ls="--", lw=1, label="base (biased probe)")
    scr_ax.axhline(direction.oracle_accuracy, color="black", ls=":", lw=1, label="oracle probe")
    scr_ax.set_xscale("log")
    scr_ax.set_xlabel("latents ablated (N)")
    scr_ax.set_ylabel(f"biased probe accuracy on {direction.evaluated}")
    scr_ax.set_title(f"SCR {scores.pair[0]} / {scores.pair[1]}: ablating {direction.ablated} latents", fontsize=9)
    scr_ax.legend(fontsize=7)
    if with_tpp:
        tpp_ax = axes[0][1]
        for result in scores.selections:
            if result.tpp is None:
                continue
            ns = sorted(result.tpp.scores)
            tpp_ax.plot(
                ns,
                [result.tpp.scores[n] for n in ns],
                "o-",
                color=_COLOURS.get(result.selection),
                ms=4,
                label=result.selection,
            )
        tpp_ax.axhline(0, color="black", lw=0.5)
        tpp_ax.set_xscale("log")
        tpp_ax.set_xlabel("latents ablated (N)")
        tpp_ax.set_ylabel("mean TPP score")
        tpp_ax.set_title(f"TPP over {scores.dataset} classes", fontsize=9)
        tpp_ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
