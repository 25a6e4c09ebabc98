"""tools.shift.datasets: the generated bios and reviews, and SAEBench's SCR and TPP splits of them.

Determinism (in and across processes), sizes, the balance or correlation of every set, disjoint
train and test texts, labels that agree with the text (a female bio never says ``he``; a nurse bio
talks about wards and patients), gender carried by more than one cue type (a rule that reads only
pronouns, or only first names, is well below a reader who uses every cue), and the input errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest

from store.datafiles import load_data, load_lines
from store.errors import InputError
from tools.shift import datasets
from tools.shift.datasets import Example, ProbeTask, SCRData, TPPData

REPO = Path(__file__).resolve().parents[1]
N_TRAIN, N_TEST = 400, 100
"""Small sizes for the tests of structure; the default sizes (4000 / 1000) are checked once per split kind."""

BIOS_COMMON = load_data(datasets.PACKAGE, "bios_common.json", datasets.BiosCommon)
REVIEWS_COMMON = load_data(datasets.PACKAGE, "reviews_common.json", datasets.ReviewsCommon)
CATEGORIES = load_data(datasets.PACKAGE, "reviews_categories.json", datasets.DATA_FILES["reviews_categories.json"])
FIRST_NAMES = {
    "female": set(load_lines(datasets.NAMES_PACKAGE, "female_names.txt")),
    "male": set(load_lines(datasets.NAMES_PACKAGE, "male_names.txt")),
}
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_TOKEN = re.compile(r"[\w'-]+")
_SENTENCE_END = re.compile(r"(?<!Mr)(?<!Ms)(?<!Mrs)(?<!Dr)[.!?](?:\s|$)")


def _digest(examples: Iterable[Example]) -> str:
    return hashlib.sha256(json.dumps([(e.text, e.labels) for e in examples]).encode()).hexdigest()


def _task_digest(tasks: Iterable[ProbeTask]) -> str:
    parts = [
        (t.name, _digest(t.train.examples), t.train.targets, _digest(t.test.examples), t.test.targets) for t in tasks
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _sides(split: datasets.ProbeSplit) -> tuple[list[Example], list[Example]]:
    positives = [e for e, t in zip(split.examples, split.targets, strict=True) if t == 1]
    negatives = [e for e, t in zip(split.examples, split.targets, strict=True) if t == 0]
    return positives, negatives


def _quadrants(examples: Iterable[Example], info: datasets.DatasetConcepts) -> Counter[tuple[str, str]]:
    return Counter((e.labels[info.target], e.labels[info.spurious]) for e in examples)


# --- gender cue rules: each reads one kind of cue, "every cue" reads them all ---------------------
def _votes(text: str, kinds: Iterable[str]) -> Counter[str]:
    words = _WORD.findall(text)
    lower = [w.lower() for w in words]
    votes: Counter[str] = Counter()
    for gender, cues in BIOS_COMMON.cue_words.items():
        for kind in kinds:
            if kind == "names":
                votes[gender] += sum(w in FIRST_NAMES[gender] for w in words)
            elif kind == "titles":
                votes[gender] += sum(len(re.findall(rf"(?<!\w){re.escape(t)}", text)) for t in cues.titles)
            else:
                votes[gender] += sum(w in getattr(cues, kind) for w in lower)
    return votes


def _rule(text: str, kinds: Iterable[str]) -> str | None:
    votes = _votes(text, kinds)
    if votes["female"] > votes["male"]:
        return "female"
    if votes["male"] > votes["female"]:
        return "male"
    return None


def _accuracy(examples: list[Example], kinds: tuple[str, ...]) -> float:
    """A rule reading only ``kinds``; undecided texts get a fixed guess (a coin flip on balanced data)."""
    return sum((_rule(e.text, kinds) or "male") == e.labels["gender"] for e in examples) / len(examples)


ALL_CUES = ("pronouns", "names", "titles", "nouns")


# --- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bios_scr() -> SCRData:
    return datasets.scr_data("bios", ("professor", "nurse"), seed=3)


@pytest.fixture(scope="module")
def bios_test_set() -> list[Example]:
    """The distinct test texts of the bios TPP tasks: 2,500 bios, balanced over profession and gender."""
    tpp = datasets.tpp_data("bios", seed=11, n_train=400, n_test=1000)
    return list({e.text: e for task in tpp.tasks.values() for e in task.test.examples}.values())


@pytest.fixture(scope="module")
def reviews_sample() -> list[Example]:
    return datasets.generate("reviews", 2000, 5)


# --- concepts -----------------------------------------------------------------------------------------
def test_concepts_follow_saebench() -> None:
    bios = datasets.concepts("bios")
    assert (bios.target, bios.spurious, bios.spurious_values) == ("profession", "gender", ("male", "female"))
    assert bios.scr_pairs == (
        ("professor", "nurse"),
        ("architect", "journalist"),
        ("surgeon", "psychologist"),
        ("attorney", "teacher"),
    )
    # Bias in Bios class ids 0, 1, 2, 6, 9: SAEBench's TPP classes of bias_in_bios_class_set1.
    assert bios.tpp_classes == ("accountant", "architect", "attorney", "dentist", "filmmaker")
    assert {v for pair in bios.scr_pairs for v in pair} | set(bios.tpp_classes) <= set(bios.values["profession"])
    reviews = datasets.concepts("reviews")
    assert (reviews.target, reviews.spurious, reviews.spurious_values) == (
        "category",
        "sentiment",
        ("negative", "positive"),
    )
    assert ("books", "cds_and_vinyl") in reviews.scr_pairs and len(reviews.tpp_classes) == 5
    assert set(reviews.tpp_classes) <= set(reviews.values["category"])
    for dataset in datasets.DATASETS:
        words = datasets.cue_words(dataset)
        info = datasets.concepts(dataset)
        assert {a: set(v) for a, v in words.items()} == {a: set(v) for a, v in info.values.items()}


# --- generate -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", datasets.DATASETS)
def test_generate_is_deterministic_distinct_and_balanced(dataset: str) -> None:
    info = datasets.concepts(dataset)
    first = datasets.generate(dataset, 250, 7)
    assert _digest(first) == _digest(datasets.generate(dataset, 250, 7))
    other = datasets.generate(dataset, 250, 8)
    assert len({e.text for e in first} & {e.text for e in other}) < 5
    assert len({e.text for e in first}) == 250
    counts = _quadrants(first, info)
    assert len(counts) == len(info.values[info.target]) * 2
    assert max(counts.values()) - min(counts.values()) <= 1
    sentence_counts = Counter(len(_SENTENCE_END.findall(e.text)) for e in first)
    assert set(sentence_counts) == {"bios": {3, 4, 5, 6, 7}, "reviews": {3, 4, 5, 6}}[dataset]
    assert datasets.generate(dataset, 0, 7) == []


def test_generate_where_fixes_attributes() -> None:
    nurses = datasets.generate("bios", 30, 1, where={"profession": "nurse"})
    assert {e.labels["profession"] for e in nurses} == {"nurse"}
    assert Counter(e.labels["gender"] for e in nurses) == {"male": 15, "female": 15}
    one_cell = datasets.generate("reviews", 12, 1, where={"category": "books", "sentiment": "negative"})
    assert {tuple(e.labels.values()) for e in one_cell} == {("books", "negative")}


def test_same_seed_gives_the_same_bytes_in_another_process(bios_scr: SCRData) -> None:
    program = (
        "import hashlib, json, sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from test_shift_datasets import _digest, _task_digest\n"
        "from tools.shift import datasets\n"
        "print(_digest(datasets.generate('reviews', 200, 4)))\n"
        "s = datasets.scr_data('bios', ('professor', 'nurse'), seed=3)\n"
        "print(_task_digest([s.biased, s.target, s.spurious]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", program], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    reviews, scr = out.stdout.split()
    assert reviews == _digest(datasets.generate("reviews", 200, 4))
    assert scr == _task_digest([bios_scr.biased, bios_scr.target, bios_scr.spurious])


# --- SCR ----------------------------------------------------------------------------------------------
def _check_scr(data: SCRData, n_train: int, n_test: int) -> None:
    info = datasets.concepts(data.dataset)
    (p0, p1), (s0, s1) = data.pair, data.spurious_values
    assert list(data.tasks()) == [f"{s0}_{p0} / {s1}_{p1}", f"{p0} / {p1}", f"{s0} / {s1}"]
    for split, n in (("train", n_train), ("test", n_test)):
        q = n // 4
        biased, target, spurious = (getattr(t, split) for t in (data.biased, data.target, data.spurious))
        for s in (biased, target, spurious):
            assert len(s.examples) == n and sum(s.targets) == n // 2
            assert len({e.text for e in s.examples}) == n
        # Biased: the two attributes perfectly correlated, half each.
        pos, neg = _sides(biased)
        assert _quadrants(pos, info) == {(p0, s0): 2 * q} and _quadrants(neg, info) == {(p1, s1): 2 * q}
        # Target and spurious: each side balanced over the other attribute.
        pos, neg = _sides(target)
        assert _quadrants(pos, info) == {(p0, s0): q, (p0, s1): q}
        assert _quadrants(neg, info) == {(p1, s0): q, (p1, s1): q}
        pos, neg = _sides(spurious)
        assert _quadrants(pos, info) == {(p0, s0): q, (p1, s0): q}
        assert _quadrants(neg, info) == {(p0, s1): q, (p1, s1): q}
        assert not all(a == b for a, b in zip(target.targets, target.targets[1:], strict=False))  # shuffled
    train = {e.text for t in data.tasks().values() for e in t.train.examples}
    test = {e.text for t in data.tasks().values() for e in t.test.examples}
    assert train.isdisjoint(test)
    assert set(data.texts()) == train | test and len(data.texts()) == len(train | test)


def test_scr_default_sizes_as_saebench(bios_scr: SCRData) -> None:
    _check_scr(bios_scr, 4000, 1000)
    # The biased task's spurious attribute predicts its label perfectly; the target task's not at all.
    for task, agree in ((bios_scr.biased, 1.0), (bios_scr.target, 0.5)):
        male = [e.labels["gender"] == "male" for e in task.train.examples]
        assert sum(m == bool(t) for m, t in zip(male, task.train.targets, strict=True)) / len(male) == agree


@pytest.mark.parametrize(
    ("dataset", "pair"), [("bios", ("attorney", "teacher")), ("reviews", ("software", "electronics"))]
)
def test_scr_sets_small(dataset: str, pair: tuple[str, str]) -> None:
    data = datasets.scr_data(dataset, pair, seed=1, n_train=N_TRAIN, n_test=N_TEST)
    _check_scr(data, N_TRAIN, N_TEST)
    again = datasets.scr_data(dataset, pair, seed=1, n_train=N_TRAIN, n_test=N_TEST)
    assert _task_digest(data.tasks().values()) == _task_digest(again.tasks().values())
    other = datasets.scr_data(dataset, pair, seed=2, n_train=N_TRAIN, n_test=N_TEST)
    assert len(set(other.texts()) & set(data.texts())) < 0.02 * len(data.texts())  # another seed, other texts


def test_scr_and_tpp_agree_on_splits() -> None:
    """For the same seed and sizes a text is a training text in both or a test text in both."""
    scr = datasets.scr_data("bios", ("attorney", "dentist"), seed=4, n_train=N_TRAIN, n_test=N_TEST)
    tpp = datasets.tpp_data("bios", seed=4, n_train=N_TRAIN, n_test=N_TEST)
    scr_train = {e.text for t in scr.tasks().values() for e in t.train.examples}
    tpp_test = {e.text for t in tpp.tasks.values() for e in t.test.examples}
    assert scr_train.isdisjoint(tpp_test)
    assert {e.text for e in tpp.task("attorney").train.examples} & scr_train


# --- TPP ----------------------------------------------------------------------------------------------
def _check_tpp(data: TPPData, n_train: int, n_test: int) -> None:
    info = datasets.concepts(data.dataset)
    assert tuple(data.tasks) == data.classes
    for cls, task in data.tasks.items():
        assert (task.name, task.positive, task.attribute) == (cls, cls, info.target)
        for split, n in ((task.train, n_train), (task.test, n_test)):
            pos, neg = _sides(split)
            assert len(pos) == len(neg) == n // 2
            assert _quadrants(pos, info) == {(cls, s): n // 4 for s in info.spurious_values}
            others = _quadrants(neg, info)
            assert set(others) == {(c, s) for c in data.classes if c != cls for s in info.spurious_values}
            assert max(others.values()) - min(others.values()) <= 1
        train, test = ({e.text for e in s.examples} for s in (task.train, task.test))
        assert train.isdisjoint(test)
    train_all = {e.text for t in data.tasks.values() for e in t.train.examples}
    assert train_all.isdisjoint({e.text for t in data.tasks.values() for e in t.test.examples})
    # Negatives are drawn from the other classes' own positives, as SAEBench draws them.
    positives = {e.text for t in data.tasks.values() for e in _sides(t.train)[0]}
    assert train_all == positives


def test_tpp_default_sizes_reviews() -> None:
    data = datasets.tpp_data("reviews")
    assert data.classes == datasets.concepts("reviews").tpp_classes
    _check_tpp(data, 4000, 1000)


@pytest.mark.parametrize("dataset", datasets.DATASETS)
def test_tpp_small_and_chosen_classes(dataset: str) -> None:
    data = datasets.tpp_data(dataset, seed=2, n_train=N_TRAIN, n_test=N_TEST)
    _check_tpp(data, N_TRAIN, N_TEST)
    values = datasets.concepts(dataset).values[datasets.concepts(dataset).target]
    three = datasets.tpp_data(dataset, seed=2, n_train=12, n_test=8, classes=values[:3])
    _check_tpp(three, 12, 8)
    assert _task_digest(data.tasks.values()) == _task_digest(
        datasets.tpp_data(dataset, seed=2, n_train=N_TRAIN, n_test=N_TEST).tasks.values()
    )


# --- what the texts carry: gender ---------------------------------------------------------------
def test_bios_gender_is_never_contradicted_and_a_full_reader_is_always_right(bios_test_set: list[Example]) -> None:
    for example in bios_test_set:
        gender, other = example.labels["gender"], {"female": "male", "male": "female"}[example.labels["gender"]]
        votes = _votes(example.text, ALL_CUES)
        assert votes[gender] > 0 and votes[other] == 0, example.text
        assert not _votes(example.text, ("pronouns",))[other], example.text  # a female bio never says he/his/him
    assert _accuracy(bios_test_set, ALL_CUES) == 1.0


def test_bios_gender_is_not_one_token_type(bios_test_set: list[Example]) -> None:
    pronoun_only = _accuracy(bios_test_set, ("pronouns",))
    name_only = _accuracy(bios_test_set, ("names",))
    assert 0.6 < pronoun_only < 0.95 and 0.6 < name_only < 0.9, (pronoun_only, name_only)

    def has(example: Example, kind: str) -> bool:
        return sum(_votes(example.text, (kind,)).values()) > 0

    n = len(bios_test_set)
    shares = {kind: sum(has(e, kind) for e in bios_test_set) / n for kind in ALL_CUES}
    assert all(0.25 < share < 0.9 for share in shares.values()), shares
    without_pronoun = [e for e in bios_test_set if not has(e, "pronouns")]
    assert 0.08 < len(without_pronoun) / n < 0.3
    # where no pronoun says it, each of the other cue types is what says it in some bios
    assert all(any(has(e, kind) for e in without_pronoun) for kind in ("names", "titles", "nouns"))


# --- what the texts carry: profession and category ------------------------------------------------
def _keyword_hits(text: str, words: Iterable[str]) -> set[str]:
    tokens = set(_TOKEN.findall(text.lower()))
    return {w for w in words if w.lower() in tokens}


def test_bios_profession_is_carried_by_its_field_not_the_word(bios_test_set: list[Example]) -> None:
    """A bio never names another profession; most carry their own field's words (a keyword reader
    is right on them), about a fifth are vague (none of their profession's words), and the title word
    itself is in a minority."""
    keywords = datasets.cue_words("bios")["profession"]
    professions = datasets.concepts("bios").values["profession"]
    with_word, vague, right = 0, 0, 0
    for example in bios_test_set:
        profession = example.labels["profession"]
        for other in professions:
            if other != profession:
                assert not re.search(rf"\b{other}s?\b", example.text), example.text
        with_word += bool(re.search(rf"\b{profession}\b", example.text))
        without_word = re.sub(rf"\b{profession}s?\b", "", example.text)
        if not _keyword_hits(without_word, keywords[profession]):
            vague += 1
            continue
        best = max(professions, key=lambda p: len(_keyword_hits(without_word, keywords[p])))
        right += best == profession
    n = len(bios_test_set)
    assert 0.1 < with_word / n < 0.4
    assert 0.12 < vague / n < 0.28
    assert right / (n - vague) > 0.95


def test_reviews_category_and_sentiment_have_several_cues(reviews_sample: list[Example]) -> None:
    keywords = datasets.cue_words("reviews")["category"]
    categories = datasets.concepts("reviews").values["category"]
    products = {c: re.compile(rf"\b(?:{'|'.join(re.escape(p) for p in CATEGORIES[c].products)})\b") for c in categories}
    stars = {"positive": re.compile(r"[Ff]ive stars|5/5"), "negative": re.compile(r"One star|1/5")}
    verdicts = REVIEWS_COMMON.verdicts
    named, starred, judged, right = 0, 0, 0, 0
    for example in reviews_sample:
        category, sentiment = example.labels["category"], example.labels["sentiment"]
        other = "negative" if sentiment == "positive" else "positive"
        assert not stars[other].search(example.text), example.text
        assert not any(v in example.text for v in getattr(verdicts, other)), example.text
        for c in categories:
            if c != category:
                assert not products[c].search(example.text), example.text
        named += bool(products[category].search(example.text))
        starred += bool(stars[sentiment].search(example.text))
        judged += any(v in example.text for v in getattr(verdicts, sentiment))
        assert _keyword_hits(example.text, keywords[category]), example.text
        right += max(categories, key=lambda c: len(_keyword_hits(example.text, keywords[c]))) == category
    n = len(reviews_sample)
    assert 0.7 < named / n < 0.95  # the product noun is one cue among several, not always there
    assert 0.05 < starred / n < 0.4 and 0.2 < judged / n < 0.7
    assert right / n > 0.95


# --- errors and capacity ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: datasets.concepts("amazon"), r"unknown dataset 'amazon'; datasets: bios, reviews"),
        (
            lambda: datasets.generate("bios", 10, 0, where={"job": "nurse"}),
            r"unknown attribute 'job'.*profession, gender",
        ),
        (lambda: datasets.generate("bios", 10, 0, where={"gender": "other"}), r"unknown gender 'other'.*male, female"),
        (lambda: datasets.generate("bios", -1, 0), r"n must be a non-negative integer"),
        (lambda: datasets.generate("bios", 10, "0"), r"seed must be an integer"),  # type: ignore[arg-type]
        (
            lambda: datasets.scr_data("bios", ("professor", "doctor")),
            r"unknown profession 'doctor' in pair; valid profession values: accountant, architect, .*teacher",
        ),
        (lambda: datasets.scr_data("reviews", ("books", "Books")), r"unknown category 'Books'.*books, cds_and_vinyl"),
        (lambda: datasets.scr_data("bios", ("nurse", "nurse")), r"two different profession values, got 'nurse' twice"),
        (lambda: datasets.scr_data("bios", ("nurse",)), r"pair must be two profession values"),
        (lambda: datasets.scr_data("bios", "professor,nurse"), r"pair must be two profession values"),
        (
            lambda: datasets.scr_data("bios", ("professor", "nurse"), n_train=1001),
            r"n_train must be a positive multiple of 4",
        ),
        (
            lambda: datasets.scr_data("bios", ("professor", "nurse"), n_test=0),
            r"n_test must be a positive multiple of 4",
        ),
        (
            lambda: datasets.scr_data("bios", ("professor", "nurse"), n_train=40_000, n_test=4),
            r"too large.*at most 20000",
        ),
        (lambda: datasets.tpp_data("bios", classes=("nurse", "pilot")), r"unknown profession 'pilot' in classes"),
        (lambda: datasets.tpp_data("bios", classes=("nurse",)), r"two or more different profession values"),
        (lambda: datasets.tpp_data("bios", classes=("nurse", "nurse")), r"two or more different profession values"),
        (lambda: datasets.generate("reviews", 20 * 20_001, 0), r"too large.*at most 20000"),
    ],
)
def test_bad_input_is_an_input_error_naming_the_fault(call: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        call()  # type: ignore[operator]


def test_tpp_task_lookup_names_the_classes() -> None:
    data = datasets.tpp_data("reviews", seed=0, n_train=8, n_test=4)
    assert data.task("electronics").name == "electronics"
    with pytest.raises(InputError, match=r"unknown TPP class 'books'; classes: toys_and_games, .*electronics"):
        data.task("books")


def test_a_cell_reaches_the_capacity_the_module_promises() -> None:
    """The reviews (the smaller space of the two generators) make MAX_PER_CELL distinct texts in a cell."""
    texts = datasets.generate("reviews", datasets.MAX_PER_CELL, 0, where={"category": "books", "sentiment": "negative"})
    assert len({e.text for e in texts}) == datasets.MAX_PER_CELL


def test_an_exhausted_generator_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A generator that can only make three texts stops with an error instead of looping for ever."""
    monkeypatch.setitem(datasets._MAKERS, "reviews", lambda rng, target, spurious: f"text {rng.randrange(3)}")
    with pytest.raises(InputError, match=r"cannot make 4 distinct texts for books/negative: it stopped at 3"):
        datasets._Stream("reviews", "books", "negative", 0).take(4)
