"""Offline probe datasets for SHIFT, SCR and TPP: generated biographies and product reviews.

No package ships Bias in Bios or the Amazon reviews, so both are generated here, deterministically
from a seed, from the word lists and sentence parts in ``tools/shift/data/`` (first names and
surnames come from ``tools/corpus/builtin/data/``):

- ``bios``: biographies of 3–7 sentences (an introduction, 1–3 career sentences from workplace,
  duties, education, projects, awards and history, 1–3 of hobbies and family) labelled with a
  ``profession`` (11 values) and a ``gender``. The profession is carried by the sentences of its
  field (tools, workplaces, degrees, jargon); the title word itself (``nurse``) is in under a
  fifth of the bios, and a fifth of the bios are *vague*: a general introduction and career
  sentences that fit any job, so only the label knows the profession (as with many real
  biographies; see ``_P_VAGUE`` for why they are there). Gender is carried by first names,
  pronouns (in most bios, as in real ones), titles (Mr./Ms./Mrs.) and nouns said of the person
  (``a mother of two``), each present in only a share of the bios: some have no pronoun, some no
  gendered first name (a neutral one such as ``Alex``, or title + surname). Cues never contradict
  each other and never all go missing, so a reader using every cue is always right.
- ``reviews``: product reviews of 3–6 sentences labelled with a ``category`` (10 values) and a
  ``sentiment`` (negative / positive). Category is carried by product nouns, uses, parts and
  category-specific experiences; sentiment by openers, experiences, part judgements, delivery and
  price remarks, verdicts and star ratings, including contrastive ones (``I wanted to love it, but``).

Labels are drawn independently of each other, so any correlation between the two attributes is one a
split puts there on purpose. The splits follow SAEBench (``scr_and_tpp/dataset_creation.py`` and
``main.py``), with q = n / 4 texts per quadrant:

- `scr_data` (SCR / SHIFT) for a pair (professor, nurse) and the spurious values (male, female):
  the **biased** task ``male_professor / female_nurse`` (2q male professors against 2q female
  nurses: the two attributes perfectly correlated), the **target** task ``professor / nurse``
  balanced over gender, and the **spurious** task ``male / female`` balanced over profession;
  each with n_train training and n_test test texts.
- `tpp_data` (TPP): one one-vs-rest task per class, 2q texts of the class (half per spurious value)
  against 2q texts spread evenly over the other classes and both spurious values.

Every text of a (target value, spurious value) cell comes from one seeded stream of distinct texts,
generated in order and cached, so a seed always gives the same texts. Within a call the first
n_train / 2 texts of each cell's stream are the training region and the next n_test / 2 the test
region: train and test texts never overlap. `generate` draws from the same streams.
"""

from __future__ import annotations

import collections
import functools
import random
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from store.datafiles import load_data, load_lines
from store.errors import ConfigError, InputError
from tools.corpus.builtin.inflect import article, capitalise, number_words

__all__ = [
    "DATASETS",
    "DATA_FILES",
    "MAX_PER_CELL",
    "PACKAGE",
    "DatasetConcepts",
    "Example",
    "ProbeSplit",
    "ProbeTask",
    "SCRData",
    "TPPData",
    "concepts",
    "cue_words",
    "generate",
    "scr_data",
    "tpp_data",
]

PACKAGE = "tools.shift"
"""The package whose ``data/`` folder holds the sentence parts."""
NAMES_PACKAGE = "tools.corpus.builtin"
"""The package whose name lists (``female_names.txt``, ``male_names.txt``, ...) the bios use."""

DATASETS = ("bios", "reviews")
"""The datasets `generate`, `scr_data` and `tpp_data` know."""

MAX_PER_CELL = 20_000
"""Most distinct texts asked of one (target value, spurious value) cell; tests check the generators reach it."""

_MAX_REPEATS = 500
"""Consecutive repeated texts after which a cell's stream is taken as exhausted."""

Phrase = Annotated[str, StringConstraints(pattern=r"^\S(?:.*\S)?$")]
"""A word, phrase or template: non-empty, no leading or trailing white space."""
Phrases = Annotated[tuple[Phrase, ...], Field(min_length=1)]


# --- the data files ---------------------------------------------------------------------------------
class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DatasetSpec(_Table):
    """One dataset of ``datasets.json``: its two attributes, SCR pairs and TPP classes."""

    description: Phrase
    target: Phrase
    spurious: Phrase
    spurious_values: tuple[Phrase, Phrase]
    scr_pairs: tuple[tuple[Phrase, Phrase], ...]
    tpp_classes: Phrases
    reference: Phrase


class Profession(_Table):
    """One profession of ``bios_professions.json``: titles and the sentences of its field."""

    titles: Phrases
    honorifics: tuple[Phrase, ...] = ()
    workplaces: Phrases
    duties: Phrases
    education: Phrases
    projects: Phrases
    awards: Phrases
    history: Phrases
    keywords: Phrases


class Pronouns(_Table):
    """A gender's subject, object and possessive pronouns."""

    subject: Phrase
    object: Phrase
    possessive: Phrase


class GenderCues(_Table):
    """The words that say a person's gender: pronouns, titles and nouns (mother, son ...)."""

    pronouns: Phrases
    titles: Phrases
    nouns: Phrases


class BiosCommon(_Table):
    """``bios_common.json``: the sentences every profession shares, pronouns, titles and gender cue words."""

    intros_with_title: Phrases
    intros: Phrases
    intros_vague: Phrases
    hobbies: Phrases
    career_vague: Phrases
    family_neutral: Phrases
    family: dict[Phrase, Phrases]
    pronouns: dict[Phrase, Pronouns]
    titles: dict[Phrase, Phrases]
    cue_words: dict[Phrase, GenderCues]
    universities: Phrases


class Category(_Table):
    """One product category of ``reviews_categories.json``."""

    physical: bool
    products: Phrases
    uses: Phrases
    parts: Phrases
    facts: Phrases
    positive: Phrases
    negative: Phrases
    keywords: Phrases


class BySentiment(_Table):
    """Sentences (or words) for each sentiment."""

    positive: Phrases
    negative: Phrases


class Openers(_Table):
    """First sentences of a review: neutral, with a sentiment, and without the product noun."""

    neutral: Phrases
    positive: Phrases
    negative: Phrases
    no_product: Phrases


class ReviewsCommon(_Table):
    """``reviews_common.json``: the sentences every category shares and the sentiment cue words."""

    openers: Openers
    part_judgements: BySentiment
    generic: BySentiment
    verdicts: BySentiment
    times: Phrases
    cue_words: BySentiment


DATA_FILES: dict[str, Any] = {
    "datasets.json": dict[Phrase, DatasetSpec],
    "bios_professions.json": dict[Phrase, Profession],
    "bios_common.json": BiosCommon,
    "cities.txt": tuple[Phrase, ...],
    "reviews_categories.json": dict[Phrase, Category],
    "reviews_common.json": ReviewsCommon,
}
"""The data files this module reads and their schemas (``tests/test_datafiles.py``)."""


# --- the public models ------------------------------------------------------------------------------
class Example(BaseModel):
    """One generated text and its labels, e.g. ``{"profession": "nurse", "gender": "female"}``."""

    model_config = ConfigDict(frozen=True)

    text: str
    labels: dict[str, str]


class DatasetConcepts(BaseModel):
    """A dataset's two attributes and their values, its SCR pairs and its TPP classes.

    ``target`` is the attribute the probes are about (profession, category), ``spurious`` the one SCR
    correlates with it (gender, sentiment). ``spurious_values`` are ordered as SAEBench's column 2:
    the biased SCR task pairs ``pair[0]`` with ``spurious_values[0]`` and ``pair[1]`` with ``[1]``.
    """

    model_config = ConfigDict(frozen=True)

    dataset: str
    description: str
    target: str
    spurious: str
    values: dict[str, tuple[str, ...]]
    spurious_values: tuple[str, str]
    scr_pairs: tuple[tuple[str, str], ...]
    tpp_classes: tuple[str, ...]
    max_per_cell: int
    reference: str


class ProbeSplit(BaseModel):
    """The examples of one split of a binary probe task and their targets (1 = the positive side)."""

    model_config = ConfigDict(frozen=True)

    examples: list[Example]
    targets: list[int]

    @model_validator(mode="after")
    def _aligned(self) -> ProbeSplit:
        if len(self.examples) != len(self.targets):
            raise ValueError(f"{len(self.examples)} examples but {len(self.targets)} targets")
        if any(t not in (0, 1) for t in self.targets):
            raise ValueError("targets are 0 or 1")
        return self

    @property
    def texts(self) -> list[str]:
        """The examples' texts, in order."""
        return [e.text for e in self.examples]


class ProbeTask(BaseModel):
    """A binary probe task: ``positive`` (target 1) against ``negative`` (target 0), train and test.

    ``name`` follows SAEBench (``male_professor / female_nurse``, ``professor / nurse``, ``male /
    female``; the class itself for TPP); ``attribute`` is what the task separates (``profession``,
    ``gender``, or ``profession+gender`` for the biased task).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    attribute: str
    positive: str
    negative: str
    train: ProbeSplit
    test: ProbeSplit


def _unique_texts(tasks: Sequence[ProbeTask]) -> list[str]:
    seen: dict[str, None] = {}
    for task in tasks:
        for split in (task.train, task.test):
            for example in split.examples:
                seen.setdefault(example.text, None)
    return list(seen)


class SCRData(BaseModel):
    """The three SCR tasks of a pair: biased (the attributes perfectly correlated), target and spurious.

    The biased probe is trained on ``biased.train``; measured on ``target.test`` it gives SCR's
    A_base and, after ablating the spurious probe's latents, A_abl; the oracle is a probe trained on
    ``target.train``. SAEBench's second direction swaps the roles of ``target`` and ``spurious``.
    """

    model_config = ConfigDict(frozen=True)

    dataset: str
    pair: tuple[str, str]
    spurious_values: tuple[str, str]
    target_attribute: str
    spurious_attribute: str
    biased: ProbeTask
    target: ProbeTask
    spurious: ProbeTask

    def tasks(self) -> dict[str, ProbeTask]:
        """The three tasks by their SAEBench names."""
        return {t.name: t for t in (self.biased, self.target, self.spurious)}

    def texts(self) -> list[str]:
        """Every distinct text of the three tasks (train and test), in first-seen order: what to encode once."""
        return _unique_texts([self.biased, self.target, self.spurious])


class TPPData(BaseModel):
    """One one-vs-rest task per TPP class, keyed by the class."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    attribute: str
    classes: tuple[str, ...]
    tasks: dict[str, ProbeTask]

    def task(self, name: str) -> ProbeTask:
        """The task of class ``name``; InputError naming the classes when it is not one of them."""
        if name not in self.tasks:
            raise InputError(f"unknown TPP class {name!r}; classes: {', '.join(self.classes)}")
        return self.tasks[name]

    def texts(self) -> list[str]:
        """Every distinct text of the tasks (train and test), in first-seen order: what to encode once."""
        return _unique_texts(list(self.tasks.values()))


# --- templates ------------------------------------------------------------------------------------
_SLOT = re.compile(r"\{([A-Za-z_]+)(?::([^{}]*))?\}")
"""``{key}`` or ``{key:fallback}`` (the fallback is used by ``{P:...}`` when a bio has no pronouns)."""
_BIO_SLOTS = frozenset(
    ("Full", "S", "s", "O", "P", "title", "a_title", "workplace", "city", "university", "years", "year", "n")
)
_REVIEW_SLOTS = frozenset({"product", "part", "use", "time"})


def _render(template: str, fill: Callable[[str, str | None], str]) -> str:
    return _SLOT.sub(lambda m: fill(m.group(1), m.group(2)), template)


def _check_slots(where: str, templates: Sequence[str], allowed: frozenset[str], *, subject: bool = False) -> None:
    """ConfigError for a template with a slot nobody fills (or, with ``subject``, one that never names the person)."""
    for template in templates:
        unknown = {m.group(1) for m in _SLOT.finditer(template)} - allowed
        if unknown:
            raise ConfigError(f"{PACKAGE}/data/{where}: unknown slot {sorted(unknown)[0]!r} in {template!r}")
        if subject and not re.search(r"\{[SsOP][}:]", template):
            raise ConfigError(
                f"{PACKAGE}/data/{where}: {template!r} never refers to the person ({{S}}, {{s}}, {{O}}, {{P}})"
            )


@functools.cache
def _usable(templates: tuple[str, ...], pronouns: bool) -> tuple[str, ...]:
    """The templates a bio can use: one with a bare ``{P}`` (no fallback) needs a bio with pronouns."""
    return tuple(t for t in templates if pronouns or "{P}" not in t)


# --- bios -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Bios:
    professions: Mapping[str, Profession]
    common: BiosCommon
    first_names: Mapping[str, tuple[str, ...]]
    neutral_names: tuple[str, ...]
    surnames: tuple[str, ...]
    cities: tuple[str, ...]


@functools.cache
def _bios() -> _Bios:
    professions: dict[str, Profession] = load_data(
        PACKAGE, "bios_professions.json", DATA_FILES["bios_professions.json"]
    )
    common: BiosCommon = load_data(PACKAGE, "bios_common.json", BiosCommon)
    cities: tuple[str, ...] = load_data(PACKAGE, "cities.txt", DATA_FILES["cities.txt"])
    genders = tuple(_spec("bios").spurious_values)
    for table in ("family", "pronouns", "titles", "cue_words"):
        keys = set(getattr(common, table))
        if keys != set(genders):
            raise ConfigError(
                f"{PACKAGE}/data/bios_common.json: {table} has keys {sorted(keys)}, not {sorted(genders)}"
            )
    for name, prof in professions.items():
        where = f"bios_professions.json ({name})"
        _check_slots(where, prof.workplaces, frozenset({"city", "university"}))
        for part in (prof.duties, prof.education, prof.projects, prof.awards, prof.history):
            _check_slots(where, part, _BIO_SLOTS, subject=True)
    _check_slots("bios_common.json", common.intros + common.intros_with_title + common.intros_vague, _BIO_SLOTS)
    _check_slots("bios_common.json", common.career_vague, _BIO_SLOTS, subject=True)
    _check_slots("bios_common.json", common.universities, frozenset({"city"}))
    family = [t for g in genders for t in common.family[g]]
    _check_slots("bios_common.json", common.hobbies + common.family_neutral + tuple(family), _BIO_SLOTS, subject=True)
    first_names = {
        "female": load_lines(NAMES_PACKAGE, "female_names.txt"),
        "male": load_lines(NAMES_PACKAGE, "male_names.txt"),
    }
    neutral = load_lines(NAMES_PACKAGE, "neutral_names.txt")
    if set(first_names) != set(genders):
        raise ConfigError(f"bios genders {genders} have no first-name lists")
    given = {n for names in (*first_names.values(), neutral) for n in names}
    # A surname that is also a first name (Taylor, Ahmed) or says the person's sex (Jónsdóttir) would be a cue.
    surnames = tuple(s for s in load_lines(NAMES_PACKAGE, "surnames.txt") if s not in given and "dóttir" not in s)
    return _Bios(MappingProxyType(professions), common, MappingProxyType(first_names), neutral, surnames, cities)


_NAME_KINDS = ("gendered", "neutral", "none")
_NAME_WEIGHTS = (0.64, 0.18, 0.18)
"""How a bio names its person: a gendered first name, a neutral one (Alex), or none (title + surname)."""
_P_PRONOUNS = 0.85
_P_TITLES = 0.3
_P_NOUNS = 0.6
_P_TITLE_INTRO = 0.2
"""Shares of bios with pronouns, a gendered title, a gendered noun, and the profession's title in the first sentence."""
_FORM_WEIGHTS = {"pronoun": 6.0, "first": 1.5, "full": 0.5, "surname": 0.6, "title": 1.0, "honorific": 0.8}
"""Relative weights of the ways a sentence after the first refers to the person."""
_SECTIONS = ("duties", "duties", "duties", "education", "projects", "awards", "history")
"""Where a bio's profession sentences come from (duties three times as often)."""
_CAREER_SENTENCES = (1, 3)
_PERSONAL_SENTENCES = (1, 3)
"""How many sentences of the career and of the person's life (hobbies, family) a bio has."""
_P_VAGUE = 0.2
"""Share of bios that never show the profession (a general introduction and career sentences that fit
any job), as many real biographies do. Without them, and with pronouns in most sentences, the biased
SCR probe on SmolLM2's layer 6 still read the profession alone (its gender accuracy 0.500 on balanced
data): the profession's pooled mean difference was 5× gender's. With them it leans on gender for the
bios that leave the profession open, which is the spurious reliance SCR measures (docs: the README's
SHIFT section)."""


@dataclass
class _Person:
    gender: str
    first: str | None
    surname: str
    title: str
    honorific: str | None
    pronouns: bool
    titles: bool
    nouns: bool
    vague: bool


def _person(rng: random.Random, tables: _Bios, prof: Profession, gender: str) -> _Person:
    kind = rng.choices(_NAME_KINDS, _NAME_WEIGHTS)[0]
    names = tables.first_names[gender] if kind == "gendered" else tables.neutral_names
    first = rng.choice(names) if kind != "none" else None
    pronouns, titles, nouns = (rng.random() < _P_PRONOUNS, rng.random() < _P_TITLES, rng.random() < _P_NOUNS)
    if first is None and not titles and not prof.honorifics:
        titles = True
    if kind != "gendered" and not (pronouns or titles or nouns):
        forced = rng.randrange(3)
        pronouns, titles, nouns = forced == 0, forced == 1, forced == 2
    return _Person(
        gender=gender,
        first=first,
        surname=rng.choice(tables.surnames),
        title=rng.choice(tables.common.titles[gender]),
        honorific=rng.choice(prof.honorifics) if prof.honorifics else None,
        pronouns=pronouns,
        titles=titles,
        nouns=nouns,
        vague=rng.random() < _P_VAGUE,
    )


class _BioWriter:
    """Fills a bio's slots: the person's references (keeping the cues its profile allows) and the content."""

    def __init__(self, rng: random.Random, tables: _Bios, prof: Profession, person: _Person) -> None:
        self.rng, self.tables, self.prof, self.person = rng, tables, prof, person
        self.title = rng.choice(prof.titles)
        self.pronoun = tables.common.pronouns[person.gender]
        forms = ["first", "full"] if person.first else []
        forms += ["surname"] + ["pronoun"] * person.pronouns + ["title"] * person.titles
        forms += ["honorific"] if person.honorific else []
        self.forms = forms
        self.weights = [_FORM_WEIGHTS[f] for f in forms]
        # The first references after the introduction show the cues the profile promises.
        self.forced = collections.deque(
            ["pronoun"] * person.pronouns + ["title"] * (person.titles and bool(person.first))
        )

    def fill(self, key: str, fallback: str | None) -> str:
        rng, person = self.rng, self.person
        if key == "Full":
            if person.first:
                return f"{person.first} {person.surname}"
            return f"{person.title if person.titles else person.honorific} {person.surname}"
        if key in ("S", "s"):
            form = self.forced.popleft() if self.forced else self._random_form()
            if form == "pronoun":
                return self.pronoun.subject.capitalize() if key == "S" else self.pronoun.subject
            return self._name(form)
        if key == "O":
            if person.pronouns:
                return self.pronoun.object
            return self._name(rng.choice([f for f in self.forms if f != "pronoun"]))
        if key == "P":
            if person.pronouns:
                return self.pronoun.possessive
            assert fallback is not None, "templates with a bare {P} are only drawn for bios with pronouns"
            return fallback
        if key == "title":
            return self.title
        if key == "a_title":
            return article(self.title)
        if key == "workplace":
            return _render(rng.choice(self.prof.workplaces), self.fill)
        if key == "university":
            return _render(rng.choice(self.tables.common.universities), self.fill)
        if key == "city":
            return rng.choice(self.tables.cities)
        if key == "years":
            return number_words(rng.randint(3, 25))
        if key == "year":
            return str(rng.randint(1996, 2022))
        if key == "n":
            return number_words(rng.randint(2, 4))
        raise AssertionError(f"unchecked slot {key}")

    def _random_form(self) -> str:
        return self.rng.choices(self.forms, self.weights)[0]

    def _name(self, form: str) -> str:
        person = self.person
        if form == "first":
            return str(person.first)
        if form == "full":
            return f"{person.first} {person.surname}"
        if form == "title":
            return f"{person.title} {person.surname}"
        if form == "honorific":
            return f"{person.honorific} {person.surname}"
        return person.surname


def _bio(rng: random.Random, profession: str, gender: str) -> str:
    """One biography of a person of ``gender`` working as ``profession``."""
    tables = _bios()
    prof = tables.professions[profession]
    person = _person(rng, tables, prof, gender)
    while True:  # until the sentences drawn have room for every cue the person's profile promises
        writer = _BioWriter(rng, tables, prof, person)
        sentences = [capitalise(_render(t, writer.fill)) for t in _bio_templates(rng, tables, prof, person)]
        if not writer.forced:
            return " ".join(sentences)


def _bio_templates(rng: random.Random, tables: _Bios, prof: Profession, person: _Person) -> list[str]:
    """The templates of one bio, in order: an introduction, 1–3 career sentences (of the profession, or
    general ones in a vague bio), 1–3 personal ones (a gendered family sentence when the person's
    profile has gendered nouns)."""

    def usable(templates: tuple[str, ...]) -> tuple[str, ...]:
        return _usable(templates, person.pronouns)

    common = tables.common
    personal = [rng.choice(usable(common.family[person.gender]))] if person.nouns else []
    n_personal = max(0, rng.randint(*_PERSONAL_SENTENCES) - len(personal))
    personal += rng.sample(usable(common.hobbies + common.family_neutral), n_personal)
    n_career = rng.randint(*_CAREER_SENTENCES)
    if person.vague:
        body = rng.sample(usable(common.career_vague), n_career)
        intro = rng.choice(common.intros_vague)
    else:
        body = []
        for section, count in collections.Counter(rng.sample(_SECTIONS, n_career)).items():
            body += rng.sample(usable(getattr(prof, section)), count)
        intro = rng.choice(common.intros_with_title if rng.random() < _P_TITLE_INTRO else common.intros)
    rng.shuffle(body)
    return [intro, *body, *personal]


# --- reviews --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Reviews:
    categories: Mapping[str, Category]
    common: ReviewsCommon


@functools.cache
def _reviews() -> _Reviews:
    categories: dict[str, Category] = load_data(
        PACKAGE, "reviews_categories.json", DATA_FILES["reviews_categories.json"]
    )
    common: ReviewsCommon = load_data(PACKAGE, "reviews_common.json", ReviewsCommon)
    if set(_spec("reviews").spurious_values) != {"negative", "positive"}:
        raise ConfigError(f"{PACKAGE}/data/datasets.json: reviews' sentiments are negative and positive")
    for name, cat in categories.items():
        for part in (cat.facts, cat.positive, cat.negative, cat.uses, cat.products, cat.parts):
            _check_slots(f"reviews_categories.json ({name})", part, _REVIEW_SLOTS)
    o, c = common.openers, common
    every = o.neutral + o.positive + o.negative + o.no_product
    every += c.part_judgements.positive + c.part_judgements.negative + c.generic.positive + c.generic.negative
    _check_slots("reviews_common.json", every + c.verdicts.positive + c.verdicts.negative, _REVIEW_SLOTS)
    return _Reviews(MappingProxyType(categories), common)


_OPENER_KINDS = ("neutral", "sentiment", "no_product")
_OPENER_WEIGHTS = (0.45, 0.4, 0.15)
_P_VERDICT = 0.6


def _review(rng: random.Random, category: str, sentiment: str) -> str:
    """One review of a product of ``category`` with ``sentiment`` (``negative`` or ``positive``)."""
    tables = _reviews()
    cat, common = tables.categories[category], tables.common
    product = rng.choice(cat.products)

    def fill(key: str, fallback: str | None) -> str:
        if key == "product":
            return product
        if key == "part":
            return rng.choice(cat.parts)
        if key == "use":
            return rng.choice(cat.uses)
        if key == "time":
            return rng.choice(common.times)
        raise AssertionError(f"unchecked slot {key}")

    def pick(model: BaseModel, name: str) -> tuple[str, ...]:
        picked: tuple[str, ...] = getattr(model, name)
        return picked

    n_sentences = rng.randint(3, 6)
    kind = rng.choices(_OPENER_KINDS, _OPENER_WEIGHTS)[0]
    opener = rng.choice(pick(common.openers, sentiment if kind == "sentiment" else kind))
    verdict = [rng.choice(pick(common.verdicts, sentiment))] if n_sentences >= 4 and rng.random() < _P_VERDICT else []
    room = n_sentences - 1 - len(verdict)
    n_category = min(room, rng.randint(1, 3))
    experiences = list(pick(cat, sentiment))
    rng.shuffle(experiences)
    body = [experiences.pop()]  # the category's own experience: both labels in one sentence
    side = experiences + list(cat.facts)
    if cat.physical:
        side += pick(common.part_judgements, sentiment)
    body += rng.sample(side, n_category - 1)
    body += rng.sample(pick(common.generic, sentiment), room - n_category)
    return " ".join(capitalise(_render(t, fill)) for t in [opener, *body, *verdict])


# --- the datasets -----------------------------------------------------------------------------------
_MAKERS: dict[str, Callable[[random.Random, str, str], str]] = {"bios": _bio, "reviews": _review}


def _spec(dataset: str) -> DatasetSpec:
    specs: dict[str, DatasetSpec] = load_data(PACKAGE, "datasets.json", DATA_FILES["datasets.json"])
    if not isinstance(dataset, str) or dataset not in DATASETS:
        raise InputError(f"unknown dataset {dataset!r}; datasets: {', '.join(DATASETS)}")
    if dataset not in specs:
        raise ConfigError(f"{PACKAGE}/data/datasets.json has no dataset {dataset!r}")
    return specs[dataset]


@functools.cache
def _concepts(dataset: str) -> DatasetConcepts:
    spec = _spec(dataset)
    targets = tuple(sorted(_bios().professions if dataset == "bios" else _reviews().categories))
    named = {v for pair in spec.scr_pairs for v in pair} | set(spec.tpp_classes)
    if not named <= set(targets):
        raise ConfigError(
            f"{PACKAGE}/data/datasets.json: {dataset} names unknown values {sorted(named - set(targets))}"
        )
    return DatasetConcepts(
        dataset=dataset,
        description=spec.description,
        target=spec.target,
        spurious=spec.spurious,
        values={spec.target: targets, spec.spurious: spec.spurious_values},
        spurious_values=spec.spurious_values,
        scr_pairs=spec.scr_pairs,
        tpp_classes=spec.tpp_classes,
        max_per_cell=MAX_PER_CELL,
        reference=spec.reference,
    )


def concepts(dataset: str) -> DatasetConcepts:
    """The attributes of ``dataset`` and their values, its SCR pairs and TPP classes (InputError if unknown)."""
    _spec(dataset)
    return _concepts(dataset).model_copy(deep=True)  # a copy: the cached one's dict must not be edited


def cue_words(dataset: str) -> dict[str, dict[str, tuple[str, ...]]]:
    """Attribute -> value -> the words that carry it in the generated texts (first names aside).

    For ``bios``: each profession's field words and each gender's pronouns, titles and nouns; for
    ``reviews``: each category's words and each sentiment's cue words. Words, not rules: a negative
    review may say ``I wanted to love it``.
    """
    info = concepts(dataset)
    if dataset == "bios":
        bios = _bios()
        genders = {g: c.pronouns + c.titles + c.nouns for g, c in bios.common.cue_words.items()}
        return {
            info.target: {p: bios.professions[p].keywords for p in info.values[info.target]},
            info.spurious: genders,
        }
    reviews = _reviews()
    words = reviews.common.cue_words
    return {
        info.target: {c: reviews.categories[c].keywords for c in info.values[info.target]},
        info.spurious: {"negative": words.negative, "positive": words.positive},
    }


class _Stream:
    """The distinct texts of one (dataset, target value, spurious value, seed) cell, made in order and kept."""

    def __init__(self, dataset: str, target: str, spurious: str, seed: int) -> None:
        self._key = (dataset, target, spurious)
        self._rng = random.Random(f"tools.shift.datasets|{dataset}|{seed}|{target}|{spurious}")
        self._texts: list[str] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def take(self, count: int) -> list[str]:
        """The first ``count`` texts; InputError when the generator cannot make that many distinct ones."""
        dataset, target, spurious = self._key
        make = _MAKERS[dataset]
        with self._lock:
            repeats = 0
            while len(self._texts) < count:
                text = make(self._rng, target, spurious)
                if text in self._seen:
                    repeats += 1
                    if repeats > _MAX_REPEATS:
                        raise InputError(
                            f"{dataset} cannot make {count} distinct texts for {target}/{spurious}: "
                            f"it stopped at {len(self._texts)}; ask for fewer"
                        )
                    continue
                repeats = 0
                self._seen.add(text)
                self._texts.append(text)
            return self._texts[:count]


@functools.lru_cache(maxsize=64)
def _stream(dataset: str, target: str, spurious: str, seed: int) -> _Stream:
    return _Stream(dataset, target, spurious, seed)


def _cell(info: DatasetConcepts, target: str, spurious: str, seed: int, count: int) -> list[Example]:
    texts = _stream(info.dataset, target, spurious, seed).take(count)
    labels = {info.target: target, info.spurious: spurious}
    return [Example(text=t, labels=dict(labels)) for t in texts]


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed must be an integer, got {seed!r}")
    return seed


def _check_capacity(info: DatasetConcepts, per_cell: int, what: str) -> None:
    if per_cell > MAX_PER_CELL:
        raise InputError(
            f"{what} is too large: it needs {per_cell} distinct texts per ({info.target}, {info.spurious}) cell "
            f"and {info.dataset} makes at most {MAX_PER_CELL}"
        )


def _check_value(info: DatasetConcepts, attribute: str, value: object, context: str) -> str:
    valid = info.values[attribute]
    if not isinstance(value, str) or value not in valid:
        raise InputError(f"unknown {attribute} {value!r} in {context}; valid {attribute} values: {', '.join(valid)}")
    return value


def generate(dataset: str, n: int, seed: int, *, where: Mapping[str, str] | None = None) -> list[Example]:
    """``n`` distinct examples of ``dataset``, balanced over the (target, spurious) cells ``where`` allows.

    ``where`` fixes attributes (``{"profession": "nurse"}``); the cells left are used equally often
    (the remainder of n spread by the seed) in a seeded order. The texts are the first ones of each
    cell's stream: the same the train region of `scr_data` and `tpp_data` starts with for this seed.
    """
    info = concepts(dataset)
    seed = _check_seed(seed)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InputError(f"n must be a non-negative integer, got {n!r}")
    fixed: dict[str, str] = {}
    for attribute, value in (where or {}).items():
        if attribute not in info.values:
            raise InputError(f"unknown attribute {attribute!r} in where; {dataset} has: {', '.join(info.values)}")
        fixed[attribute] = _check_value(info, attribute, value, "where")
    cells = [
        (t, s)
        for t in info.values[info.target]
        for s in info.spurious_values
        if fixed.get(info.target, t) == t and fixed.get(info.spurious, s) == s
    ]
    rng = random.Random(f"tools.shift.datasets|generate|{dataset}|{seed}|{sorted(fixed.items())}")
    base, extra = divmod(n, len(cells))
    lucky = set(rng.sample(range(len(cells)), extra))
    counts = {cell: base + (i in lucky) for i, cell in enumerate(cells)}
    _check_capacity(info, max(counts.values()), f"n={n}")
    pools = {cell: iter(_cell(info, *cell, seed, count)) for cell, count in counts.items() if count}
    order = [cell for cell, count in counts.items() for _ in range(count)]
    rng.shuffle(order)
    return [next(pools[cell]) for cell in order]


def _quarter(n: int, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 4 or n % 4:
        raise InputError(f"{name} must be a positive multiple of 4 (a quarter per quadrant), got {n!r}")
    return n // 4


def _split(name: str, positives: list[Example], negatives: list[Example], seed: int, dataset: str) -> ProbeSplit:
    pairs = [(e, 1) for e in positives] + [(e, 0) for e in negatives]
    random.Random(f"tools.shift.datasets|shuffle|{dataset}|{seed}|{name}").shuffle(pairs)
    return ProbeSplit(examples=[e for e, _ in pairs], targets=[t for _, t in pairs])


def _regions(
    info: DatasetConcepts, cells: Sequence[tuple[str, str]], seed: int, q_train: int, test_used: int
) -> tuple[dict[tuple[str, str], list[Example]], dict[tuple[str, str], list[Example]]]:
    """Each cell's training region (its first 2·q_train texts) and the first ``test_used`` texts of its test
    region, which starts right after: for given sizes a text is in the same split in `scr_data` and `tpp_data`."""
    train, test = {}, {}
    for cell in cells:
        examples = _cell(info, *cell, seed, 2 * q_train + test_used)
        train[cell], test[cell] = examples[: 2 * q_train], examples[2 * q_train :]
    return train, test


def scr_data(dataset: str, pair: Sequence[str], seed: int = 0, n_train: int = 4000, n_test: int = 1000) -> SCRData:
    """The SCR tasks of ``pair`` (e.g. ``("professor", "nurse")``) as SAEBench builds them.

    With q = n / 4: the biased task (2q of ``pair[0]`` with the first spurious value against 2q of
    ``pair[1]`` with the second), the target task (``pair[0]`` against ``pair[1]``, q per quadrant)
    and the spurious task (first spurious value against the second, q per quadrant); n_train
    training and n_test test texts each, train and test disjoint. InputError for an unknown dataset
    or pair value, a pair that is not two different values, sizes that are not positive multiples of
    4, or sizes beyond `MAX_PER_CELL` per cell.
    """
    info = concepts(dataset)
    seed = _check_seed(seed)
    if isinstance(pair, str) or len(pair) != 2:
        raise InputError(f"pair must be two {info.target} values, got {pair!r}")
    p0, p1 = (_check_value(info, info.target, v, "pair") for v in pair)
    if p0 == p1:
        raise InputError(f"pair needs two different {info.target} values, got {p0!r} twice")
    q_train, q_test = _quarter(n_train, "n_train"), _quarter(n_test, "n_test")
    _check_capacity(info, 2 * (q_train + q_test), f"n_train + n_test = {n_train + n_test}")
    s0, s1 = info.spurious_values
    cells = [(p, s) for p in (p0, p1) for s in (s0, s1)]
    regions = _regions(info, cells, seed, q_train, 2 * q_test)

    def task(name: str, attribute: str, pos: list[tuple[str, str]], neg: list[tuple[str, str]]) -> ProbeTask:
        positive, negative = name.split(" / ")
        splits = []
        for split, region, q in (("train", regions[0], q_train), ("test", regions[1], q_test)):
            per = 2 * q // len(pos)  # 2q from one cell, or q from each of two
            positives = [e for cell in pos for e in region[cell][:per]]
            negatives = [e for cell in neg for e in region[cell][:per]]
            splits.append(_split(f"{p0},{p1}|{name}|{split}", positives, negatives, seed, dataset))
        return ProbeTask(
            name=name, attribute=attribute, positive=positive, negative=negative, train=splits[0], test=splits[1]
        )

    return SCRData(
        dataset=dataset,
        pair=(p0, p1),
        spurious_values=(s0, s1),
        target_attribute=info.target,
        spurious_attribute=info.spurious,
        biased=task(f"{s0}_{p0} / {s1}_{p1}", f"{info.target}+{info.spurious}", [(p0, s0)], [(p1, s1)]),
        target=task(f"{p0} / {p1}", info.target, [(p0, s0), (p0, s1)], [(p1, s0), (p1, s1)]),
        spurious=task(f"{s0} / {s1}", info.spurious, [(p0, s0), (p1, s0)], [(p0, s1), (p1, s1)]),
    )


def tpp_data(
    dataset: str,
    seed: int = 0,
    n_train: int = 4000,
    n_test: int = 1000,
    *,
    classes: Sequence[str] | None = None,
) -> TPPData:
    """One one-vs-rest task per TPP class (SAEBench's five by default), n_train / n_test texts each.

    A class's positives are 2q of its texts (q per spurious value); its negatives 2q texts of the
    other classes, spread evenly over (class, spurious value) cells (the remainder by the seed) and
    drawn from those classes' own positives, as SAEBench draws them. InputError for an unknown
    dataset or class, fewer than two distinct classes, or sizes as in `scr_data`.
    """
    info = concepts(dataset)
    seed = _check_seed(seed)
    chosen = tuple(info.tpp_classes if classes is None else classes)
    if isinstance(classes, str) or len(chosen) < 2 or len(set(chosen)) != len(chosen):
        raise InputError(f"classes must be two or more different {info.target} values, got {classes!r}")
    for value in chosen:
        _check_value(info, info.target, value, "classes")
    q_train, q_test = _quarter(n_train, "n_train"), _quarter(n_test, "n_test")
    _check_capacity(info, 2 * (q_train + q_test), f"n_train + n_test = {n_train + n_test}")
    cells = [(c, s) for c in chosen for s in info.spurious_values]
    regions = _regions(info, cells, seed, q_train, q_test)
    rng = random.Random(f"tools.shift.datasets|tpp|{dataset}|{seed}|{','.join(chosen)}")
    tasks = {}
    for cls in chosen:
        splits = []
        for split, region, q in (("train", regions[0], q_train), ("test", regions[1], q_test)):
            positives = [e for s in info.spurious_values for e in region[(cls, s)][:q]]
            others = [(c, s) for c in chosen if c != cls for s in info.spurious_values]
            base, extra = divmod(2 * q, len(others))
            lucky = set(rng.sample(range(len(others)), extra))
            negatives = [e for i, cell in enumerate(others) for e in rng.sample(region[cell][:q], base + (i in lucky))]
            splits.append(_split(f"tpp|{','.join(chosen)}|{cls}|{split}", positives, negatives, seed, dataset))
        tasks[cls] = ProbeTask(
            name=cls, attribute=info.target, positive=cls, negative="rest", train=splits[0], test=splits[1]
        )
    return TPPData(dataset=dataset, attribute=info.target, classes=chosen, tasks=tasks)
