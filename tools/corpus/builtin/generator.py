"""The built-in corpus generator: picks a genre per document and renders it reproducibly.

Document ``i`` of seed ``s`` depends only on ``(GENERATOR_VERSION, s, i)``: it gets its own
`random.Random` seeded with a string (seeding from a string hashes it with SHA-512, so it is
stable across processes, unlike `hash()`). Changing any word list or template (the files of
``tools/corpus/builtin/data/``) or any builder must bump `GENERATOR_VERSION`, since digests of the
built-in corpus are derived from it (``tests/test_corpus.py`` pins the text of each version).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from itertools import count

from tools.corpus.builtin import code as corpus_code
from tools.corpus.builtin import prose as corpus_docs
from tools.corpus.builtin.render import Renderer

GENERATOR_VERSION = "1"
"""Bump whenever the generated text changes, so cached results keyed on the digest are invalidated."""

CHARS_PER_TOKEN = 3.8
"""Characters per token used to turn a token budget into a character budget. The SmolLM2
tokenizer measures ~3.45 characters per token on this text, so 3.8 overshoots by ~10%: the
default 200,000-token budget yields ~220,000 real tokens for every seed."""

Builder = Callable[[Renderer], str]

BUILDERS: tuple[tuple[str, Builder, int], ...] = (
    ("story", corpus_docs.story, 14),
    ("dialogue", corpus_docs.dialogue, 9),
    ("diary", corpus_docs.diary, 5),
    ("opinion", corpus_docs.opinion, 5),
    ("biography", corpus_docs.biography, 4),
    ("news", corpus_docs.news, 8),
    ("recipe", corpus_docs.recipe, 5),
    ("howto", corpus_docs.howto, 4),
    ("letter", corpus_docs.letter, 6),
    ("faq", corpus_docs.faq, 5),
    ("encyclopedia", corpus_docs.encyclopedia, 4),
    ("weather", corpus_docs.weather, 3),
    ("sports", corpus_docs.sports, 4),
    ("notices", corpus_docs.notices, 3),
    ("listing", corpus_docs.listing, 4),
    ("glossary", corpus_docs.glossary, 3),
    ("quiz", corpus_docs.quiz, 4),
    ("schedule", corpus_docs.schedule, 3),
    ("receipt", corpus_docs.receipt, 2),
    ("science", corpus_docs.science, 4),
    ("music", corpus_docs.music, 3),
    ("announcement", corpus_docs.announcement, 2),
    ("arithmetic", corpus_code.arithmetic, 5),
    ("code", corpus_code.code, 8),
)
"""(genre name, builder, relative weight)."""

_FOLLOW_UPS: tuple[Builder, ...] = (corpus_docs.dialogue, corpus_docs.diary, corpus_docs.letter)
_CUM_WEIGHTS = tuple(sum(w for _, _, w in BUILDERS[: i + 1]) for i in range(len(BUILDERS)))


def document_rng(seed: int, index: int) -> random.Random:
    """Return the private random stream of document `index` of corpus `seed`."""
    return random.Random(f"autointerp-builtin-corpus:v{GENERATOR_VERSION}:{seed}:{index}")


def build_document(seed: int, index: int, used: set[str] | None = None) -> tuple[str, str]:
    """Return (genre name, text) of document `index` of the corpus for `seed`.

    `used`, when given, collects the templates the document rendered.
    """
    rng = document_rng(seed, index)
    r = Renderer(rng, used)
    (genre, builder, _) = rng.choices(BUILDERS, cum_weights=_CUM_WEIGHTS)[0]
    text = builder(r)
    if builder is corpus_docs.story and r.chance(0.2):
        # The same cast continues in another form: context carries across the boundary.
        text += "\n\n" + r.pick(_FOLLOW_UPS)(r)
    return genre, text


def generate_document(seed: int, index: int, used: set[str] | None = None) -> str:
    """Return the text of document `index` of the corpus for `seed` (see `build_document`)."""
    return build_document(seed, index, used)[1]


def generate(seed: int, min_tokens: int, used: set[str] | None = None) -> Iterator[str]:
    """Yield documents for `seed` until about `min_tokens` tokens (estimated) have been produced."""
    budget = min_tokens * CHARS_PER_TOKEN
    produced = 0
    for index in count():
        if produced >= budget:
            return
        text = generate_document(seed, index, used)
        produced += len(text)
        yield text
