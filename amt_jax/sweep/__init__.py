"""Sweeps: a config expands into cells (one per probe kind, model and setting), each computed
through the engine and saved atomically, so a sweep resumes after preemption and splits over a
job array.

Modules, lowest first (each imports only those before it): :mod:`~amt_jax.sweep.context`
(Context, Computed), :mod:`~amt_jax.sweep.compute` (how each kind is computed),
:mod:`~amt_jax.sweep.probes` (the probe table: kinds, families), :mod:`~amt_jax.sweep.config`
(SweepConfig, registered configs), :mod:`~amt_jax.sweep.cells` (Cell),
:mod:`~amt_jax.sweep.inputs` (model, features, labels, pieces),
:mod:`~amt_jax.sweep.expansion` (expand, shards), :mod:`~amt_jax.sweep.store` (files, resume
checks), :mod:`~amt_jax.sweep.runner` (:func:`run_sweep`).
"""

from amt_jax.sweep.cells import Cell
from amt_jax.sweep.expansion import expand, shard_cells
from amt_jax.sweep.config import OCTAVE_BANDS, SweepConfig, load_config, parse_shard, registered_configs
from amt_jax.sweep.context import Inputs
from amt_jax.sweep.inputs import load_inputs
from amt_jax.sweep.probes import FAMILIES, PROBES, Probe
from amt_jax.sweep.runner import CellStatus, run_sweep, summary_line
from amt_jax.sweep.store import (
    CELLS_DIR,
    MANIFEST,
    STALE_TEMPORARY_SECONDS,
    cell_paths,
    is_done,
    load_cell,
    read_manifest,
    read_record,
    save_cell,
)
