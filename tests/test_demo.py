"""``make demo`` end to end, shrunk: the embedded model, a layer cache, a label job and a FIND-style eval."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from autointerp.cli.demo import run_demo

pytestmark = pytest.mark.slow


def test_demo_labels_neurons_and_scores_an_eval(home_with_embedded: Path) -> None:
    console = Console(record=True, width=200, color_system=None)
    run_demo(console, layer=1, max_tokens=3000, units=1, k=2, label_units=2, eval_size=(2, 2, 0), eval_seed=5)
    text = console.export_text()
    for heading in ("1. the embedded model", "2. exemplar cache for layer 1", "4. label job", "5. FIND-style eval"):
        assert heading in text
    assert "job 1: succeeded" in text and "2/2 units labeled" in text
    assert re.search(r"L1\.mlp\.0 .+ \d\.\d\d", text) and re.search(r"L1\.mlp\.1 .+ \d\.\d\d", text)
    assert "num-00000" in text and "str-00001" in text
    assert re.search(r"numeric\s+│\s+2\s+│\s+\d\.\d{3}", text) and re.search(r"string\s+│\s+2", text)

    rerun = Console(record=True, width=200, color_system=None)
    run_demo(rerun, layer=1, max_tokens=3000, units=1, k=2, label_units=2, eval_size=(0, 0, 0))
    assert "resuming job 1" in rerun.export_text()  # the label job is found again and not redone
