"""Registering SAEs for a model and attaching the registered ones to its runtime.

**Registering** (``autointerp sae add --model M --path DIR [--name NAME] [--hook HOOK]``,
`register_sae`): the folder is read (``tools.sae.formats.load_sae_folder``: SAELens or sparsify), its
hook mapped to our site (``blocks.6.hook_resid_post`` → ``L6.resid_post``; ``--hook`` when the files
name none), and the SAE checked against the loaded model: the layer must exist and the SAE's input
width must be the site's (d_model). It is then **copied** into ``$AUTOINTERP_HOME/saes/<digest>/``
(``cfg.json``, the weights, ``metrics.json`` if any; written atomically, never changed), so a
registered SAE stays what it was when the source folder changes or goes, and recorded in the store
(``store.saes``: model, name, layer, site, hook, format, architecture, width, k, digests, the copy,
the source folder, cfg and training metrics). ``digest`` is the sha256 of the weight file's and
``cfg.json``'s digests: what the SAE computes. The default name is ``l{layer}-{site}-{width}``;
names are unique per model, and registering the same name again with the same SAE changes nothing.

**Attaching** (`store_sae_source`): a runtime's ``sae_source`` callback that attaches every SAE
registered for the runtime's weights (by weights digest, whatever reference loaded them) that is not
attached yet, loading it from its copy. The tool context and the CLI set it on every runtime they
hand out; the runtime calls it lazily, when an address names an SAE.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import Engine

from store.errors import AutointerpError, InputError, StoreError
from store.models import ModelRecordCreate, SAERecordCreate, SAERecordRead
from store.repo import upsert_model_record
from store.saes import create_sae_record, list_sae_records, saes_for_weights, saes_named
from store.settings import Settings
from tools.runtime.addresses import SAE_NAME_PATTERN, Site
from tools.runtime.digests import sha256_file
from tools.runtime.latents import AttachedSAE
from tools.runtime.loading import LoadedModel, resolve_source
from tools.runtime.model_runtime import ModelRuntime
from tools.sae.formats import METRICS_FILE, SAELENS_CFG, SAEFile, load_sae_folder

__all__ = [
    "SAE_FOLDER",
    "SAEList",
    "SAERegistration",
    "attach_record",
    "carry_saes",
    "default_name",
    "list_saes",
    "model_names",
    "register_sae",
    "sae_layer",
    "store_sae_source",
]

log = logging.getLogger("autointerp.sae")

#: Folder of the cache home that holds the registered copies, one ``<digest>/`` each.
SAE_FOLDER = "saes"


class SAERegistration(BaseModel):
    """What ``autointerp sae add`` returns: the stored record and whether it is new."""

    sae: SAERecordRead
    created: bool
    address: str


class SAEList(BaseModel):
    """What ``autointerp sae list`` returns."""

    saes: list[SAERecordRead]


def default_name(layer: int, site: str, width: int) -> str:
    """The name an SAE gets when none is given: ``l6-resid_post-16384``."""
    return f"l{layer}-{site}-{width}"


def content_digest(sae_file: SAEFile) -> str:
    """sha256 of the weight file's and ``cfg.json``'s sha256: the SAE's identity (what it computes)."""
    cfg_digest = sha256_file(sae_file.path / SAELENS_CFG)
    return hashlib.sha256(f"{sae_file.digest}\n{cfg_digest}".encode()).hexdigest()


def check_against_model(sae_file: SAEFile, runtime: ModelRuntime, *, where: str) -> tuple[int, str]:
    """(layer, site) of an SAE checked against a loaded model: the files must name a hook (or ``--hook``
    give one), the layer exist and the SAE read vectors as wide as the site. InputError naming what
    disagrees otherwise."""
    if sae_file.layer is None or sae_file.site is None:
        raise InputError(
            f"{where} names no hook, so its site is unknown; give --hook "
            "(e.g. blocks.6.hook_resid_post or L6.resid_post)"
        )
    layer, site = sae_file.layer, sae_file.site
    shape = runtime.shape
    model = runtime.loaded.name
    hook = f" (hook {sae_file.hook})" if sae_file.hook else ""
    if not 0 <= layer < shape.n_layers:
        raise InputError(
            f"{where} reads layer {layer}{hook}, but {model} has layers 0..{shape.n_layers - 1}; "
            "is it an SAE of another model?"
        )
    width = Site(layer, site).width(shape)
    if sae_file.d_in != width:
        raise InputError(
            f"{where} reads vectors of {sae_file.d_in} values at L{layer}.{site}{hook}, but {model} has d_model "
            f"{width} there; is it an SAE of another model?"
        )
    return layer, site


def _copy(sae_file: SAEFile, home: Path, digest: str) -> Path:
    """The registered copy of the SAE's files, ``<home>/saes/<digest>/`` (made atomically if new)."""
    target = home / SAE_FOLDER / digest
    if (target / SAELENS_CFG).is_file() and (target / sae_file.weights_path.name).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{digest}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        names = [SAELENS_CFG, sae_file.weights_path.name]
        if (sae_file.path / METRICS_FILE).is_file():
            names.append(METRICS_FILE)
        for name in names:
            shutil.copyfile(sae_file.path / name, tmp / name)
        if sha256_file(tmp / sae_file.weights_path.name) != sae_file.digest:
            raise InputError(f"{sae_file.weights_path} changed while it was being copied; register it again")
        try:
            os.replace(tmp, target)
        except OSError:  # another process made the same copy first
            if not (target / SAELENS_CFG).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _model_id(engine: Engine, loaded: LoadedModel) -> int:
    record = upsert_model_record(
        engine,
        ModelRecordCreate(
            name=loaded.name,
            source=loaded.source,
            revision=loaded.path,
            config_digest=loaded.config_digest,
            weights_digest=loaded.digest,
        ),
    )
    assert record.id is not None
    return record.id


def attach_record(runtime: ModelRuntime, record: SAERecordRead, *, root: Path | None = None) -> AttachedSAE:
    """Load a registered SAE from its copy and attach it to ``runtime``. InputError when the copy is
    gone or changed, or (with ``root``, the cache home's ``saes/``) lies outside ``root``: a row of
    the store never makes a process read a folder elsewhere."""
    path = Path(record.path)
    if root is not None and not path.resolve().is_relative_to(root.resolve()):
        raise InputError(f"the registered copy of SAE {record.name!r} at {path} is not under {root}")
    sae_file = load_sae_folder(path, hook=record.hook)
    if sae_file.digest != record.weights_digest:
        raise InputError(
            f"the registered copy of SAE {record.name!r} at {path} has changed (weights digest "
            f"{sae_file.digest[:12]}, registered {record.weights_digest[:12]}); register it again"
        )
    return runtime.attach_sae(record.layer, record.name, sae_file.sae, record.site, digest=record.digest)


def register_sae(
    engine: Engine,
    settings: Settings,
    runtime: ModelRuntime,
    path: str | Path,
    *,
    name: str | None = None,
    hook: str | None = None,
) -> SAERegistration:
    """Read, check, copy and record the SAE in folder ``path`` for the runtime's model (module
    docstring), and attach it to the runtime. InputError for a folder that is not an SAE, or an SAE
    that does not fit the model; ConstraintError when ``name`` is taken by another SAE."""
    folder = Path(path).expanduser()
    sae_file = load_sae_folder(folder, hook=hook)
    layer, site = check_against_model(sae_file, runtime, where=f"SAE {folder}")
    chosen = (name or "").strip() or default_name(layer, site, sae_file.width)
    if not re.fullmatch(SAE_NAME_PATTERN, chosen):
        raise InputError(
            f"bad SAE name {chosen!r}: use letters, digits, '_', '.' or '-' (starting with a letter or digit, "
            "64 characters at most)"
        )
    digest = content_digest(sae_file)
    copy = _copy(sae_file, settings.ensure_home(), digest)
    record, created = create_sae_record(
        engine,
        SAERecordCreate(
            model_id=_model_id(engine, runtime.loaded),
            name=chosen,
            layer=layer,
            site=site,
            hook=sae_file.hook,
            format=sae_file.format,
            architecture=sae_file.architecture,
            d_in=sae_file.d_in,
            width=sae_file.width,
            k=sae_file.k,
            digest=digest,
            weights_digest=sae_file.digest,
            path=copy,
            source_path=folder.resolve(),
            cfg=sae_file.cfg,
            metrics=sae_file.metrics,
        ),
    )
    attach_record(runtime, record)
    return SAERegistration(sae=record, created=created, address=record.address)


def carry_saes(engine: Engine, source: ModelRuntime, target: ModelRuntime, names: list[str]) -> list[SAERecordRead]:
    """Register the SAEs ``names`` of ``source`` (attached from the store) for ``target``'s model too,
    same name, same copy: how an audit applies the baseline's SAEs to a candidate checkpoint so that
    anything run on the candidate later (a re-explanation) finds them. InputError when one does not
    fit the target's shape; ConstraintError when the target has another SAE under that name."""
    records = {r.name: r for r in saes_for_weights(engine, source.loaded.digest)}
    carried = []
    model_id: int | None = None
    for name in dict.fromkeys(names):
        record = records.get(name)
        if record is None:
            raise InputError(f"no SAE named {name!r} is registered for {source.loaded.name}")
        model_id = model_id if model_id is not None else _model_id(engine, target.loaded)
        data = SAERecordCreate.model_validate(
            {
                **record.model_dump(exclude={"id", "model_id", "created_at", "model", "model_digest"}),
                "model_id": model_id,
            }
        )
        stored, _ = create_sae_record(engine, data)
        attach_record(target, stored)
        carried.append(stored)
    return carried


def store_sae_source(
    engine: Callable[[], Engine], *, weights_digest: str | None = None, home: Path | None = None
) -> Callable[[ModelRuntime], None]:
    """A runtime's ``sae_source``: attach the SAEs registered for its weights (or for the weights
    ``weights_digest``: an audit's candidate reads the baseline's) that are not attached yet, from
    their copies (under ``home``'s ``saes/`` when ``home`` is given).

    A store that cannot be read is logged and skipped; a registered copy that cannot be loaded is
    recorded in ``runtime.sae_errors``, so an address naming that SAE fails with the reason.
    """
    root = home.expanduser() / SAE_FOLDER if home is not None else None

    def sync(runtime: ModelRuntime) -> None:
        try:
            records = saes_for_weights(engine(), weights_digest or runtime.loaded.digest)
        except StoreError as exc:
            log.warning("cannot read the registered SAEs of %s: %s", runtime.loaded.name, exc)
            return
        for record in records:
            attached = runtime.saes.get(record.name)
            if attached is not None and attached.digest == record.digest:
                continue
            try:
                attach_record(runtime, record, root=root)
                runtime.sae_errors.pop(record.name, None)
            except AutointerpError as exc:
                log.warning("cannot attach SAE %s of %s: %s", record.name, runtime.loaded.name, exc)
                runtime.sae_errors[record.name] = str(exc)

    return sync


def model_names(model: str) -> list[str]:
    """The names ``model`` may be stored under: as given, and as the loader resolves it (a folder's
    absolute path, the embedded model's name), without loading anything."""
    names = [model.strip()]
    with contextlib.suppress(AutointerpError):
        names.append(resolve_source(model)[1])
    return list(dict.fromkeys(names))


def list_saes(engine: Engine, model: str | None = None, *, weights_digest: str | None = None) -> SAEList:
    """Every registered SAE, or those of ``model`` (stored under the reference as given or as the
    loader resolves it, or with weights ``weights_digest``); loads no model."""
    if model is None and weights_digest is None:
        return SAEList(saes=list_sae_records(engine))
    names = model_names(model) if model is not None else None
    return SAEList(saes=list_sae_records(engine, model_names=names, weights_digest=weights_digest))


def sae_layer(engine: Engine, model: str, name: str) -> int:
    """The layer of the SAE ``name`` registered for ``model``, without loading the model (what a label
    job over an SAE's latents needs to name its units). InputError when there is none."""
    found = saes_named(engine, model_names(model), name)
    layers = sorted({r.layer for r in found})
    if not layers:
        known = ", ".join(r.name for r in list_sae_records(engine, model_names=model_names(model)))
        hint = f"registered for it: {known}" if known else "register one with `autointerp sae add`"
        raise InputError(f"no SAE named {name!r} is registered for model {model}; {hint}")
    if len(layers) > 1:
        raise InputError(f"SAEs named {name!r} of model {model} read different layers ({layers}); give the layer")
    return layers[0]
