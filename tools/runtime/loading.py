"""Load any Hugging Face causal LM: the embedded name, a local folder, a GGUF file, or a hub name.

``load_model`` returns a ``LoadedModel``: the torch module in eval mode, its tokenizer, its
architecture adapter, its shape, and a digest of its weights (what caches and the store key on).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from store.errors import ConfigError, ModelLoadError
from store.settings import Settings
from tools.files import FileAccess
from tools.runtime.adapters import ArchAdapter, adapter_for
from tools.runtime.addresses import ModelShape
from tools.runtime.digests import DigestMemo, sha256_file, weight_files
from tools.runtime.embedded import DIGEST_FILE, EMBEDDED_NAME, convert_gguf, ensure_embedded, is_converted

ModelSource = Literal["embedded", "folder", "gguf", "hub"]
EMBEDDED_NAMES = {
    EMBEDDED_NAME: EMBEDDED_NAME,
    "smollm2": EMBEDDED_NAME,
    "smollm2-135m-instruct": EMBEDDED_NAME,
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
#: Files one of which a local tokenizer needs (checked only to name the problem when loading fails).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model", "tokenizer.tiktoken")
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class LoadedModel:
    """A model ready for the runtime, with what identifies it."""

    name: str
    source: ModelSource
    path: str
    model: Any
    tokenizer: Any
    adapter: ArchAdapter
    digest: str
    config_digest: str

    @property
    def shape(self) -> ModelShape:
        """Layer count and widths."""
        return self.adapter.shape

    @property
    def max_length(self) -> int:
        """Longest token sequence the model accepts."""
        config = self.model.config
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        return int(limit or 2048)


def _dtype(name: str) -> torch.dtype:
    try:
        return _DTYPES[name]
    except KeyError:
        raise ConfigError(f"unknown dtype {name!r}; choose one of {', '.join(_DTYPES)}") from None


def _config_digest(model: Any) -> str:
    config = model.config.to_dict()
    config.pop("_name_or_path", None)
    config.pop("transformers_version", None)
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def check_model_folder(folder: Path) -> None:
    """Refuse, in one line, a folder that cannot hold a model: no ``config.json`` (an empty folder says
    ``no config.json in DIR``), or no weight files; a folder without a tokenizer is named when loading it
    fails (``no tokenizer files (...) in DIR``)."""
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"no config.json in {folder}")
    if not weight_files(folder):
        raise ModelLoadError(f"no weight files (*.safetensors or *.bin) in {folder}")


def preload_model_code() -> None:
    """Import transformers' loading code and the modeling modules of the supported architectures.

    A prefork worker calls this once in its parent process, so a pool process forked later (the
    replacement of one killed mid-task, say) inherits them instead of spending seconds importing
    them inside its first task's time limit.
    """
    import importlib

    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

    for module in ("transformers.models.llama.modeling_llama", "transformers.models.gpt2.modeling_gpt2"):
        importlib.import_module(module)


def _from_folder(folder: Path, settings: Settings) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_model_folder(folder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... on a bad folder
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise ModelLoadError(f"no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...) in {folder}") from exc
        raise ModelLoadError(f"cannot load the tokenizer in {folder}: {_first_line(exc)}") from exc
    try:
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=_dtype(settings.dtype))
    except ConfigError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"cannot load a causal LM from {folder}: {_first_line(exc)}") from exc
    return model, tokenizer


def _from_hub(name: str, settings: Settings) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=_dtype(settings.dtype))
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"unknown model {name!r}: not the embedded name ({EMBEDDED_NAME}), a local folder or a .gguf file, "
            f"and the Hugging Face hub could not provide it ({first_line})"
        ) from exc
    return model, tokenizer


def _folder_digest(folder: Path, settings: Settings) -> str:
    recorded = folder / DIGEST_FILE
    if recorded.is_file():
        return hashlib.sha256(recorded.read_bytes()).hexdigest()
    files = weight_files(folder)
    if not files:
        raise ModelLoadError(f"{folder} has no weight files (*.safetensors or *.bin)")
    return DigestMemo(settings.home / "digests.json").files_digest(files)


def _state_digest(model: Any) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def resolve_source(name_or_path: str) -> tuple[ModelSource, str]:
    """Classify a model reference: embedded name, local folder, GGUF file, or hub id."""
    text = name_or_path.strip()
    if not text:
        raise ModelLoadError("model name is empty; give the embedded name, a folder, a .gguf file or a hub id")
    if text.lower() in EMBEDDED_NAMES:
        return "embedded", EMBEDDED_NAMES[text.lower()]
    path = Path(text).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelLoadError(f"GGUF file {path} does not exist")
        return "gguf", str(path.resolve())
    if path.is_dir():
        return "folder", str(path.resolve())
    if path.exists():
        raise ModelLoadError(f"{path} is a file but not a .gguf model; give a model folder or a .gguf file")
    if text.startswith((".", "/", "~")) or not _HUB_ID.match(text):
        raise ModelLoadError(
            f"unknown model {text!r}: no such folder or file, and not a Hugging Face hub id; "
            f"the embedded model is {EMBEDDED_NAME!r}"
        )
    return "hub", text


def checked_source(name_or_path: str, files: FileAccess | None = None) -> tuple[ModelSource, str]:
    """``resolve_source`` under a file policy: with a confined one, a reference naming local files
    must lie under its model roots (`FileAccessError` otherwise, the same whether or not the path
    exists) and anything else not the embedded name is a hub id. Loads nothing: the API calls it to
    refuse a request before queueing it."""
    if files is None or not files.confined or name_or_path.strip().lower() in EMBEDDED_NAMES:
        return resolve_source(name_or_path)
    local = files.model_path(name_or_path)
    if local is None:
        return "hub", name_or_path.strip()
    return ("gguf" if local.is_file() else "folder"), str(local)


def load_model(name_or_path: str, settings: Settings | None = None, files: FileAccess | None = None) -> LoadedModel:
    """Load a causal LM by embedded name, local folder, GGUF file, or Hugging Face hub id.

    The model runs in ``settings.dtype`` on ``settings.device`` (float32 on CPU by default) in eval mode.
    GGUF files are converted once to safetensors in the cache home. With a confined ``files`` policy
    (the API and the workers), a reference that names local files must lie under its model roots
    (``FileAccess.model_path``; one refusal whether or not the path exists); the CLI passes none.
    """
    settings = settings or Settings()
    source, ref = checked_source(name_or_path, files)
    digest: str | None = None
    if source == "embedded":
        folder = ensure_embedded(settings.ensure_home())
        model, tokenizer = _from_folder(folder, settings)
        digest = _folder_digest(folder, settings)
    elif source == "gguf":
        gguf_path = Path(ref)
        out = settings.ensure_home() / "models" / f"gguf-{sha256_file(gguf_path)[:16]}"
        folder = out if is_converted(out) else convert_gguf(gguf_path, out)
        model, tokenizer = _from_folder(folder, settings)
        digest = _folder_digest(folder, settings)
    elif source == "folder":
        folder = Path(ref)
        model, tokenizer = _from_folder(folder, settings)
        digest = _folder_digest(folder, settings)
    else:
        model, tokenizer = _from_hub(ref, settings)
        digest = _state_digest(model)
    adapter = adapter_for(model)
    try:
        model.to(settings.device)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(f"cannot move the model to device {settings.device!r}: {exc}") from exc
    model.eval()
    model.requires_grad_(False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return LoadedModel(
        name=ref,
        source=source,
        path=str(folder) if source != "hub" else ref,
        model=model,
        tokenizer=tokenizer,
        adapter=adapter,
        digest=digest,
        config_digest=_config_digest(model),
    )
