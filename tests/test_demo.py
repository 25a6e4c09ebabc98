"""``make demo`` end to end, shrunk: the embedded model, a layer cache, a label job, an SAE trained and its
latents labelled, and a FIND-style eval."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from autointerp.cli.demo import run_demo

pytestmark = pytest.mark.slow


def test_demo_labels_neurons_and_scores_an_eval(home_with_embedded: Path) -> None:
    console = Console(record=True, width=200, color_system=None)
    run_demo(
        console,
        layer=1,
        max_tokens=3000,
        units=1,
        k=2,
        label_units=2,
        sae_latents=2,
        sae_tokens=8192,
        sae_corpus="builtin",
        eval_size=(2, 2, 0),
        eval_seed=5,
    )
    text = console.export_text()
    headings = (
        "1. the embedded model",
        "2. exemplar cache for layer 1",
        "4. label job",
        "5. SAE latents",
        "6. FIND-style",
    )
    for heading in headings:
        assert heading in text
    assert re.search(r"held-out: FVU \d\.\d{3}  L0 \d+\.\d  dead [\d.]+%  CE recovered -?\d\.\d{3}", text)
    assert "registered as demo-l1-1152" in text
    assert re.search(r"L1\.sae\[demo-l1-1152\]\.0 .+ \d\.\d\d", text) and "job 2: succeeded" in text
    assert "job 1: succeeded" in text and "2/2 units labeled" in text
    assert re.search(r"L1\.mlp\.0 .+ \d\.\d\d", text) and re.search(r"L1\.mlp\.1 .+ \d\.\d\d", text)
    assert "num-00000" in text and "str-00001" in text
    assert re.search(r"numeric\s+│\s+2\s+│\s+\d\.\d{3}", text) and re.search(r"string\s+│\s+2", text)

    rerun = Console(record=True, width=200, color_system=None)
    run_demo(
        rerun,
        layer=1,
        max_tokens=3000,
        units=1,
        k=2,
        label_units=2,
        sae_latents=2,
        sae_tokens=8192,
        sae_corpus="builtin",
        eval_size=(0, 0, 0),
    )
    again = rerun.export_text()
    assert "resuming job 1" in again and "resuming job 2" in again  # the label jobs are found again, not redone
    assert "reused an earlier run" in again  # and the SAE is not trained again
