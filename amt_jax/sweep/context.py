"""What computing a sweep cell takes and gives, at the bottom of the sweep package (no sweep
imports): :class:`Inputs`, what it measures (built by :func:`amt_jax.sweep.inputs.load_inputs`),
:class:`Context`, how to compute, and :data:`Computed`, what a probe's ``compute`` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.models import Model


@dataclass(frozen=True, eq=False)
class Inputs:
    """What a cell needs.

    Attributes:
      model: the loaded :class:`~amt_jax.models.Model`.
      features: ``[n_clips, F, T]`` the model's input features.
      targets: ``[n_clips, P, T]`` 0/1 labels of each clip's frames (None when the data has none).
      clusters: ``[n_clips]`` piece index of each clip (clips of one piece are not independent).
      programs: ``[n_clips]`` General MIDI program of each clip (None when the data has none).
      provenance: model identity, data identity and digests; ``"fingerprint"`` is compared on resume.
    """

    model: Model
    features: np.ndarray
    targets: np.ndarray | None = None
    clusters: np.ndarray | None = None
    programs: np.ndarray | None = None
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.clusters is None:
            object.__setattr__(self, "clusters", np.arange(self.features.shape[0]))

    @property
    def apply_fn(self):
        return self.model.apply

    @property
    def params(self):
        return self.model.params

    @property
    def output(self) -> str | None:
        return self.model.output

    @property
    def layout(self) -> FrequencyLayout:
        return self.model.layout


@dataclass(frozen=True)
class Context:
    """How to compute: draws per jitted call, the device mesh (None: one device), a progress
    callback, adaptive stopping (``mc_fraction``, ``max_factor``; see ``SweepConfig``), for a
    control cell under adaptive stopping the exact number of draws its target took (``paired_n``),
    and the sweep's largest h (``max_harmonics``: the harmonic families' tables are padded to it, so
    the cells of every h share one compiled program; None: no padding)."""

    chunk_size: int
    mesh: Any = None
    progress: Callable[[int, int], None] | None = None
    stratified: bool = False
    mc_fraction: float | None = None
    max_factor: int = 8
    paired_n: int | None = None
    max_harmonics: int | None = None

    def padded(self, n_harmonics: int) -> int | None:
        """``max_harmonics`` for a family of ``n_harmonics`` (None when it has no room for them)."""
        return self.max_harmonics if self.max_harmonics is not None and self.max_harmonics >= n_harmonics else None

    def stopping(self, n: int) -> dict:
        """``permutation_importance`` arguments for a cell of ``n`` (minimum) draws."""
        if self.paired_n is not None:
            return {"n_permutations": self.paired_n}
        if self.mc_fraction is None:
            return {"n_permutations": n}
        return {"n_permutations": n, "mc_fraction": self.mc_fraction, "max_permutations": self.max_factor * n}


Computed = tuple[dict, dict]  # (summary for the cell JSON, arrays for the cell NPZ)
