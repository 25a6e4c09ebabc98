"""The model runtime: batched capture and intervention on any supported Hugging Face causal LM.

One forward pass serves a whole request: every captured site or unit, every intervention (each on
its own batch rows). Sequences are right-padded, so real tokens keep positions 0..n-1 and never
attend to padding; padded positions are cut from every result. Unless logits are asked for, the
forward **stops right after the deepest site the request needs** (a hook raises a private
exception that the runtime catches), so reading layer 1 costs about two blocks, not thirty.

**SAE latents.** SAEs are *attached* to a runtime (``attach_sae``), each to one model site under a
name; ``resolve`` maps ``L6.sae.12`` / ``L6.sae[name].12`` / ``L6.sae[name]`` onto the site the SAE
reads. Capturing a latent encodes the site's vector; an intervention on latents edits the site with
the SAE's error term kept (``tools.runtime.latents``). Whoever owns the registry of SAEs (the tool
context, from the store) sets ``sae_source``: a callback that attaches this model's registered SAEs
(those not attached yet), called lazily — only when an address names an SAE, at most once per
``SAE_REFRESH_S`` seconds — so a runtime that never sees a latent never reads the store.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from store.errors import AddressError, InputError
from tools.runtime.adapters import HookPoint
from tools.runtime.addresses import SAE_NAME_PATTERN, Site, Unit, check_site, check_unit, parse_target
from tools.runtime.interventions import Intervention, apply_op, patch_values, select_positions
from tools.runtime.latents import SAE_SITES, AttachedSAE, apply_latent_change, encode, latent_slice, weights_digest
from tools.runtime.loading import LoadedModel
from tools.runtime.sae import SparseAutoencoder
from tools.runtime.site_text_cache import SiteTextCache

LogitsMode = Literal["none", "last", "all"]
#: Seconds between two calls of a runtime's ``sae_source`` (how soon a newly registered SAE is seen).
SAE_REFRESH_S = 5.0
_SAE_NAME = re.compile(rf"^{SAE_NAME_PATTERN}$")


class TruncationWarning(UserWarning):
    """A text was longer than the model's context and was truncated."""


class _StopForward(Exception):
    """Raised by the deepest hook of a request to end the forward pass early."""


@dataclass(frozen=True)
class Target:
    """A resolved capture/intervention target: its address, site, and column selection.

    For SAE latents ``sae`` is the attached SAE, ``site`` the model site it reads, and ``index`` a
    latent (None: every latent, the whole code).
    """

    address: str
    site: Site
    index: int | None  # a single coordinate of the site (or latent of the SAE), or None for the whole vector
    sae: AttachedSAE | None = None

    @property
    def is_unit_scalar(self) -> bool:
        """True when the target is one coordinate (results are [T] rather than [T, width])."""
        return self.index is not None

    @property
    def container(self) -> str:
        """The whole-vector address a unit belongs to: its site (``L3.mlp``), or its SAE (``L6.sae[name]``)."""
        return self.sae.address if self.sae is not None else str(self.site)


@dataclass
class RunResult:
    """Per-text results of a run (padding removed).

    tokens:   token ids of each text (the tokenizer's default encoding, truncated to the context)
    captures: address → one tensor per text, [T_i] for a unit, [T_i, width] for a site
    logits:   one tensor per text: [T_i, vocab] ("all") or [vocab] ("last"); None when not asked
    """

    tokens: list[list[int]]
    captures: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    logits: list[torch.Tensor] | None = None


@dataclass
class _HookPlan:
    point: HookPoint
    captures: list[Target] = field(default_factory=list)
    interventions: list[tuple[Intervention, Target]] = field(default_factory=list)
    stop: bool = False


class ModelRuntime:
    """Capture and intervene on a loaded model (see the module docstring)."""

    def __init__(self, loaded: LoadedModel, *, batch_size: int = 16) -> None:
        self.loaded = loaded
        self.model: nn.Module = loaded.model
        self.adapter = loaded.adapter
        self.shape = loaded.shape
        self.batch_size = batch_size
        self.device = next(self.model.parameters()).device
        self.saes: dict[str, AttachedSAE] = {}  # by name, in the order attached
        self.sae_source: Callable[[ModelRuntime], None] | None = None
        self.sae_errors: dict[str, str] = {}  # registered SAEs sae_source could not attach, by name
        self._sae_checked = float("-inf")
        self.site_texts = SiteTextCache()  # whole-site activations of texts run here (tools.runtime.queries)

    # ----------------------------------------------------------------- SAEs
    def attach_sae(
        self, layer: int, name: str, sae: SparseAutoencoder, site: str = "resid_post", *, digest: str | None = None
    ) -> AttachedSAE:
        """Attach ``sae`` to ``L{layer}.{site}`` under ``name`` (replacing an SAE of that name).

        ``site`` is one of ``SAE_SITES``; ``digest`` identifies the SAE in caches (default: a digest
        of its weights). InputError when the name is malformed, the site unknown, the layer out of
        range or the SAE's input width not the site's.
        """
        if not _SAE_NAME.match(name):
            raise InputError(
                f"bad SAE name {name!r}: use letters, digits, '_', '.' or '-' (starting with a letter or digit, "
                "64 characters at most)"
            )
        if site not in SAE_SITES:
            raise InputError(f"an SAE cannot be attached to site {site!r}; choose one of {', '.join(SAE_SITES)}")
        model_site = Site(layer, site)  # type: ignore[arg-type]
        try:
            check_site(model_site, self.shape)
        except AddressError as exc:
            raise InputError(f"SAE {name!r}: {exc}") from None
        width = model_site.width(self.shape)
        if sae.shape.d_in != width:
            what = "d_mlp" if site == "mlp" else "d_model"
            raise InputError(
                f"SAE {name!r} reads vectors of {sae.shape.d_in} values, but {model_site} of "
                f"{self.loaded.name} has {width} ({what})"
            )
        sae = sae.to(device=self.device, dtype=torch.float32).eval()  # float32 whatever the model's dtype
        sae.requires_grad_(False)
        attached = AttachedSAE(name, model_site, sae, digest or weights_digest(sae))
        self.saes[name] = attached
        return attached

    def detach_sae(self, name: str) -> None:
        """Forget the SAE ``name`` (nothing happens when none is attached under it)."""
        self.saes.pop(name, None)

    def attached_saes(self, layer: int | None = None) -> list[AttachedSAE]:
        """The attached SAEs (of ``layer`` when given), in the order attached; asks ``sae_source`` first."""
        self._refresh_saes()
        return [a for a in self.saes.values() if layer is None or a.layer == layer]

    def sae_fingerprint(self) -> str:
        """The attached SAEs as ``name@digest`` pairs (what a cached result on latents depends on)."""
        self._refresh_saes()
        return ",".join(f"{a.name}@{a.digest}" for a in sorted(self.saes.values(), key=lambda a: a.name))

    def refresh_saes(self) -> None:
        """Ask ``sae_source`` now, whenever it was last asked."""
        self._sae_checked = float("-inf")
        self._refresh_saes()

    def _refresh_saes(self) -> None:
        if self.sae_source is None or time.monotonic() - self._sae_checked < SAE_REFRESH_S:
            return
        self.sae_source(self)
        self._sae_checked = time.monotonic()

    def _registered(self) -> str:
        listed = ", ".join(a.describe() for a in self.saes.values()) or "none that could be loaded"
        broken = "".join(f"; SAE {name!r} cannot be loaded: {why}" for name, why in self.sae_errors.items())
        return f"registered for {self.loaded.name}: {listed}{broken}"

    def _sae_of(self, site: Site, address: str) -> AttachedSAE:
        """The attached SAE an address-level ``L{l}.sae[name]`` site names; AddressError listing the
        registered SAEs when there is none or (without a name) several on the layer."""
        self._refresh_saes()
        layer = site.layer
        if site.sae is not None and site.sae in self.sae_errors:
            raise AddressError(
                f"{address}: SAE {site.sae!r} is registered but cannot be loaded: {self.sae_errors[site.sae]}"
            )
        if not self.saes and not self.sae_errors:
            raise AddressError(
                f"{address}: no SAE is registered for {self.loaded.name} (register one with `autointerp sae add`)"
            )
        if site.sae is not None:
            attached = self.saes.get(site.sae)
            if attached is None:
                raise AddressError(f"{address}: no SAE named {site.sae!r}; {self._registered()}")
            if attached.layer != layer:
                raise AddressError(
                    f"{address}: SAE {site.sae!r} reads layer {attached.layer}, not {layer} ({attached.address})"
                )
            return attached
        on_layer = [a for a in self.saes.values() if a.layer == layer]
        if not on_layer:
            raise AddressError(f"{address}: no SAE is registered for layer {layer}; {self._registered()}")
        if len(on_layer) > 1:
            names = ", ".join(a.name for a in on_layer)
            raise AddressError(
                f"{address}: layer {layer} has several SAEs ({names}); name one, e.g. L{layer}.sae[{on_layer[0].name}]"
            )
        return on_layer[0]

    def width(self, target: Target) -> int:
        """Number of values of a whole-vector target (an SAE's code: its latents)."""
        return target.sae.width if target.sae is not None else target.site.width(self.shape)

    # ----------------------------------------------------------------- addresses
    def resolve(self, address: str) -> Target:
        """Parse and range-check a site or unit address for this model (SAE latents against the
        attached SAEs; the canonical address of a latent always names its SAE)."""
        parsed = parse_target(address)
        if isinstance(parsed, Unit):
            check_unit(parsed, self.shape)
            if parsed.kind == "sae":
                attached = self._sae_of(parsed.site, address.strip())
                assert parsed.index is not None
                if not 0 <= parsed.index < attached.width:
                    raise AddressError(
                        f"latent {parsed.index} out of range in {address.strip()}: {attached.address} has latents "
                        f"0..{attached.width - 1}"
                    )
                return Target(f"{attached.address}.{parsed.index}", attached.site, parsed.index, attached)
            return Target(str(parsed), parsed.site, parsed.index)
        check_site(parsed, self.shape)
        if parsed.kind == "sae":
            attached = self._sae_of(parsed, address.strip())
            return Target(attached.address, attached.site, None, attached)
        return Target(str(parsed), parsed, None)

    # ----------------------------------------------------------------- tokens
    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (default encoding); empty texts are an error, long ones truncated."""
        if isinstance(texts, str):
            raise InputError("texts must be a list of strings, not one string")
        if not texts:
            raise InputError("no texts given")
        out: list[list[int]] = []
        limit = self.loaded.max_length
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"text {i} is empty; give at least one non-blank character")
            ids = list(self.loaded.tokenizer(text)["input_ids"])
            if len(ids) > limit:
                warnings.warn(
                    f"text {i} has {len(ids)} tokens, more than the model's context of {limit}; "
                    f"truncated to the first {limit}",
                    TruncationWarning,
                    stacklevel=2,
                )
                ids = ids[:limit]
            out.append(ids)
        return out

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        """Each token decoded on its own (what a person reads in a per-token table)."""
        tokenizer = self.loaded.tokenizer
        return [tokenizer.decode([i]) for i in ids]

    def pad(self, batch: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad token lists into (input_ids, attention_mask)."""
        width = max(len(ids) for ids in batch)
        pad_id = self.loaded.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            mask[row, : len(ids)] = 1
        return input_ids.to(self.device), mask.to(self.device)

    # ----------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        capture: Sequence[str] = (),
        interventions: Sequence[Intervention] = (),
        *,
        logits: bool = False,
        lengths: Sequence[int] | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """One forward of a padded batch; returns padded captures ([B, T, w] or [B, T]) and logits.

        ``lengths`` are the real lengths of the rows (derived from the mask when omitted); rows and
        positions of interventions refer to this batch. Without ``logits`` the pass stops after the
        deepest site needed.
        """
        if lengths is None:
            lengths = (
                attention_mask.sum(dim=1).tolist()
                if attention_mask is not None
                else [input_ids.shape[1]] * input_ids.shape[0]
            )
        targets = [self.resolve(a) for a in capture]
        plans = self._plan(targets, interventions, stop_early=not logits)
        captured: dict[str, torch.Tensor] = {}
        with self._hooks(plans, captured, list(lengths), input_ids.shape[0]), torch.inference_mode():
            try:
                out = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
            except _StopForward:
                out = None
        return captured, (out.logits if out is not None else None)

    def run(
        self,
        texts: Sequence[str],
        capture: Sequence[str] = (),
        interventions: Sequence[Intervention] = (),
        *,
        logits: LogitsMode = "none",
    ) -> RunResult:
        """Run texts through the model in batches; capture targets, apply interventions.

        Intervention rows refer to indices into ``texts``; different rows may carry different
        interventions, all applied in the same forward.
        """
        token_lists = self.tokenize(texts)
        result = RunResult(tokens=token_lists, logits=[] if logits != "none" else None)
        addresses = [self.resolve(a).address for a in capture]
        for address in addresses:
            result.captures[address] = []
        for start in range(0, len(token_lists), self.batch_size):
            batch = token_lists[start : start + self.batch_size]
            lengths = [len(ids) for ids in batch]
            input_ids, mask = self.pad(batch)
            local = [_localise(iv, start, len(batch)) for iv in interventions]
            captured, batch_logits = self.forward(
                input_ids,
                mask,
                addresses,
                [iv for iv in local if iv is not None],
                logits=logits != "none",
                lengths=lengths,
            )
            for address in addresses:
                tensor = captured[address]
                result.captures[address].extend(tensor[row, :n] for row, n in enumerate(lengths))
            if result.logits is not None and batch_logits is not None:
                for row, n in enumerate(lengths):
                    row_logits = batch_logits[row, :n]
                    result.logits.append(row_logits[-1] if logits == "last" else row_logits)
        return result

    # ----------------------------------------------------------------- hooks
    def _plan(
        self, targets: Sequence[Target], interventions: Sequence[Intervention], *, stop_early: bool
    ) -> dict[tuple[int, str], _HookPlan]:
        plans: dict[tuple[int, str], _HookPlan] = {}

        def plan_for(site: Site) -> _HookPlan:
            point = self.adapter.hook_point(site)
            key = (id(point.module), point.kind)
            if key not in plans:
                plans[key] = _HookPlan(point)
            return plans[key]

        for target in targets:
            plan_for(target.site).captures.append(target)
        for iv in interventions:
            target = self.resolve(iv.target)
            plan_for(target.site).interventions.append((iv, target))
        if stop_early and targets:
            # Interventions only matter if they come before the last capture; the forward ends there.
            deepest = max(targets, key=lambda t: t.site.stage)
            plan_for(deepest.site).stop = True
        return plans

    @contextmanager
    def _hooks(
        self,
        plans: dict[tuple[int, str], _HookPlan],
        captured: dict[str, torch.Tensor],
        lengths: list[int],
        batch_rows: int,
    ) -> Iterator[None]:
        handles = []
        try:
            for plan in plans.values():
                fn = self._make_hook(plan, captured, lengths, batch_rows)
                if plan.point.kind == "pre":
                    handles.append(plan.point.module.register_forward_pre_hook(fn, with_kwargs=True))
                else:
                    handles.append(plan.point.module.register_forward_hook(fn, with_kwargs=True))
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _make_hook(
        self, plan: _HookPlan, captured: dict[str, torch.Tensor], lengths: list[int], batch_rows: int
    ) -> Any:
        adapter = self.adapter

        def process(x: torch.Tensor) -> torch.Tensor:
            if plan.interventions:
                x = self._intervene(x, plan.interventions, lengths, batch_rows)
            for target in plan.captures:
                cols = adapter.site_slice(target.site)
                value = x if cols is None else x[..., cols]
                if target.sae is not None:
                    captured[target.address] = encode(target.sae, value, target.index)
                else:
                    picked = value[..., target.index] if target.index is not None else value
                    # A model may add into a module's output in place after its hooks ran (Falcon adds
                    # the attention output into the MLP's): keep a copy of what was read.
                    captured[target.address] = picked.clone() if plan.point.kind == "post" else picked
            return x

        if plan.point.kind == "pre":

            def pre_hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
                if args:
                    new = process(args[0])
                    if plan.stop:
                        raise _StopForward
                    return ((new, *args[1:]), kwargs) if plan.interventions else None
                new = process(kwargs["hidden_states"])
                if plan.stop:
                    raise _StopForward
                return (args, {**kwargs, "hidden_states": new}) if plan.interventions else None

            return pre_hook

        def post_hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
            is_tuple = isinstance(output, tuple)
            new = process(output[0] if is_tuple else output)
            if plan.stop:
                raise _StopForward
            if not plan.interventions:
                return None
            return (new, *output[1:]) if is_tuple else new

        return post_hook

    def _intervene(
        self,
        x: torch.Tensor,
        interventions: list[tuple[Intervention, Target]],
        lengths: list[int],
        batch_rows: int,
    ) -> torch.Tensor:
        original = x
        x = x.clone()
        for iv, target in interventions:
            rows = iv.rows if iv.rows is not None else tuple(range(batch_rows))
            row_idx, pos_idx, counts = select_positions(lengths, rows, iv.positions, iv.target)
            row_idx, pos_idx = row_idx.to(x.device), pos_idx.to(x.device)
            cols = self.adapter.site_slice(target.site) or slice(None)
            view = x[..., cols]
            if target.sae is not None:
                view[row_idx, pos_idx] = self._edit_latents(
                    iv, target, view[row_idx, pos_idx], original[..., cols], lengths, counts, pos_idx
                )
                continue
            if target.index is not None:
                view = view[..., target.index : target.index + 1]
            current = view[row_idx, pos_idx]
            width = current.shape[-1]
            batch_mean = None
            if iv.op == "mean" and iv.value is None:
                base = original[..., cols]
                if target.index is not None:
                    base = base[..., target.index : target.index + 1]
                real = torch.cat([base[r, :n] for r, n in enumerate(lengths)])
                batch_mean = real.mean(dim=0)
            patch = patch_values(iv, counts, pos_idx, width, current) if iv.op == "patch" else None
            view[row_idx, pos_idx] = apply_op(iv, current, batch_mean=batch_mean, patch=patch)
        return x

    @staticmethod
    def _edit_latents(
        iv: Intervention,
        target: Target,
        current: torch.Tensor,
        original: torch.Tensor,
        lengths: list[int],
        counts: list[int],
        pos_idx: torch.Tensor,
    ) -> torch.Tensor:
        """New site vectors for the selected cells ``current`` [cells, d_in] after ``iv`` changed the
        target's latents; the SAE's error term is kept (``tools.runtime.latents``)."""
        assert target.sae is not None
        latents = target.sae.sae.encode(current)[:, latent_slice(target.index)]
        batch_mean = None
        if iv.op == "mean" and iv.value is None:
            real = torch.cat([original[r, :n] for r, n in enumerate(lengths)])
            batch_mean = target.sae.sae.encode(real)[:, latent_slice(target.index)].mean(dim=0)
        width = latents.shape[-1]
        patch = patch_values(iv, counts, pos_idx, width, latents) if iv.op == "patch" else None
        new = apply_op(iv, latents, batch_mean=batch_mean, patch=patch)
        return apply_latent_change(target.sae, current, latents, new, target.index)


def _localise(iv: Intervention, start: int, size: int) -> Intervention | None:
    """Map an intervention's text-level rows onto one batch; None when it touches no row of it.

    A per-row ``source`` (a sequence, one tensor per selected text) is sliced along with the rows.
    """
    per_row_source = iv.source is not None and not isinstance(iv.source, torch.Tensor)
    if iv.rows is None:
        picked = [(start + local, local) for local in range(size)]
    else:
        picked = [(k, r - start) for k, r in enumerate(iv.rows) if start <= r < start + size]
        if not picked:
            return None
    source = iv.source
    if per_row_source:
        assert iv.source is not None
        all_sources = list(iv.source)
        source = [all_sources[k] for k, _ in picked]
    return Intervention(
        target=iv.target,
        op=iv.op,
        value=iv.value,
        rows=tuple(local for _, local in picked),
        positions=iv.positions,
        source=source,
    )
