"""Label a job's units with several local processes at once (``autointerp label --processes N``).

One process labels one unit at a time, and much of a unit's time is Python (the policy, the store,
the graph) that keeps one core busy while the others idle. ``run_label_job_locally`` therefore splits
the unfinished items into N interleaved shares: it labels the first itself and starts N-1 child
processes (``spawn``: a fresh interpreter, no inherited model or database handles) for the others,
each with ``cores // N`` torch threads. Every item is still claimed through ``workers.claims``, so a
unit is labeled exactly once; the items of a child that dies are labeled by the parent once the
children have ended. Each process loads the model and captures the held-out text once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess

from store.settings import Settings

log = logging.getLogger("autointerp.workers")

MAX_PROCESSES = 8
UNITS_PER_PROCESS = 64
"""A process costs a model load and a held-out capture (seconds): ``auto`` gives each at least this many units."""


def auto_processes(n_units: int) -> int:
    """How many processes ``--processes auto`` uses for ``n_units``: one per core, at most
    ``MAX_PROCESSES``, each with at least ``UNITS_PER_PROCESS`` units (one for small jobs)."""
    cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_PROCESSES, n_units // UNITS_PER_PROCESS))


def torch_threads(processes: int) -> int:
    """Torch threads per process when ``processes`` share this machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(1, processes))


def shares(item_ids: Sequence[int], processes: int) -> list[list[int]]:
    """``item_ids`` dealt into ``processes`` interleaved shares (neighbouring units in different shares)."""
    return [list(item_ids[i::processes]) for i in range(processes) if item_ids[i::processes]]


def start_children(
    target: Callable[[str, list[int], int], None], settings: Settings, parts: Sequence[list[int]], threads: int
) -> list[BaseProcess]:
    """Start one child process per share in ``parts``, each running ``target(settings as JSON, its
    share's item ids, its torch threads)`` (a module-level function: ``spawn`` pickles it by name)."""
    context = multiprocessing.get_context("spawn")
    children: list[BaseProcess] = []
    for part in parts:
        child = context.Process(target=target, args=(settings.model_dump_json(), part, threads), daemon=True)
        child.start()
        children.append(child)
    return children


def wait_for(children: Sequence[BaseProcess], on_tick: Callable[[], None], every: float = 2.0) -> None:
    """Wait until every child has ended, calling ``on_tick`` every ``every`` seconds; log the ones that failed."""
    for child in children:
        while child.is_alive():
            child.join(every)
            on_tick()
        if child.exitcode != 0:
            log.warning("a labeling process ended with exit code %s; its units left are labeled here", child.exitcode)
