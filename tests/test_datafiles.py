"""store.datafiles: the one loader of package data files (word lists, concept tables, templates).

Bad files fail with a ConfigError that names the file (and the field); every data file in the repo
loads against the schema its reading module declares in ``DATA_FILES``.
"""

from __future__ import annotations

import importlib
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from store.datafiles import data_files, load_data, load_lines
from store.errors import ConfigError
from tools.corpus.builtin import lexicon

REPO = Path(__file__).resolve().parents[1]
TOP_PACKAGES = ("autointerp", "agent", "tools", "workers", "store", "evals")
_counter = itertools.count()


class Place(BaseModel):
    name: str
    capital: str


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A fresh importable package (unique name, so the loader's cache never answers) and its data folder."""
    name = f"datafiles_pkg_{next(_counter)}_{tmp_path.name}".replace("-", "_")
    root = tmp_path / name
    (root / "data").mkdir(parents=True)
    (root / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    return name, root / "data"


# --- the loader -------------------------------------------------------------------------------------
def test_json_and_text_load(package: tuple[str, Path]) -> None:
    name, folder = package
    (folder / "table.json").write_text('{"animal": ["dog", "cat"]}', encoding="utf-8")
    (folder / "list.txt").write_text("# a comment\n\n dog \ncat\n  # indented comment\n", encoding="utf-8")
    assert load_data(name, "table.json", dict[str, list[str]]) == {"animal": ["dog", "cat"]}
    assert load_lines(name, "list.txt") == ("dog", "cat")
    assert load_data(name, "list.txt", list[str]) == ["dog", "cat"]
    assert data_files(name) == ("list.txt", "table.json")


def test_missing_file_names_it(package: tuple[str, Path]) -> None:
    name, _ = package
    with pytest.raises(ConfigError, match=rf"{name}/data/nope\.json cannot be read"):
        load_data(name, "nope.json", dict[str, list[str]])
    with pytest.raises(ConfigError, match=rf"{name}/data/nope\.txt"):
        load_lines(name, "nope.txt")


def test_missing_package_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"no_such_package_xyz/data/words\.txt"):
        load_lines("no_such_package_xyz", "words.txt")
    with pytest.raises(ConfigError, match="no_such_package_xyz"):
        data_files("no_such_package_xyz")


def test_bad_json_names_file_and_line(package: tuple[str, Path]) -> None:
    name, folder = package
    (folder / "broken.json").write_text('{\n  "animal": ["dog",\n}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{name}/data/broken\.json: not valid JSON \(line 3"):
        load_data(name, "broken.json", dict[str, list[str]])


def test_schema_mismatch_names_file_and_field(package: tuple[str, Path]) -> None:
    name, folder = package
    (folder / "table.json").write_text('{"animal": ["dog", 3]}', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_data(name, "table.json", dict[str, list[str]])
    message = str(info.value)
    assert f"{name}/data/table.json does not match its schema" in message
    assert "animal.1" in message and "string" in message.lower()

    (folder / "places.json").write_text('[{"name": "France", "capital": "Paris"}, {"name": "Peru"}]', "utf-8")
    with pytest.raises(ConfigError, match=rf"{name}/data/places\.json does not match its schema: 1\.capital: "):
        load_data(name, "places.json", list[Place])


def test_not_utf8_and_unknown_extension(package: tuple[str, Path]) -> None:
    name, folder = package
    (folder / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=rf"{name}/data/latin1\.txt cannot be read"):
        load_lines(name, "latin1.txt")
    (folder / "table.yaml").write_text("a: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"table\.yaml: data files are \.json or \.txt"):
        load_data(name, "table.yaml", dict[str, int])


def test_results_are_cached(package: tuple[str, Path]) -> None:
    name, folder = package
    (folder / "list.txt").write_text("a\nb\n", encoding="utf-8")
    first = load_lines(name, "list.txt")
    (folder / "list.txt").write_text("changed\n", encoding="utf-8")
    assert load_lines(name, "list.txt") is first


# --- every data file of the repo -------------------------------------------------------------------
def _data_packages() -> list[str]:
    """Dotted names of the packages that have a ``data/`` folder of JSON or text files."""
    found = set()
    for top in TOP_PACKAGES:
        for folder in (REPO / top).rglob("data"):
            if folder.is_dir() and any(p.suffix in (".json", ".txt") for p in folder.iterdir()):
                found.add(".".join(folder.parent.relative_to(REPO).parts))
    return sorted(found)


def _declared() -> dict[tuple[str, str], Any]:
    """(package, file) -> schema, from every module that declares ``DATA_FILES`` beside a data folder."""
    declared: dict[tuple[str, str], Any] = {}
    for package in _data_packages():
        folder = REPO.joinpath(*package.split("."))
        for source in sorted(folder.glob("*.py")):
            if not re.search(r"(?m)^DATA_FILES\b", source.read_text(encoding="utf-8")):
                continue
            stem = "" if source.stem == "__init__" else "." + source.stem
            module = importlib.import_module(package + stem)
            assert package == module.PACKAGE, f"{module.__name__} declares files of {module.PACKAGE}"
            for name, schema in module.DATA_FILES.items():
                assert (package, name) not in declared, f"{package}/data/{name} is declared twice"
                declared[(package, name)] = schema
    return declared


def test_the_known_data_folders_are_found() -> None:
    packages = _data_packages()
    assert {"tools.corpus.builtin", "evals.generators"} <= set(packages)
    declared = {package for package, _ in _declared()}
    assert {"tools.corpus.builtin", "evals.generators"} <= declared


def test_every_declared_data_file_exists_and_every_file_of_a_declaring_package_is_declared() -> None:
    declared = _declared()
    for package in {p for p, _ in declared}:
        names = {name for p, name in declared if p == package}
        assert set(data_files(package)) == names, f"{package}/data: files and DATA_FILES disagree"


@pytest.mark.parametrize("package", _data_packages())
def test_every_data_file_loads_against_its_schema(package: str) -> None:
    """Declared files against their schema; a file no module declares at least parses (JSON or lines)."""
    declared = _declared()
    for name in data_files(package):
        schema = declared.get((package, name), Any if name.endswith(".json") else tuple[str, ...])
        load_data(package, name, schema)


# --- the corpus lexicon ---------------------------------------------------------------------------
def test_lexicon_cross_references() -> None:
    categories = lexicon.categories()
    assert lexicon.adjective_categories() <= set(categories)
    assert set(lexicon.code_templates().topics) <= set(categories)
    assert set(lexicon.genres().glossary) <= set(categories)
    assert {"drink", "ingredient", "spice"} <= set(categories)
    assert set(categories["spice"]) <= lexicon.uncountable() and "sheep" in lexicon.uncountable()
    assert all(len(forms) == 3 for verbs in lexicon.verbs().values() for forms in verbs)
    assert lexicon.languages()[: len({c.language for c in lexicon.countries()})] == tuple(
        sorted({c.language for c in lexicon.countries()})
    )
    assert all("\n" in s or len(s) < 200 for s in lexicon.code_templates().snippets)


def test_lexicon_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        lexicon.categories()["animal"] = ("dog",)  # type: ignore[index]
    assert isinstance(lexicon.words("surnames"), tuple)
    assert lexicon.words("surnames") is lexicon.words("surnames")


def test_duplicate_json_key_names_file_and_key(package: tuple[str, Path]) -> None:
    name, folder = package
    (folder / "table.json").write_text('{"animal": ["dog"], "bird": ["owl"], "animal": ["cat"]}', "utf-8")
    with pytest.raises(ConfigError, match=rf"{name}/data/table\.json: key 'animal' appears twice"):
        load_data(name, "table.json", dict[str, list[str]])
