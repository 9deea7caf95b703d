"""A sweep workdir's saved results, read once: the config, the cells in order, the finished ones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from etils import epath

from amt_jax.sweep import store
from amt_jax.sweep.cells import Cell
from amt_jax.sweep.probes import PROBES


@dataclass(frozen=True)
class Results:
    """A workdir's config (dict), its cells in order, and the finished ones: id → (record, arrays)."""

    config: dict
    cells: list[dict]
    finished: dict[str, tuple[dict, dict[str, np.ndarray]]]

    def of(self, model: str, kind: str) -> list[tuple[dict, dict, dict[str, np.ndarray]]]:
        """Finished cells of ``model`` and ``kind`` in sweep order: ``(cell, record, arrays)``."""
        return [(c, *self.finished[c["id"]]) for c in self.cells
                if c["model"] == model and c["kind"] == kind and c["id"] in self.finished]

    def control_id(self, cell: dict) -> str | None:
        """Id of ``cell``'s control cell (its probe's ``control`` kind, same model and parameters), or None."""
        c = as_cell(cell)
        control = c.probe.control
        return None if control is None else c.with_kind(control).id

    def kinds(self) -> list[str]:
        """The cell kinds of this sweep, in order."""
        return list(dict.fromkeys(c["kind"] for c in self.cells))


def as_cell(cell: dict) -> Cell:
    """The :class:`~amt_jax.sweep.cells.Cell` of a manifest entry (JSON lists back to tuples), with
    its kind's entry of the probe table."""
    params = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in cell["params"].items())
    return Cell(cell["model"], cell["kind"], params, cell["n"], cell["seed"], PROBES[cell["kind"]])


def load_results(workdir: epath.PathLike) -> Results:
    """Read the manifest and every finished cell of ``workdir``."""
    manifest = store.read_manifest(workdir)
    finished = {c["id"]: store.load_cell(workdir, c["id"]) for c in manifest["cells"] if store.is_done(workdir, c["id"])}
    return Results(manifest["config"], manifest["cells"], finished)
