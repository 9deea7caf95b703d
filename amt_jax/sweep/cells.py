"""Cells: the units of work of a sweep (a model, a probe kind, its parameters, its draws), each
carrying its entry of the probe table. :func:`amt_jax.sweep.expansion.expand` makes them from a
config and attaches the entries."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from amt_jax.models import registry


@dataclass(frozen=True)
class Cell:
    """One unit of work: a model, a probe kind, its parameters and its number of draws (or samples).

    ``probe`` is the kind's entry of the probe table (:class:`amt_jax.sweep.probes.Probe`), attached
    by whoever builds the cell from the table (``expand``, ``report.results.as_cell``); it is not
    part of the cell's identity (equality, hash, ``to_dict``). A cell built without one has an id
    but no pair id, key or computation.
    """

    model: str
    kind: str
    params: tuple[tuple[str, Any], ...]
    n: int
    seed: int
    probe: Any = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> str:
        """File-safe id, e.g. ``basic-pitch__harmonic_h4`` or ``planted-b3__random_spectral_0-12``."""
        short = {"n_harmonics": "h"}
        suffix = "".join(f"_{short.get(k, '')}{'-'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in self.params)
        return f"{registry.slug(self.model)}__{self.kind}{suffix}"

    @property
    def pair_id(self) -> str:
        """Cells with the same pair id share their key (a control draws what its target draws)."""
        if self.probe is None:
            raise ValueError(f"cell {self.id} has no probe attached (build cells with amt_jax.sweep.expand, "
                             "or pass probe=PROBES[kind])")
        return f"{self.model}|{self.probe.key_kind or self.kind}|{self.params}"

    def key_tag(self) -> int:
        """Stable 31-bit tag of this cell's key: ``fold_in(PRNGKey(seed), tag)``."""
        return int(hashlib.sha256(self.pair_id.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF

    def with_kind(self, kind: str, n: int | None = None, probe: Any = None) -> Cell:
        """The cell of another kind with the same model, parameters and seed (a control, a target);
        ``probe``: that kind's entry of the probe table (None: its id only is needed)."""
        return Cell(self.model, kind, self.params, self.n if n is None else n, self.seed, probe)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "model": self.model, "kind": self.kind, "params": dict(self.params), "n": self.n,
                "seed": self.seed, "key_tag": self.key_tag()}
