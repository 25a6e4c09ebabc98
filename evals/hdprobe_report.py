"""Evaluation of hyperdimensional probes: how often the decoded concept is the analogy's answer, on
held-out pairs of seen relations and on held-out relations, beside two baselines measured in the
same run on the same states.

Run ``python -m evals.hdprobe_report`` (the embedded model; ``--model PATH`` for another). One run:

1. draws the prompt splits (``tools.hdprobe.dataset``; ``--n-train/--n-val/--n-test`` subsample them),
   captures every prompt's last-token ``resid_post`` at the layers (default: the later half) once;
2. **HD probe**: summarises the states (k-means, k = 5, centroids summed), trains the encoder on the
   training prompts (best epoch by validation cosine) and ranks the codebook for each test prompt
   after unbinding (``tools.hdprobe.probe``): top-1 / top-5 = the answer concept first / in the top 5;
3. **linear probe**: multinomial logistic regression (torch, AdamW, weight decay) from the same
   standardised summary vector to the answer concept (all codebook concepts are classes; the epoch
   with the best validation accuracy is kept);
4. **logit lens**: every layer's last-token state through the final norm and the unembedding; a hit
   when the answer's first token (``" " + answer``) is the top-1 / among the top-5 tokens. Reported
   at the layer best on the validation prompts, and at the last layer (the model's own prediction).

Writes ``report.md`` and ``report.json`` to ``--out`` (default ``<home>/hdprobe_report/``). Torch runs
on ``--threads`` threads (default 1: on a small shared machine one thread is much faster).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel

from store.settings import Settings
from tools.hdprobe.dataset import Prompt, concepts
from tools.hdprobe.encoder import train_encoder
from tools.hdprobe.features import answer_token, capture_states, kmeans_summary, logit_lens_topk, parse_layers
from tools.hdprobe.probe import HDProbe, HDProbeSpec, decode_accuracy
from tools.hdprobe.vsa import make_codebook, target
from tools.runtime.embedded import EMBEDDED_NAME
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime

__all__ = ["HDProbeReport", "linear_probe_accuracy", "logit_lens_accuracy", "main", "run_report"]

SPLITS = ("train", "val", "test_pairs", "test_relations")
TESTS = ("test_pairs", "test_relations")


class HDProbeReport(BaseModel):
    """The numbers of one run (accuracies are fractions of the split's prompts)."""

    model: str
    layers: tuple[int, int]
    spec: HDProbeSpec
    prompts: dict[str, int]
    hd_probe: dict[str, dict[str, float]]
    linear_probe: dict[str, dict[str, float]]
    logit_lens_best: dict[str, dict[str, float]]
    logit_lens_best_layer: int
    logit_lens_last: dict[str, dict[str, float]]
    val_cosine: float
    best_epoch: int
    seconds: dict[str, float]


def linear_probe_accuracy(
    x: dict[str, torch.Tensor], y: dict[str, torch.Tensor], n_classes: int, *, epochs: int = 300, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Multinomial logistic regression on standardised ``x["train"]`` → class ``y["train"]``; the
    epoch best on ``val`` is kept; top-1 / top-5 accuracy on every split."""
    torch.manual_seed(seed)
    mean, std = x["train"].mean(0), x["train"].std(0).clamp(min=1e-6)
    z = {s: (v - mean) / std for s, v in x.items()}
    layer = torch.nn.Linear(z["train"].shape[1], n_classes)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=1e-2, weight_decay=1e-2)
    best, best_state = -1.0, layer.state_dict()
    for _ in range(epochs):
        layer.train()
        loss = torch.nn.functional.cross_entropy(layer(z["train"]), y["train"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            acc = float((layer(z["val"]).argmax(-1) == y["val"]).float().mean())
        if acc > best:
            best, best_state = acc, {k: v.clone() for k, v in layer.state_dict().items()}
    layer.load_state_dict(best_state)
    out = {}
    with torch.no_grad():
        for s, v in z.items():
            top = layer(v).topk(5, dim=-1).indices
            out[s] = {
                "top1": float((top[:, 0] == y[s]).float().mean()),
                "top5": float((top == y[s][:, None]).any(-1).float().mean()),
            }
    return out


def logit_lens_accuracy(topk: torch.Tensor, answers: torch.Tensor) -> list[dict[str, float]]:
    """Per layer: the fraction of prompts whose answer token is the top-1 / among the top-k of the lens
    (``topk``: [N, L, k] token ids, ``answers``: [N])."""
    out = []
    for layer in range(topk.shape[1]):
        ids = topk[:, layer, :]
        out.append(
            {
                "top1": float((ids[:, 0] == answers).float().mean()),
                "top5": float((ids == answers[:, None]).any(-1).float().mean()),
            }
        )
    return out


def run_report(runtime: ModelRuntime, spec: HDProbeSpec, *, progress: bool = True) -> HDProbeReport:
    """Measure the HD probe and both baselines on one set of captured states (module docstring)."""
    seconds: dict[str, float] = {}
    layers = parse_layers(spec.layers, runtime.shape.n_layers)
    prompts = spec.prompts()
    by_split: dict[str, list[Prompt]] = {s: prompts.split(s) for s in SPLITS}  # type: ignore[arg-type]
    texts = [p.text for s in SPLITS for p in by_split[s]]
    started = time.perf_counter()
    captured = capture_states(runtime, texts, layers, logits=False, progress=progress)
    seconds["capture"] = time.perf_counter() - started
    seconds["capture_ms_per_prompt"] = 1000 * seconds["capture"] / len(texts)
    states: dict[str, torch.Tensor] = {}
    at = 0
    for s in SPLITS:
        states[s] = captured.states[at : at + len(by_split[s])]
        at += len(by_split[s])
    started = time.perf_counter()
    summary = {s: kmeans_summary(v, spec.kmeans_k) for s, v in states.items()}
    seconds["summary"] = time.perf_counter() - started

    codebook = make_codebook(concepts(), spec.dim, spec.seed)
    targets = {s: torch.stack([target(codebook, p.pairs) for p in by_split[s]]) for s in SPLITS}
    started = time.perf_counter()
    encoder, outcome = train_encoder(
        summary["train"], targets["train"], summary["val"], targets["val"], spec.encoder_config(), progress=progress
    )
    seconds["hd_train"] = time.perf_counter() - started
    probe = HDProbe(encoder, codebook, layers, spec.kmeans_k)
    started = time.perf_counter()
    hd = {s: decode_accuracy(probe, summary[s], by_split[s]) for s in ("val", *TESTS)}
    seconds["hd_decode_ms_per_prompt"] = 1000 * (time.perf_counter() - started) / sum(len(by_split[s]) for s in hd)

    started = time.perf_counter()
    index = {c: i for i, c in enumerate(codebook.concepts)}
    labels = {s: torch.tensor([index[p.answer] for p in by_split[s]]) for s in SPLITS}
    linear = linear_probe_accuracy(summary, labels, len(codebook.concepts), seed=spec.seed)
    seconds["linear_probe"] = time.perf_counter() - started

    started = time.perf_counter()
    lens: dict[str, list[dict[str, float]]] = {}
    for s in ("val", *TESTS):
        answers = torch.tensor([answer_token(runtime, p.answer) for p in by_split[s]])
        lens[s] = logit_lens_accuracy(logit_lens_topk(runtime, states[s]), answers)
    seconds["logit_lens"] = time.perf_counter() - started
    best = max(range(layers[1] - layers[0]), key=lambda i: (lens["val"][i]["top5"], lens["val"][i]["top1"]))
    return HDProbeReport(
        model=runtime.loaded.name,
        layers=layers,
        spec=spec,
        prompts={s: len(by_split[s]) for s in SPLITS},
        hd_probe={s: {k: v for k, v in hd[s].items() if k != "n"} for s in hd},
        linear_probe={s: linear[s] for s in ("val", *TESTS)},
        logit_lens_best={s: lens[s][best] for s in lens},
        logit_lens_best_layer=layers[0] + best,
        logit_lens_last={s: lens[s][-1] for s in lens},
        val_cosine=outcome.best_val_cosine,
        best_epoch=outcome.best_epoch,
        seconds=seconds,
    )


def render_markdown(report: HDProbeReport) -> str:
    """The report as a markdown table (one row per method, top-1 / top-5 per test split)."""
    rows: list[tuple[str, dict[str, dict[str, float]]]] = [
        ("HD probe (decoded concept)", report.hd_probe),
        ("linear probe (same summary vector)", report.linear_probe),
        (f"logit lens, best layer on val (L{report.logit_lens_best_layer})", report.logit_lens_best),
        (f"logit lens, last layer (L{report.layers[1] - 1})", report.logit_lens_last),
    ]
    lines = [
        f"# HD probe on {report.model}, layers {report.layers[0]}..{report.layers[1] - 1}",
        "",
        f"- prompts: {', '.join(f'{s} {n}' for s, n in report.prompts.items())} (seed {report.spec.seed})",
        f"- D = {report.spec.dim}, hidden {report.spec.hidden}, {report.spec.epochs} epochs; best epoch "
        f"{report.best_epoch}, validation cosine {report.val_cosine:.3f}",
        "- time: " + ", ".join(f"{k} {v:.1f}" for k, v in report.seconds.items()),
        "",
        "| method | held-out pairs top-1 | top-5 | held-out relations top-1 | top-5 | val (seen pairs) top-1 | top-5 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, acc in rows:
        cells = [f"{acc[s][k]:.3f}" for s in ("test_pairs", "test_relations", "val") for k in ("top1", "top5")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Held-out pairs: the query pair never appears in a training prompt; held-out relations: no pair of the "
        "relation does. val: new prompts (other templates and combinations) over the training pairs; the epoch "
        "(HD, linear) and the lens layer are chosen on it.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Command line: run the evaluation, print the table, write report.md and report.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=EMBEDDED_NAME)
    parser.add_argument("--layers", default=None, help="START:STOP (default: the later half)")
    parser.add_argument("--dim", type=int, default=4096)
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-val", type=int, default=400)
    parser.add_argument("--n-test", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="Folder for report.md / report.json.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = Settings()
    runtime = ModelRuntime(load_model(args.model, settings))
    spec = HDProbeSpec(
        layers=args.layers,
        dim=args.dim,
        n_train=args.n_train,
        n_val=args.n_val,
        n_test=args.n_test,
        epochs=args.epochs,
        hidden=args.hidden,
        seed=args.seed,
    )
    report = run_report(runtime, spec)
    out = Path(args.out) if args.out else settings.home.expanduser() / "hdprobe_report"
    out.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(report)
    (out / "report.md").write_text(markdown)
    data: dict[str, Any] = report.model_dump(mode="json")
    (out / "report.json").write_text(json.dumps(data, indent=2))
    print(markdown)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
