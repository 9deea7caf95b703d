"""What computing a sweep cell takes and gives, at the bottom of the sweep package (no sweep
imports): :class:`Context`, how to compute, and :data:`Computed`, what a probe's ``compute`` returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Context:
    """How to compute: draws per jitted call, the device mesh (None: one device), a progress
    callback, adaptive stopping (``mc_fraction``, ``max_factor``; see ``SweepConfig``), and for a
    control cell under adaptive stopping the exact number of draws its target took (``paired_n``)."""

    chunk_size: int
    mesh: Any = None
    progress: Callable[[int, int], None] | None = None
    stratified: bool = False
    mc_fraction: float | None = None
    max_factor: int = 8
    paired_n: int | None = None

    def stopping(self, n: int) -> dict:
        """``permutation_importance`` arguments for a cell of ``n`` (minimum) draws."""
        if self.paired_n is not None:
            return {"n_permutations": self.paired_n}
        if self.mc_fraction is None:
            return {"n_permutations": n}
        return {"n_permutations": n, "mc_fraction": self.mc_fraction, "max_permutations": self.max_factor * n}


Computed = tuple[dict, dict]  # (summary for the cell JSON, arrays for the cell NPZ)
