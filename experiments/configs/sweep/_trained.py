"""Trained variants for sweeps: the runs of a training grid (``python -m amt_jax grid ...``) as
``trained:<dir>`` model specs, found under ``$AMT_JAX_GRID/runs`` (nothing when it is unset), so a
sweep config names the variants without machine-specific paths. Not a sweep config itself."""

from __future__ import annotations

import os
from pathlib import Path


def grid_models(seeds: tuple[int, ...] | None = None, root: str | None = None) -> tuple[str, ...]:
    """``trained:<run dir>`` of every finished run (an ``eval.json`` written) of the grid in ``root``
    (default ``$AMT_JAX_GRID``), sorted by run id; only the given seeds (``..._s<seed>``) if set."""
    root = root or os.environ.get("AMT_JAX_GRID")
    if not root:
        return ()
    runs = sorted(p for p in (Path(root) / "runs").glob("*") if (p / "eval.json").is_file())
    if seeds is not None:
        runs = [p for p in runs if any(p.name.endswith(f"_s{s}") for s in seeds)]
    return tuple(f"trained:{p}" for p in runs)
