"""The label-reading oracle on hand-made pooled latents: Cohen's d, the concept a latent tracks, and a
judge's precision and recall against it."""

from __future__ import annotations

import pytest
import torch

from tools.shift.metrics import Labelled
from tools.shift.oracle import agreement, oracle_marks, separation
from tools.shift.pooled import Pooled


def _labelled(f: torch.Tensor, y: list[int]) -> Labelled:
    n = f.shape[0]
    pool = Pooled(tuple(f"t{i}" for i in range(n)), torch.zeros(n, 2), f, torch.ones(n))
    return Labelled(pool, torch.arange(n), torch.tensor(y))


def test_separation_is_cohens_d() -> None:
    # latent 0: positives 2, 4; negatives 0, 2 -> mean difference 2, pooled sd sqrt(2): d = sqrt(2)
    # latent 1: constant -> 0; latent 2: the reverse of latent 0 -> the same |d|
    f = torch.tensor([[2.0, 1.0, 0.0], [4.0, 1.0, -2.0], [0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    d = separation(_labelled(f, [1, 1, 0, 0]), [0, 1, 2])
    assert d.tolist() == pytest.approx([2**0.5, 0.0, 2**0.5])


def test_a_latent_tracks_the_concept_it_separates_most() -> None:
    gender_y = [1, 1, 1, 1, 0, 0, 0, 0]
    profession_y = [1, 0, 1, 0, 1, 0, 1, 0]
    noise = torch.tensor([0.1, -0.1, 0.05, -0.05, 0.1, -0.1, 0.05, -0.05])
    f = torch.stack(
        [
            torch.tensor(gender_y, dtype=torch.float) + noise,  # 0: gender
            torch.tensor(profession_y, dtype=torch.float) + noise,  # 1: profession
            torch.tensor([0.1, 0.1, -0.1, -0.1, -0.1, -0.1, 0.1, 0.1]),  # 2: neither (d = 0 on both)
        ],
        dim=1,
    )
    sets = {"gender": _labelled(f, gender_y), "profession": _labelled(f, profession_y)}
    marks = oracle_marks(sets, [0, 1, 2])
    assert marks.related == {0: "gender", 1: "profession", 2: None}
    assert marks.marked() == {"gender": {0}, "profession": {1}}
    assert marks.separations[0]["gender"] > 5 > marks.separations[0]["profession"]

    judge = {0: ["gender"], 1: ["gender", "profession"], 2: []}
    gender = agreement("gender", judge, marks, [0, 1, 2])
    assert (gender.oracle_positive, gender.judge_positive, gender.true_positive) == (1, 2, 1)
    assert gender.precision == 0.5 and gender.recall == 1.0 and gender.accuracy == pytest.approx(2 / 3)
    nothing = agreement("nurse", judge, marks, [0, 1, 2])
    assert nothing.precision is None and nothing.recall is None and nothing.accuracy == 1.0


def test_judge_verdicts_count_for_the_attribute_of_any_of_its_values() -> None:
    """Ablating "profession" removes a latent the judge relates to any profession (architect, not just
    the pair's professor or nurse); "gender" takes male/female; a TPP class takes only its own."""
    from types import SimpleNamespace
    from typing import Any, cast

    from tools.shift import datasets
    from tools.shift.evaluation import marks_from_related

    setup = SimpleNamespace(
        scr=datasets.scr_data("bios", ("professor", "nurse"), n_train=16, n_test=16),
        scr_sets=SimpleNamespace(spurious_name="gender", task_name="profession"),
        tpp=SimpleNamespace(classes=("architect", "dentist")),
    )
    related = {1: ["architect"], 2: ["female"], 3: ["nurse", "gender"], 4: [], 5: ["weather"]}
    marked = marks_from_related(cast(Any, setup), related)
    assert marked == {"gender": {2, 3}, "profession": {1, 3}, "architect": {1}, "dentist": set()}
