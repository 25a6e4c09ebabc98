"""Hyperdimensional probes end to end: train one for a model (an artifact under the cache home and a
store record with its metrics), find and load the one to use, decode prompts with it.

**Training** (`train_probe`): draw the prompt splits (``tools.hdprobe.dataset``), capture every
prompt's last-token states of the layers and summarise them (``tools.hdprobe.features``; kept in the
run folder, so a resumed run does not capture again), build the seeded MAP codebook and each
prompt's target (``tools.hdprobe.vsa``), train the encoder (``tools.hdprobe.encoder``; resumable from
the run folder's checkpoint), measure decoding accuracy on the held-out pairs and relations, write
``probe.pt`` and record it (``store.hdprobes``). The run folder is
``<home>/hdprobes/<digest of the model's weights and the spec>/``; a finished run is reused.

**Decoding** (`HDProbe.decode`): parse each prompt into demonstration pairs and a query key (the
templates of ``data/dataset.json``; every word a codebook concept), encode its summary vector into
``v = sign(encoder(e))``, read the query's bound pair off ``v`` given the demonstrations, unbind it
with the query key and rank the codebook by cosine similarity — beside the model's own top next tokens.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from store.errors import InputError
from store.hdprobes import find_hd_probe, record_hd_probe
from store.models import HDProbeRecordCreate, HDProbeRecordRead
from tools.hdprobe.dataset import Prompt, PromptSet, Split, concepts, make_prompts, parse_prompt
from tools.hdprobe.encoder import Encoder, EncoderConfig, TrainOutcome, bipolar, train_encoder
from tools.hdprobe.features import (
    answer_token,
    capture_states,
    kmeans_summary,
    parse_layers,
    top_tokens,
)
from tools.hdprobe.vsa import Codebook, make_codebook, rank, target, unbind_answer
from tools.runtime.model_runtime import ModelRuntime

__all__ = [
    "Decoding",
    "HDProbe",
    "HDProbeSpec",
    "NextToken",
    "ProbeTraining",
    "RankedConcept",
    "decode_accuracy",
    "load_probe",
    "probe_for",
    "run_folder",
    "train_command",
    "train_probe",
]

#: Artifact file of a trained probe inside its run folder.
PROBE_FILE = "probe.pt"
#: The prompt splits, in the order their states are captured.
SPLITS: tuple[Split, ...] = ("train", "val", "test_pairs", "test_relations")


class HDProbeSpec(BaseModel):
    """What a probe is trained on and how (the ``hdprobe`` job's parameters besides the model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layers: str | None = Field(None, description="Layers read, START:STOP (default: the later half of the model).")
    dim: int = Field(4096, ge=64, le=65_536, description="Dimension of the hypervectors.")
    kmeans_k: int = Field(5, ge=1, le=64, description="k of the k-means over the layers' states.")
    n_train: int = Field(3000, ge=16, le=100_000, description="Training prompts.")
    n_val: int = Field(400, ge=8, le=20_000, description="Validation prompts (checkpoint selection).")
    n_test: int = Field(400, ge=8, le=20_000, description="Prompts of each test split.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Dataset, codebook and training seed.")
    hidden: int = Field(1024, ge=8, le=16_384, description="Width of the encoder's hidden layer.")
    epochs: int = Field(40, ge=1, le=1000)
    batch: int = Field(64, ge=1, le=4096)
    lr: float = Field(1e-3, gt=0, le=1.0)

    def encoder_config(self) -> EncoderConfig:
        """The encoder's shape and training settings."""
        return EncoderConfig(hidden=self.hidden, epochs=self.epochs, batch=self.batch, lr=self.lr, seed=self.seed)

    def prompts(self) -> PromptSet:
        """The prompt splits this spec trains and tests on."""
        return make_prompts(
            self.seed, n_train=self.n_train, n_val=self.n_val, n_test_pairs=self.n_test, n_test_relations=self.n_test
        )


class RankedConcept(BaseModel):
    """A concept of the decoded ranking and its cosine similarity."""

    concept: str
    similarity: float


class NextToken(BaseModel):
    """One of the model's most likely next tokens."""

    token: str
    probability: float


class Decoding(BaseModel):
    """One prompt decoded: what it was parsed into, the ranked concepts, the model's next tokens, and
    whether the two agree."""

    text: str
    pairs: list[tuple[str, str]] = Field(description="The demonstration pairs read from the prompt.")
    query: str = Field(description="The key whose value the prompt asks for.")
    concepts: list[RankedConcept] = Field(description="Decoded concepts, most similar first.")
    model_next_tokens: list[NextToken]
    agrees_top1: bool = Field(description="The top decoded concept begins with the model's most likely token.")
    in_model_topk: bool = Field(description="The top decoded concept begins with one of the model's top tokens.")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class HDProbe:
    """A loaded probe: its encoder, codebook, layers and k-means k (and its store record)."""

    def __init__(
        self,
        encoder: Encoder,
        codebook: Codebook,
        layers: tuple[int, int],
        kmeans_k: int,
        record: HDProbeRecordRead | None = None,
    ) -> None:
        self.encoder = encoder.eval()
        self.codebook = codebook
        self.layers = layers
        self.kmeans_k = kmeans_k
        self.record = record

    def summaries(self, runtime: ModelRuntime, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The texts' summary vectors [N, d_model] and next-token logits [N, vocab]."""
        states = capture_states(runtime, texts, self.layers)
        return kmeans_summary(states.states, self.kmeans_k), states.logits

    def encode(self, summaries: torch.Tensor) -> torch.Tensor:
        """``sign(encoder(e))`` of summary vectors [N, d_model]: bipolar hypervectors [N, D]."""
        with torch.no_grad():
            return bipolar(self.encoder(summaries.float()))

    def rank_answer(
        self, v: torch.Tensor, known: Sequence[tuple[str, str]], query: str, k: int, candidates: Codebook | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` concepts (of ``candidates``, default the whole codebook) nearest the answer decoded from ``v``."""
        answer = unbind_answer(self.codebook, known, query, v)
        return rank(candidates or self.codebook, answer, k)

    def decode(
        self, runtime: ModelRuntime, texts: list[str], k: int = 5, candidates: Sequence[str] | None = None
    ) -> list[Decoding]:
        """Decode each prompt (module docstring). InputError (one line) for a prompt in no template, or
        an unknown concept in a prompt or among ``candidates``."""
        parsed = [parse_prompt(text, tuple(self.codebook.concepts)) for text in texts]
        pool: Codebook | None = None
        if candidates:
            names = list(dict.fromkeys(self.codebook.canonical(c) for c in candidates))
            pool = Codebook(names, self.codebook.vectors[[self.codebook.index(c) for c in names]])
        summaries, logits = self.summaries(runtime, texts)
        vectors = self.encode(summaries)
        out = []
        for i, (text, (known, query)) in enumerate(zip(texts, parsed, strict=True)):
            ranked = self.rank_answer(vectors[i], known, query, k, pool)
            tokens = top_tokens(runtime, logits[i], k) if logits is not None else []
            first = answer_token(runtime, ranked[0][0])
            out.append(
                Decoding(
                    text=text,
                    pairs=known,
                    query=query,
                    concepts=[RankedConcept(concept=c, similarity=round(s, 6)) for c, s in ranked],
                    model_next_tokens=[NextToken(token=t, probability=round(p, 6)) for _, t, p in tokens],
                    agrees_top1=bool(tokens) and tokens[0][0] == first,
                    in_model_topk=any(tid == first for tid, _, _ in tokens),
                )
            )
        return out


# ----------------------------------------------------------------------------------------- training
def run_folder(home: Path, runtime: ModelRuntime, spec: HDProbeSpec) -> Path:
    """``<home>/hdprobes/<sha256 of the weights digest and the spec, 16 hex>/``."""
    key = json.dumps({"model": runtime.loaded.digest, "spec": spec.model_dump(mode="json")}, sort_keys=True)
    return home.expanduser() / "hdprobes" / hashlib.sha256(key.encode()).hexdigest()[:16]


def decode_accuracy(probe: HDProbe, summaries: torch.Tensor, prompts: Sequence[Prompt], k: int = 5) -> dict[str, float]:
    """Top-1 and top-k accuracy of the decoded ranking against each prompt's answer."""
    if not prompts:
        return {"top1": 0.0, f"top{k}": 0.0, "n": 0}
    vectors = probe.encode(summaries)
    hits1 = hitsk = 0
    for v, prompt in zip(vectors, prompts, strict=True):
        ranked = [c for c, _ in probe.rank_answer(v, list(prompt.pairs[:-1]), prompt.query, k)]
        hits1 += ranked[0] == prompt.answer
        hitsk += prompt.answer in ranked
    return {"top1": hits1 / len(prompts), f"top{k}": hitsk / len(prompts), "n": len(prompts)}


class ProbeTraining(BaseModel):
    """What training a probe did: the record, the run folder, the training outcome and the metrics."""

    record: HDProbeRecordRead
    folder: str
    reused: bool
    training: TrainOutcome | None
    metrics: dict[str, Any]


def _features(
    runtime: ModelRuntime, prompts: PromptSet, layers: tuple[int, int], k: int, path: Path, progress: bool
) -> dict[Split, torch.Tensor]:
    if path.is_file():
        saved: dict[Split, torch.Tensor] = torch.load(path, weights_only=True)
        return saved
    texts = [p.text for s in SPLITS for p in prompts.split(s)]
    states = capture_states(runtime, texts, layers, logits=False, progress=progress)
    summary = kmeans_summary(states.states, k)
    out: dict[Split, torch.Tensor] = {}
    at = 0
    for s in SPLITS:
        n = len(prompts.split(s))
        out[s] = summary[at : at + n].contiguous()
        at += n
    tmp = path.with_name(path.name + ".tmp")
    torch.save(out, tmp)
    tmp.replace(path)
    return out


def train_probe(
    runtime: ModelRuntime,
    engine: Engine,
    home: Path,
    spec: HDProbeSpec,
    *,
    model: str | None = None,
    job_id: int | None = None,
    progress: bool = False,
    resume: bool = True,
    on_step: Callable[[int, int], None] | None = None,
) -> ProbeTraining:
    """Train (or resume, or reuse) a probe for ``runtime``'s model (module docstring) and record it.

    ``model`` is the name the record is filed under (default: the loaded model's name); ``resume=False``
    starts over. ``on_step(done, total)``: capture, every epoch, the evaluation.
    """
    started = time.perf_counter()
    layers = parse_layers(spec.layers, runtime.shape.n_layers)
    folder = run_folder(home, runtime, spec)
    folder.mkdir(parents=True, exist_ok=True)
    if not resume:
        for name in ("features.pt", "checkpoint.pt", PROBE_FILE):
            (folder / name).unlink(missing_ok=True)
    total = spec.epochs + 2
    name = model or runtime.loaded.name
    artifact = folder / PROBE_FILE
    if artifact.is_file():
        saved = torch.load(artifact, weights_only=False)
        existing = find_hd_probe(engine, runtime.loaded.digest, layers, spec.dim)
        if existing is None or existing.path != str(artifact) or existing.digest != _sha256(artifact):
            existing = record_hd_probe(
                engine, _record_data(name, runtime, spec, layers, artifact, saved["metrics"], job_id)
            )
        if on_step is not None:
            on_step(total, total)
        return ProbeTraining(record=existing, folder=str(folder), reused=True, training=None, metrics=saved["metrics"])
    prompts = spec.prompts()
    features = _features(runtime, prompts, layers, spec.kmeans_k, folder / "features.pt", progress)
    if on_step is not None:
        on_step(1, total)
    codebook = make_codebook(concepts(), spec.dim, spec.seed)
    targets = {s: torch.stack([target(codebook, p.pairs) for p in prompts.split(s)]) for s in features}
    encoder, outcome = train_encoder(
        features["train"],
        targets["train"],
        features["val"],
        targets["val"],
        spec.encoder_config(),
        checkpoint=folder / "checkpoint.pt",
        progress=progress,
        on_epoch=(lambda done, _: on_step(done + 1, total)) if on_step is not None else None,
    )
    probe = HDProbe(encoder, codebook, layers, spec.kmeans_k)
    metrics: dict[str, Any] = {
        "val_cosine": outcome.best_val_cosine,
        "best_epoch": outcome.best_epoch,
        "train_seconds": outcome.seconds,
        "seconds": time.perf_counter() - started,
        "prompts": {s: len(prompts.split(s)) for s in features},
    }
    for split in ("val", "test_pairs", "test_relations"):
        metrics[split] = decode_accuracy(probe, features[split], prompts.split(split))
    torch.save(
        {
            "spec": spec.model_dump(mode="json"),
            "model": name,
            "model_digest": runtime.loaded.digest,
            "layers": list(layers),
            "kmeans_k": spec.kmeans_k,
            "d_in": int(features["train"].shape[1]),
            "concepts": list(codebook.concepts),
            "codebook": codebook.vectors.as_subclass(torch.Tensor).to(torch.int8),
            "encoder": encoder.state_dict(),
            "metrics": metrics,
        },
        artifact.with_name(PROBE_FILE + ".tmp"),
    )
    artifact.with_name(PROBE_FILE + ".tmp").replace(artifact)
    record = record_hd_probe(engine, _record_data(name, runtime, spec, layers, artifact, metrics, job_id))
    if on_step is not None:
        on_step(total, total)
    return ProbeTraining(record=record, folder=str(folder), reused=False, training=outcome, metrics=metrics)


def _record_data(
    name: str,
    runtime: ModelRuntime,
    spec: HDProbeSpec,
    layers: tuple[int, int],
    artifact: Path,
    metrics: dict[str, Any],
    job_id: int | None,
) -> HDProbeRecordCreate:
    return HDProbeRecordCreate(
        job_id=job_id,
        model=name,
        model_digest=runtime.loaded.digest,
        layer_start=layers[0],
        layer_stop=layers[1],
        dim=spec.dim,
        hidden=spec.hidden,
        n_concepts=len(concepts()),
        seed=spec.seed,
        path=artifact,
        digest=_sha256(artifact),
        metrics=metrics,
    )


# ------------------------------------------------------------------------------------------ loading
_LOADED: dict[tuple[str, str], HDProbe] = {}
_LOCK = threading.Lock()
#: Loaded probes kept in memory (the oldest is dropped beyond this).
MAX_LOADED = 4


def load_probe(record: HDProbeRecordRead) -> HDProbe:
    """The probe a record names, loaded from its artifact (kept in memory: at most ``MAX_LOADED``).
    InputError when the artifact is missing or not the file recorded."""
    key = (record.path, record.digest)
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
    path = Path(record.path)
    if not path.is_file() or _sha256(path) != record.digest:
        raise InputError(
            f"the artifact of HD probe {record.id} ({path}) is missing or changed; retrain it with "
            f"`autointerp hdprobe train --model {record.model} --layers {record.layers}`"
        )
    saved = torch.load(path, weights_only=False)
    spec = HDProbeSpec.model_validate(saved["spec"])
    encoder = Encoder(int(saved["d_in"]), spec.dim, spec.hidden, 0.0)
    encoder.load_state_dict(saved["encoder"])
    codebook = Codebook(saved["concepts"], saved["codebook"].float())
    probe = HDProbe(
        encoder, codebook, (int(saved["layers"][0]), int(saved["layers"][1])), int(saved["kmeans_k"]), record
    )
    with _LOCK:
        _LOADED[key] = probe
        while len(_LOADED) > MAX_LOADED:
            _LOADED.pop(next(iter(_LOADED)))
    return probe


def train_command(model: str, layers: tuple[int, int] | None) -> str:
    """The command that trains a probe for ``model`` (at ``layers`` when given)."""
    return f"autointerp hdprobe train --model {model}" + (f" --layers {layers[0]}:{layers[1]}" if layers else "")


def probe_for(engine: Engine, runtime: ModelRuntime, model: str, layers: str | None = None) -> HDProbe:
    """The newest probe trained on ``runtime``'s weights (reading ``layers``, START:STOP, when given),
    loaded. InputError naming the command that trains one when there is none."""
    wanted = parse_layers(layers, runtime.shape.n_layers) if layers else None
    record = find_hd_probe(engine, runtime.loaded.digest, wanted)
    if record is None:
        where = f" at layers {wanted[0]}:{wanted[1]}" if wanted else ""
        raise InputError(f"no HD probe is trained for {model}{where}; train one with `{train_command(model, wanted)}`")
    return load_probe(record)
