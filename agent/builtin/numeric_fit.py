"""The `Fit` record every numeric family returns (``agent.builtin.numeric_fits``,
``agent.builtin.numeric_families``), and `num`, a float as exact Python source for generated code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Fit", "num"]


@dataclass
class Fit:
    """A fitted candidate: its family, parameters, how well it fits, and how to say and compute it."""

    family: str
    params: dict[str, float]
    k: int  # free parameters (searched ones included)
    rss: float
    predict: Callable[[np.ndarray], np.ndarray]
    code: str
    formula: str  # f(x) ≈ <formula>, for people
    words: str  # the shape in words
    label: str  # at most 8 words
    bic: float = 0.0


def num(value: float) -> str:
    """A float as exact Python source (for generated code)."""
    return repr(float(value))
