"""The probe table: every kind of sweep cell is one :class:`Probe` entry in :data:`PROBES`.

An entry says how the kind expands from a config (its family switch, its settings, its number of
draws), how a cell of it is computed (a perturbation family through the engine, or an estimator),
its setting label, which kind is its control (paired by model and parameters, sharing the key),
whether it gives a summary row, and which figure shows it. Adding a kind is one entry here plus,
if it needs one, a figure function in :mod:`amt_jax.report.figures`.

The four seed families:

| family | kinds | question |
|---|---|---|
| harmonic | harmonic, harmonic_control (size-matched) | harmonic shuffles vs as many random bins |
| microtonal | microtonal_one (per semitone), microtonal_all | sub-semitone structure |
| random_spectral | random_spectral (per band) | which bands matter |
| noise | noise | output under noise; reverse-correlation weights |
| example | example (first model only) | one harmonic draw to look at |
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    from amt_jax.sweep.cells import Cell
    from amt_jax.sweep.config import SweepConfig
    from amt_jax.sweep.inputs import Inputs

EXAMPLE_DRAWS = 32  # harmonic draws tried for the example; the one changing the output most is shown


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


@dataclass(frozen=True)
class Probe:
    """One kind of cell.

    Attributes:
      kind: the cell kind (part of cell ids).
      family: the config switch (``SweepConfig.families``) that turns it on; kinds of one family
        expand together, setting by setting.
      settings: ``settings(config) -> [params, ...]``, one cell per entry (the family's first
        probe's settings are used for all its kinds).
      draws: ``draws(config) -> n`` draws (or samples) of each cell.
      compute: ``compute(cell, inputs, context) -> (summary, arrays)``.
      label: ``label(params) -> str``, the setting shown in tables.
      control: the kind of this kind's control (same model and parameters), or None.
      key_kind: share the key of this kind (a control draws exactly what its target draws).
      row: whether a cell gives a row of the summary table (importance cells do).
      figure: the figure (:data:`amt_jax.report.figures.FIGURES`) that shows this kind, or None.
      first_model_only: expand for the first model only (the example).
      enabled: ``enabled(config) -> bool`` beyond the family switch (the example has its own flag).
      in_axis: ``in_axis(cell, inputs) -> bool``; False skips the cell (a band off the model's axis).
      describe: ``describe(result) -> str``, one line about a finished cell's result.
    """

    kind: str
    family: str
    settings: Callable[[SweepConfig], list[dict]]
    draws: Callable[[SweepConfig], int]
    compute: Callable[[Cell, Inputs, Context], Computed]
    label: Callable[[dict], str] = lambda params: ""
    control: str | None = None
    key_kind: str | None = None
    row: bool = True
    figure: str | None = None
    first_model_only: bool = False
    enabled_when: Callable[[SweepConfig], bool] | None = None
    in_axis: Callable[[Cell, Inputs], bool] = lambda cell, inputs: True
    describe: Callable[[dict], str] = lambda result: describe_importance(result)

    def enabled(self, config: SweepConfig) -> bool:
        if self.enabled_when is not None:
            return self.enabled_when(config)
        return self.family in config.families


# --------------------------------------------------------------------------- computing cells


def describe_importance(result: dict) -> str:
    """``importance m [MC CI] over n draws; pieces [CI]`` (NaN saved as null reads as nan)."""
    m, lo, hi, plo, phi = (float(np.asarray(result.get(k), float)) for k in
                           ("importances_mean", "ci_low", "ci_high", "clip_ci_low", "clip_ci_high"))
    pieces = f"; {result.get('n_clusters')} pieces [{plo:.4g}, {phi:.4g}]" if np.isfinite(plo) else ""
    return f"importance {m:.4g} [{lo:.4g}, {hi:.4g}] over {result['n_permutations']} draws{pieces}"


def cell_key(cell: Cell):
    """The cell's root key: ``fold_in(PRNGKey(seed), key_tag)``."""
    import jax

    return jax.random.fold_in(jax.random.PRNGKey(cell.seed), cell.key_tag())


def layout_record(inputs: Inputs) -> dict[str, int]:
    """The frequency layout a cell's result is read with (plots, per-semitone tables)."""
    return inputs.layout.to_dict()


def importance_cell(make_family: Callable[[Cell, Inputs, Context], Any]) -> Callable[[Cell, Inputs, Context], Computed]:
    """``compute`` of a permutation-importance kind: ``make_family(cell, inputs, context)`` through
    :func:`amt_jax.engine.importance.permutation_importance` on the note output (``output_l1``),
    clustered by piece; the NPZ also gets each clip's piece index and program."""

    def compute(cell: Cell, inputs: Inputs, ctx: Context) -> Computed:
        from amt_jax.engine import importance

        result = importance.permutation_importance(
            inputs.apply_fn, inputs.params, inputs.features, family=make_family(cell, inputs, ctx),
            key=cell_key(cell), chunk_size=min(ctx.chunk_size, cell.n), output=inputs.output, mesh=ctx.mesh,
            clusters=inputs.clusters, progress=ctx.progress, **ctx.stopping(cell.n),
        )
        arrays = result.arrays()
        if inputs.programs is not None:
            arrays["programs"] = np.asarray(inputs.programs)
        return {**result.summary(), **layout_record(inputs)}, arrays

    return compute


def _harmonic_family(cell: Cell, inputs: Inputs, ctx: Context | None = None):
    from amt_jax.engine import permutations

    lay = inputs.layout
    make = permutations.harmonic_control if cell.kind == "harmonic_control" else permutations.harmonic
    return make(n_bins=lay.n_bins, bins_per_octave=lay.bins_per_octave, n_harmonics=dict(cell.params)["n_harmonics"],
                f0_range=lay.key_bins, stratified=bool(ctx and ctx.stratified))  # fundamentals on the keys' semitones


def _microtonal_family(cell: Cell, inputs: Inputs, ctx: Context | None = None):
    from amt_jax.engine import permutations

    scope = cell.kind.split("_")[1]
    return permutations.microtonal(layout=inputs.layout, scope=scope, stratified=bool(ctx and ctx.stratified and scope == "one"))


def band_bins(cell: Cell, inputs: Inputs) -> tuple[int, int]:
    """Bins ``(lo, hi)`` of a random-spectral cell's band of semitones on the model's axis (the
    whole axis, headroom included, for ``band="all"``)."""
    band = dict(cell.params)["band"]
    return (0, inputs.layout.n_bins) if band == "all" else inputs.layout.semitone_range(*band)


def _band_family(cell: Cell, inputs: Inputs, ctx: Context | None = None):
    from amt_jax.engine import permutations

    return permutations.random_spectral(n_bins=inputs.layout.n_bins, band=band_bins(cell, inputs))


def _noise(cell: Cell, inputs: Inputs, ctx: Context) -> Computed:
    """Noise with the per-bin mean and spread of the cell's features, clipped to their range."""
    from amt_jax.engine import importance

    x = inputs.features
    resp = importance.noise_response(
        inputs.apply_fn, inputs.params, shape=x.shape[1:], n_samples=cell.n, key=cell_key(cell),
        mean=x.mean(axis=(0, 2)), std=np.maximum(x.std(axis=(0, 2)), 1e-3),
        value_range=(float(x.min()), float(x.max()) + 1e-6), output=inputs.output,
        chunk_size=min(ctx.chunk_size, cell.n), n_batches=min(20, cell.n),
    )
    arrays = {f.name: np.asarray(getattr(resp, f.name)) for f in dataclasses.fields(resp) if f.name != "config"}
    power = arrays["output_power"]
    summary = {**resp.config, **layout_record(inputs), "output_power_mean": float(power.mean()),
               "output_power_max": float(power.max()), "output_power_argmax": int(power.argmax())}
    return summary, arrays


def _example(cell: Cell, inputs: Inputs, ctx: Context) -> Computed:
    """The first clip X, and of ``cell.n`` harmonic draws the πX changing the model's output most
    (a random f0 often misses every note), with outputs before and after."""
    import jax

    from amt_jax.engine.importance import family_config

    family = _harmonic_family(cell, inputs)
    key = cell_key(cell)
    idx, groups = jax.jit(jax.vmap(family.sample))(jax.vmap(lambda i: jax.random.fold_in(key, i))(np.arange(cell.n)))
    idx, groups = np.asarray(idx), np.asarray(groups)
    x = inputs.features[0]

    def note(v):
        y = inputs.apply_fn(inputs.params, v)
        return np.asarray(y if inputs.output is None else y[inputs.output])

    y = note(x[None])[0]
    y_perm = note(x[idx])  # [draws, P, T]
    change = np.mean(np.abs(y_perm - y), axis=(1, 2))
    best = int(np.argmax(change))
    arrays = {"x": x, "x_perm": x[idx[best]], "y": y, "y_perm": y_perm[best], "idx": idx[best], "output_l1": change}
    summary = {"family": family_config(family), "draw": best, "n_draws": cell.n,
               "group": int(groups[best]), "output_l1": float(change[best]), **layout_record(inputs)}
    return summary, arrays


# --------------------------------------------------------------------------- the table


def _harmonics(config: SweepConfig) -> list[dict]:
    return [{"n_harmonics": h} for h in config.harmonics]


def _one(config: SweepConfig) -> list[dict]:
    return [{}]


def _draws(config: SweepConfig) -> int:
    return config.n_permutations


_PROBES = (
    Probe("harmonic", "harmonic", _harmonics, _draws, importance_cell(_harmonic_family),
          label=lambda p: f"h={p['n_harmonics']}", control="harmonic_control", figure="harmonic"),
    Probe("harmonic_control", "harmonic", _harmonics, _draws, importance_cell(_harmonic_family),
          label=lambda p: f"h={p['n_harmonics']}", key_kind="harmonic", figure="harmonic"),
    Probe("microtonal_one", "microtonal", _one, lambda c: c.n_permutations_semitone, importance_cell(_microtonal_family),
          label=lambda p: "one", figure="microtonal"),
    Probe("microtonal_all", "microtonal", _one, _draws, importance_cell(_microtonal_family),
          label=lambda p: "all", figure="microtonal"),
    Probe("random_spectral", "random_spectral", lambda c: [{"band": "all"}] + [{"band": tuple(b)} for b in c.bands], _draws,
          importance_cell(_band_family),
          label=lambda p: "whole axis" if p["band"] == "all" else f"semitones {p['band'][0]}-{p['band'][1]}",
          figure="random_spectral", in_axis=lambda cell, inputs: band_bins(cell, inputs)[0] < band_bins(cell, inputs)[1]),
    Probe("noise", "noise", _one, lambda c: c.n_noise_samples, _noise, row=False, figure="edge_frequencies",
          describe=lambda r: f"mean output {r['output_power_mean']:.4g}, max {r['output_power_max']:.4g} "
                             f"at pitch {r['output_power_argmax']}"),
    Probe("example", "example", lambda c: [{"n_harmonics": max(c.harmonics)}], lambda c: EXAMPLE_DRAWS, _example,
          row=False, figure="example", first_model_only=True, enabled_when=lambda c: c.example,
          describe=lambda r: f"f0 bin {r['group']}, mean |Y(πX) − Y(X)| = {r['output_l1']:.4g}"),
)
PROBES: dict[str, Probe] = {p.kind: p for p in _PROBES}
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(p.family for p in _PROBES if p.enabled_when is None))
