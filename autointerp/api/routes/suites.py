"""``POST /suites`` (upload a suite into the store) and ``GET /suites`` (the suites the service can run).

The API reads suite files only under its data roots (``AUTOINTERP_DATA_ROOTS``; the built-in suites
and ``<home>/suites`` by default). Any other suite is uploaded: the body is the suite's JSON Lines
(any content type but JSON, with ``?name=``) or JSON ``{"name", "items": [...]}`` (or a bare list
with ``?name=``). It is read up to ``AUTOINTERP_MAX_FILE_BYTES`` (413 beyond), every line must be at
most ``AUTOINTERP_MAX_LINE_BYTES``, and it is validated with the suite loader: a bad line, a
repeated id or no subject at all is a 422 naming the lines. A valid suite is stored unchanged and
addressed as ``suite:<name>``: ``suite:<name>#ID`` is a subject (``POST /investigations``, chat,
``POST /tools/call_function``) and ``suite:<name>`` an eval job's ``suite``. Names are unique (409
when taken) and an uploaded suite never changes.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from autointerp.api.errors import describe_validation
from autointerp.api.schemas import SuiteOut, SuiteUpload
from autointerp.api.state import ServiceState, get_service
from store.errors import FileAccessError
from store.models import SUITE_NAME_PATTERN, StoredSuiteCreate
from store.settings import Settings
from store.suites import SUITE_PREFIX, create_stored_suite, list_stored_suites

router = APIRouter(tags=["suites"])

#: Bad lines named in a 422 (the rest are counted).
_SHOWN_ERRORS = 3
#: Suite files listed per data root.
_LISTED_FILES = 200


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=message)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with a 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(
            status_code=413,
            detail=f"suite too large: {declared} bytes; the limit is {limit} bytes (AUTOINTERP_MAX_FILE_BYTES)",
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(
                status_code=413,
                detail=f"suite too large: over {limit} bytes (AUTOINTERP_MAX_FILE_BYTES)",
            )
    return bytes(body)


def _from_json(body: bytes, name: str | None) -> tuple[str | None, str]:
    """(name, JSON Lines content) from a JSON body: ``{"name", "items"}`` or a bare list of items."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _unprocessable(f"body: not JSON ({exc})") from None
    except RecursionError:
        raise _unprocessable("body: nested too deeply to read") from None
    if isinstance(data, list):
        data = {"name": name, "items": data}
    if isinstance(data, dict) and name is not None and data.get("name") is None:
        data = {**data, "name": name}
    try:
        upload = SuiteUpload.model_validate(data)
    except ValidationError as exc:
        raise _unprocessable(describe_validation([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])) from None
    if name is not None and upload.name is not None and upload.name != name:
        raise _unprocessable(f"name: the query says {name!r} and the body {upload.name!r}")
    try:
        lines = [json.dumps(item, ensure_ascii=False, allow_nan=False) for item in upload.items]
    except ValueError as exc:
        raise _unprocessable(f"body.items: {exc}") from None
    return upload.name, "".join(line + "\n" for line in lines)


def _check_lines(content: str, settings: Settings) -> None:
    """422 when a line is longer than the line cap (the same cap a suite file is read with)."""
    limit = settings.max_line_bytes
    for number, line in enumerate(content.split("\n"), start=1):
        if len(line) > limit // 4 and len(line.encode()) > limit:  # 4 bytes per character at most
            raise _unprocessable(f"line {number} is longer than {limit} bytes (AUTOINTERP_MAX_LINE_BYTES)")


def _validated(name: str | None, content: str, settings: Settings) -> StoredSuiteCreate:
    """The suite to store, or a 422 naming what is wrong with it."""
    from evals.suite import parse_suite_lines

    if name is None or not re.match(SUITE_NAME_PATTERN, name):
        raise _unprocessable(
            f"name: {name!r} is not a suite name (a letter, then up to 63 letters, digits, '.', '_' or '-')"
            if name is not None
            else "name: required (?name= or the body's 'name')"
        )
    _check_lines(content, settings)
    suite = parse_suite_lines(enumerate(content.split("\n"), start=1), f"{SUITE_PREFIX}{name}")
    if suite.errors:
        shown = "; ".join(e.message for e in suite.errors[:_SHOWN_ERRORS])
        more = f" (and {len(suite.errors) - _SHOWN_ERRORS} more)" if len(suite.errors) > _SHOWN_ERRORS else ""
        raise _unprocessable(f"suite has {len(suite.errors)} bad line(s): {shown}{more}")
    if not suite.items:
        raise _unprocessable("suite has no subjects")
    data = content.encode()
    return StoredSuiteCreate(
        name=name, content=content, digest=hashlib.sha256(data).hexdigest(), items=len(suite.items), size=len(data)
    )


@router.post("/suites", response_model=SuiteOut, status_code=status.HTTP_201_CREATED)
async def upload(
    request: Request,
    name: str | None = Query(None, description="The suite's name (or 'name' in a JSON body)."),
    service: ServiceState = Depends(get_service),
) -> SuiteOut:
    """Upload a suite (see the module docstring); 201 with its ``address`` (``suite:<name>``)."""
    settings = service.settings
    body = await _read_body(request, settings.max_file_bytes)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json":
        name, content = _from_json(body, name)
    else:
        try:
            content = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _unprocessable(f"body: not UTF-8 (byte {exc.start})") from None
    data = await run_in_threadpool(_validated, name, content, settings)
    stored = await run_in_threadpool(create_stored_suite, service.engine(), data)
    return SuiteOut(
        address=f"{SUITE_PREFIX}{stored.name}",
        source="upload",
        name=stored.name,
        id=stored.id,
        items=stored.items,
        bytes=stored.size,
        digest=stored.digest,
        created_at=stored.created_at,
    )


@router.get("/suites", response_model=list[SuiteOut])
def listing(
    limit: int = Query(100, ge=1, le=1000, description="Uploaded suites listed (newest first)."),
    offset: int = Query(0, ge=0),
    service: ServiceState = Depends(get_service),
) -> list[SuiteOut]:
    """The uploaded suites (newest first), then the ``.jsonl`` files at the top of each data root
    (the address of a file is its name, looked up in the roots in order)."""
    uploaded = [
        SuiteOut(
            address=f"{SUITE_PREFIX}{row.name}",
            source="upload",
            name=row.name,
            id=row.id,
            items=row.items,
            bytes=row.size,
            digest=row.digest,
            created_at=row.created_at,
        )
        for row in list_stored_suites(service.engine(), limit=limit, offset=offset)
    ]
    return uploaded + (_root_files(service.settings) if offset == 0 else [])


def _root_files(settings: Settings) -> list[SuiteOut]:
    """Suite files at the top of the data roots, each name once (the first root that has it wins)."""
    from evals.suite import service_files

    files = service_files(settings)
    found: dict[str, SuiteOut] = {}
    for root in files.roots or ():
        try:
            entries = sorted(p for p in Path(root).iterdir() if p.suffix == ".jsonl")[:_LISTED_FILES]
        except OSError:
            continue
        for entry in entries:
            if entry.name in found:
                continue
            try:
                real = files.resolve(entry.name)
            except FileAccessError:  # a name the policy refuses (a symlink out of the roots, a FIFO): not listed
                continue
            found[entry.name] = SuiteOut(address=entry.name, source="file", name=entry.name, bytes=real.stat().st_size)
    return list(found.values())
