"""Database URLs: parse them, mask passwords, find SQLite files; driver errors as one line."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from store.errors import DatabaseURLError

__all__ = ["mask_url", "one_line", "parse_url", "sqlite_file"]

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][\w+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@\s]*)@")
_URL_SHAPE = "dialect+driver://user:password@host:port/database or sqlite:///path/to/file.db"


def mask_url(url: str | URL) -> str:
    """The URL as text with its password replaced by ``***`` (works on unparsable strings too)."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)


def parse_url(url: str | URL) -> URL:
    """Parse a SQLAlchemy URL; raise `DatabaseURLError` (one line, password masked) if it is malformed."""
    if isinstance(url, URL):
        return url
    if not isinstance(url, str) or not url.strip():
        raise DatabaseURLError(f"malformed database URL {url!r}: expected {_URL_SHAPE}")
    try:
        return make_url(url.strip())
    except (ArgumentError, ValueError) as exc:
        raise DatabaseURLError(
            f"malformed database URL {mask_url(url)!r}: {one_line(exc)}; expected {_URL_SHAPE}"
        ) from exc


def sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL points at, or None for in-memory and ``file:`` URI databases."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser()


def one_line(exc: BaseException, *, secret: str | None = None) -> str:
    """A driver or library error as one short line: the most specific reason, whitespace collapsed.

    For SQLAlchemy's wrapped DBAPI errors the driver's own message is used (no SQL, no background
    link). ``secret`` (a password) is blanked out wherever it appears.
    """
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    # psycopg: 'connection failed: connection to server at "h", port 5999 failed: Connection refused'
    match = re.search(r"\bfailed: (?!.*\bfailed: )(?P<reason>.+)$", first)
    reason = match["reason"] if match else first
    reason = re.sub(r"\s+", " ", reason).strip()
    if secret:
        reason = reason.replace(secret, "***")
    if reason[:1].isupper() and not reason[1:2].isupper():  # "Connection refused", not "FATAL"
        reason = reason[:1].lower() + reason[1:]
    return reason
