"""``shift_annotate``: a judge's 0–4 relatedness of SAE latents to named concepts (SHIFT annotation),
with the evidence it used; every annotation is stored (``shift_annotation``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from store.errors import AddressError, CacheError, ConfigError, ConstraintError
from store.repo import get_job
from store.shift import record_annotations
from tools.catalog.fields import model_field
from tools.context import ToolContext
from tools.exemplars.cache import ExemplarCache
from tools.exemplars.service import build_site_cache, open_site_cache
from tools.registry import ToolError, tool
from tools.runtime.model_runtime import ModelRuntime, Target
from tools.shift.judge import (
    RELATED_THRESHOLD,
    BuiltinJudge,
    Judge,
    JudgeError,
    annotate,
    annotation_rows,
    corpus_background,
    latent_evidence,
    make_judge,
    rubric,
)
from tools.shift.judge_evidence import EvidenceSummary, ProbeReadings, probe_latents

#: Latents and concepts one call may judge.
MAX_LATENTS = 64
MAX_CONCEPTS = 16
_TOOL = "shift_annotate"


class ShiftAnnotateArgs(BaseModel):
    """Arguments of ``shift_annotate``."""

    model: str = model_field()
    latents: list[str] = Field(
        min_length=1, max_length=MAX_LATENTS, description="SAE latents, e.g. L6.sae.12 or L6.sae[res].12."
    )
    concepts: list[str] = Field(
        min_length=1, max_length=MAX_CONCEPTS, description="Concept names, e.g. gender, professor, nurse."
    )
    judge: str = Field(
        "builtin", description="'builtin' (offline: word lists, exemplar statistics, DLA tokens) or an LLM spec."
    )
    k: int = Field(20, ge=1, le=50, description="Top contexts shown per latent.")
    promoted: int = Field(10, ge=1, le=50, description="Promoted (DLA) tokens shown per latent.")
    build_if_missing: bool = Field(True, description="Build the SAE's exemplar cache when none exists yet.")
    max_tokens: int = Field(100_000, ge=1_000, description="Corpus tokens for a cache built here.")
    job_id: int | None = Field(None, ge=1, description="The job the stored annotations belong to (set by shift jobs).")

    @field_validator("concepts")
    @classmethod
    def _clean_concepts(cls, concepts: list[str]) -> list[str]:
        cleaned = [c.strip() for c in concepts]
        if any(not c or len(c) > 64 for c in cleaned):
            raise ValueError("every concept is a name of 1 to 64 characters")
        if len({c.lower() for c in cleaned}) != len(cleaned):
            raise ValueError("concepts must be distinct")
        return cleaned


class ConceptJudgement(BaseModel):
    """One concept's score for a latent."""

    concept: str
    score: float
    related: bool
    rationale: str


class LatentJudgement(BaseModel):
    """A latent's scores, the concepts it counts as related to, and the evidence."""

    latent: str
    index: int
    judgements: list[ConceptJudgement]
    related: list[str]
    evidence: EvidenceSummary


class ShiftAnnotateOut(BaseModel):
    """The judge's verdicts, with the rubric and the ids of the stored annotations."""

    model: str
    judge: str
    concepts: list[str]
    threshold: float = Field(description="A latent counts as related to a concept when its score is above this.")
    rubric: dict[int, str]
    latents: list[LatentJudgement]
    annotation_ids: list[int]


def _resolve(runtime: ModelRuntime, latents: list[str]) -> list[Target]:
    targets = []
    for latent in latents:
        try:
            target = runtime.resolve(latent)
        except AddressError as exc:
            raise ToolError(str(exc), tool=_TOOL, field="latents") from None
        if target.sae is None or target.index is None:
            raise ToolError(f"{latent} is not an SAE latent; give one such as L6.sae.12", tool=_TOOL, field="latents")
        targets.append(target)
    return targets


def _cache(ctx: ToolContext, runtime: ModelRuntime, target: Target, args: ShiftAnnotateArgs) -> ExemplarCache:
    assert target.sae is not None
    site, digest, engine = target.sae.address, target.sae.digest, ctx.engine()
    try:
        cache, _ = open_site_cache(engine, runtime.loaded, site, sae_digest=digest)
    except CacheError:
        if not args.build_if_missing:
            raise
        build_site_cache(runtime, engine, ctx.settings, site, max_tokens=args.max_tokens, progress=False)
        cache, _ = open_site_cache(engine, runtime.loaded, site, sae_digest=digest)
    return cache


@tool(queue="gpu", cacheable=False)
def shift_annotate(ctx: ToolContext, args: ShiftAnnotateArgs) -> ShiftAnnotateOut:
    """SHIFT annotation: how related each SAE latent is to each named concept, 0-4 (4: most top
    examples and promoted tokens clearly related; 0: nothing related even distantly), judged from its
    top exemplar contexts (activating tokens marked <<token>>) and the tokens it promotes (direct logit
    attribution). A latent counts as related to a concept when its score is above 0.5. The judge is
    'builtin' (offline: word lists, chance-corrected exemplar statistics, and the latent tested on the
    concepts' words in short sentences) or an LLM ('openai:gpt-4o'). Every score is stored."""
    try:
        judge = make_judge(args.judge, ctx.chat_models)
    except (JudgeError, ConfigError) as exc:
        raise ToolError(str(exc), tool=_TOOL, field="judge") from None
    if args.job_id is not None and get_job(ctx.engine(), args.job_id) is None:
        raise ToolError(f"no job {args.job_id} to file these annotations under", tool=_TOOL, field="job_id")
    runtime = ctx.runtime(args.model)
    targets = _resolve(runtime, args.latents)
    caches: dict[str, ExemplarCache] = {}
    probes: dict[str, dict[int, ProbeReadings]] = {}  # by SAE: the builtin judge tests the latents on concept words
    builtin: dict[str, Judge] = {}  # by corpus: the builtin judge compares contexts with their corpus
    annotations = []
    for target in targets:
        assert target.sae is not None and target.index is not None
        sae = target.sae.address
        if sae not in caches:
            caches[sae] = _cache(ctx, runtime, target, args)
            if isinstance(judge, BuiltinJudge):
                indices = sorted({t.index for t in targets if t.index is not None and t.sae and t.sae.address == sae})
                probes[sae] = probe_latents(runtime, sae, indices, args.concepts)
        cache = caches[sae]
        readings = probes.get(sae, {}).get(target.index)
        item = latent_evidence(runtime, cache, target.address, k=args.k, promoted=args.promoted, probes=readings)
        if isinstance(judge, BuiltinJudge):
            corpus = cache.spec.corpus
            if corpus not in builtin:
                background = corpus_background(corpus, home=ctx.settings.home, files=ctx.files)
                builtin[corpus] = make_judge("builtin", background=background)
            latent_judge = builtin[corpus]
        else:
            latent_judge = judge
        try:
            annotations += annotate(latent_judge, [item], args.concepts)
        except JudgeError as exc:
            raise ToolError(str(exc), tool=_TOOL, field="judge") from None
    rows = []
    for target, annotation in zip(targets, annotations, strict=True):
        assert target.sae is not None
        rows += annotation_rows(
            [annotation],
            model=args.model,
            sae=target.sae.name,
            sae_digest=target.sae.digest,
            judge=judge.name,
            job_id=args.job_id,
        )
    try:
        stored = record_annotations(ctx.engine(), rows)
    except ConstraintError:
        raise ToolError(f"no job {args.job_id} to file these annotations under", tool=_TOOL, field="job_id") from None
    return ShiftAnnotateOut(
        model=args.model,
        judge=judge.name,
        concepts=args.concepts,
        threshold=RELATED_THRESHOLD,
        rubric=rubric(),
        latents=[
            LatentJudgement(
                latent=a.latent,
                index=a.index,
                judgements=[
                    ConceptJudgement(
                        concept=c, score=a.scores[c], related=a.scores[c] > RELATED_THRESHOLD, rationale=a.rationales[c]
                    )
                    for c in args.concepts
                ],
                related=a.related,
                evidence=a.evidence,
            )
            for a in annotations
        ],
        annotation_ids=[row.id for row in stored],
    )
