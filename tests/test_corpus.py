"""Tests for tools.corpus.sources: the built-in generated corpus, file corpora, HF specs, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import pytest

from store.errors import InputError
from tools.corpus import files as corpus_files
from tools.corpus.builtin import code as corpus_code
from tools.corpus.builtin import lexicon
from tools.corpus.builtin.generator import BUILDERS, GENERATOR_VERSION, build_document, document_rng, generate
from tools.corpus.builtin.render import CODE_SLOT, PROSE_SLOT, Renderer
from tools.corpus.sources import (
    BuiltinCorpus,
    HFDatasetCorpus,
    JsonlCorpus,
    TextFileCorpus,
    load_corpus,
)

REPO = Path(__file__).resolve().parents[1]
SMALL = 20_000  # tokens: enough for most checks, fast


def _smollm_tokenizer(embedded_home: Path) -> Any:
    """The SmolLM2 tokenizer of the embedded model, fetched and converted by the project's own loader."""
    from transformers import AutoTokenizer

    from tools.runtime.embedded import embedded_dir

    return AutoTokenizer.from_pretrained(str(embedded_dir(embedded_home)))


@cache
def _default_docs() -> tuple[str, ...]:
    return tuple(BuiltinCorpus().texts())


@cache
def _default_used_templates() -> frozenset[str]:
    used: set[str] = set()
    for _ in generate(0, 200_000, used):
        pass
    return frozenset(used)


def _all_templates() -> set[str]:
    found: set[str] = set()
    for table in (lexicon.narrative(), lexicon.genres(), lexicon.code_templates()):
        for name, value in table:
            if isinstance(value, tuple) and name not in ("wiki_sections", "topics"):
                found |= set(value)
    return found


# --- built-in corpus: determinism ------------------------------------------------------------------
def test_same_seed_gives_identical_text() -> None:
    a = list(BuiltinCorpus(seed=7, min_tokens=SMALL).texts())
    b = list(BuiltinCorpus(seed=7, min_tokens=SMALL).texts())
    assert a == b
    assert len(a) > 50


def test_texts_is_reiterable() -> None:
    corpus = BuiltinCorpus(seed=1, min_tokens=SMALL)
    assert list(corpus.texts()) == list(corpus.texts())


def test_different_seeds_give_different_text() -> None:
    a = list(BuiltinCorpus(seed=0, min_tokens=SMALL).texts())
    b = list(BuiltinCorpus(seed=1, min_tokens=SMALL).texts())
    assert a != b
    assert len(set(a) & set(b)) < len(a) // 10


def test_identical_across_processes() -> None:
    code = (
        "import hashlib; from tools.corpus.sources import BuiltinCorpus; "
        "print(hashlib.sha256('\\x00'.join(BuiltinCorpus(seed=3, min_tokens=20000).texts())"
        ".encode()).hexdigest())"
    )
    digests = set()
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True
        )
        digests.add(out.stdout.strip())
    here = hashlib.sha256("\x00".join(BuiltinCorpus(seed=3, min_tokens=SMALL).texts()).encode()).hexdigest()
    assert digests == {here}


def test_smaller_budget_is_a_prefix() -> None:
    small = list(BuiltinCorpus(seed=2, min_tokens=5_000).texts())
    big = list(BuiltinCorpus(seed=2, min_tokens=SMALL).texts())
    assert big[: len(small)] == small


# --- built-in corpus: size and variety ----------------------------------------------------------------
@pytest.mark.slow
def test_default_reaches_200k_smollm2_tokens(embedded_home: Path) -> None:
    tokenizer = _smollm_tokenizer(embedded_home)
    ids = tokenizer(list(_default_docs()), add_special_tokens=False)["input_ids"]
    assert sum(len(x) for x in ids) >= 200_000


def test_many_distinct_words() -> None:
    words = {w.lower() for d in _default_docs() for w in re.findall(r"[^\W\d_]+", d)}
    assert len(words) > 4000


def test_word_lists_are_rich() -> None:
    categories = lexicon.categories()
    assert sum(len(v) >= 10 for v in categories.values()) >= 60
    assert sum(len(v) for v in categories.values()) >= 1500


def test_every_category_shows_up_in_the_default_corpus() -> None:
    text = "\n".join(_default_docs()).lower()
    missing = [k for k, words in lexicon.categories().items() if not any(w.lower() in text for w in words)]
    assert not missing


def test_many_templates_exist_and_are_used() -> None:
    templates = _all_templates()
    assert len(templates) >= 150
    used = _default_used_templates() & templates
    assert len(used) >= 0.9 * len(templates)


def test_every_genre_is_generated() -> None:
    counts = dict.fromkeys((name for name, _, _ in BUILDERS), 0)
    for index in range(len(_default_docs())):
        genre, text = build_document(0, index)
        assert text == _default_docs()[index]
        counts[genre] += 1
    assert all(n >= 20 for n in counts.values()), counts


@pytest.mark.parametrize(
    ("what", "pattern"),
    [
        ("questions", r"\w\?"),
        ("script dialogue", r"(?m)^[A-Z][\w'-]+: \S"),
        ("quoted speech", r"[\"“‘']\w[^\"”’\n]{3,}[,?!.][\"”’']"),
        ("negation", r"\b(?:not|never|don't|can't|didn't|won't|isn't)\b"),
        ("conditionals", r"\b[Ii]f\b"),
        ("comparatives", r"\b\w+er than\b"),
        ("superlatives", r"\bthe \w+est\b"),
        ("future tense", r"\bwill \w+"),
        ("digits", r"\d"),
        ("number words", r"\b(?:twenty|thirty|forty|fifty)-\w+"),
        ("arithmetic", r"(?m)^\d+ [+×*x] \d+ = \d+$"),
        ("prices", r"[$£€¥₹]\d"),
        ("percentages", r"\d%"),
        ("temperatures", r"\d ?°[CF]"),
        ("ISO dates", r"\b\d{4}-\d{2}-\d{2}\b"),
        ("clock times", r"\b\d{1,2}:\d{2}\b"),
        ("python", r"(?m)^def \w+\(.*\).*:$"),
        ("imports", r"(?m)^(?:import|from) \w+"),
        ("sql", r"(?m)^SELECT "),
        ("urls", r"https?://\S+"),
        ("emails", r"\b[\w.]+@\w+\.\w+"),
        ("markdown headings", r"(?m)^#{1,2} \w"),
        ("numbered lists", r"(?m)^\d+\. \w"),
        ("bullets", r"(?m)^[-*•] \w"),
        ("parentheses", r"\(\w[^)]*\)"),
        ("brackets", r"\[\w[^\]]*\]"),
        ("em dashes", "\u2014"),
        ("letters", r"(?m)^Dear \w+"),
        ("upper-case headings", r"(?m)^[A-Z][A-Z ]{8,}$"),
    ],
)
def test_syntactic_variety(what: str, pattern: str) -> None:
    text = "\n\n".join(_default_docs())
    assert len(re.findall(pattern, text)) >= 5, what


def test_documents_are_short_and_non_empty() -> None:
    docs = _default_docs()
    assert all(d.strip() for d in docs)
    assert max(len(d) for d in docs) < 4000


def test_every_template_renders() -> None:
    for index, template in enumerate(sorted(_all_templates())):
        r = Renderer(document_rng(99, index))
        corpus_code._set_code_context(r)
        corpus_code._word_problem(r)
        r.ctx.update({"$word": "owl", "$gloss": "a bird", "$cat_pl": "birds", "$lang_code": "Python"})
        for part in template.split("||"):
            if CODE_SLOT.search(part):
                out = r.code(part)
                assert "<<" not in out, template
            else:
                out = r.sentence(part)
                assert not PROSE_SLOT.search(out), template


# --- built-in corpus: spec and digest --------------------------------------------------------------
PINNED_CORPUS_DIGESTS = {"1": "d741970a1cb79412d0412f25d6a3736c8da4bbfc4700058b12b40c00b793e484"}
"""GENERATOR_VERSION -> sha256 of documents 0-399 of seeds 0-2, concatenated."""


def test_builtin_corpus_text_is_pinned_to_its_version() -> None:
    """The corpus text changes only with GENERATOR_VERSION: exemplar caches are keyed on it.

    An edit to a word list, template (tools/corpus/builtin/data/) or builder that changes the text
    must bump GENERATOR_VERSION and record the new digest here.
    """
    text = "".join(build_document(seed, index)[1] for seed in range(3) for index in range(400))
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert GENERATOR_VERSION in PINNED_CORPUS_DIGESTS, f"record the digest of version {GENERATOR_VERSION}: {digest}"
    assert digest == PINNED_CORPUS_DIGESTS[GENERATOR_VERSION], (
        f"the built-in corpus changed without a new GENERATOR_VERSION (digest {digest})"
    )


def test_builtin_spec_and_digest() -> None:
    assert BuiltinCorpus().spec == "builtin"
    assert load_corpus("builtin").spec == "builtin"
    assert load_corpus("builtin:seed=3").spec == "builtin:seed=3"
    assert load_corpus("builtin", seed=5).spec == "builtin:seed=5"
    c = load_corpus("builtin:seed=2, min_tokens=1000")
    assert isinstance(c, BuiltinCorpus)
    assert (c.seed, c.min_tokens, c.spec) == (2, 1000, "builtin:seed=2,min_tokens=1000")
    assert load_corpus(c.spec).digest() == c.digest()
    digests = {BuiltinCorpus(seed=s).digest() for s in range(3)} | {BuiltinCorpus(min_tokens=10).digest()}
    assert len(digests) == 4
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("builtin:size=3", "unknown builtin corpus option 'size'"),
        ("builtin:seed=abc", "'seed' needs an integer"),
        ("builtin:seed", "'seed' needs an integer"),
        ("builtin:min_tokens=0", "min_tokens must be a positive integer"),
        ("builtin:seed=-1", "seed must be a non-negative integer"),
        ("", "empty corpus spec"),
    ],
)
def test_bad_builtin_specs(spec: str, expected: str) -> None:
    with pytest.raises(InputError, match=re.escape(expected)):
        load_corpus(spec)


# --- file corpora -----------------------------------------------------------------------------------
def test_text_file_paragraphs_round_trip(tmp_path: Path) -> None:
    docs = ["First document,\nwith two lines.", "Second — with ünïcödé.", "Third."]
    path = tmp_path / "c.txt"
    path.write_text("\n\n" + "\n\n\n".join(docs) + "\n\n", encoding="utf-8")
    corpus = load_corpus(str(path))
    assert isinstance(corpus, TextFileCorpus)
    assert list(corpus.texts()) == docs
    assert list(corpus.texts()) == docs  # re-iterable
    assert corpus.spec == str(path)
    assert corpus.digest() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_text_file_without_blank_lines_is_one_document_per_line(tmp_path: Path) -> None:
    path = tmp_path / "lines.md"
    path.write_bytes(b"\xef\xbb\xbfalpha beta\r\ngamma\r\n\r\n")  # BOM, CRLF, trailing blank line
    assert list(load_corpus(str(path)).texts()) == ["alpha beta", "gamma"]


def test_other_extensions_are_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.log"
    path.write_text("one\n\ntwo\n", encoding="utf-8")
    corpus = load_corpus(str(path))
    assert isinstance(corpus, TextFileCorpus)
    assert list(corpus.texts()) == ["one", "two"]


def test_jsonl_round_trip(tmp_path: Path) -> None:
    docs = ["hello world", 'with "quotes"\nand a newline', "ünïcödé"]
    path = tmp_path / "c.jsonl"
    lines = [json.dumps({"text": d, "id": i}) for i, d in enumerate(docs)]
    path.write_text("\n".join([lines[0], "", lines[1], json.dumps({"text": ""}), lines[2]]) + "\n", "utf-8")
    corpus = load_corpus(str(path))
    assert isinstance(corpus, JsonlCorpus)
    assert list(corpus.texts()) == docs
    assert corpus.count == 3
    assert corpus.digest() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_jsonl_custom_field(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"body": "a"}\n{"body": "b"}\n', encoding="utf-8")
    corpus = load_corpus(str(path), text_field="body")
    assert list(corpus.texts()) == ["a", "b"]
    assert corpus.digest() != hashlib.sha256(path.read_bytes()).hexdigest()
    assert list(JsonlCorpus(path, field="body").texts()) == ["a", "b"]


def test_json_array_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps([{"text": "x"}, {"text": "y"}], indent=2), encoding="utf-8")
    assert list(load_corpus(str(path)).texts()) == ["x", "y"]


# --- bad input ----------------------------------------------------------------------------------------
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"corpus file not found: .*nope\.txt"):
        load_corpus(str(tmp_path / "nope.txt"))


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        load_corpus(str(tmp_path))


def test_not_utf8_names_file_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("héllo wörld\n".encode() + "café au lait".encode("latin-1"))
    expected = len("héllo wörld\n".encode()) + 3
    with pytest.raises(InputError) as info:
        load_corpus(str(path))
    message = str(info.value)
    assert str(path) in message and f"byte offset {expected}" in message and "0xe9" in message
    assert "\n" not in message


def test_not_utf8_offset_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus_files, "_CHUNK", 8)
    path = tmp_path / "c.txt"
    data = b"abcdefg" + "é".encode() + b"xyz" + b"\xff" + b"tail"  # é straddles the 8-byte chunk edge
    path.write_bytes(data)
    bad_at = data.index(b"\xff")
    with pytest.raises(InputError, match=f"byte offset {bad_at}"):
        load_corpus(str(path))
    good = tmp_path / "good.txt"
    good.write_bytes(b"abcdefg" + "é€".encode() * 5)
    assert list(load_corpus(str(good)).texts()) == ["abcdefg" + "é€" * 5]


def test_truncated_utf8_at_end(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_bytes(b"abc" + "€".encode()[:2])
    with pytest.raises(InputError, match=r"invalid byte 0xe2 at byte offset 3 \(incomplete"):
        load_corpus(str(path))


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_corpus(str(path))


def test_whitespace_only_file(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_text("\n  \n\t\n", encoding="utf-8")
    with pytest.raises(InputError, match="no documents"):
        load_corpus(str(path))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"text": "ok"}\n{"text": "ok"}\n{"text": oops}\n', "line 3 is not valid JSON"),
        ('{"text": "ok"}\n{"body": "no text"}\n', "line 2 has no 'text' field"),
        ('{"text": "ok"}\n["a list"]\n', "line 2 is not a JSON object"),
        ('{"text": 42}\n', "line 1: field 'text' is not a string"),
        ('{"text": ""}\n\n', "no documents"),
    ],
)
def test_bad_jsonl(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(expected)):
        load_corpus(str(path))


def test_bad_json_array_item(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[{"text": "a"}, {"txt": "b"}]', encoding="utf-8")
    with pytest.raises(InputError, match="array item 2 has no 'text' field"):
        load_corpus(str(path))


# --- Hugging Face datasets -----------------------------------------------------------------------------
def test_hf_without_datasets_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(InputError, match=r"needs the 'datasets' package .* network access"):
        load_corpus("hf:wikitext:wikitext-2-raw-v1:train:text")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("hf:", "missing dataset name"), ("hf:a:b:c:d:e", "too many ':' parts")],
)
def test_bad_hf_specs(spec: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        load_corpus(spec)


class _FakeStream:
    features: ClassVar[dict[str, str]] = {"text": "string", "label": "int"}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter([{"text": "first"}, {"text": ""}, {"text": None}, {"text": "second"}])


def test_hf_streams_column(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def load_dataset(name: str, config: str | None, *, split: str, streaming: bool) -> _FakeStream:
        calls.append((name, config, split, streaming))
        return _FakeStream()

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    corpus = load_corpus("hf:org/name")
    assert isinstance(corpus, HFDatasetCorpus)
    assert calls == [("org/name", None, "train", True)]
    assert list(corpus.texts()) == ["first", "second"]
    assert list(corpus.texts()) == ["first", "second"]
    assert corpus.digest() == load_corpus("hf:org/name::train:text").digest()
    assert corpus.digest() != load_corpus("hf:org/name::test").digest()
    with pytest.raises(InputError, match="no column 'body'"):
        load_corpus("hf:org/name:::body")


def test_hf_unreachable_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    def load_dataset(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Couldn't reach the Hub\nmore detail")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    with pytest.raises(InputError) as info:
        load_corpus("hf:wikitext")
    assert "ConnectionError: Couldn't reach the Hub" in str(info.value)
    assert "network access" in str(info.value) and "\n" not in str(info.value)
