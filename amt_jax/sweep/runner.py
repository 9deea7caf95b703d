"""Running a sweep: this shard's cells, each computed through its probe and saved atomically, so a
sweep survives preemption and splits over a job array.

Cell ``c`` uses ``fold_in(PRNGKey(seed), tag(c))`` and draw ``i`` inside it ``fold_in(cell_key, i)``,
so a resumed sweep gives the same per-draw results as an uninterrupted one. ``shard=(i, n)`` runs
cells ``i, i + n, ...``.

Multi-host (``jax.distributed.initialize()`` first): every process runs every cell of its shard
(an importance cell's draws are sharded over all hosts' devices) and only process 0 writes files;
the workdir must be one shared path (a bucket) all hosts see alike.

Cells at once (``cells_at_once``; default :func:`default_cells_at_once`: 2 on one CPU device with
at least 2 usable cores, else 1): on a CPU, XLA compiles a cell's programs on one core, so the next
cell is started in a second thread once the running one has finished its first chunk of draws (its
first programs compiled): one cell compiles (or runs its numpy estimators) while the other
computes, and two cells do not start compiling together (a cell that shares the running one's
first program finds it compiled; programs a cell compiles later, such as a reliance cell's sham
comb, and a model loaded for a later cell may still overlap). Each cell's numbers are those it
gives alone (the same programs on the same inputs); cells are saved as they finish and their lines
printed in the sweep's order. Host memory holds two cells' chunks. One at a time under adaptive
stopping (a control cell draws as many draws as its target took), with a device mesh or several
processes (every process must run the cells in the same order). When a cell fails or the sweep
is interrupted, no other cell starts and the one under way stops between its chunks (one that
another cell's failure meets after the last chunk of its last run of draws is finished and saved);
the failure (or :class:`~amt_jax.interrupt.Interrupted`) is raised.

SIGINT/SIGTERM under :func:`amt_jax.interrupt.deferred` (the CLI) stop a sweep between cells or
between a cell's chunks of draws; the cells under way are dropped, the finished ones are kept.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from etils import epath

from amt_jax import interrupt, validate
from amt_jax.io import cpu_quota, usable_cpus
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


def default_cells_at_once() -> int:
    """Cells computed at once by default: 2 on a single CPU device in a single process (one cell's
    compilation uses one core while the other cell computes), 1 otherwise (an accelerator runs one
    program at a time and its memory is sized for one cell's chunk; a mesh or several processes
    need the same cell order everywhere)."""
    import jax

    cores = usable_cpus()
    cores = min(cores, cpu_quota() or cores)  # a container's CPU limit
    single_cpu = jax.default_backend() == "cpu" and jax.device_count() == 1 and jax.process_count() == 1
    return 2 if single_cpu and cores >= 2 else 1


class _Stopped(Exception):
    """A cell under way stopped because another one failed or the sweep was interrupted."""


class _Gate:
    """At most one cell between its start and its first finished chunk of draws (where its programs
    are traced and compiled): :meth:`enter` waits for the gate; the returned callable opens it
    again (idempotent; also called when the cell ends)."""

    def __init__(self):
        self._lock = threading.Lock()

    def enter(self, stop: threading.Event) -> Callable[[], None]:
        while not self._lock.acquire(timeout=0.2):
            if stop.is_set():
                raise _Stopped()
        if stop.is_set():  # the gate opened because a cell failed: start nothing
            self._lock.release()
            raise _Stopped()
        held = [True]

        def open_gate() -> None:
            if held[0]:
                held[0] = False
                self._lock.release()

        return open_gate


def _compute(cell: Cell, inputs: Inputs, config: SweepConfig, env: dict, progress: bool,
             paired_n: int | None = None, on_chunk: Callable[[int, int], None] | None = None) -> tuple[dict, dict, float]:
    """``(record, arrays, seconds)`` of one cell, with a draw-level progress bar; ``on_chunk(done,
    planned)`` is called after every chunk of draws (on the host), before the safe-point check."""
    import jax
    from jax.sharding import Mesh
    from tqdm.auto import tqdm

    mesh = Mesh(np.array(jax.devices()), ("draws",)) if jax.device_count() > 1 else None
    start = time.perf_counter()
    with tqdm(total=cell.n, desc=f"  {cell.id}", unit="draw", leave=False, disable=not progress) as bar:
        def progress(done: int, planned: int) -> None:  # on the host between chunks: a safe point to stop
            bar.total = planned
            bar.update(done - bar.n)
            if on_chunk is not None:
                on_chunk(done, planned)
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
    cells_at_once: int | None = None,
) -> list[CellStatus]:
    """Run (or resume) this shard's cells of ``config`` into ``workdir``; returns their statuses.

    Models and data are loaded only for models with cells in this shard (a finished cell's
    inputs fingerprint is checked against them before it is reused; ValueError if it differs).
    Only process 0 writes files (multi-host: see the module docstring). ``cells_at_once``: cells
    computed at the same time (None: :func:`default_cells_at_once`; see the module docstring).
    """
    import jax

    if cells_at_once is not None:
        validate.at_least("cells_at_once", cells_at_once, 1)
    if cells_at_once is None:
        cells_at_once = default_cells_at_once()
    if cells_at_once > 1 and (config.mc_fraction is not None or jax.device_count() > 1 or jax.process_count() > 1):
        why = ("adaptive stopping (a control pairs with its finished target)" if config.mc_fraction is not None
               else "several devices or processes (every process runs the cells in one order)")
        log(f"cells_at_once={cells_at_once}: one cell at a time under {why}")
        cells_at_once = 1
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
    with _Cells(config, env, workdir if writer else None, finished, progress=progress, log=log, cells_at_once=cells_at_once,
                n_cells=len(mine), desc=f"sweep {config.name} {shard[0]}/{shard[1]}") as run:
        for n, cell in enumerate(mine, 1):
            interrupt.check()  # between cells: the finished ones are saved, nothing of this one is
            prefix = f"[{n}/{len(mine)}] {cell.id}:"
            if cell.id in finished:
                run.add(CellStatus(cell, "skipped", 0.0, f"{prefix} finished earlier — {summary_line(cell, finished[cell.id])}"))
            elif cell.probe.missing(inputs_of(cell.model).model):
                missing = ", ".join(cell.probe.missing(inputs_of(cell.model).model))
                run.add(CellStatus(cell, "unsupported", 0.0, f"{prefix} model {cell.model!r} has no {missing} "
                                                             f"capability, skipped"))
            elif not cell.probe.in_axis(cell, inputs_of(cell.model)):
                run.add(CellStatus(cell, "out_of_axis", 0.0, f"{prefix} outside the model's axis, skipped"))
            else:
                run.compute(cell, inputs_of(cell.model), prefix)
        run.finish()
    return run.statuses


class _Cells:
    """This shard's cells, computed ``cells_at_once`` at a time (see the module docstring), their
    statuses reported (``log`` or the progress bar) and kept in ``statuses``, in the sweep's order.
    ``workdir``: where cells are saved (None: not by this process). Leaving the ``with`` block on
    an exception stops the cells under way at their next chunk and starts none."""

    def __init__(self, config: SweepConfig, env: dict, workdir: epath.Path | None, finished: dict, *, progress: bool,
                 log: Callable[[str], None], cells_at_once: int, n_cells: int, desc: str):
        from tqdm.auto import tqdm

        self.config, self.env, self.workdir, self.finished = config, env, workdir, finished
        self.progress, self.log, self.cells_at_once = progress, log, cells_at_once
        self.statuses: list[CellStatus] = []
        self.bar = tqdm(total=n_cells, desc=desc, unit="cell", disable=not progress)
        self.gate, self.stop = _Gate(), threading.Event()
        self.failure: list[BaseException] = []  # the first failure or interrupt of a cell (not a _Stopped)
        self.pool = (concurrent.futures.ThreadPoolExecutor(cells_at_once, thread_name_prefix="cell")
                     if cells_at_once > 1 else None)
        self.pending: list[CellStatus | concurrent.futures.Future] = []

    def __enter__(self) -> "_Cells":
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is not None:
            self.stop.set()  # the other cells under way stop at their next chunk; none starts
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.bar.close()

    def compute(self, cell: Cell, inputs: Inputs, prefix: str) -> None:
        """Compute ``cell`` here (one at a time) or in a worker thread."""
        self.add(self._run(cell, inputs, prefix) if self.pool is None else self.pool.submit(self._run, cell, inputs, prefix))

    def add(self, entry) -> None:
        """Queue a status (or a cell's future); report those ready at the head, waiting for the head
        only when more cells are under way than run at once."""
        self.pending.append(entry)
        while self.pending and (_ready(self.pending[0]) or sum(not _ready(e) for e in self.pending) > self.cells_at_once):
            self._report(self.pending.pop(0))

    def finish(self) -> None:
        while self.pending:
            self._report(self.pending.pop(0))

    def _report(self, entry) -> None:
        if isinstance(entry, concurrent.futures.Future):
            try:
                entry = entry.result()
            except _Stopped:  # stopped because of another cell: raise what stopped it
                if self.failure:
                    raise self.failure[0] from None
                raise
        self.statuses.append(entry)
        self.bar.update(1)
        self.bar.set_postfix_str(entry.cell.id, refresh=True)
        (self.bar.write if self.progress else self.log)(entry.line)

    def _run(self, cell: Cell, inputs: Inputs, prefix: str) -> CellStatus:  # in a worker thread when concurrent
        stop = self.stop
        if stop.is_set():
            raise _Stopped()
        interrupt.check()
        open_gate = self.gate.enter(stop) if self.cells_at_once > 1 else (lambda: None)

        def on_chunk(done: int, planned: int) -> None:
            interrupt.check()  # (raising here sets ``stop`` before the gate opens: nothing starts after it)
            if stop.is_set() and done < planned:  # another cell failed: drop this one (a finished one is kept)
                raise _Stopped()
            open_gate()  # its programs are compiled: the next cell may start

        try:
            record, arrays, seconds = _compute(cell, inputs, self.config, self.env, self.progress,
                                               _paired_n(cell, self.config, self.finished), on_chunk)
            self.finished[cell.id] = record  # a control later in this shard pairs with it
            if self.workdir is not None:
                store.save_cell(self.workdir, cell, record, arrays)
            return CellStatus(cell, "done", seconds, f"{prefix} {summary_line(cell, record)} ({seconds:.1f} s)")
        except BaseException as exc:
            if not isinstance(exc, _Stopped) and not self.failure:
                self.failure.append(exc)
            stop.set()  # at once: no other cell starts, the one under way stops at its next chunk
            raise
        finally:
            open_gate()


def _ready(entry) -> bool:
    return not isinstance(entry, concurrent.futures.Future) or entry.done()
