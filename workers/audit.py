"""Checkpoint audits: which tracked units changed between a baseline and a candidate checkpoint.

Both checkpoints read the same **probe set**: a fixed slice of the built-in corpus (seed
`PROBE_SEED`, the first ``probe_windows`` windows of ``ctx_len`` tokens cut by the baseline's
tokenizer; the candidate must share the tokenizer). The first position of every window (the
attention sink, as in the exemplar cache) is left out. For every unit:

* **activation statistics** per checkpoint: mean, std, max and firing frequency (share of tokens
  with activation > 0) over the probe tokens; a head (``L{l}.attn.h{h}``) counts by the norm of its
  output;
* **mean shift** ``|mean_candidate − mean_baseline| / max(std_baseline, 1e-6)``: how far the unit's
  average moved, in baseline standard deviations;
* **exemplar overlap** ``|top_b ∩ top_c| / |top_b ∪ top_c|`` (Jaccard): ``top_x`` are the ``k``
  probe windows with the highest maximum activation under checkpoint x;
* **correlation**: Pearson correlation of the per-token activations (reported, not in the rule).

**A unit changed** when ``mean shift > tau`` (default 0.5) **or** ``Jaccard < jaccard_min`` (default
0.5). Changed units are then re-explained on the candidate by the agent (``builtin`` unless told),
and the report puts the stored baseline explanation (if any) beside the new one.

**SAE latents** (``L6.sae.12``, ``L6.sae[name].12``) are audited like neurons, through the SAE
registered for the *baseline* (found by its weights), which is applied to **both** checkpoints: the
question is how the candidate's activations look to the same dictionary. Before a changed latent is
re-explained on the candidate, its SAE is registered for the candidate's model too (same name, same
registered copy; ``tools.sae.registry.carry_saes``), so the agent's tools find it there; a candidate
that already has another SAE under that name fails the audit with that reason.

`run_audit` returns an `AuditReport`; `workers.audit_report` writes it as markdown, JSON and a plot.
A queued ``audit`` job is run by ``workers.service_jobs.execute_audit_job`` from its stored
parameters, and writes its report to `audit_folder`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine

from store.errors import InputError
from store.settings import Settings
from tools.corpus.sources import BuiltinCorpus
from tools.corpus.windows import iter_windows
from tools.exemplars.cache import scoring_skip
from tools.files import FileAccess
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime
from tools.sae.registry import carry_saes, store_sae_source

#: Seed of the built-in corpus draw the probe windows come from (fixed: audits must be comparable).
PROBE_SEED = 1729
#: Default thresholds of the "changed" rule (see the module docstring).
DEFAULT_TAU = 0.5
DEFAULT_JACCARD_MIN = 0.5
_EPS = 1e-6


class ProbeSpec(BaseModel):
    """The fixed probe set: ``windows`` windows of ``ctx_len`` tokens of the built-in corpus."""

    model_config = ConfigDict(extra="forbid")

    windows: int = Field(128, ge=4, le=100_000)
    ctx_len: int = Field(32, ge=4, le=4096)
    k: int = Field(10, ge=1, description="Top windows per unit compared between the checkpoints.")

    @model_validator(mode="after")
    def _k_below_windows(self) -> ProbeSpec:
        if self.k >= self.windows:
            raise ValueError(f"k ({self.k}) must be smaller than the number of probe windows ({self.windows})")
        return self


class AuditRequest(BaseModel):
    """What to audit: checkpoints, units, probe, thresholds, and whether to re-explain."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    baseline: str = Field(min_length=1, description="Baseline model folder or name.")
    candidate: str = Field(min_length=1, description="Candidate checkpoint folder or name.")
    model: str | None = Field(None, description="Name the audit is filed under (default: the baseline).")
    units: list[str] | None = None
    tracked: bool = False
    probe: ProbeSpec = Field(default_factory=ProbeSpec)
    tau: float = Field(DEFAULT_TAU, gt=0)
    jaccard_min: float = Field(DEFAULT_JACCARD_MIN, ge=0, le=1)
    explain: bool = True
    agent: str = "builtin"
    budget: int = Field(12, ge=1, le=1000, description="Tool calls per re-explanation.")

    @model_validator(mode="after")
    def _one_unit_source(self) -> AuditRequest:
        if bool(self.units) == self.tracked:
            raise ValueError("give exactly one of units (a non-empty list) or tracked")
        return self


class CheckpointStats(BaseModel):
    """A unit's statistics over the probe tokens under one checkpoint."""

    mean: float
    std: float
    max: float
    frac_firing: float
    top_windows: list[int]


class UnitAudit(BaseModel):
    """One unit's comparison."""

    unit: str
    baseline: CheckpointStats
    candidate: CheckpointStats
    mean_shift: float
    jaccard: float
    correlation: float | None
    changed: bool
    reasons: list[str]
    baseline_label: str | None = None
    candidate_label: str | None = None
    candidate_investigation: int | None = None


class AuditReport(BaseModel):
    """The outcome of an audit (rule and thresholds included, so a report explains itself)."""

    model: str
    baseline: str
    candidate: str
    probe: ProbeSpec
    probe_tokens: int
    rule: str
    tau: float
    jaccard_min: float
    units: list[UnitAudit]
    changed: list[str]
    seconds: float = 0.0


def rule_text(tau: float, jaccard_min: float) -> str:
    """The changed-unit rule in words, with its thresholds."""
    return f"changed if |Δmean| / baseline std > {tau:g} or top-k Jaccard < {jaccard_min:g}"


# --------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------


def probe_windows(runtime: ModelRuntime, probe: ProbeSpec) -> list[list[int]]:
    """The probe set's token windows (deterministic: same corpus seed, same cut)."""
    corpus = BuiltinCorpus(seed=PROBE_SEED, min_tokens=max(4 * probe.windows * probe.ctx_len, 20_000))
    windows = list(iter_windows(corpus, runtime.loaded.tokenizer, probe.ctx_len, probe.windows * probe.ctx_len))
    if len(windows) < probe.windows:
        raise InputError(f"the probe corpus gives only {len(windows)} windows of {probe.ctx_len} tokens")
    return windows


def check_same_tokenizer(baseline: ModelRuntime, candidate: ModelRuntime) -> None:
    """InputError unless both checkpoints tokenize identically (same vocabulary)."""
    if baseline.loaded.tokenizer.get_vocab() != candidate.loaded.tokenizer.get_vocab():
        raise InputError(
            f"checkpoints {baseline.loaded.name} and {candidate.loaded.name} have different tokenizers; "
            "an audit compares checkpoints of one model"
        )


def unit_activations(
    runtime: ModelRuntime, units: Sequence[str], windows: Sequence[Sequence[int]], skip: int
) -> dict[str, torch.Tensor]:
    """Per unit, a [windows, ctx_len − skip] tensor of activations (head: norm of its output)."""
    addresses = [runtime.resolve(u).address for u in units]
    chunks: dict[str, list[torch.Tensor]] = {a: [] for a in addresses}
    for start in range(0, len(windows), runtime.batch_size):
        batch = windows[start : start + runtime.batch_size]
        input_ids, mask = runtime.pad(batch)
        captured, _ = runtime.forward(input_ids, mask, addresses)
        for address in addresses:
            values = captured[address].float()
            if values.ndim == 3:
                values = values.norm(dim=-1)
            chunks[address].append(values[:, skip:].cpu())
    return {a: torch.cat(parts) for a, parts in chunks.items()}


def checkpoint_stats(values: torch.Tensor, k: int) -> CheckpointStats:
    """Statistics of one unit's [windows, tokens] activations and its top-k windows by max."""
    flat = values.flatten().double()
    window_max = values.max(dim=1).values
    top = torch.topk(window_max, k).indices.tolist()
    return CheckpointStats(
        mean=float(flat.mean()),
        std=float(flat.std(unbiased=False)),
        max=float(flat.max()),
        frac_firing=float((flat > 0).double().mean()),
        top_windows=sorted(int(i) for i in top),
    )


def jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    """|a ∩ b| / |a ∪ b| (1.0 for two empty sets)."""
    union = set(a) | set(b)
    return len(set(a) & set(b)) / len(union) if union else 1.0


def correlation(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """Pearson correlation of two equally shaped tensors, None when either is constant."""
    x, y = a.flatten().double(), b.flatten().double()
    x, y = x - x.mean(), y - y.mean()
    denom = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    return float((x * y).sum()) / denom if denom > 0 else None


def compare_unit(
    unit: str, base: torch.Tensor, cand: torch.Tensor, k: int, tau: float, jaccard_min: float
) -> UnitAudit:
    """Compare one unit's activations under the two checkpoints by the documented rule."""
    b, c = checkpoint_stats(base, k), checkpoint_stats(cand, k)
    shift = abs(c.mean - b.mean) / max(b.std, _EPS)
    overlap = jaccard(b.top_windows, c.top_windows)
    reasons = []
    if shift > tau:
        reasons.append(f"mean shift {shift:.2f} > {tau:g}")
    if overlap < jaccard_min:
        reasons.append(f"top-{k} Jaccard {overlap:.2f} < {jaccard_min:g}")
    return UnitAudit(
        unit=unit,
        baseline=b,
        candidate=c,
        mean_shift=shift,
        jaccard=overlap,
        correlation=correlation(base, cand),
        changed=bool(reasons),
        reasons=reasons,
    )


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------


@dataclass
class AuditHooks:
    """Callbacks of a running audit: progress (done, total) and the re-explainer (tests swap it)."""

    progress: Callable[[int, int], object] | None = None
    explain: Callable[[str, str, AuditRequest, Settings], tuple[str | None, int | None]] | None = None


def explain_on_candidate(
    unit: str, candidate: str, request: AuditRequest, settings: Settings
) -> tuple[str | None, int]:
    """Re-explain ``unit`` on the candidate with the agent; its label and investigation id."""
    from agent.graph import Budget
    from agent.runner import explain

    result = explain(
        unit, model=candidate, backend=request.agent, budget=Budget(tool_calls=request.budget), settings=settings
    )
    return (result.explanation.label if result.explanation else None), result.investigation_id


def resolve_units(request: AuditRequest, settings: Settings) -> list[str]:
    """The units to audit: as given, or the baseline's tracked units (InputError when there are none)."""
    if request.units:
        return list(dict.fromkeys(request.units))
    from store.db import open_store
    from workers.tracked import tracked_units

    if settings.db is None:
        settings.ensure_home()
    units = tracked_units(open_store(settings.db_url()), request.model or request.baseline)
    if not units:
        raise InputError(
            f"no tracked units for model {request.model or request.baseline!r}: nothing has a stored explanation; "
            "explain some units first or give --units"
        )
    return units


def run_audit(
    request: AuditRequest,
    settings: Settings | None = None,
    hooks: AuditHooks | None = None,
    files: FileAccess | None = None,
) -> AuditReport:
    """Measure every unit on both checkpoints, apply the rule, re-explain the changed units.

    ``files``: a confined policy (the workers') loads the checkpoints only from its model roots.
    """
    import time

    from workers.tracked import stored_labels

    started = time.perf_counter()
    settings = settings or Settings()
    hooks = hooks or AuditHooks()
    units = resolve_units(request, settings)
    base_rt = ModelRuntime(load_model(request.baseline, settings, files))
    cand_rt = ModelRuntime(load_model(request.candidate, settings, files))
    store = _store_of(settings)
    base_rt.sae_source = store_sae_source(store, home=settings.home)
    cand_rt.sae_source = store_sae_source(store, weights_digest=base_rt.loaded.digest, home=settings.home)
    check_same_tokenizer(base_rt, cand_rt)
    for unit in units:  # bad addresses fail before any forward pass, naming the valid range
        base_rt.resolve(unit)
        cand_rt.resolve(unit)
    windows = probe_windows(base_rt, request.probe)
    skip = scoring_skip(base_rt.loaded.tokenizer)
    total = len(units) * (2 if request.explain else 1)
    base = unit_activations(base_rt, units, windows, skip)
    cand = unit_activations(cand_rt, units, windows, skip)
    addresses = [base_rt.resolve(u).address for u in units]
    audits = [compare_unit(a, base[a], cand[a], request.probe.k, request.tau, request.jaccard_min) for a in addresses]
    if hooks.progress:
        hooks.progress(len(units), total)
    labels = stored_labels(settings, request.model or request.baseline, addresses)
    done = len(units)
    latent_saes = [t.sae.name for t in (base_rt.resolve(a.unit) for a in audits if a.changed) if t.sae is not None]
    if request.explain and latent_saes:
        carry_saes(store(), base_rt, cand_rt, latent_saes)
    for audit in audits:
        audit.baseline_label = labels.get(audit.unit)
        if request.explain and audit.changed:
            explainer = hooks.explain or explain_on_candidate
            audit.candidate_label, audit.candidate_investigation = explainer(
                audit.unit, request.candidate, request, settings
            )
        done += 1 if request.explain else 0
        if hooks.progress and request.explain:
            hooks.progress(done, total)
    return AuditReport(
        model=request.model or request.baseline,
        baseline=request.baseline,
        candidate=request.candidate,
        probe=request.probe,
        probe_tokens=len(windows) * (request.probe.ctx_len - skip),
        rule=rule_text(request.tau, request.jaccard_min),
        tau=request.tau,
        jaccard_min=request.jaccard_min,
        units=audits,
        changed=[a.unit for a in audits if a.changed],
        seconds=time.perf_counter() - started,
    )


def _store_of(settings: Settings) -> Callable[[], Engine]:
    """The store named by ``settings``, opened on first use."""

    def engine() -> Engine:
        from store.db import open_store

        if settings.db is None:
            settings.ensure_home()
        return open_store(settings.db_url())

    return engine


def audit_folder(settings: Settings, job_id: int) -> Path:
    """Where a queued audit job writes its report: ``<home>/audits/job-<id>/``."""
    return settings.home.expanduser() / "audits" / f"job-{job_id}"
