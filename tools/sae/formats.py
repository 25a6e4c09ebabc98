"""SAE folders on disk: reading the SAELens and EleutherAI-sparsify layouts, writing the SAELens one.

**SAELens** (``cfg.json`` + ``sae_weights.safetensors``): tensors ``W_enc`` [d_in, d_sae], ``b_enc``
[d_sae], ``W_dec`` [d_sae, d_in], ``b_dec`` [d_in] and, for JumpReLU, ``threshold`` [d_sae] (or
``log_threshold``). Both cfg layouts are read: before SAELens 6 everything is top level (``hook_name``
or ``hook_point``, ``hook_layer``, ``activation_fn_str``/``activation_fn`` and ``activation_fn_kwargs``
{"k": 32} — a ``standard`` SAE with a ``topk`` activation is a TopK SAE); from 6 on the hook and model
live under ``metadata`` and a TopK SAE has ``architecture`` "topk" with a top-level ``k``.
``apply_b_dec_to_input: false`` is folded into ``b_enc`` (``b_enc + b_dec @ W_enc``), because our
``SparseAutoencoder`` always subtracts ``b_dec`` from its input; the encoding is the same.

**sparsify** (``cfg.json`` + ``sae.safetensors``, always TopK): ``encoder.weight`` [num_latents,
d_in], ``encoder.bias``, ``W_dec`` [num_latents, d_in], ``b_dec``; cfg ``k``, ``num_latents`` (0 means
``d_in × expansion_factor``), ``d_in``. The hookpoint is the folder's name: ``layers.6`` (the block's
output: ``resid_post``), ``layers.6.mlp`` (``mlp_out``), ``layers.6.self_attn`` (``attn_out``).

Hooks map to our sites (``tools.runtime.addresses``): ``blocks.{l}.hook_resid_pre|resid_post|mlp_out|
attn_out`` (TransformerLens names, SAELens; Gemma Scope's too) and Hugging Face module paths
(``[model.]layers.{l}[.mlp|.self_attn]`` of Llama, Gemma, Phi-3; GPT-NeoX's ``[gpt_neox.]layers.{l}[.mlp|
.attention]``; GPT-2's ``[transformer.]h.{l}[.mlp|.attn]``; Gemma 3 multimodal checkpoints'
``model.language_model.layers.{l}…``). For Gemma 2/3 our ``mlp_out``/``attn_out`` are the block's
post-sub-block norms' outputs (what TransformerLens's ``hook_mlp_out``/``hook_attn_out`` read), while
the module path ``layers.{l}.mlp`` names the MLP module's raw output before that norm: such an SAE
reads a slightly different vector than the site it is mapped to. A hook that names something we have no
site for (``hook_resid_mid``, ``attn.hook_z``, embeddings, a head) is refused; a folder that names no
hook at all (a SAELens cfg without ``hook_name``, a sparsify folder renamed) loads with ``layer`` and
``site`` None, and whoever registers it must say where it reads.

Every problem (missing file, unreadable JSON or safetensors, a missing tensor, a shape that disagrees
with the cfg or with another tensor, NaN or infinite weights, an unknown architecture or hook, an
activation normalisation we do not apply) is one ``InputError`` line naming the file and what is wrong.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from store.errors import InputError
from tools.runtime.digests import sha256_file
from tools.runtime.sae import Architecture, SAEShape, SparseAutoencoder

SAEFormat = Literal["saelens", "sparsify"]
SAESite = Literal["resid_pre", "resid_post", "mlp_out", "attn_out"]

SAELENS_CFG = "cfg.json"
SAELENS_WEIGHTS = "sae_weights.safetensors"
SPARSIFY_WEIGHTS = "sae.safetensors"
METRICS_FILE = "metrics.json"

# TransformerLens hook names of our sites (what SAELens writes as ``hook_name``).
_TL_SITES: dict[str, SAESite] = {
    "hook_resid_pre": "resid_pre",
    "hook_resid_post": "resid_post",
    "hook_mlp_out": "mlp_out",
    "hook_attn_out": "attn_out",
}
_TL_HOOK = re.compile(r"^blocks\.(\d+)\.(hook_\w+)$")
# Hugging Face module paths (what sparsify uses as hookpoints): the block, its MLP, its attention.
_HF_HOOK = re.compile(
    r"^(?:model\.|transformer\.|gpt_neox\.|model\.model\.|model\.language_model\.|language_model\.model\.)?"
    r"(?:layers|h)\.(\d+)"
    r"(?:\.(mlp|self_attn|attn|attention))?$"
)
_HF_PARTS: dict[str | None, SAESite] = {
    None: "resid_post",
    "mlp": "mlp_out",
    "self_attn": "attn_out",
    "attn": "attn_out",
    "attention": "attn_out",
}
_SITE_FORM = re.compile(r"^L(\d+)\.(resid_pre|resid_post|mlp_out|attn_out)$")
KNOWN_HOOKS = (
    "blocks.{l}.hook_resid_pre, blocks.{l}.hook_resid_post, blocks.{l}.hook_mlp_out, blocks.{l}.hook_attn_out, "
    "layers.{l}, layers.{l}.mlp, layers.{l}.self_attn (optionally under model., gpt_neox., transformer.), "
    "h.{l}[.mlp|.attn], gpt_neox.layers.{l}.attention"
)


@dataclass(frozen=True)
class SAEFile:
    """An SAE read from a folder, with what its files say about it.

    ``hook`` is the raw hook name of the files (None when they name none); ``layer``/``site`` are that
    hook in our terms (``site`` one of resid_pre, resid_post, mlp_out, attn_out). ``digest`` is the
    sha256 of the weight file; ``cfg`` the raw ``cfg.json``; ``metrics`` the folder's ``metrics.json``
    (training metrics: FVU, L0, dead fraction, CE recovered …) when it has one.
    """

    sae: SparseAutoencoder
    format: SAEFormat
    architecture: Architecture
    width: int
    d_in: int
    k: int | None
    hook: str | None
    layer: int | None
    site: SAESite | None
    digest: str
    path: Path
    weights_path: Path
    model_name: str | None = None
    cfg: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None

    @property
    def address(self) -> str | None:
        """Our site address (``L6.resid_post``), or None when the files name no hook."""
        return f"L{self.layer}.{self.site}" if self.layer is not None and self.site is not None else None


# ------------------------------------------------------------------------------------------- hooks
def hook_to_site(hook: str, *, where: str = "") -> tuple[int, SAESite]:
    """(layer, site) of a hook name (TransformerLens or Hugging Face module path, or our ``L6.resid_post``).

    InputError naming the hook (and ``where`` it came from) when it is not one of our sites.
    """
    name = hook.strip()
    if m := _TL_HOOK.match(name):
        site = _TL_SITES.get(m.group(2))
        if site is not None:
            return int(m.group(1)), site
    elif m := _HF_HOOK.match(name):
        return int(m.group(1)), _HF_PARTS[m.group(2)]
    elif m := _SITE_FORM.match(name):
        return int(m.group(1)), m.group(2)  # type: ignore[return-value]
    prefix = f"{where}: " if where else ""
    raise InputError(f"{prefix}unsupported SAE hook {hook!r}; known hooks: {KNOWN_HOOKS}")


def saelens_hook_name(layer: int, site: str) -> str:
    """The TransformerLens hook name SAELens uses for one of our sites: ``blocks.6.hook_resid_post``."""
    if site not in _TL_SITES.values():
        raise InputError(f"no SAE hook for site {site!r}; SAE sites are resid_pre, resid_post, mlp_out, attn_out")
    return f"blocks.{layer}.hook_{site}"


# ------------------------------------------------------------------------------------------- reading
def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not readable JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"{path}: not a readable safetensors file ({str(exc).splitlines()[0]})") from None


def _int_field(cfg: dict[str, Any], key: str, cfg_path: Path, *, minimum: int = 1) -> int:
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{cfg_path}: {key!r} must be an integer >= {minimum}, got {value!r}")
    return value


def _tensor(tensors: dict[str, torch.Tensor], name: str, path: Path) -> torch.Tensor:
    if name not in tensors:
        present = ", ".join(sorted(tensors)) or "none"
        raise InputError(f"{path}: no tensor {name!r} (tensors present: {present})")
    return tensors[name]


def _check(tensor: torch.Tensor, name: str, want: tuple[int, ...], path: Path, note: str) -> torch.Tensor:
    if tuple(tensor.shape) != want:
        raise InputError(f"{path}: {name} has shape {list(tensor.shape)}, expected {list(want)} ({note})")
    if not tensor.is_floating_point():
        raise InputError(f"{path}: {name} has dtype {tensor.dtype}, expected a floating-point tensor")
    tensor = tensor.float()
    if not torch.isfinite(tensor).all():
        bad = int((~torch.isfinite(tensor)).sum())
        raise InputError(f"{path}: {name} has {bad} NaN or infinite values")
    return tensor


def _read_metrics(folder: Path) -> dict[str, Any] | None:
    path = folder / METRICS_FILE
    if not path.is_file():
        return None
    return _read_json(path)


def load_sae_folder(path: str | Path, *, hook: str | None = None) -> SAEFile:
    """Read an SAE folder in the SAELens or sparsify layout (see the module docstring).

    ``hook`` overrides the hook the files name (e.g. a renamed sparsify folder); it is mapped like them.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise InputError(f"SAE folder {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; an SAE folder holds cfg.json and its weights")
    cfg_path = folder / SAELENS_CFG
    if not cfg_path.is_file():
        raise InputError(
            f"no cfg.json in {folder}: an SAE folder holds cfg.json with {SAELENS_WEIGHTS} (SAELens) "
            f"or {SPARSIFY_WEIGHTS} (sparsify)"
        )
    if (folder / SAELENS_WEIGHTS).is_file():
        return _load_saelens(folder, cfg_path, hook)
    if (folder / SPARSIFY_WEIGHTS).is_file():
        return _load_sparsify(folder, cfg_path, hook)
    raise InputError(f"no weights in {folder}: expected {SAELENS_WEIGHTS} (SAELens) or {SPARSIFY_WEIGHTS} (sparsify)")


def _resolve_hook(raw: str | None, override: str | None, where: Path) -> tuple[str | None, int | None, SAESite | None]:
    name = override if override is not None else raw
    if name is None:
        return None, None, None
    layer, site = hook_to_site(name, where=str(where) if override is None else "hook")
    return name, layer, site


def _saelens_architecture(cfg: dict[str, Any], cfg_path: Path) -> tuple[Architecture, int | None]:
    arch = cfg.get("architecture", "standard")
    activation = cfg.get("activation_fn_str", cfg.get("activation_fn", "relu"))
    kwargs = cfg.get("activation_fn_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise InputError(f"{cfg_path}: 'activation_fn_kwargs' must be an object, got {kwargs!r}")
    if arch == "standard" and activation == "topk":
        arch = "topk"
    if arch == "standard":
        if activation not in ("relu", None):
            raise InputError(f"{cfg_path}: unsupported activation {activation!r} for a standard SAE (relu or topk)")
        return "relu", None
    if arch == "topk":
        k = cfg.get("k", kwargs.get("k"))
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InputError(
                f"{cfg_path}: a topk SAE needs an integer k >= 1 ('k' or activation_fn_kwargs.k), got {k!r}"
            )
        return "topk", k
    if arch == "jumprelu":
        return "jumprelu", None
    raise InputError(f"{cfg_path}: unsupported SAE architecture {arch!r}; supported: standard (relu), topk, jumprelu")


def _load_saelens(folder: Path, cfg_path: Path, hook_override: str | None) -> SAEFile:
    cfg = _read_json(cfg_path)
    weights_path = folder / SAELENS_WEIGHTS
    meta = cfg.get("metadata") or cfg.get("meta") or {}
    if not isinstance(meta, dict):
        meta = {}
    d_in = _int_field(cfg, "d_in", cfg_path)
    d_sae = _int_field(cfg, "d_sae", cfg_path)
    architecture, k = _saelens_architecture(cfg, cfg_path)
    if k is not None and k > d_sae:
        raise InputError(f"{cfg_path}: k={k} is larger than d_sae={d_sae}")
    norm = cfg.get("normalize_activations", "none")
    if norm not in (None, False, "none"):
        raise InputError(
            f"{cfg_path}: normalize_activations={norm!r} is not supported; fold the normalisation into the "
            "weights first (SAELens: fold_activation_norm_scaling_factor)"
        )
    if cfg.get("hook_head_index", meta.get("hook_head_index")) is not None:
        raise InputError(f"{cfg_path}: SAEs on a single attention head (hook_head_index) are not supported")
    if cfg.get("reshape_activations", "none") not in (None, "none"):
        raise InputError(f"{cfg_path}: reshape_activations={cfg['reshape_activations']!r} is not supported")
    raw_hook = meta.get("hook_name") or cfg.get("hook_name") or cfg.get("hook_point")
    hook, layer, site = _resolve_hook(raw_hook, hook_override, cfg_path)
    cfg_layer = meta.get("hook_layer", cfg.get("hook_layer"))
    if layer is not None and hook_override is None and isinstance(cfg_layer, int) and cfg_layer != layer:
        raise InputError(f"{cfg_path}: hook_layer {cfg_layer} disagrees with hook_name {hook!r}")

    tensors = _read_tensors(weights_path)
    note = f"d_in={d_in}, d_sae={d_sae} in cfg.json"
    W_enc = _check(_tensor(tensors, "W_enc", weights_path), "W_enc", (d_in, d_sae), weights_path, note)
    b_enc = _check(_tensor(tensors, "b_enc", weights_path), "b_enc", (d_sae,), weights_path, note)
    W_dec = _check(_tensor(tensors, "W_dec", weights_path), "W_dec", (d_sae, d_in), weights_path, note)
    b_dec = _check(_tensor(tensors, "b_dec", weights_path), "b_dec", (d_in,), weights_path, note)
    threshold = None
    if architecture == "jumprelu":
        if "threshold" in tensors:
            threshold = _check(tensors["threshold"], "threshold", (d_sae,), weights_path, note)
        elif "log_threshold" in tensors:
            threshold = _check(tensors["log_threshold"], "log_threshold", (d_sae,), weights_path, note).exp()
        else:
            raise InputError(f"{weights_path}: a jumprelu SAE needs a 'threshold' (or 'log_threshold') tensor")
    scaling = tensors.get("scaling_factor", tensors.get("finetuning_scaling_factor"))
    if scaling is not None and not torch.allclose(scaling.float(), torch.ones_like(scaling.float())):
        raise InputError(f"{weights_path}: a finetuning scaling factor other than 1 is not supported")
    if cfg.get("apply_b_dec_to_input", True) is False:
        b_enc = b_enc + b_dec @ W_enc  # our SAE subtracts b_dec from its input; same pre-activations
    sae = SparseAutoencoder.from_weights(SAEShape(d_in, d_sae, architecture, k), W_enc, b_enc, W_dec, b_dec, threshold)
    model_name = meta.get("model_name") or cfg.get("model_name")
    return _sae_file(sae, "saelens", (hook, layer, site), folder, weights_path, model_name, cfg)


def _load_sparsify(folder: Path, cfg_path: Path, hook_override: str | None) -> SAEFile:
    cfg = _read_json(cfg_path)
    weights_path = folder / SPARSIFY_WEIGHTS
    activation = cfg.get("activation", "topk")
    if activation != "topk":
        raise InputError(f"{cfg_path}: unsupported sparsify activation {activation!r}; only topk is supported")
    for flag in ("transcode", "skip_connection", "embed_skip", "gram_lookup", "signed"):
        if cfg.get(flag):
            raise InputError(f"{cfg_path}: sparsify option {flag}=true is not supported (a plain TopK SAE is)")
    d_in = _int_field(cfg, "d_in", cfg_path)
    k = _int_field(cfg, "k", cfg_path)
    num_latents = cfg.get("num_latents") or 0
    if isinstance(num_latents, bool) or not isinstance(num_latents, int) or num_latents < 0:
        raise InputError(f"{cfg_path}: 'num_latents' must be a non-negative integer, got {num_latents!r}")
    if num_latents == 0:
        num_latents = d_in * _int_field(cfg, "expansion_factor", cfg_path)
    if k > num_latents:
        raise InputError(f"{cfg_path}: k={k} is larger than the number of latents {num_latents}")
    # The hookpoint is the folder's name; a folder named otherwise names no hook.
    raw_hook = folder.resolve().name
    if hook_override is None and not (_HF_HOOK.match(raw_hook) or _TL_HOOK.match(raw_hook)):
        if raw_hook in ("embed_tokens", "embed", "wte") or raw_hook.endswith((".embed_tokens", ".wte")):
            raise InputError(f"{folder}: sparsify hookpoint {raw_hook!r} (embeddings) is not a supported SAE site")
        hook, layer, site = None, None, None
    else:
        hook, layer, site = _resolve_hook(raw_hook, hook_override, folder)

    tensors = _read_tensors(weights_path)
    if "W_skip" in tensors:
        raise InputError(f"{weights_path}: a skip connection (W_skip) is not supported")
    note = f"d_in={d_in}, num_latents={num_latents} in cfg.json"
    enc_w = _check(
        _tensor(tensors, "encoder.weight", weights_path), "encoder.weight", (num_latents, d_in), weights_path, note
    )
    enc_b = _check(_tensor(tensors, "encoder.bias", weights_path), "encoder.bias", (num_latents,), weights_path, note)
    W_dec = _check(_tensor(tensors, "W_dec", weights_path), "W_dec", (num_latents, d_in), weights_path, note)
    b_dec = _check(_tensor(tensors, "b_dec", weights_path), "b_dec", (d_in,), weights_path, note)
    sae = SparseAutoencoder.from_weights(
        SAEShape(d_in, num_latents, "topk", k), enc_w.T.contiguous(), enc_b, W_dec, b_dec
    )
    parent_cfg = folder.parent / "config.json"
    model_name = None
    if parent_cfg.is_file():
        try:
            model_name = json.loads(parent_cfg.read_text(encoding="utf-8")).get("model")
        except (OSError, ValueError, AttributeError):
            model_name = None
    return _sae_file(sae, "sparsify", (hook, layer, site), folder, weights_path, model_name, cfg)


def _sae_file(
    sae: SparseAutoencoder,
    fmt: SAEFormat,
    hook_site: tuple[str | None, int | None, SAESite | None],
    folder: Path,
    weights_path: Path,
    model_name: object,
    cfg: dict[str, Any],
) -> SAEFile:
    """The `SAEFile` of a loaded SAE: its shape read from the SAE, the digest and metrics from the folder."""
    hook, layer, site = hook_site
    return SAEFile(
        sae=sae,
        format=fmt,
        architecture=sae.shape.architecture,
        width=sae.shape.d_sae,
        d_in=sae.shape.d_in,
        k=sae.shape.k,
        hook=hook,
        layer=layer,
        site=site,
        digest=sha256_file(weights_path),
        path=folder,
        weights_path=weights_path,
        model_name=model_name if isinstance(model_name, str) else None,
        cfg=cfg,
        metrics=_read_metrics(folder),
    )


# ------------------------------------------------------------------------------------------- writing
def _jsonable(value: Any) -> Any:
    """Metrics as JSON: non-finite floats as strings (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def saelens_cfg(
    sae: SparseAutoencoder,
    *,
    hook_name: str,
    layer: int,
    model_name: str,
    context_size: int | None = None,
    dataset_path: str | None = None,
) -> dict[str, Any]:
    """A ``cfg.json`` readable by every SAELens version: the pre-6 top-level keys and the 6.x ``metadata``.

    No ``sae_lens_version`` is claimed, so SAELens ≥ 6 reads it through its pre-6 path (top-level keys).
    """
    shape = sae.shape
    architecture = {"relu": "standard", "topk": "topk", "jumprelu": "jumprelu"}[shape.architecture]
    activation = "topk" if shape.architecture == "topk" else "relu"
    kwargs: dict[str, Any] = {"k": shape.k} if shape.architecture == "topk" else {}
    cfg: dict[str, Any] = {
        "architecture": architecture,
        "d_in": shape.d_in,
        "d_sae": shape.d_sae,
        "dtype": "float32",
        "device": "cpu",
        "model_name": model_name,
        "hook_name": hook_name,
        "hook_layer": layer,
        "hook_head_index": None,
        "activation_fn_str": activation,
        "activation_fn_kwargs": kwargs,
        "apply_b_dec_to_input": True,
        "finetuning_scaling_factor": False,
        "normalize_activations": "none",
        "context_size": context_size,
        "dataset_path": dataset_path,
        "prepend_bos": True,
        "dataset_trust_remote_code": False,
        "sae_lens_training_version": None,
        "model_from_pretrained_kwargs": {},
        "seqpos_slice": [None],
        "neuronpedia_id": None,
        "metadata": {
            "model_name": model_name,
            "hook_name": hook_name,
            "hook_head_index": None,
            "context_size": context_size,
            "dataset_path": dataset_path,
            "prepend_bos": True,
        },
    }
    if shape.architecture == "topk":
        cfg["k"] = shape.k
    return cfg


def save_saelens(
    sae: SparseAutoencoder,
    folder: str | Path,
    *,
    hook_name: str,
    layer: int | None = None,
    model_name: str,
    extra_cfg: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write ``sae`` to ``folder`` in the SAELens layout, atomically (a temp folder beside it, then a rename).

    ``hook_name`` is a SAELens/TransformerLens name (``blocks.6.hook_resid_post``) or our site address
    (``L6.resid_post``, written as the former); ``layer`` defaults to the hook's. ``extra_cfg`` keys are
    merged into ``cfg.json`` (SAELens ignores keys it does not know); ``metrics`` go to ``metrics.json``.
    An existing folder is replaced (``overwrite``) or refused. Returns the folder.
    """
    from safetensors.torch import save_file

    target = Path(folder).expanduser()
    hook_layer, site = hook_to_site(hook_name, where="hook_name")
    if _SITE_FORM.match(hook_name.strip()) or _HF_HOOK.match(hook_name.strip()):
        hook_name = saelens_hook_name(hook_layer, site)
    if layer is None:
        layer = hook_layer
    elif layer != hook_layer:
        raise InputError(f"layer {layer} disagrees with hook_name {hook_name!r} (layer {hook_layer})")
    if target.exists() and not overwrite:
        raise InputError(f"{target} already exists")
    cfg = saelens_cfg(sae, hook_name=hook_name, layer=layer, model_name=model_name)
    if extra_cfg:
        cfg.update(_jsonable(extra_cfg))
    tensors = {
        name: getattr(sae, name).detach().to("cpu", torch.float32).contiguous()
        for name in ("W_enc", "b_enc", "W_dec", "b_dec")
    }
    if sae.shape.architecture == "jumprelu":
        tensors["threshold"] = sae.threshold.detach().to("cpu", torch.float32).contiguous()
    for name, tensor in tensors.items():
        if not torch.isfinite(tensor).all():
            raise InputError(f"cannot save the SAE: {name} has NaN or infinite values")

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        save_file(tensors, str(tmp / SAELENS_WEIGHTS))
        (tmp / SAELENS_CFG).write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        if metrics is not None:
            (tmp / METRICS_FILE).write_text(json.dumps(_jsonable(metrics), indent=2), encoding="utf-8")
        for path in tmp.iterdir():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
