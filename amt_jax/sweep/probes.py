"""The probe table: every kind of sweep cell is one :class:`Probe` entry in :data:`PROBES`.

An entry says how the kind expands from a config (its family switch, its settings, its number of
draws), how a cell of it is computed (a perturbation family through the engine, or an estimator),
its setting label, which kind is its control (paired by model and parameters, sharing the key),
whether it gives a summary row, and which figure shows it. Adding a kind is one entry here and, if it
needs one, a figure function in :mod:`amt_jax.report.figures`; the names a config is checked
against (:data:`FAMILIES`, :data:`OPT_IN_FAMILIES`, :data:`KINDS`) are read from the table.

| family | kinds | question |
|---|---|---|
| harmonic (seed) | harmonic, harmonic_control (size-matched) | harmonic shuffles vs as many random bins |
| harmonic_reliance | harmonic_swap (per h) | does a key's output rely on its own harmonics (vs co-sounding keys) |
| factorial | factorial | does the model recover a note whose fundamental is gone |
| microtonal (seed) | microtonal_one (per semitone), microtonal_all | sub-semitone structure (0 by construction at B = 1) |
| resolution | pooling_one (per key), pooling_all; pooling_all_f1, shift_down, shift_up (frame-F1 cost) | what is lost when only semitone resolution remains (comparable across B), and what a one-bin mistuning costs |
| random_spectral (seed) | random_spectral (whole axis, per band) | robustness to spectral noise; which bands matter |
| noise (seed) | noise (flat / per-bin distribution) | output per key under noise; kernel, per-bin sensitivity, R² |
| edge_keys (opt-in) | probe_keys | probe tones on every key, alone and on a chord: F1 with false positives beside two energy baselines; the missing fundamental (models with a frontend) |
| cross_method (opt-in) | cross_method | gradients, IG, occlusion (...) on the same groups: agreement, harmonic profiles |
| example | example (first model only) | one harmonic draw to look at |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from amt_jax.sweep import compute, findings
from amt_jax.sweep.context import Computed, Context, Inputs

if TYPE_CHECKING:
    from amt_jax.sweep.cells import Cell

# A :class:`~amt_jax.sweep.config.SweepConfig`; not imported, as the config checks its family and
# kind names against this table.
SweepConfig = Any

EXAMPLE_DRAWS = 32  # harmonic draws tried for the example; the one changing the output most is shown


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
      enabled_when: ``enabled_when(config) -> bool`` instead of the family switch (the example has its own flag).
      in_axis: ``in_axis(cell, inputs) -> bool``; False skips the cell (a band off the model's axis).
      describe: ``describe(result) -> str``, one line about a finished cell's result.
      row_values: ``row_values(result) -> dict`` of summary columns, for kinds whose row is not the
        generic one (the reliance contrast, the factorial interaction); None: generic.
      clip_values: the NPZ array ``[n_clips]`` holding the cell's per-clip estimate (per-instrument tables).
      draw_clip_values: the NPZ array ``[n_draws, n_clips]`` its estimate is the crossed mean of (the
        planner's pilot matrix); None: none (per-pitch cells).
      options: ``((name, value), ...)``: the kind's own parameters its ``compute`` reads (e.g. the
        ``scope`` of a microtonal or pooling kind, ``control`` for a size-matched control), so no
        code parses them out of the kind's name.
      finding: ``finding(row) -> str``, the findings sentence of a summary row of this kind
        (:mod:`amt_jax.sweep.findings`), or None.
      per_instrument: ``per_instrument(params) -> bool``: which cells of the kind the per-instrument
        figure shows (None: none).
      requires: the model capabilities the kind needs (:data:`amt_jax.models.CAPABILITIES`); a cell
        of a model without one is skipped as ``unsupported``, naming the capability.
      opt_in: the family runs only when a config names it (slow, or needs what not every model has).
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
    describe: Callable[[dict], str] = lambda result: compute.describe_importance(result)
    row_values: Callable[[dict], dict] | None = None
    clip_values: str = "clip_importances"
    draw_clip_values: str | None = "draw_clip_importances"
    options: tuple[tuple[str, Any], ...] = ()
    finding: Callable[[dict], str] | None = None
    requires: tuple[str, ...] = ()
    per_instrument: Callable[[dict], bool] | None = None
    opt_in: bool = False

    def missing(self, model) -> tuple[str, ...]:
        """The capabilities of :attr:`requires` ``model`` lacks."""
        return tuple(c for c in self.requires if not model.has(c))

    def option(self, name: str, default: Any = None) -> Any:
        """The value of option ``name`` (``default`` when the kind does not set it)."""
        return dict(self.options).get(name, default)

    def enabled(self, config: SweepConfig) -> bool:
        if self.enabled_when is not None:
            return self.enabled_when(config)
        return self.family in config.families


# --------------------------------------------------------------------------- the table


def _harmonics(config: SweepConfig) -> list[dict]:
    return [{"n_harmonics": h} for h in config.harmonics]


def _one(config: SweepConfig) -> list[dict]:
    return [{}]


def _reliance_settings(config: SweepConfig) -> list[dict]:
    """Every h >= 2, then the config's ``reliance_variants`` at the largest h."""
    return [{"n_harmonics": h} for h in config.harmonics if h >= 2] + \
        [{"n_harmonics": max(config.harmonics), "variant": v} for v in config.reliance_variants]


def _draws(config: SweepConfig) -> int:
    return config.n_permutations


def _estimate_row(est: dict, control: str) -> dict:
    """Summary columns of a contrast estimate (``estimators.reliance`` dict), tested against 0 with
    the crossed interval (draws and pieces both random); every interval centred on ``mean``."""
    crossed = est.get("crossed_ci_low") is not None
    lo, hi = (est["crossed_ci_low"], est["crossed_ci_high"]) if crossed else (est["piece_ci_low"], est["piece_ci_high"])
    mean = est["mean"] if crossed else est.get("piece_mean", est["mean"])  # a record from before: its piece mean
    return {"mean": mean, "ci_low": est["ci_low"], "ci_high": est["ci_high"], "piece_mean": mean,
            "piece_ci_low": est["piece_ci_low"], "piece_ci_high": est["piece_ci_high"], "crossed_ci_low": lo,
            "crossed_ci_high": hi, "n_pieces": est["n_pieces"], "n_pieces_total": est.get("n_pieces_total"),
            "control": control, "difference": mean, "difference_ci_low": lo, "difference_ci_high": hi,
            "difference_mc_se": est.get("mc_standard_error", _half_width(est["ci_low"], est["ci_high"]) / 1.959964),
            "p": est["p"]}


def _half_width(lo, hi) -> float:
    """Half the interval ``[lo, hi]``; NaN when there is none (saved as null: fewer than 2 draws or pieces)."""
    return float("nan") if lo is None or hi is None else (hi - lo) / 2


KEY_MASS_CONTROL = "sham comb at inharmonic offsets, same keys and draws (key_mass: own drop − sham drop)"


def _reliance_row(result: dict) -> dict:
    """The reliance contrast's row, plus the real − sham difference (``sham_*``) and the kind of the
    output read (``output_kind``; None in a result from before it was recorded), beside the columns.
    A ``key_mass`` output with a sham comb is tested on own drop − sham drop instead (``difference``,
    ``p``, hence ``q``; control :data:`KEY_MASS_CONTROL`), the inflated contrast kept as ``contrast_*``."""
    contrast = result["reliance"]["contrast"]
    sham = result["reliance"].get("real_minus_sham")
    if result.get("output_kind") == "key_mass" and sham is not None:
        # one softmax over pitch: the key's lost mass goes to the other keys, so the contrast with them
        # is inflated; the tested number (difference, p, and so the question's q) is own − sham
        row = _estimate_row(sham, KEY_MASS_CONTROL)
        row.update({"contrast_difference": contrast["mean"], "contrast_ci_low": contrast.get("crossed_ci_low"),
                    "contrast_ci_high": contrast.get("crossed_ci_high"), "contrast_p": contrast.get("p")})
    else:
        row = _estimate_row(contrast, "co-sounding keys of the same draws; sham comb")
    row["output_kind"] = result.get("output_kind")
    if sham is not None:
        row.update({"sham_difference": sham["mean"], "sham_ci_low": sham["crossed_ci_low"],
                    "sham_ci_high": sham["crossed_ci_high"], "sham_p": sham.get("p"),
                    "sham_n_pieces": sham.get("n_pieces")})
    return row


def _factorial_row(result: dict) -> dict:
    """The factorial interaction's row, plus its scale and v(F)/v(F∪H), v(H)/v(F∪H) (beside the columns)."""
    fac = result["factorial"]
    row = _estimate_row(fac["interaction"], f"additive on the {fac.get('scale', 'probability')} scale: v(F) + v(H)")
    ratios = fac.get("ratios") or {}
    row.update({"scale": fac.get("scale"), "ratio_F": ratios.get("F"), "ratio_H": ratios.get("H")})
    return row


def _describe_estimate(name: str, est: dict) -> str:
    total = est.get("n_pieces_total", est["n_pieces"])
    left = "" if total == est["n_pieces"] else f" of {total} (the others measured nothing)"
    mean = float("nan") if est.get("mean") is None else est["mean"]
    return f"{name} " + compute.interval_text(mean, est.get("crossed_ci_low"), est.get("crossed_ci_high"), "crossed",
                                              est["n"], est["n_pieces"]) + left


_PROBES = (
    Probe("harmonic", "harmonic", _harmonics, _draws, compute.importance_cell(compute.harmonic_family),
          label=lambda p: f"h={p['n_harmonics']}", control="harmonic_control", figure="harmonic",
          finding=findings.seed_harmonic),
    Probe("harmonic_control", "harmonic", _harmonics, _draws, compute.importance_cell(compute.harmonic_family),
          label=lambda p: f"h={p['n_harmonics']}", key_kind="harmonic", figure="harmonic", options=(("control", True),)),
    Probe("harmonic_swap", "harmonic_reliance", _reliance_settings, _draws,
          compute.reliance, label=lambda p: f"h={p['n_harmonics']}" + (f", {p['variant']}" if "variant" in p else ""),
          figure="harmonic_reliance",
          row_values=_reliance_row,
          clip_values="contrast_clip_means", draw_clip_values="contrast_draw_clip",
          describe=lambda r: _describe_estimate("reliance contrast", r["reliance"]["contrast"]), finding=findings.reliance,
          per_instrument=lambda p: True),
    Probe("factorial", "factorial", lambda c: [{"n_harmonics": max(c.harmonics)}], _draws, compute.factorial,
          label=lambda p: f"interaction, h={p['n_harmonics']}", figure="factorial",
          row_values=_factorial_row,
          clip_values="interaction_clip_means", draw_clip_values="interaction_draw_clip",
          describe=lambda r: _describe_estimate("interaction", r["factorial"]["interaction"]), finding=findings.factorial,
          per_instrument=lambda p: True),
    Probe("microtonal_one", "microtonal", _one, lambda c: c.n_permutations_semitone,
          compute.importance_cell(compute.microtonal_family), label=lambda p: "one", figure="microtonal",
          options=(("scope", "one"),)),
    Probe("microtonal_all", "microtonal", _one, _draws, compute.importance_cell(compute.microtonal_family),
          label=lambda p: "all", figure="microtonal", options=(("scope", "all"),)),
    Probe("pooling_one", "resolution", _one, lambda c: c.n_permutations_semitone,
          compute.importance_cell(compute.pooling_family), label=lambda p: "one key", figure="resolution",
          options=(("scope", "one"),)),
    Probe("pooling_all", "resolution", _one, lambda c: 1, compute.importance_cell(compute.pooling_family),
          label=lambda p: "every key", figure="resolution", options=(("scope", "all"),),
          finding=findings.pooling, per_instrument=lambda p: True),  # deterministic: one draw says it all
    Probe("pooling_all_f1", "resolution", _one, lambda c: 1, compute.importance_cell(compute.pooling_family),
          label=lambda p: "every key, F1 cost", options=(("scope", "all"), ("metric", "frame_f1")),
          finding=findings.f1_cost("Semitone pooling (every key)")),
    Probe("shift_down", "resolution", _one, lambda c: 1, compute.importance_cell(compute.shift_family),
          label=lambda p: "axis 1 bin (100/B cents) down, F1 cost", options=(("bins", -1), ("metric", "frame_f1")),
          finding=findings.f1_cost("Moving the whole axis one bin down (100/B cents flat: 33 at B = 3, a semitone at B = 1)")),
    Probe("shift_up", "resolution", _one, lambda c: 1, compute.importance_cell(compute.shift_family),
          label=lambda p: "axis 1 bin (100/B cents) up, F1 cost", options=(("bins", 1), ("metric", "frame_f1")),
          finding=findings.f1_cost("Moving the whole axis one bin up (100/B cents sharp)")),
    Probe("random_spectral", "random_spectral", lambda c: [{"band": "all"}] + [{"band": tuple(b)} for b in c.bands],
          _draws, compute.importance_cell(compute.band_family),
          label=lambda p: "whole axis" if p["band"] == "all" else f"semitones {p['band'][0]}-{p['band'][1]}",
          figure="random_spectral", per_instrument=lambda p: p["band"] == "all",
          in_axis=lambda cell, inputs: compute.band_bins(cell, inputs)[0] < compute.band_bins(cell, inputs)[1]),
    Probe("noise", "noise", lambda c: [{"distribution": d, "lags": c.noise_lags} for d in c.noise_distributions],
          lambda c: c.n_noise_samples, compute.noise, row=False, figure="noise",
          label=lambda p: f"{p['distribution']} noise",
          describe=lambda r: f"kernel R² {r['r2']:.3g} [{r['r2_ci_low']:.3g}, {r['r2_ci_high']:.3g}]; mean output "
                             f"{r['output_mean_mean']:.4g}, max {r['output_mean_max']:.4g} at key {r['output_mean_argmax']}"),
    Probe("probe_keys", "edge_keys", _one, lambda c: 4, compute.probe_keys, row=False, label=lambda p: "probe tones", opt_in=True,
          figure="edge_frequencies",
          requires=("frontend",), options=(("timbres", ("1/k", "1/k+chord", "missing:1/k")), ("levels_dbfs", (-40.0, -20.0))),
          describe=lambda r: "; ".join(
              f"{c} {level:g} dBFS: mean F1 < 0.5 on {sum(f['below'][j])}/{sum(n > 0 for n in f['n'][j])} keys, weakest "
              + ", ".join(f"MIDI {w['midi']} {w['f1']:.2f}" for w in f["weakest"][j][:3])
              for c, f in r["key_f1"].items() for j, level in enumerate(r["levels_dbfs"]))),
    Probe("cross_method", "cross_method", lambda c: [{"n_harmonics": max(c.harmonics)}], lambda c: 200,
          compute.cross_method, row=False, label=lambda p: f"h={p['n_harmonics']}", opt_in=True,
          requires=("logits",),
          options=(("methods", ("gradient", "grad_x_input", "integrated_gradients", "occlusion")), ("baseline", "auto")),
          describe=lambda r: f"{len(r['methods'])} methods on {len(r['labels'])} groups"),
    Probe("example", "example", lambda c: [{"n_harmonics": max(c.harmonics)}], lambda c: EXAMPLE_DRAWS, compute.example,
          row=False, figure="example", first_model_only=True, enabled_when=lambda c: c.example,
          describe=lambda r: f"f0 bin {r['group']}, mean |Y(πX) − Y(X)| = {r['output_l1']:.4g}"),
)
PROBES: dict[str, Probe] = {p.kind: p for p in _PROBES}
# Every kind of cell, in the table's order.
KINDS: tuple[str, ...] = tuple(PROBES)
# Families a config switches on and off (``SweepConfig.families``; the default is all of them); the
# example is switched by ``SweepConfig.example`` instead.
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(p.family for p in _PROBES if p.enabled_when is None and not p.opt_in))
# Families a config runs only when it names them.
OPT_IN_FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(p.family for p in _PROBES if p.opt_in))
