"""Cells: the units of work of a sweep, expanded from a config by the probe table, and split into shards."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from amt_jax.models import registry
from amt_jax.sweep.config import SweepConfig


@dataclass(frozen=True)
class Cell:
    """One unit of work: a model, a probe kind, its parameters and its number of draws (or samples)."""

    model: str
    kind: str
    params: tuple[tuple[str, Any], ...]
    n: int
    seed: int

    @property
    def id(self) -> str:
        """File-safe id, e.g. ``basic-pitch__harmonic_h4`` or ``planted-b3__random_spectral_0-12``."""
        short = {"n_harmonics": "h"}
        suffix = "".join(f"_{short.get(k, '')}{'-'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in self.params)
        return f"{registry.slug(self.model)}__{self.kind}{suffix}"

    @property
    def probe(self):
        """This cell's entry of the probe table."""
        from amt_jax.sweep.probes import PROBES

        return PROBES[self.kind]

    @property
    def pair_id(self) -> str:
        """Cells with the same pair id share their key (a control draws what its target draws)."""
        return f"{self.model}|{self.probe.key_kind or self.kind}|{self.params}"

    def key_tag(self) -> int:
        """Stable 31-bit tag of this cell's key: ``fold_in(PRNGKey(seed), tag)``."""
        return int(hashlib.sha256(self.pair_id.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF

    def with_kind(self, kind: str, n: int | None = None) -> Cell:
        """The cell of another kind with the same model, parameters and seed (a control, a target)."""
        return Cell(self.model, kind, self.params, self.n if n is None else n, self.seed)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "model": self.model, "kind": self.kind, "params": dict(self.params), "n": self.n,
                "seed": self.seed, "key_tag": self.key_tag()}


def expand(config: SweepConfig) -> list[Cell]:
    """All cells of ``config`` in a fixed order (the order shards split): per model, per family of
    the probe table (in table order, when on in ``config.families``), per setting of the family, its
    kinds; then the control models' listed families; then the first-model-only probes (the example)
    for the first model."""
    from amt_jax.sweep.probes import PROBES

    cells = []
    families: dict[str, list] = {}
    for probe in PROBES.values():
        families.setdefault(probe.family, []).append(probe)

    def add(model: str, probes: list) -> None:
        for params in probes[0].settings(config):
            for probe in probes:
                cells.append(Cell(model, probe.kind, tuple(params.items()), probe.draws(config), config.seed))

    for model in config.models:
        for family, probes in families.items():
            if not probes[0].first_model_only and probes[0].enabled(config):
                add(model, probes)
    for model, chosen in config.control_models:  # control models: their listed families only
        for family, probes in families.items():
            if family in chosen and not probes[0].first_model_only:
                add(model, probes)
    for family, probes in families.items():
        if probes[0].first_model_only and probes[0].enabled(config):
            add(config.models[0], probes)
    ids = [c.id for c in cells]
    if len(set(ids)) != len(ids):
        raise ValueError(f"config {config.name!r} gives duplicate cell ids (models with the same short name?): {ids}")
    return cells


def shard_cells(cells: list[Cell], shard: tuple[int, int]) -> list[Cell]:
    """This shard's cells for ``shard = (i, n)``, in order: cells that share a key (a family and
    its control) form one unit, and units ``i, i + n, i + 2n, ...`` go to shard i (so a control
    always runs after its target in the same shard)."""
    i, n = shard
    units = list(dict.fromkeys(c.pair_id for c in cells))
    mine = set(units[i::n])
    return [c for c in cells if c.pair_id in mine]
