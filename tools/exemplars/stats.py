"""Streaming per-unit accumulators with memory O(units × k): top-k buffers and running statistics.

Both are updated one batch of contexts at a time and never hold more than their fixed-size state,
whatever the corpus length. Their state is a dict of tensors, so a build can checkpoint and resume.
"""

from __future__ import annotations

import torch

HIST_BINS = 128
UNIT_CHUNK = 256


class TopKBuffer:
    """Keep, per unit, the ``size`` contexts with the largest score, with their per-token activations.

    Used twice by the exemplar cache: with score = the context's max activation (top-k exemplars),
    and with score = minus a uniform random key (a uniform reservoir sample of activating contexts,
    from which the 10 activation quantiles are drawn).
    """

    def __init__(self, n_units: int, size: int, ctx_len: int) -> None:
        self.scores = torch.full((n_units, size), float("-inf"))
        self.values = torch.full((n_units, size), float("nan"))
        self.ids = torch.full((n_units, size), -1, dtype=torch.long)
        self.acts = torch.zeros((n_units, size, ctx_len), dtype=torch.float16)

    def update(self, scores: torch.Tensor, values: torch.Tensor, ids: torch.Tensor, acts: torch.Tensor) -> None:
        """Merge a batch: ``scores``/``values`` [B, U], ``ids`` [B] context ids, ``acts`` [B, T, U].

        Only units where some candidate beats the current worst kept score are touched, so late in
        a long pass an update costs little more than one comparison per unit.
        """
        floor = self.scores[:, -1]
        units = torch.nonzero((scores > floor.unsqueeze(0)).any(dim=0)).squeeze(1)
        # Merge in chunks of units: the transient copies stay small whatever the layer width.
        for chunk in units.split(UNIT_CHUNK):
            self._merge(chunk, scores, values, ids, acts)

    def _merge(
        self, units: torch.Tensor, scores: torch.Tensor, values: torch.Tensor, ids: torch.Tensor, acts: torch.Tensor
    ) -> None:
        size = self.scores.shape[1]
        merged = torch.cat([self.scores[units], scores[:, units].T], dim=1)  # [S, size + B]
        top = merged.topk(size, dim=1, sorted=True).indices  # [S, size]
        self.scores[units] = merged.gather(1, top)
        self.values[units] = torch.cat([self.values[units], values[:, units].T], dim=1).gather(1, top)
        cand_ids = ids.unsqueeze(0).expand(units.numel(), -1)
        self.ids[units] = torch.cat([self.ids[units], cand_ids], dim=1).gather(1, top)
        cand_acts = acts[:, :, units].permute(2, 0, 1).to(torch.float16)  # [S, B, T]
        all_acts = torch.cat([self.acts[units], cand_acts], dim=1)
        self.acts[units] = all_acts.gather(1, top.unsqueeze(-1).expand(-1, -1, all_acts.shape[-1]))

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors to checkpoint, keyed with ``prefix``."""
        return {
            f"{prefix}.scores": self.scores,
            f"{prefix}.values": self.values,
            f"{prefix}.ids": self.ids,
            f"{prefix}.acts": self.acts,
        }

    def load_state(self, prefix: str, tensors: dict[str, torch.Tensor]) -> None:
        """Restore from ``state``'s tensors."""
        self.scores = tensors[f"{prefix}.scores"].clone()
        self.values = tensors[f"{prefix}.values"].clone()
        self.ids = tensors[f"{prefix}.ids"].clone()
        self.acts = tensors[f"{prefix}.acts"].clone()


class RunningStats:
    """Per-unit count, mean, variance, min, max, firing frequency (act > 0) and a histogram.

    Histogram edges are per unit, symmetric: ± 2 × the first batch's largest |activation| (at least
    ±1e-3), doubled whenever a later activation falls outside (bin pairs merge exactly), so the
    histogram always covers every value with ``bins`` equal bins.
    """

    def __init__(self, n_units: int, bins: int = HIST_BINS) -> None:
        self.count = torch.zeros((), dtype=torch.float64)
        self.sum = torch.zeros(n_units, dtype=torch.float64)
        self.sumsq = torch.zeros(n_units, dtype=torch.float64)
        self.max = torch.full((n_units,), float("-inf"))
        self.min = torch.full((n_units,), float("inf"))
        self.fires = torch.zeros(n_units, dtype=torch.float64)
        self.hist = torch.zeros((n_units, bins), dtype=torch.float64)
        self.hist_range = torch.zeros(n_units)  # edges are [-r, r]; 0 until the first batch

    def update(self, acts: torch.Tensor) -> None:
        """Add a batch of activations, [N, U] (only real, scored positions)."""
        if acts.numel() == 0:
            return
        x = acts.to(torch.float32)
        n_units, bins = self.hist.shape
        largest = x.abs().amax(dim=0)
        if float(self.hist_range.max()) == 0.0:
            self.hist_range = (2 * largest).clamp_min(1e-3)
        self._widen(largest)
        self.count += x.shape[0]
        x64 = x.to(torch.float64)
        self.sum += x64.sum(dim=0)
        self.sumsq += (x64 * x64).sum(dim=0)
        self.max = torch.maximum(self.max, x.amax(dim=0))
        self.min = torch.minimum(self.min, x.amin(dim=0))
        self.fires += (x > 0).sum(dim=0).to(torch.float64)
        r = self.hist_range.unsqueeze(0)
        idx = ((x + r) / (2 * r) * bins).floor().clamp_(0, bins - 1).to(torch.long)
        flat = idx + torch.arange(n_units).unsqueeze(0) * bins
        self.hist += torch.bincount(flat.reshape(-1), minlength=n_units * bins).reshape(n_units, bins).double()

    def _widen(self, largest: torch.Tensor) -> None:
        """Double the range of every unit whose activations exceed it, until they fit.

        Doubling a symmetric range with an even bin count maps each pair of old bins onto one new
        bin exactly, so no count is ever approximated.
        """
        bins = self.hist.shape[1]
        while True:
            units = torch.nonzero(largest > self.hist_range).squeeze(1)
            if units.numel() == 0:
                return
            pairs = self.hist[units].reshape(units.numel(), bins // 2, 2).sum(dim=2)
            pad = torch.zeros((units.numel(), bins // 4), dtype=self.hist.dtype)
            self.hist[units] = torch.cat([pad, pairs, pad], dim=1)
            self.hist_range[units] *= 2

    def summary(self) -> dict[str, torch.Tensor]:
        """Final per-unit tensors: count, mean, std, min, max, frac_firing, hist, hist_range."""
        count = self.count.clamp_min(1)
        mean = self.sum / count
        var = (self.sumsq / count - mean * mean).clamp_min(0)
        return {
            "stats.count": self.count.reshape(1),
            "stats.mean": mean.float(),
            "stats.std": var.sqrt().float(),
            "stats.min": self.min,
            "stats.max": self.max,
            "stats.frac_firing": (self.fires / count).float(),
            "stats.hist": self.hist.float(),
            "stats.hist_range": self.hist_range,
        }

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors to checkpoint."""
        return {
            "rs.count": self.count.reshape(1),
            "rs.sum": self.sum,
            "rs.sumsq": self.sumsq,
            "rs.max": self.max,
            "rs.min": self.min,
            "rs.fires": self.fires,
            "rs.hist": self.hist,
            "rs.hist_range": self.hist_range,
        }

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore from ``state``'s tensors."""
        self.count = tensors["rs.count"].reshape(()).clone()
        self.sum = tensors["rs.sum"].clone()
        self.sumsq = tensors["rs.sumsq"].clone()
        self.max = tensors["rs.max"].clone()
        self.min = tensors["rs.min"].clone()
        self.fires = tensors["rs.fires"].clone()
        self.hist = tensors["rs.hist"].clone()
        self.hist_range = tensors["rs.hist_range"].clone()
