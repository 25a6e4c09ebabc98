"""Content digests of weight files, memoised on disk so a large model is hashed once, not every load."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_CHUNK = 1 << 22


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file_cached(path: Path) -> str:
    """`sha256_file`, remembered per process while the file's size and modification time stay the same:
    a worker checks an exemplar cache on every call, and rehashing tens of megabytes each time adds up."""
    stat = path.stat()
    return _sha256_of(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a model folder, in a stable order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


class DigestMemo:
    """A memo of file digests keyed by (absolute path, size, mtime), kept in one JSON file.

    Writes are atomic (temp file + rename); a lost race only means a digest is computed again.
    """

    def __init__(self, memo_path: Path) -> None:
        self.memo_path = memo_path

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.memo_path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def file_digest(self, path: Path) -> str:
        """sha256 of ``path``, from the memo when the file's size and mtime are unchanged."""
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        memo = self._read()
        if key in memo:
            return memo[key]
        value = sha256_file(path)
        memo[key] = value
        try:
            self.memo_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.memo_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(memo, indent=0))
            os.replace(tmp, self.memo_path)
        except OSError:
            pass  # the memo is an optimisation; an unwritable one just means hashing again next time
        return value

    def files_digest(self, files: Iterable[Path]) -> str:
        """One digest for a set of files: sha256 over their names and digests."""
        combined = hashlib.sha256()
        for path in files:
            combined.update(path.name.encode())
            combined.update(self.file_digest(path).encode())
        return combined.hexdigest()
