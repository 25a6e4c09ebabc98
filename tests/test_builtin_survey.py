"""The model-unit policy's word survey: sentences with spans, and when a survey becomes a concept hypothesis."""

from __future__ import annotations

from agent.builtin.unit_hypotheses import (
    CATEGORIES,
    CONTEXT_FRAMES,
    SYMBOL_FRAMES,
    WORD_FRAMES,
    Context,
    category,
    concept_hypothesis,
    survey_text,
    survey_words,
)


def _context(word: str, value: float) -> Context:
    tokens = ["I", " ate", " the", f" {word}", " today"]
    snippet = "".join(tokens)
    at = snippet.index(word)
    return Context(
        tokens=tokens,
        acts=[0.0, 0.0, 0.0, value, 0.0],
        peak=3,
        value=value,
        word=word,
        key=word.lower(),
        prev="the",
        category="word",
        snippet=snippet,
        span=(at, at + len(word)),
    )


def test_survey_sentences_mark_each_word() -> None:
    text, spans = survey_text(["apple", "pear", "plum", "fig"])
    assert text == "She talked about the apple, the pear, the plum and the fig."
    assert [text[a:b] for a, b in spans] == ["apple", "pear", "plum", "fig"]
    words = survey_words()
    assert len(words) == len(set(words)) > 3000 and "fruit" in words


def test_a_coherent_survey_becomes_a_named_concept() -> None:
    survey = {w: 0.0 for w in survey_words()[:200]}
    survey.update({"apple": 20.0, "banana": 15.0, "lemon": 9.0, "bananas": 14.0, "fruit": 12.0, "table": 1.0})
    contexts = [_context("apple", 30.0), _context("pot", 25.0)]
    h = concept_hypothesis(survey, 30.0, contexts)
    assert h is not None and h.kind == "concept"
    assert h.claim.startswith("Responds to words about fruit, such as apple, banana, lemon")
    assert "bananas" not in h.claim.split("(")[0]  # inflections are folded
    assert h.positives and len(h.positives) == len(h.negatives)


def test_incoherent_or_weak_surveys_are_not_concepts() -> None:
    survey = {"apple": 20.0, "banana": 15.0, "lemon": 9.0}
    assert concept_hypothesis(survey, 30.0, [_context("dioxide", 30.0)]) is None  # exemplars disagree
    assert concept_hypothesis(survey, 100.0, [_context("apple", 100.0)]) is None  # far below the exemplars
    assert concept_hypothesis({"apple": 20.0, "table": 1.0}, 20.0, [_context("apple", 20.0)]) is None  # one word
    assert concept_hypothesis({}, 1.0, []) is None


def test_the_text_tables_fit_the_code() -> None:
    """The package data (data/unit_texts.json) names categories the code knows and frames it can fill."""
    assert set(CATEGORIES) == {"digits", "punctuation", "capitalised", "code", "whitespace"}
    for name, texts in CATEGORIES.items():
        assert any(category(token) == name for text in texts.positives for token in text.split(" ")), name
    assert all("{w}" in frame for frame in WORD_FRAMES + SYMBOL_FRAMES)
    assert all("{p}" in frame and "{c}" in frame for frame in CONTEXT_FRAMES)
