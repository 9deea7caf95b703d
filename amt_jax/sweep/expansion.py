"""A config's cells: expanded by the probe table (each cell carrying its entry), and split into shards."""

from __future__ import annotations

from amt_jax.sweep.cells import Cell
from amt_jax.sweep.config import SweepConfig
from amt_jax.sweep.probes import PROBES, Probe


def _by_family() -> dict[str, list[Probe]]:
    """The probe table's entries grouped by family, in table order."""
    families: dict[str, list[Probe]] = {}
    for probe in PROBES.values():
        families.setdefault(probe.family, []).append(probe)
    return families


def expand(config: SweepConfig) -> list[Cell]:
    """All cells of ``config`` in a fixed order (the order shards split): per model, per family of
    the probe table (in table order, when on in ``config.families``), per setting of the family, its
    kinds; then the control models' listed families; then the first-model-only probes (the example)
    for the first model."""
    cells = []
    families = _by_family()

    def add(model: str, probes: list[Probe]) -> None:
        for params in probes[0].settings(config):
            for probe in probes:
                cells.append(Cell(model, probe.kind, tuple(params.items()), probe.draws(config), config.seed, probe))

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
