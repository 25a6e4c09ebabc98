"""The catalogue of built-in tools: one module per tool family; importing this package registers
every tool in ``tools.registry.BUILTIN_TOOLS``.

| module | tool | what it does |
|---|---|---|
| ``activations`` | ``activations`` | per-token activations of a unit on texts you write |
| ``exemplars`` | ``exemplars`` | top corpus contexts, quantile samples and statistics (exemplar cache) |
| ``ablation`` | ``ablate`` | zero / mean / resample ablation; change of a metric per text |
| ``logits`` | ``unit_logits`` | direct logit attribution of a unit's output direction |
| ``steering`` | ``steer`` | generations with and without pushing a unit, side by side |
| ``patching`` | ``patch_activations``, ``ioi_dataset`` | activation / attribution patching; IOI prompt pairs |
| ``functions`` | ``call_function`` | a suite function on a batch of inputs, in the sandbox |
| ``shift`` | ``shift_annotate`` | SHIFT annotation: 0–4 relatedness of SAE latents to named concepts (stored) |
| ``hd_probe`` | ``hd_probe`` | a trained hyperdimensional probe's decoded answer concepts of key–value prompts |

A tool module holds the tool's argument and result models and a thin ``@tool`` function; the work
itself lives in the rooms (``tools.runtime``, ``tools.exemplars``, ``tools.effects``,
``tools.patching``, ``tools.functions``, ``tools.shift``, ``tools.hdprobe``). To add a tool, add a module here and
import it below.
"""

from __future__ import annotations

from tools.catalog import ablation, activations, exemplars, functions, hd_probe, logits, patching, shift, steering
from tools.registry import BUILTIN_TOOLS, ToolRegistry

__all__ = [
    "ablation",
    "activations",
    "default_registry",
    "exemplars",
    "functions",
    "hd_probe",
    "logits",
    "patching",
    "shift",
    "steering",
]


def default_registry() -> ToolRegistry:
    """The registry holding every built-in tool (registered when this package was imported)."""
    return BUILTIN_TOOLS
