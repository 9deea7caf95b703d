"""Running a sweep: this shard's cells, each computed through its probe and saved atomically, so a
sweep survives preemption and splits over a job array.

Cell ``c`` uses ``fold_in(PRNGKey(seed), tag(c))`` and draw ``i`` inside it ``fold_in(cell_key, i)``,
so a resumed sweep gives the same per-draw results as an uninterrupted one. ``shard=(i, n)`` runs
cells ``i, i + n, ...``.

Multi-host (``jax.distributed.initialize()`` first): every process runs every cell of its shard
(an importance cell's draws are sharded over all hosts' devices) and only process 0 writes files;
the workdir must be one shared path (a bucket) all hosts see alike.

SIGINT/SIGTERM under :func:`amt_jax.interrupt.deferred` (the CLI) stop a sweep between cells or
between a cell's chunks of draws; the cell under way is dropped, the finished ones are kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from etils import epath

from amt_jax import interrupt
from amt_jax.sweep import store
from amt_jax.sweep.cells import Cell
from amt_jax.sweep.config import SweepConfig
from amt_jax.sweep.context import Context
from amt_jax.sweep.expansion import expand, shard_cells
from amt_jax.sweep.context import Inputs
from amt_jax.sweep.inputs import check_data, load_inputs


@dataclass(frozen=True)
class CellStatus:
    """What happened to a cell: ``"done"`` (computed now), ``"skipped"`` (finished earlier) or
    ``"out_of_axis"`` (a band above the model's axis) or ``"unsupported"`` (the model lacks a
    capability the probe needs)."""

    cell: Cell
    status: str
    seconds: float
    line: str


def summary_line(cell: Cell, record: dict) -> str:
    """One line describing a finished cell's result (its probe's ``describe``)."""
    return cell.probe.describe(record["result"])


def _finished(workdir: epath.Path, mine: list[Cell], config: SweepConfig, inputs_of: Callable[[str], Inputs]) -> dict:
    """Records of this shard's finished cells, each checked against this run (ValueError naming the
    cell and what differs): cheap checks first, then the inputs fingerprint (loads the model)."""
    finished = {c.id: store.read_record(workdir, c.id) for c in mine if store.is_done(workdir, c.id)}
    for check_inputs in (False, True):
        for cell in mine:
            if cell.id in finished:
                fingerprint = inputs_of(cell.model).provenance["fingerprint"] if check_inputs else None
                diffs = store.differences(finished[cell.id], cell, config.seed, fingerprint)
                if diffs:
                    raise store.refusal(workdir, cell, diffs)
    return finished


def _paired_n(cell: Cell, config: SweepConfig, records: dict[str, dict]) -> int | None:
    """Under adaptive stopping, a control cell draws exactly as many draws as its target took (the
    target comes first in the same shard); None otherwise."""
    key_kind = cell.probe.key_kind
    if config.mc_fraction is None or key_kind is None:
        return None
    target = records.get(cell.with_kind(key_kind).id)
    return None if target is None else int(target["result"]["n_permutations"])


def _compute(cell: Cell, inputs: Inputs, config: SweepConfig, env: dict, progress: bool,
             paired_n: int | None = None) -> tuple[dict, dict, float]:
    """``(record, arrays, seconds)`` of one cell, with a draw-level progress bar."""
    import jax
    from jax.sharding import Mesh
    from tqdm.auto import tqdm

    mesh = Mesh(np.array(jax.devices()), ("draws",)) if jax.device_count() > 1 else None
    start = time.perf_counter()
    with tqdm(total=cell.n, desc=f"  {cell.id}", unit="draw", leave=False, disable=not progress) as bar:
        def progress(done: int, planned: int) -> None:  # on the host between chunks: a safe point to stop
            bar.total = planned
            bar.update(done - bar.n)
            interrupt.check()

        ctx = Context(config.chunk_size, mesh, progress,
                      stratified=config.stratified, mc_fraction=config.mc_fraction,
                      max_factor=config.max_permutations_factor, paired_n=paired_n,
                      max_harmonics=max(config.harmonics, default=None))
        result, arrays = cell.probe.compute(cell, inputs, ctx)
    seconds = time.perf_counter() - start
    record = {"sweep": config.name, "cell": cell.to_dict(), "seed": config.seed, "result": result,
              "inputs": inputs.provenance, "config": config.to_dict(), "environment": env,
              "seconds": seconds, "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return record, arrays, seconds


def run_sweep(
    config: SweepConfig,
    *,
    workdir: epath.PathLike,
    shard: tuple[int, int] = (0, 1),
    data_dir=None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[CellStatus]:
    """Run (or resume) this shard's cells of ``config`` into ``workdir``; returns their statuses.

    Models and data are loaded only for models with cells in this shard (a finished cell's
    inputs fingerprint is checked against them before it is reused; ValueError if it differs).
    Only process 0 writes files (multi-host: see the module docstring).
    """
    import jax
    from tqdm.auto import tqdm

    workdir = epath.Path(workdir)
    cells = expand(config)
    mine = shard_cells(cells, shard)
    writer = jax.process_index() == 0
    store.check_manifest(workdir, config)
    inputs: dict[str, Inputs] = {}

    def inputs_of(model: str) -> Inputs:
        if model not in inputs:
            inputs[model] = load_inputs(model, config, data_dir=data_dir)
        return inputs[model]

    finished = _finished(workdir, mine, config, inputs_of)
    if config.data != "synthetic" and any(c.id not in finished for c in mine):
        check_data(config.data, data_dir)  # before any progress bar
    if writer:
        (workdir / store.CELLS_DIR).mkdir(parents=True, exist_ok=True)
        store.write_manifest(workdir, config, cells)
        store.remove_stale_temporaries(workdir, mine)
    env = store.cell_environment()
    statuses = []
    bar = tqdm(mine, desc=f"sweep {config.name} {shard[0]}/{shard[1]}", unit="cell", disable=not progress)
    try:
        for n, cell in enumerate(bar, 1):
            interrupt.check()  # between cells: the finished ones are saved, nothing of this one is
            bar.set_postfix_str(cell.id, refresh=True)
            prefix = f"[{n}/{len(mine)}] {cell.id}:"
            if cell.id in finished:
                statuses.append(CellStatus(cell, "skipped", 0.0, f"{prefix} finished earlier — {summary_line(cell, finished[cell.id])}"))
            elif cell.probe.missing(inputs_of(cell.model).model):
                missing = ", ".join(cell.probe.missing(inputs_of(cell.model).model))
                statuses.append(CellStatus(cell, "unsupported", 0.0, f"{prefix} model {cell.model!r} has no {missing} "
                                                                     f"capability, skipped"))
            elif not cell.probe.in_axis(cell, inputs_of(cell.model)):
                statuses.append(CellStatus(cell, "out_of_axis", 0.0, f"{prefix} outside the model's axis, skipped"))
            else:
                record, arrays, seconds = _compute(cell, inputs_of(cell.model), config, env, progress,
                                                   _paired_n(cell, config, finished))
                finished[cell.id] = record  # a control later in this shard pairs with it
                if writer:
                    store.save_cell(workdir, cell, record, arrays)
                statuses.append(CellStatus(cell, "done", seconds, f"{prefix} {summary_line(cell, record)} ({seconds:.1f} s)"))
            (bar.write if progress else log)(statuses[-1].line)
    finally:
        bar.close()
    return statuses
