"""Plot a patching result as a heatmap: layers down, token positions (or heads) across."""

from __future__ import annotations

from pathlib import Path

from tools.patching.patch import PatchResult
from tools.plots.figure import save_figure


def _column_labels(result: PatchResult) -> list[str]:
    if result.site == "heads":
        return [f"h{h}" for h in result.positions]
    if result.column_kind == "latent":
        return [f"latent {j}" for j in result.positions]
    labels = []
    for pos in result.positions:
        text = result.tokens[pos] if pos < len(result.tokens) else ""
        labels.append(f"{text!r}"[1:-1] + f" ({pos})")  # repr shows spaces and newlines; quotes dropped
    return labels


def plot_patch_heatmap(result: PatchResult, path: Path | str) -> Path:
    """Save a PNG heatmap of ``result.scores``: layers on y, tokens (or heads) on x, a diverging
    colormap centred on 0, and a colorbar. Returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    out = Path(path)
    scores = result.scores
    flat = [abs(v) for row in scores for v in row if v == v]  # NaN-safe
    bound = max(flat, default=1.0) or 1.0
    columns = _column_labels(result)
    width = max(5.0, 0.45 * len(columns) + 2.5)
    height = max(3.5, 0.22 * len(result.layers) + 1.5)
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    image = ax.imshow(
        scores,
        aspect="auto",
        cmap="RdBu_r",
        norm=TwoSlopeNorm(vmin=-bound, vcenter=0.0, vmax=bound),
        interpolation="nearest",
    )
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels(columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(result.layers)))
    ax.set_yticklabels([str(layer) for layer in result.layers], fontsize=7)
    ax.set_ylabel("layer")
    ax.set_xlabel({"head": "head", "latent": "SAE latent"}.get(result.column_kind, "token"))
    ax.set_title(
        f"{result.method} patching of {result.site} ({result.n_pairs} pair{'s' if result.n_pairs != 1 else ''}): "
        f"clean LD {result.clean_ld:.2f}, corrupt LD {result.corrupt_ld:.2f}",
        fontsize=9,
    )
    fig.colorbar(image, ax=ax, label="(LD_patched - LD_corrupt) / (LD_clean - LD_corrupt)")
    return save_figure(fig, out)
