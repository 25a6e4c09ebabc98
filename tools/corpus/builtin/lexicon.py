"""The built-in corpus generator's words, names and templates, read from package data.

The tables live in ``tools/corpus/builtin/data/`` (its README.md lists every file): flat word lists
as ``.txt`` (one item a line, ``#`` comments), structured tables as ``.json``. Each file is read once
by `store.datafiles.load_data` and validated against the schema `DATA_FILES` gives it (the models
below), so a malformed edit fails with the file and the field at fault; the accessors then check
what a schema cannot (a category named in one file exists in ``categories.json``) and cache the
result as tuples and read-only mappings.

Order matters: the generator draws with seeded `random.Random` choices over these sequences, so
reordering, adding or removing an item changes the corpus. Any edit to a data file must bump
`tools.corpus.builtin.generator.GENERATOR_VERSION` (``tests/test_corpus.py`` pins the digest).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from store.datafiles import load_data, load_lines
from store.errors import ConfigError

PACKAGE = "tools.corpus.builtin"
"""The package whose ``data/`` folder holds the tables."""

Word = Annotated[str, StringConstraints(pattern=r"^\S(?:.*\S)?$")]
"""A word or phrase: non-empty, no leading or trailing white space."""
Template = Annotated[str, StringConstraints(min_length=1)]
"""A template (slot syntax in `tools.corpus.builtin.render`)."""
Forms = tuple[Word, Word, Word]
"""(base, past, -ing) of a verb, or (positive, comparative, superlative) of an adjective."""


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Country(_Table):
    """Real facts about one country, used to keep encyclopedia and quiz text truthful."""

    name: Word
    adjective: Word
    language: Word
    capital: Word
    continent: Word
    currency: Word
    cities: tuple[Word, ...]


class Uncountable(_Table):
    """Nouns whose plural is the word itself: every member of ``categories``, and ``words``."""

    categories: tuple[Word, ...]
    words: tuple[Word, ...]


class Inflection(_Table):
    """``inflection.json``: which categories are adjectives, which nouns never take -s, irregular plurals."""

    adjective_categories: tuple[Word, ...]
    uncountable: Uncountable
    irregular_plurals: dict[Word, Word]


class Gloss(_Table):
    """What a member of a category is (``a mammal``) and the category's plural display name (``animals``)."""

    gloss: Template
    label: Template


class NarrativeTemplates(_Table):
    """``narrative.json``: sentence templates for stories, diaries, dialogue, opinion and biography.

    ``{$name}`` is the document's main character, ``{he}``/``{his}`` ... its pronouns, ``{$friend}`` a
    second character. A dialogue pair is ``"line||reply"``.
    """

    story_titles: tuple[Template, ...]
    story_openers: tuple[Template, ...]
    story_middle: tuple[Template, ...]
    story_endings: tuple[Template, ...]
    diary_headers: tuple[Template, ...]
    diary_lines: tuple[Template, ...]
    dialogue_pairs: tuple[Template, ...]
    stage_directions: tuple[Template, ...]
    opinion_lines: tuple[Template, ...]
    essay_titles: tuple[Template, ...]
    biography_lines: tuple[Template, ...]
    wiki_sections: tuple[Word, ...]


class GenreTemplates(_Table):
    """``genres.json``: templates for news, recipes, instructions, letters, FAQs, encyclopedia entries,
    forecasts, sports reports, notices, science notes, reviews, announcements, lists and glossaries.

    A FAQ pair is ``"question||answer"``; ``glossary`` maps a category to its gloss and label.
    """

    news_headlines: tuple[Template, ...]
    news_lines: tuple[Template, ...]
    recipe_titles: tuple[Template, ...]
    recipe_steps: tuple[Template, ...]
    recipe_tips: tuple[Template, ...]
    howto_titles: tuple[Template, ...]
    howto_steps: tuple[Template, ...]
    letter_openings: tuple[Template, ...]
    letter_lines: tuple[Template, ...]
    letter_closings: tuple[Template, ...]
    email_subjects: tuple[Template, ...]
    faq_pairs: tuple[Template, ...]
    country_facts: tuple[Template, ...]
    animal_facts: tuple[Template, ...]
    weather_lines: tuple[Template, ...]
    sports_lines: tuple[Template, ...]
    notices: tuple[Template, ...]
    science_titles: tuple[Template, ...]
    science_lines: tuple[Template, ...]
    music_titles: tuple[Template, ...]
    music_lines: tuple[Template, ...]
    announcements: tuple[Template, ...]
    list_titles: tuple[Template, ...]
    list_comments: tuple[Template, ...]
    glossary: dict[Word, Gloss]
    definition_lines: tuple[Template, ...]
    quiz_intros: tuple[Template, ...]
    schedule_items: tuple[Template, ...]


class CodeTemplates(_Table):
    """``code.json``: code and data-format snippets, the sentences around them, and word problems.

    ``snippets`` are written as lists of lines (joined with newlines on loading) so that their
    indentation stays readable; their slots are ``<<key>>`` (braces are code syntax), and the
    ``<<$...>>`` values come from one category of ``topics``, chosen per document by
    `tools.corpus.builtin.code.code`. ``word_problems`` use ``$q...`` values set so every answer is right.
    """

    topics: tuple[Word, ...]
    snippets: tuple[Template, ...]
    intros: tuple[Template, ...]
    outros: tuple[Template, ...]
    word_problems: tuple[Template, ...]

    @field_validator("snippets", mode="before")
    @classmethod
    def _join_lines(cls, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in value):
            return ["\n".join(lines) for lines in value]
        raise ValueError("each snippet is a list of lines (strings)")


WordList = Literal[
    "adverbs",
    "company_types",
    "company_words",
    "condition_adjectives",
    "connectives",
    "female_names",
    "languages",
    "male_names",
    "mountains",
    "neutral_names",
    "newspaper_types",
    "pet_names",
    "rivers",
    "street_types",
    "street_words",
    "surnames",
    "team_suffixes",
    "web_domains",
]
"""The flat word lists, each ``data/<name>.txt``."""

DATA_FILES: dict[str, Any] = {
    "categories.json": dict[Word, dict[Word, tuple[Word, ...]]],
    "verbs.json": dict[Word, tuple[Forms, ...]],
    "gradable.json": tuple[Forms, ...],
    "inflection.json": Inflection,
    "countries.json": tuple[Country, ...],
    "narrative.json": NarrativeTemplates,
    "genres.json": GenreTemplates,
    "code.json": CodeTemplates,
    **{f"{name}.txt": tuple[str, ...] for name in get_args(WordList)},
}
"""Every file of ``data/`` and the schema it is validated against (``tests/test_datafiles.py``)."""


def _load(name: str) -> Any:
    return load_data(PACKAGE, name, DATA_FILES[name])


def _unknown_categories(where: str, names: tuple[str, ...] | list[str]) -> None:
    unknown = [n for n in names if n not in categories()]
    if unknown:
        raise ConfigError(f"{PACKAGE}/data/{where} names categories missing from categories.json: {unknown}")


@functools.cache
def categories() -> Mapping[str, tuple[str, ...]]:
    """Semantic categories (``animal``, ``fruit`` ...), each a tuple of member words or phrases.

    ``categories.json`` groups them under headings (living things, food and drink ...); templates
    refer to a category by its key (``{animal}``, ``{fruit:pl}``), so a key may appear only once.
    """
    groups: dict[str, dict[str, tuple[str, ...]]] = _load("categories.json")
    flat: dict[str, tuple[str, ...]] = {}
    for group in groups.values():
        for key, members in group.items():
            if key in flat:
                raise ConfigError(f"{PACKAGE}/data/categories.json: category {key!r} appears in two groups")
            flat[key] = members
    return MappingProxyType(flat)


@functools.cache
def verbs() -> Mapping[str, tuple[Forms, ...]]:
    """Verb classes (``motion``, ``speech`` ...); templates use e.g. ``{v_motion:past}``."""
    return MappingProxyType(_load("verbs.json"))


@functools.cache
def gradable() -> tuple[Forms, ...]:
    """Adjectives with (positive, comparative, superlative) forms: the ``{gr}`` slot."""
    forms: tuple[Forms, ...] = _load("gradable.json")
    return forms


@functools.cache
def adjective_categories() -> frozenset[str]:
    """Categories whose members are adjectives (never pluralised, never a ``{word}``)."""
    names: tuple[str, ...] = _load("inflection.json").adjective_categories
    _unknown_categories("inflection.json", names)
    return frozenset(names)


@functools.cache
def uncountable() -> frozenset[str]:
    """Nouns whose plural is the word itself (mass nouns and zero-plural nouns)."""
    table: Uncountable = _load("inflection.json").uncountable
    _unknown_categories("inflection.json", table.categories)
    return frozenset(table.words).union(*(categories()[c] for c in table.categories))


@functools.cache
def irregular_plurals() -> Mapping[str, str]:
    """Plurals that the regular spelling rules would get wrong."""
    return MappingProxyType(_load("inflection.json").irregular_plurals)


@functools.cache
def words(name: WordList) -> tuple[str, ...]:
    """The flat word list ``data/<name>.txt`` (names, places, adverbs ...)."""
    return load_lines(PACKAGE, f"{name}.txt")


@functools.cache
def countries() -> tuple[Country, ...]:
    """Countries with real capitals, main languages, continents, currencies and major cities."""
    found: tuple[Country, ...] = _load("countries.json")
    return found


@functools.cache
def languages() -> tuple[str, ...]:
    """Language names: the countries' main languages (sorted), then ``languages.txt``."""
    return tuple(sorted({c.language for c in countries()})) + words("languages")


@functools.cache
def narrative() -> NarrativeTemplates:
    """Templates of the narrative genres (stories, diaries, dialogue, opinion, biography)."""
    templates: NarrativeTemplates = _load("narrative.json")
    return templates


@functools.cache
def genres() -> GenreTemplates:
    """Templates of the non-fiction genres, and the glossary of categories."""
    templates: GenreTemplates = _load("genres.json")
    _unknown_categories("genres.json", list(templates.glossary))
    return templates


@functools.cache
def code_templates() -> CodeTemplates:
    """Code and data-format snippets, their topics, intros and outros, and word problems."""
    templates: CodeTemplates = _load("code.json")
    _unknown_categories("code.json", templates.topics)
    return templates
