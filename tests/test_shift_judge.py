"""SHIFT annotation: the builtin judge on planted latents (hand-made evidence, and end to end through
``shift_annotate`` on a tiny model whose SAE latents are planted on gender, nurse and weather words),
the rubric mapping and the related rule, the LLM judge with LangChain's fake chat model, the tool's
refusals, and the stored annotations on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import torch
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from safetensors.torch import save_file
from sqlmodel import SQLModel

from store.db import open_store, session
from store.errors import ConstraintError
from store.migrate import current_revision, downgrade, head_revision, upgrade
from store.models import Job, JobCreate, ShiftAnnotationCreate
from store.repo import create_job
from store.settings import Settings
from store.shift import annotations_for, record_annotations
from tools.catalog import default_registry
from tools.context import ToolContext
from tools.effects.logit_attribution import TokenScore
from tools.executor import LocalExecutor, ToolCall
from tools.exemplars.service import build_site_cache
from tools.runtime.testing import build_tiny_model
from tools.sae.registry import register_sae
from tools.shift.judge import (
    RELATED_THRESHOLD,
    BuiltinJudge,
    ConceptBackground,
    JudgeError,
    LatentEvidence,
    LLMJudge,
    annotate,
    annotation_rows,
    concept_lexicon,
    is_related,
    make_judge,
    mark_context,
    parse_scores,
    related_concepts,
    rubric,
)
from tools.shift.judge_builtin import probe_stats, rubric_score
from tools.shift.judge_evidence import ProbeReadings, probe_latents, probe_words
from tools.shift.judge_lexicon import token_words
from tools.shift.judge_llm import ScoreParseError

# ------------------------------------------------------------------------------------------- texts

FEMALE = ["Emma", "Sophie", "Olivia", "Maria"]
MALE = ["James", "Oliver", "Lucas", "Daniel"]
PLACES = ["market", "station", "library", "museum", "harbour", "bakery"]
THINGS = ["book", "letter", "bicycle", "camera", "lantern", "basket"]
WEATHER = ["rain", "snow", "storm", "wind", "cloud", "fog"]
TEMPLATES = [
    "{N} said that {s} would walk to the {place} before the {weather} came.",
    "{N} works as a nurse at the hospital, and {p} patients trust {o}.",
    "The nurse checked the medication of every patient on the ward.",
    "{N} carried a {thing} to the {place}, and {s} smiled at {p} {rel}.",
    "After the {weather}, the nurses at the clinic changed the dressings of the patients.",
    "The {weather} covered the hills and the river for the whole morning.",
    "{S} bought a {thing} at the {place} for {p} {rel}.",
    "On the ward, {N} gave the patients their medication while {s} talked to the nurse.",
    "The {thing} on the table was old, and nobody at the {place} wanted it.",
    "Her {rel} met his {rel2} near the {place} during the {weather}.",
]


def _fill(template: str, rng: random.Random) -> str:
    female = rng.random() < 0.5
    name = rng.choice(FEMALE if female else MALE)
    pronouns = {"s": "she", "p": "her", "o": "her"} if female else {"s": "he", "p": "his", "o": "him"}
    text = template.format(
        N=name,
        S=pronouns["s"].capitalize(),
        place=rng.choice(PLACES),
        thing=rng.choice(THINGS),
        weather=rng.choice(WEATHER),
        rel=rng.choice(["mother", "father", "sister", "brother"]),
        rel2=rng.choice(["mother", "father", "sister", "brother"]),
        **pronouns,
    )
    return text[0].upper() + text[1:]


def corpus_texts(n: int = 400, seed: int = 0) -> list[str]:
    """Sentences mixing gender words, nurse-domain words, weather words and neutral words."""
    rng = random.Random(seed)
    return [_fill(rng.choice(TEMPLATES), rng) for _ in range(n)]


GENDER_WORDS = {"she", "he", "her", "his", "him", "mother", "father", "sister", "brother", *FEMALE, *MALE}
NURSE_WORDS = {"nurse", "nurses", "hospital", "patients", "patient", "ward", "clinic", "medication"}


# ------------------------------------------------------------------------------------------- hand-made evidence


def _tokens(text: str) -> list[str]:
    """A word-level tokenisation (each word with its leading space), after a BOS token."""
    return ["<s>", *re.findall(r"\s*\w+|\s*[^\w\s]", text)]


def _evidence(
    texts: list[str], fires: Any, promoted: list[str], *, background: float = 0.0, seed: int = 0
) -> LatentEvidence:
    """Evidence of a latent that fires (activation 3–5) on the tokens ``fires(position, words)`` picks."""
    rng = random.Random(seed)
    contexts = []
    for text in texts:
        tokens = _tokens(text)
        words = [t.strip() for t in tokens]
        acts = [0.0] + [
            rng.uniform(3, 5) if fires(p, words) else background * rng.random() for p in range(1, len(tokens))
        ]
        if max(acts) <= 0:
            continue
        contexts.append(mark_context(tokens, acts, scale=5.0, skip=1))
    return LatentEvidence(
        latent="L0.sae[x].0",
        index=0,
        contexts=contexts[:20],
        promoted=[TokenScore(token=f" {t}", token_id=i, score=1.0) for i, t in enumerate(promoted)],
        skip=1,
    )


def _on(words_set: set[str]) -> Any:
    lowered = {w.lower() for w in words_set}
    return lambda p, words: words[p].lower() in lowered


NEUTRAL_PROMOTED = ["the", "of", "and", "to", "in", "was", "at", "on", "for", "with"]
CONCEPTS = ["gender", "nurse", "professor"]


def test_marking_and_words() -> None:
    tokens = ["<s>", " She", " gave", " the", " nur", "ses", " a", " book", "."]
    ctx = mark_context(tokens, [9.0, 4.0, 0.0, 1.0, 5.0, 5.0, 0.0, 0.0, 0.5], scale=5.0, skip=1)
    assert ctx.marked == [4, 5, 1, 3, 8] and ctx.max == 5.0  # the BOS (9.0) is never marked
    assert ctx.text == "<s><< She>>(8) gave<< the>>(2)<< nur>>(10)<<ses>>(10) a book<<.>>(1)"
    words, own = token_words(tokens)
    assert words == ["s", "She", "gave", "the", "nurses", "a", "book"]
    assert own[4] == own[5] == [4] and own[8] == [] and token_words([" the", "he"])[0] == ["thehe"]
    lex = concept_lexicon("Nurse")
    assert lex.weight("nurses") == 1.0 and lex.weight("hospital") == pytest.approx(0.6) and lex.weight("the") == 0
    gender = concept_lexicon("male / female")
    assert gender.resolved == "gender" and gender.weight("Emma") == 1.0 and gender.weight("emma") == 0
    assert (
        gender.weight("Grace") == 0 and gender.weight("Mrs") == 1 and gender.weight("miss") == 0
    )  # ambiguous ones out
    unknown = concept_lexicon("pottery")
    assert unknown.resolved is None and unknown.weight("Pottery") == 1 and "not in the builtin" in unknown.describe()


def test_builtin_judge_on_planted_evidence() -> None:
    texts = corpus_texts(200)
    judge = BuiltinJudge()
    gender = _evidence(texts, _on(GENDER_WORDS), ["she", "her", "herself", "Emma", "the", "of", "and", "to", "in", "a"])
    nurse = _evidence(
        texts, _on(NURSE_WORDS), ["nurse", "nurses", "patients", "the", "of", "and", "to", "in", "a", "on"]
    )
    weather = _evidence(texts, _on(set(WEATHER)), NEUTRAL_PROMOTED)
    scores = {
        name: judge.score(ev, CONCEPTS) for name, ev in [("gender", gender), ("nurse", nurse), ("weather", weather)]
    }
    assert scores["gender"]["gender"].score == 4 and scores["gender"]["nurse"].score == 0
    assert scores["nurse"]["nurse"].score == 4 and scores["nurse"]["gender"].score == 0
    assert all(s.score == 0 for s in scores["weather"].values())
    assert scores["gender"]["professor"].score == 0 and scores["nurse"]["professor"].score == 0
    rationale = scores["gender"]["gender"].rationale
    assert "she" in rationale and "for random words" in rationale and rationale.endswith(rubric()[4])
    # Without the promoted tokens the examples alone still make a clear case.
    bare = _evidence(texts, _on(GENDER_WORDS), NEUTRAL_PROMOTED)
    assert judge.score(bare, ["gender"])["gender"].score >= 3


def test_frequent_concept_words_are_not_evidence_by_themselves() -> None:
    """A latent firing on random words of gender-heavy texts is not a gender latent: chance is subtracted."""
    texts = corpus_texts(200, seed=1)
    judge = BuiltinJudge()
    for seed in range(5):
        picks = random.Random(seed)

        def fires(p: int, words: list[str], picks: random.Random = picks) -> bool:
            return words[p].isalpha() and picks.random() < 0.15

        noise = _evidence(texts, fires, NEUTRAL_PROMOTED, seed=seed)
        verdict = judge.score(noise, CONCEPTS)
        assert max(v.score for v in verdict.values()) == 0, {c: v.rationale for c, v in verdict.items()}


def test_a_latent_next_to_gender_words_is_distantly_related() -> None:
    """Firing on the word after a pronoun (a contextual gender latent) earns a middling gender score."""
    texts = corpus_texts(200, seed=2)
    pronouns = {"she", "he"}
    after = _evidence(
        texts, lambda p, words: p > 1 and words[p - 1].lower() in pronouns and words[p].isalpha(), NEUTRAL_PROMOTED
    )
    verdict = BuiltinJudge().score(after, CONCEPTS)
    assert 1 <= verdict["gender"].score <= 3 and verdict["nurse"].score == 0
    assert "activation next to its words" in verdict["gender"].rationale


def test_context_density_against_the_corpus() -> None:
    """A latent firing all over nurse texts (not on nurse words) is related to nurse through its contexts."""
    nurse_texts = [t for t in corpus_texts(400, seed=3) if "nurse" in t or "patients" in t]
    everywhere = _evidence(nurse_texts, lambda p, words: words[p] in {"the", "a", "and"}, NEUTRAL_PROMOTED)
    assert BuiltinJudge().score(everywhere, ["nurse"])["nurse"].score == 0  # no background: nothing to compare with
    neutral = ConceptBackground.from_texts(["The cat sat on the mat and the dog ran to the park."] * 200, source="t")
    with_background = BuiltinJudge(neutral).score(everywhere, ["nurse", "gender"])
    assert with_background["nurse"].score >= 1 and "as dense in these contexts" in with_background["nurse"].rationale
    same = ConceptBackground.from_texts(nurse_texts, source="same")
    assert BuiltinJudge(same).score(everywhere, ["nurse"])["nurse"].score == 0


CONTROLS = {w: 0.0 for w in ["it", "they", "we", "table", "city", "river", "idea", "letter", "road", "chair"]}


def test_probes_catch_a_latent_whose_top_contexts_hide_its_gender_use() -> None:
    """A subject-pronoun latent whose top contexts are all "I" (a number, ...) but which fires on "he"
    far more than on "she" in test sentences separates gender in text: the probes see it; a latent
    that fires as much on the controls does not count."""
    texts = [f"Yesterday I said that I would come at {n}." for n in range(20)]
    hidden = _evidence(texts, _on({"I"}), NEUTRAL_PROMOTED)
    assert BuiltinJudge().score(hidden, ["gender"])["gender"].score == 0
    male = {"he": 4.0, "him": 2.0, "his": 3.0, "He": 4.0, "she": 0.2, "her": 0.0, "Mr": 3.0}
    words = {w: male.get(w, 0.0) for w in probe_words(["gender"])}
    hidden.probes = ProbeReadings(words=words, controls={**CONTROLS, "it": 1.0})
    verdict = BuiltinJudge().score(hidden, ["gender", "nurse"])
    assert verdict["gender"].score >= 1 and verdict["nurse"].score == 0
    assert "male" in verdict["gender"].rationale and "in test sentences" in verdict["gender"].rationale
    stats = probe_stats(hidden, concept_lexicon("gender"))
    assert stats is not None and stats.sides["male"] > stats.sides["female"] and stats.contrast >= 0.2
    # The same readings when every control fires as strongly: nothing selective about gender.
    hidden.probes = ProbeReadings(words=words, controls={w: 4.0 for w in CONTROLS})
    assert BuiltinJudge().score(hidden, ["gender"])["gender"].score == 0
    # Occurrences weigh by corpus frequency: firing on "he" and "his" outweighs many rare words.
    background = ConceptBackground.from_texts(["he said his name and she said her name"] * 50, source="t")
    rare = {w: (3.0 if w in {"gentleman", "Mister", "Lord", "king", "uncle"} else 0.0) for w in words}
    hidden.probes = ProbeReadings(words=rare, controls=CONTROLS)
    weighted = probe_stats(hidden, concept_lexicon("gender"), background)
    assert weighted is not None and weighted.share < 0.05 and weighted.score == 0


def test_unknown_concepts_and_dead_latents() -> None:
    texts = [f"The {w} class met at the studio to shape pottery and glaze it." for w in ["morning", "evening"]] * 10
    pottery = _evidence(texts, _on({"pottery"}), NEUTRAL_PROMOTED)
    verdict = BuiltinJudge().score(pottery, ["pottery", "gender"])
    assert verdict["pottery"].score == 4 and verdict["gender"].score == 0
    assert "not in the builtin judge's lists" in verdict["pottery"].rationale
    dead = LatentEvidence(latent="L0.sae[x].3", index=3, contexts=[], promoted=[], skip=1)
    score, rationale = BuiltinJudge().score(dead, ["gender"])["gender"]
    assert score == 0.0 and "no activating context" in rationale


def test_rubric_mapping_and_related_rule() -> None:
    assert rubric_score(0.8, 0.8, 0.0) == 4 and rubric_score(0.6, 0.6, 0.2) == 4 and rubric_score(0.6, 0.6, 0.1) == 3
    assert rubric_score(0.35, 0.4, 0.0) == 3 and rubric_score(0.2, 0.2, 0.3) == 3 and rubric_score(0.0, 0.6, 0.3) == 3
    assert rubric_score(0.15, 0.15, 0.0) == 2 and rubric_score(0.0, 0.35, 0.0) == 2 and rubric_score(0.0, 0.0, 0.3) == 2
    assert rubric_score(0.0, 0.0, 0.0, context=2) == 2 and rubric_score(0.0, 0.0, 0.0, context=1) == 1
    assert rubric_score(0.1, 0.1, 0.0) == 1 and rubric_score(0.0, 0.15, 0.0) == 1 and rubric_score(0.0, 0.0, 0.2) == 1
    assert rubric_score(0.0, 0.1, 0.1) == 0
    assert set(rubric()) == {0, 1, 2, 3, 4} and "clearly related" in rubric()[4]
    # The paper's rule: related when the (maximum over a class's concepts) score is above 0.5 on the 0-4 scale.
    assert RELATED_THRESHOLD == 0.5
    assert is_related({"professor": 0.0, "nurse": 1.0}, ["professor", "nurse"])
    assert not is_related({"professor": 0.5, "nurse": 0.0}, ["professor", "nurse"])
    assert not is_related({"gender": 4.0}, ["nurse"])
    assert related_concepts({"gender": 3.0, "nurse": 0.0, "professor": 1.0}) == ["gender", "professor"]


def test_annotations_and_rows() -> None:
    texts = corpus_texts(120, seed=4)
    evidence = [
        _evidence(texts, _on(GENDER_WORDS), NEUTRAL_PROMOTED),
        _evidence(texts, _on(NURSE_WORDS), NEUTRAL_PROMOTED),
    ]
    annotations = annotate(BuiltinJudge(), evidence, ["gender", "nurse"])
    assert [a.related for a in annotations] == [["gender"], ["nurse"]]
    assert annotations[0].measurements["gender"]["direct"] > annotations[0].measurements["gender"]["direct_chance"]
    assert "<<" in annotations[0].evidence.contexts[0]
    rows = annotation_rows(annotations, model="m", sae="x", sae_digest="a" * 64, judge="builtin", job_id=None)
    assert [(r.latent_index, r.concept) for r in rows] == [(0, "gender"), (0, "nurse"), (0, "gender"), (0, "nurse")]
    assert rows[0].evidence["measurements"]["contexts"] == len(evidence[0].contexts)


# ------------------------------------------------------------------------------------------- the LLM judge

GOOD_REPLY = """Step 1. The examples are sentences about people; the marked tokens are she and her.
Step 2. The promoted tokens are female pronouns.
Step 3. Clearly a gender latent; nothing about nursing.
```json
{"gender": 4, "nurse": 0}
```"""


def _llm_evidence() -> LatentEvidence:
    return _evidence(corpus_texts(40, seed=5), _on({"she", "her"}), ["she", "her", "herself"])


def test_llm_judge_reads_a_good_reply_and_sends_the_rubric() -> None:
    judge = LLMJudge(FakeListChatModel(responses=[GOOD_REPLY]), "fake:model")
    evidence = _llm_evidence()
    verdict = judge.score(evidence, ["gender", "nurse"])
    assert {c: v.score for c, v in verdict.items()} == {"gender": 4.0, "nurse": 0.0}
    assert "Clearly a gender latent" in verdict["gender"].rationale and "```" not in verdict["gender"].rationale
    system, human = judge.messages(evidence, ["gender", "nurse"])
    assert all(line in system.content for line in (f"{s}: {t}" for s, t in rubric().items()))
    assert '"gender": <integer 0-4>' in str(system.content) and "(gender, nurse)" in str(system.content)
    assert "<< she>>" in str(human.content) or "<< She>>" in str(human.content)
    assert "Promoted tokens: she, her, herself" in str(human.content)


def test_llm_judge_retries_a_malformed_reply_then_gives_up_clearly() -> None:
    evidence = _llm_evidence()
    fixed = LLMJudge(
        FakeListChatModel(responses=["I think it is about women.", "```json\n{'Gender': '3', 'NURSE': 1}\n```"]),
        "fake:model",
    )
    verdict = fixed.score(evidence, ["gender", "nurse"])
    assert (verdict["gender"].score, verdict["nurse"].score) == (3.0, 1.0)
    hopeless = LLMJudge(
        FakeListChatModel(responses=['```json\n{"gender": 7, "nurse": 0}\n```', "gender high", '{"gender": 2}']),
        "fake:model",
        retries=2,
    )
    with pytest.raises(JudgeError, match=r"fake:model judge gave no usable scores for L0\.sae\[x\]\.0 in 3 replies"):
        hopeless.score(evidence, ["gender", "nurse"])
    broken = LLMJudge(GenericFakeChatModel(messages=iter([])), "fake:broken")
    with pytest.raises(JudgeError, match=r"the fake:broken judge failed on L0\.sae\[x\]\.0"):
        broken.score(evidence, ["gender"])


def test_parse_scores_is_lenient_but_exact() -> None:
    concepts = ["gender", "software_engineer"]
    assert parse_scores('reasoning {"x": 1}\n```json\n{"Gender": 2, "software engineer": "4"}\n```', concepts) == {
        "gender": 2.0,
        "software_engineer": 4.0,
    }
    assert parse_scores("Scores: {'gender': 1, 'software_engineer': 0}", concepts) == {
        "gender": 1.0,
        "software_engineer": 0.0,
    }
    assert parse_scores("gender: 3\nsoftware engineer: 1", concepts) == {"gender": 3.0, "software_engineer": 1.0}
    with pytest.raises(ScoreParseError, match="no score for software_engineer"):
        parse_scores('```json\n{"gender": 2}\n```', concepts)
    with pytest.raises(ScoreParseError, match=r"numbers from 0 to 4, not gender=True"):
        parse_scores('```json\n{"gender": true, "software_engineer": 1}\n```', concepts)
    with pytest.raises(ScoreParseError, match="no JSON object"):
        parse_scores("I cannot tell.", concepts)


def test_make_judge_names_the_fix() -> None:
    assert isinstance(make_judge("builtin"), BuiltinJudge)
    with pytest.raises(JudgeError, match="unknown judge 'magic'"):
        make_judge("magic")
    with pytest.raises(JudgeError, match=r"ToolContext\.chat_models is None"):
        make_judge("openai:gpt-4o")
    made = make_judge("openai:gpt-4o", lambda spec: FakeListChatModel(responses=[spec]))
    assert isinstance(made, LLMJudge) and made.name == "openai:gpt-4o"


# ------------------------------------------------------------------------------------------- store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return url


def _row(**changes: Any) -> ShiftAnnotationCreate:
    fields: dict[str, Any] = {
        "model": "m",
        "sae": "res1",
        "sae_digest": "d" * 64,
        "latent": "L6.sae[res1].12",
        "latent_index": 12,
        "concept": "gender",
        "score": 3.0,
        "judge": "builtin",
        "rationale": "she ×9 → 3",
        "evidence": {"contexts": ["<< she>>(9) went"], "promoted": [" she"], "measurements": {"x": float("nan")}},
    }
    return ShiftAnnotationCreate.model_validate({**fields, **changes})


def test_annotations_round_trip_on_both_stores(store_url: str) -> None:
    engine = open_store(store_url)
    assert current_revision(engine) == head_revision()
    assert "shift_annotation" in sa.inspect(engine).get_table_names()
    with engine.connect() as conn:  # the migration builds exactly the table the model describes
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        diff = [d for d in compare_metadata(context, SQLModel.metadata) if "shift_annotation" in str(d)]
    assert diff == []
    job = create_job(engine, JobCreate(kind="label"))
    stored = record_annotations(
        engine,
        [_row(), _row(concept="nurse", score=0.0, job_id=job.id), _row(sae="res2", sae_digest=None, latent_index=3)],
    )
    assert [r.concept for r in stored] == ["gender", "nurse", "gender"] and all(r.id for r in stored)
    assert stored[0].evidence["measurements"]["x"] == "NaN" and stored[0].created_at.tzinfo is not None
    assert len(annotations_for(engine, "m")) == 3 and annotations_for(engine, "other") == []
    assert [r.latent_index for r in annotations_for(engine, "m", sae="res2")] == [3]
    assert [r.concept for r in annotations_for(engine, "m", sae="d" * 64)] == ["gender", "nurse"]
    assert [r.concept for r in annotations_for(engine, "m", job_id=job.id)] == ["nurse"]
    with pytest.raises(ConstraintError):
        record_annotations(engine, [_row(job_id=999_999)])
    assert len(annotations_for(engine, "m")) == 3  # all or nothing
    with session(engine, write=True) as db:
        db.delete(db.get(Job, job.id))
    assert [r.job_id for r in annotations_for(engine, "m")] == [None, None, None]
    with pytest.raises(ValueError, match="less than or equal to 4"):
        _row(score=4.5)
    downgrade(engine, "0006")
    assert "shift_annotation" not in sa.inspect(engine).get_table_names()
    upgrade(engine)
    assert annotations_for(engine, "m") == []


# ------------------------------------------------------------------------------------------- end to end

PLANTED = {0: GENDER_WORDS, 1: NURSE_WORDS, 2: set(WEATHER)}


def _planted_model(folder: Path, texts: list[str]) -> tuple[Path, dict[int, list[int]]]:
    """A tiny Llama whose tokenizer knows the corpus's words, with embedding coordinate j set (to 4)
    exactly for the tokens of the words planted on latent j; returns the folder and those token ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    build_tiny_model(folder, "llama")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1200, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(texts * 5, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>")
    fast.save_pretrained(folder)
    model: Any = AutoModelForCausalLM.from_pretrained(folder)
    model.resize_token_embeddings(len(fast))
    planted: dict[int, list[int]] = {}
    embedding = model.get_input_embeddings().weight
    with torch.no_grad():
        embedding[:, : len(PLANTED)] = 0.0
        for j, words in PLANTED.items():
            ids = set()
            for word in words:
                for form in (word, " " + word, word.capitalize(), " " + word.capitalize()):
                    pieces = fast(form, add_special_tokens=False)["input_ids"]
                    if len(pieces) == 1:
                        ids.add(pieces[0])
            planted[j] = sorted(ids)
            embedding[planted[j], j] = 4.0
    model.save_pretrained(folder)
    return folder, planted


def _planted_sae(folder: Path, d_model: int) -> None:
    """An SAE on L0.resid_pre (the token embeddings): latent j reads (and writes) coordinate j."""
    d_sae = len(PLANTED)
    w_enc = torch.zeros(d_model, d_sae)
    w_dec = torch.zeros(d_sae, d_model)
    for j in range(d_sae):
        w_enc[j, j] = 1.0
        w_dec[j, j] = 1.0
    folder.mkdir(parents=True)
    cfg = {"architecture": "standard", "d_in": d_model, "d_sae": d_sae, "hook_name": "blocks.0.hook_resid_pre"}
    (folder / "cfg.json").write_text(json.dumps(cfg))
    weights = {"W_enc": w_enc, "b_enc": torch.full((d_sae,), -2.0), "W_dec": w_dec, "b_dec": torch.zeros(d_model)}
    save_file(weights, str(folder / "sae_weights.safetensors"))


@pytest.fixture
def planted(home: Path, tmp_path: Path, model_root: Path) -> tuple[ToolContext, str]:
    """A tool context whose store knows the planted SAE ``planted`` and its exemplar cache."""
    texts = corpus_texts(400)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(texts), encoding="utf-8")
    folder, planted_ids = _planted_model(model_root / f"planted-{tmp_path.name}", texts)
    assert all(len(ids) >= 5 for ids in planted_ids.values()), planted_ids
    ctx = ToolContext(settings=Settings())
    model = str(folder)
    runtime = ctx.runtime(model)
    _planted_sae(tmp_path / "sae", runtime.shape.d_model)
    register_sae(ctx.engine(), ctx.settings, runtime, tmp_path / "sae", name="planted")
    build_site_cache(
        runtime,
        ctx.engine(),
        ctx.settings,
        "L0.sae[planted]",
        corpus=str(corpus),
        max_tokens=8000,
        ctx_len=32,
        progress=False,
    )
    return ctx, model


def _annotate(ex: LocalExecutor, **args: Any) -> Any:
    outcome = ex.run(ToolCall(tool="shift_annotate", args=args))
    return outcome


def test_shift_annotate_on_planted_latents_end_to_end(planted: tuple[ToolContext, str]) -> None:
    ctx, model = planted
    ex = LocalExecutor(default_registry(), ctx)
    outcome = _annotate(
        ex, model=model, latents=["L0.sae.0", "L0.sae.1", "L0.sae[planted].2"], concepts=["gender", "nurse"]
    )
    assert outcome.ok, outcome.error
    result = outcome.result
    assert result is not None and result["judge"] == "builtin" and result["threshold"] == 0.5
    by_latent = {item["index"]: {j["concept"]: j["score"] for j in item["judgements"]} for item in result["latents"]}
    assert by_latent[0]["gender"] >= 3 and by_latent[0]["nurse"] <= 1
    assert by_latent[1]["nurse"] >= 3 and by_latent[1]["gender"] <= 1
    assert by_latent[2] == {"gender": 0.0, "nurse": 0.0}
    assert [item["related"] for item in result["latents"]][:2] == [["gender"], ["nurse"]]
    gender = result["latents"][0]
    assert gender["latent"] == "L0.sae[planted].0" and any("<<" in text for text in gender["evidence"]["contexts"])
    assert {t.strip().lower() for t in gender["evidence"]["promoted"]} <= {w.lower() for w in GENDER_WORDS}
    stored = annotations_for(ctx.engine(), model, sae="planted")
    assert [a.id for a in stored] == result["annotation_ids"] and len(stored) == 6
    assert stored[0].evidence["measurements"]["direct"] > 0.5 and stored[0].judge == "builtin"
    assert stored[0].evidence["measurements"]["probe"]["share"] > 0.5 and "she" in gender["evidence"]["probes"]
    # The probes themselves: each planted latent fires on its own words in the test sentences, not on the controls.
    runtime = ctx.runtime(model)
    readings = probe_latents(runtime, "L0.sae[planted]", [0, 1, 2], ["gender", "nurse"])
    assert readings[0].words["she"] > 0 and readings[0].words["nurse"] == 0 and max(readings[0].controls.values()) == 0
    assert readings[1].words["nurse"] > 0 and readings[1].words["she"] == 0
    assert max(readings[2].words.values()) == 0


def test_shift_annotate_with_an_llm_judge_and_its_refusals(planted: tuple[ToolContext, str]) -> None:
    ctx, model = planted
    ex = LocalExecutor(default_registry(), ctx)
    refusals: dict[str, list[dict[str, Any]]] = {
        "latents": [
            dict(latents=["L3.sae.0"], concepts=["gender"]),
            dict(latents=["L0.sae.9"], concepts=["gender"]),
            dict(latents=["L0.mlp.3"], concepts=["gender"]),
            dict(latents=[f"L0.sae.{i % 3}" for i in range(65)], concepts=["gender"]),
        ],
        "judge": [
            dict(latents=["L0.sae.0"], concepts=["gender"], judge="magic"),
            dict(latents=["L0.sae.0"], concepts=["gender"], judge="openai:gpt-4o"),
        ],
        "concepts": [
            dict(latents=["L0.sae.0"], concepts=["gender", "Gender"]),
            dict(latents=["L0.sae.0"], concepts=[]),
        ],
        "job_id": [dict(latents=["L0.sae.0"], concepts=["gender"], job_id=424242)],
    }
    for field, cases in refusals.items():
        for case in cases:
            outcome = _annotate(ex, model=model, **case)
            assert not outcome.ok and outcome.field is not None and outcome.field.startswith(field), (case, outcome)
    no_llm = _annotate(ex, model=model, latents=["L0.sae.0"], concepts=["gender"], judge="openai:gpt-4o")
    assert "chat model" in (no_llm.error or "")
    assert annotations_for(ctx.engine(), model) == []  # nothing stored by a refused call
    asked: list[str] = []

    def factory(spec: str) -> FakeListChatModel:
        asked.append(spec)
        return FakeListChatModel(responses=['Female pronouns.\n```json\n{"gender": 4, "nurse": 1}\n```'])

    ctx.chat_models = factory
    job = create_job(ctx.engine(), JobCreate(kind="label"))
    outcome = _annotate(
        ex, model=model, latents=["L0.sae.0"], concepts=["gender", "nurse"], judge="fake:judge-1", job_id=job.id
    )
    assert outcome.ok, outcome.error
    assert asked == ["fake:judge-1"]
    assert outcome.result is not None and outcome.result["latents"][0]["related"] == ["gender", "nurse"]
    stored = annotations_for(ctx.engine(), model, job_id=job.id)
    assert [(a.concept, a.score, a.judge) for a in stored] == [
        ("gender", 4.0, "fake:judge-1"),
        ("nurse", 1.0, "fake:judge-1"),
    ]
    ctx.chat_models = lambda spec: FakeListChatModel(responses=["no idea"])
    failed = _annotate(ex, model=model, latents=["L0.sae.0"], concepts=["gender"], judge="fake:judge-2")
    assert not failed.ok and failed.field == "judge" and "no usable scores" in (failed.error or "")
