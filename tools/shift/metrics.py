"""SCR, TPP and S_SHIFT on pooled activations: latent effects, top-N selection, ablation, scores.

Everything follows SAEBench's ``sae_bench/evals/scr_and_tpp/main.py`` (probes: ``tools.shift.probes``;
pooling and the exact pooled ablation ``x̄ − f̄[:, S] @ W_dec[S]``: ``tools.shift.pooled``):

* **Latent effects** (``get_effects_per_class_precomputed_acts``), on a probe's *training* set:
  ``effect_F = (mean f̄_F over positives − mean over negatives) · (w_probe · W_dec[F])``; for SCR its
  absolute value, for TPP the mean difference is first clamped at 0 (latents more active on the class).
* **Top-N** (``select_top_n_features``): ``torch.topk`` of the effects over ``min(N, #non-zero effects)``
  latents; N ∈ {2, 5, 10, 20, 50, 100, 500} (``eval_config.n_values``).
* **SCR** (``get_scr_plotting_dict``): with a *biased* probe (trained where task and spurious labels
  coincide), a *task* probe and a *spurious* probe (each trained on data balanced over the other
  attribute), direction 1 ablates the top-N latents of the spurious probe and tests the biased probe
  on the task test set; direction 2 ablates the task probe's and tests on the spurious test set.
  ``S = (A_abl − A_base) / (A_oracle − A_base)``, ``A_base`` the biased probe on the clean test set,
  ``A_oracle`` the probe trained for that test set's labels; ``S = 0`` when ``A_oracle − A_base < 0.001``.
  The reported direction is the one whose test set the biased probe does *worse* on (it leaned on the
  other attribute): 1 when ``A_base(task) < A_base(spurious)``, 2 when greater; on a tie SAEBench
  reports neither, we report 1.
* **TPP** (``create_tpp_plotting_dict``): one probe per class (class vs the rest); ablating class i's
  top-N latents, ``TPP_i = (A_i − A_i^{abl i}) − mean_{j≠i} (A_j − A_j^{abl i})``, averaged over classes;
  ``A_j`` is probe j's clean test accuracy.
* **S_SHIFT**: the same SCR formula with another *selection* of latents: a ``Selection`` turns a
  ``SelectionRequest`` (the concept whose latents are removed, N, its probe's effects, and for SCR the
  effects on the biased probe) into latents. ``attribution()`` is SAEBench's; ``judged(marked)`` keeps
  the top-N latents a judge marked as related to the concept (the SHIFT paper's annotator);
  ``random_latents()`` is the control. Every selection is scored on the same probes and activations.

Deviations, all to make runs reproducible: SAEBench draws TPP negatives and probe orders from the
global RNG each call (so its clean and ablated accuracies use different negatives); here every set is
fixed by the caller and every probe is seeded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import torch
from pydantic import BaseModel

from store.errors import InputError
from tools.shift.pooled import Pooled
from tools.shift.probes import LinearProbe, ProbeConfig, accuracy, train_probe

#: SAEBench's numbers of latents to ablate.
N_VALUES: tuple[int, ...] = (2, 5, 10, 20, 50, 100, 500)
#: Below this denominator ``A_oracle − A_base`` an SCR score is 0 (SAEBench).
MIN_DENOMINATOR = 0.001

EffectKind = Literal["scr", "tpp"]


# ------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Labelled:
    """Rows of a pool with binary labels (1 = the probe's positive class)."""

    pool: Pooled
    rows: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.rows.ndim != 1 or self.y.shape != self.rows.shape:
            raise InputError(f"rows {list(self.rows.shape)} and labels {list(self.y.shape)} must be [m] and [m]")
        if self.rows.numel() == 0:
            raise InputError("a labelled set needs at least one row")
        if not bool(((self.y == 0) | (self.y == 1)).all()):
            raise InputError("labels must be 0 or 1")

    @classmethod
    def of(cls, pool: Pooled, texts: Sequence[str], labels: Sequence[int] | Sequence[bool]) -> Labelled:
        """The rows of ``texts`` in ``pool`` with ``labels`` (one per text)."""
        if len(texts) != len(labels):
            raise InputError(f"{len(texts)} texts but {len(labels)} labels")
        return cls(pool, pool.rows(texts), torch.tensor([int(v) for v in labels], dtype=torch.long))

    @cached_property
    def x(self) -> torch.Tensor:
        """Pooled site activations [m, d] (gathered once)."""
        return self.pool.x[self.rows]

    @property
    def f(self) -> torch.Tensor:
        """Pooled latents [m, N]."""
        return self.pool.f[self.rows]

    def ablated(self, w_dec: torch.Tensor, latents: Sequence[int]) -> torch.Tensor:
        """Pooled site activations [m, d] with ``latents`` zeroed at every token (error term kept)."""
        if len(latents) == 0:
            return self.x
        cols = torch.as_tensor(list(latents), dtype=torch.long)
        return self.x - self.pool.f.index_select(1, cols)[self.rows] @ w_dec[cols].to(self.x.dtype)


@dataclass(frozen=True)
class ProbeData:
    """One binary probing task: its training and test sets."""

    train: Labelled
    test: Labelled


@dataclass(frozen=True)
class ScrSets:
    """The SCR sets of one pair (SAEBench's ``dataset_creation.get_spurious_corr_data``).

    ``biased``: task and spurious label coincide (e.g. male professors = 1, female nurses = 0);
    ``task``: the task label, balanced over the spurious one (professor = 1 / nurse = 0);
    ``spurious``: the spurious label, balanced over the task (male = 1 / female = 0).
    ``task_name`` / ``spurious_name`` name the concepts (selections and reports use them).
    """

    task_name: str
    spurious_name: str
    biased: ProbeData
    task: ProbeData
    spurious: ProbeData


# ------------------------------------------------------------------------------------------- formulas


def latent_effects(
    f: torch.Tensor, y: torch.Tensor, probe_weight: torch.Tensor, w_dec: torch.Tensor, kind: EffectKind
) -> torch.Tensor:
    """Each latent's effect [N] on a probe (module docstring): pooled latents ``f`` [m, N] of the
    probe's training set with labels ``y`` [m], its direction ``probe_weight`` [d], decoder ``w_dec``
    [N, d]. ``kind`` "scr": absolute value; "tpp": the mean difference clamped at 0 first."""
    if kind not in ("scr", "tpp"):
        raise InputError(f"unknown effect kind {kind!r}; choose scr or tpp")
    f = f.float()
    pos, neg = f[y == 1], f[y == 0]
    width = f.shape[1]
    diff = (pos.mean(dim=0) if len(pos) else torch.zeros(width)) - (neg.mean(dim=0) if len(neg) else torch.zeros(width))
    if kind == "tpp":
        diff = diff.clamp(min=0.0)
    effects = diff * (w_dec.float() @ probe_weight.float())
    return effects.abs() if kind == "scr" else effects


def top_n(effects: torch.Tensor, n: int) -> list[int]:
    """SAEBench's top-N: the indices of the ``min(n, #non-zero)`` largest effects, largest first."""
    if n < 0:
        raise InputError(f"N must be non-negative, got {n}")
    k = min(n, int((effects != 0).sum()))
    if k == 0:
        return []
    return [int(i) for i in torch.topk(effects, k).indices.tolist()]


def scr_score(ablated: float, base: float, oracle: float) -> float:
    """``(A_abl − A_base) / (A_oracle − A_base)``; 0 when the denominator is below 0.001."""
    denominator = oracle - base
    if denominator < MIN_DENOMINATOR:
        return 0.0
    return (ablated - base) / denominator


def tpp_score(clean: Mapping[str, float], ablated: Mapping[str, float], target: str) -> tuple[float, float, float]:
    """(intended drop, mean unintended drop, TPP) when ``target``'s latents were ablated: ``clean`` and
    ``ablated`` give every class probe's test accuracy before and after."""
    others = [name for name in clean if name != target]
    if target not in clean or not others:
        raise InputError(f"TPP needs the target class {target!r} and at least one other class")
    intended = clean[target] - ablated[target]
    unintended = sum(clean[name] - ablated[name] for name in others) / len(others)
    return intended, unintended, intended - unintended


# ------------------------------------------------------------------------------------------- selections


@dataclass(frozen=True)
class SelectionRequest:
    """What a selection sees: the concept whose latents are removed, how many, the effects [N] of its
    probe (SAEBench's ranking) and, for SCR, the effects [N] on the biased probe (SHIFT's ranking)."""

    concept: str
    n: int
    effects: torch.Tensor
    biased_effects: torch.Tensor | None = None


@dataclass(frozen=True)
class Selection:
    """A named way of choosing latents to ablate."""

    name: str
    pick: Callable[[SelectionRequest], Sequence[int]]


def attribution() -> Selection:
    """SAEBench's selection: the top-N latents by effect on the concept's probe."""
    return Selection("attribution", lambda request: top_n(request.effects, request.n))


def judged(
    marked: Mapping[str, Collection[int]], *, ranking: Literal["concept", "biased"] = "concept", name: str = "judged"
) -> Selection:
    """S_SHIFT's selection: of the top-N latents by effect (on the concept's probe, or with
    ``ranking="biased"`` on the biased probe as in SHIFT; TPP has no biased probe and uses the
    concept's), those a judge marked as related to the concept (``marked[concept]``)."""

    def pick(request: SelectionRequest) -> list[int]:
        source = request.biased_effects if ranking == "biased" and request.biased_effects is not None else None
        ranked = top_n(source if source is not None else request.effects, request.n)
        keep = set(marked.get(request.concept, ()))
        return [j for j in ranked if j in keep]

    return Selection(name, pick)


def random_latents(seed: int = 0) -> Selection:
    """The control: N latents drawn uniformly (one fixed permutation per concept, so the N=5 set
    contains the N=2 set)."""

    def pick(request: SelectionRequest) -> list[int]:
        salt = int.from_bytes(hashlib.sha256(request.concept.encode()).digest()[:4], "little")
        generator = torch.Generator().manual_seed(seed * 2**32 + salt)
        order = torch.randperm(request.effects.numel(), generator=generator)
        return [int(i) for i in order[: request.n].tolist()]

    return Selection("random", pick)


def _select(selection: Selection, request: SelectionRequest) -> list[int]:
    latents = [int(j) for j in selection.pick(request)]
    width = request.effects.numel()
    bad = [j for j in latents if not 0 <= j < width]
    if bad:
        raise InputError(f"selection {selection.name!r} chose latent {bad[0]}, outside 0..{width - 1}")
    if len(set(latents)) != len(latents):
        raise InputError(f"selection {selection.name!r} chose a latent twice for {request.concept!r}")
    return latents


# ------------------------------------------------------------------------------------------- results


class AblationPoint(BaseModel):
    """One N: the latents ablated, the probe's accuracy after (``A_abl``) and the score."""

    n: int
    latents: list[int]
    accuracy: float
    score: float


class ScrDirection(BaseModel):
    """One SCR direction: latents of ``ablated`` removed, the biased probe tested on ``evaluated``."""

    direction: int
    ablated: str
    evaluated: str
    base_accuracy: float
    oracle_accuracy: float
    points: list[AblationPoint]


class ScrResult(BaseModel):
    """SCR (or S_SHIFT) of one pair under one selection: both directions and the reported scores."""

    selection: str
    task: str
    spurious: str
    biased_accuracy: float
    directions: list[ScrDirection]
    reported: int
    scores: dict[int, float]


class TppPoint(BaseModel):
    """One N for one class: its latents, every probe's accuracy after ablating them, the TPP terms."""

    n: int
    latents: list[int]
    accuracies: dict[str, float]
    intended: float
    unintended: float
    score: float


class TppClass(BaseModel):
    """One TPP class: its probe's clean test accuracy and one point per N."""

    name: str
    clean_accuracy: float
    points: list[TppPoint]


class TppResult(BaseModel):
    """TPP under one selection: per class, and the mean over classes per N."""

    selection: str
    classes: list[TppClass]
    scores: dict[int, float]


# ------------------------------------------------------------------------------------------- SCR


@dataclass(frozen=True)
class ScrProbes:
    """The three SCR probes."""

    biased: LinearProbe
    task: LinearProbe
    spurious: LinearProbe


@dataclass(frozen=True)
class ScrSetup:
    """Everything SCR scores are computed from, built once per pair and SAE (``prepare_scr``): the
    sets, the decoder, the probes, and ``effects[key]`` [N] of each probe on its own training set
    (``key`` "biased", "task", "spurious")."""

    sets: ScrSets
    w_dec: torch.Tensor
    probes: ScrProbes
    effects: dict[str, torch.Tensor]


def _check_width(w_dec: torch.Tensor, pool: Pooled) -> None:
    if w_dec.ndim != 2 or w_dec.shape != (pool.f.shape[1], pool.x.shape[1]):
        raise InputError(
            f"W_dec has shape {list(w_dec.shape)}; these activations need [{pool.f.shape[1]}, {pool.x.shape[1]}]"
        )


def train_on(data: ProbeData, config: ProbeConfig | None = None) -> LinearProbe:
    """A probe trained on ``data.train``, the epoch with the best ``data.test`` accuracy kept."""
    return train_probe(data.train.x, data.train.y, data.test.x, data.test.y, config).probe


def prepare_scr(
    sets: ScrSets, w_dec: torch.Tensor, *, config: ProbeConfig | None = None, probes: ScrProbes | None = None
) -> ScrSetup:
    """Train the biased, task and spurious probes (or take ``probes``) and compute their effects."""
    w_dec = w_dec.detach().float().cpu()
    _check_width(w_dec, sets.biased.train.pool)
    if probes is None:
        probes = ScrProbes(train_on(sets.biased, config), train_on(sets.task, config), train_on(sets.spurious, config))
    effects = {
        "biased": latent_effects(sets.biased.train.f, sets.biased.train.y, probes.biased.weight, w_dec, "scr"),
        "task": latent_effects(sets.task.train.f, sets.task.train.y, probes.task.weight, w_dec, "scr"),
        "spurious": latent_effects(sets.spurious.train.f, sets.spurious.train.y, probes.spurious.weight, w_dec, "scr"),
    }
    return ScrSetup(sets, w_dec, probes, effects)


def score_scr(setup: ScrSetup, selection: Selection, n_values: Sequence[int] = N_VALUES) -> ScrResult:
    """SCR of ``setup`` for every N under ``selection`` (module docstring)."""
    sets, probes = setup.sets, setup.probes
    plan = (
        (1, sets.spurious_name, "spurious", sets.task_name, sets.task.test, probes.task),
        (2, sets.task_name, "task", sets.spurious_name, sets.spurious.test, probes.spurious),
    )
    directions: list[ScrDirection] = []
    for direction, ablated, effect_key, evaluated, test, oracle_probe in plan:
        base = accuracy(probes.biased, test.x, test.y)
        oracle = accuracy(oracle_probe, test.x, test.y)
        points = []
        for n in n_values:
            request = SelectionRequest(ablated, n, setup.effects[effect_key], setup.effects["biased"])
            latents = _select(selection, request)
            a_abl = accuracy(probes.biased, test.ablated(setup.w_dec, latents), test.y)
            points.append(AblationPoint(n=n, latents=latents, accuracy=a_abl, score=scr_score(a_abl, base, oracle)))
        directions.append(
            ScrDirection(
                direction=direction,
                ablated=ablated,
                evaluated=evaluated,
                base_accuracy=base,
                oracle_accuracy=oracle,
                points=points,
            )
        )
    reported = 1 if directions[0].base_accuracy <= directions[1].base_accuracy else 2
    biased_test = sets.biased.test
    return ScrResult(
        selection=selection.name,
        task=sets.task_name,
        spurious=sets.spurious_name,
        biased_accuracy=accuracy(probes.biased, biased_test.x, biased_test.y),
        directions=directions,
        reported=reported,
        scores={p.n: p.score for p in directions[reported - 1].points},
    )


# ------------------------------------------------------------------------------------------- TPP


@dataclass(frozen=True)
class TppSetup:
    """Everything TPP scores are computed from (``prepare_tpp``): per class its one-vs-rest sets, its
    probe, the probe's clean test accuracy and its effects [N] (mean difference clamped at 0)."""

    classes: dict[str, ProbeData]
    w_dec: torch.Tensor
    probes: dict[str, LinearProbe]
    clean: dict[str, float]
    effects: dict[str, torch.Tensor]


def prepare_tpp(
    classes: Mapping[str, ProbeData],
    w_dec: torch.Tensor,
    *,
    config: ProbeConfig | None = None,
    probes: Mapping[str, LinearProbe] | None = None,
) -> TppSetup:
    """Train one probe per class (or take ``probes``), measure their clean accuracies and effects."""
    if len(classes) < 2:
        raise InputError(f"TPP needs at least two classes, got {len(classes)}")
    w_dec = w_dec.detach().float().cpu()
    _check_width(w_dec, next(iter(classes.values())).train.pool)
    if probes is not None and set(probes) != set(classes):
        raise InputError(f"probes are for {sorted(probes)}, classes are {sorted(classes)}")
    trained = {name: probes[name] if probes is not None else train_on(data, config) for name, data in classes.items()}
    clean = {name: accuracy(trained[name], data.test.x, data.test.y) for name, data in classes.items()}
    effects = {
        name: latent_effects(data.train.f, data.train.y, trained[name].weight, w_dec, "tpp")
        for name, data in classes.items()
    }
    return TppSetup(dict(classes), w_dec, trained, clean, effects)


def score_tpp(setup: TppSetup, selection: Selection, n_values: Sequence[int] = N_VALUES) -> TppResult:
    """TPP of ``setup`` for every N under ``selection`` (module docstring)."""
    per_class: list[TppClass] = []
    for target in setup.classes:
        points = []
        for n in n_values:
            latents = _select(selection, SelectionRequest(target, n, setup.effects[target]))
            after = {
                name: accuracy(setup.probes[name], data.test.ablated(setup.w_dec, latents), data.test.y)
                for name, data in setup.classes.items()
            }
            intended, unintended, score = tpp_score(setup.clean, after, target)
            points.append(
                TppPoint(n=n, latents=latents, accuracies=after, intended=intended, unintended=unintended, score=score)
            )
        per_class.append(TppClass(name=target, clean_accuracy=setup.clean[target], points=points))
    scores = {n: sum(c.points[i].score for c in per_class) / len(per_class) for i, n in enumerate(n_values)}
    return TppResult(selection=selection.name, classes=per_class, scores=scores)
