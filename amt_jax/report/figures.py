"""The sweep's figures, drawn from saved results only (plot primitives in :mod:`amt_jax.report.plots`).

:data:`FIGURES` maps a figure name (a probe's ``figure``) to a function ``make(results) ->
[(file name, matplotlib Figure), ...]`` (empty when its cells are missing).
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
from etils import epath

from amt_jax import io as amt_io
from amt_jax import stats
from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.models import registry
from amt_jax.constants import MIDI_OFFSET
from amt_jax.report import figures_edge, figures_reliance, plots
from amt_jax.report.results import Results

FIGURE_FORMATS = ("pdf", "png")


def _new_figure(n_rows: int = 1, n_cols: int = 1, *, size=(6.4, 4.0)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * n_cols, size[1] * n_rows), layout="constrained")
    return fig, fig.subplots(n_rows, n_cols, squeeze=False)


def _mean_ci(record: dict) -> tuple[float, float, float]:
    r = record["result"]
    return tuple(float(np.asarray(r[k], float)) for k in ("importances_mean", "ci_low", "ci_high"))  # null -> nan


def _per_change(record: dict, arrays: dict) -> tuple[float, float, float]:
    """Importance per unit mean input change (|πX − X|), with the Monte Carlo CI scaled alike."""
    change = float(np.mean(arrays["input_change"])) if "input_change" in arrays else np.nan
    return tuple(v / change for v in _mean_ci(record))


def figure_harmonic(results: Results):
    """Harmonic importance vs h beside the size-matched control, one line pair per model, raw and per
    unit of input change (the comb's bins co-vary, so a shuffle among them moves less input)."""
    fig, axes = _new_figure(1, 2)
    drawn, lows, highs = False, [], []
    for model in results.config["models"]:
        pairs = [(c, rec, arr, results.finished.get(results.control_id(c))) for c, rec, arr in results.of(model, "harmonic")]
        pairs = [p for p in pairs if p[3] is not None]
        if not pairs:
            continue
        h = [c["params"]["n_harmonics"] for c, *_ in pairs]
        label = registry.label(model) if len(results.config["models"]) > 1 else ""
        for ax, value in ((axes[0, 0], lambda rec, arr: _mean_ci(rec)), (axes[0, 1], _per_change)):
            m, lo, hi = np.array([value(rec, arr) for _, rec, arr, _ in pairs]).T
            cm, clo, chi = np.array([value(*ctl) for *_, ctl in pairs]).T
            plots.harmonic_vs_control(h, m, lo, hi, control_mean=cm, control_ci_low=clo, control_ci_high=chi,
                                      label=label, ax=ax)
            lows += [*lo, *clo]
            highs += [*hi, *chi]
        drawn = True
    ci = plots.interval_phrase(lows, highs, "Monte Carlo")
    axes[0, 0].set_title(f"Harmonic shuffles vs size-matched control ({ci})")
    axes[0, 1].set_title(f"… per unit of input change |πX − X| ({ci})")
    axes[0, 1].set_ylabel("importance per mean input change (ratio)")
    return fig if drawn else None


def figure_microtonal(results: Results):
    """Importance per semitone (scope one) and, with several B, the scope-all importance vs B."""
    per_semitone = [(m, results.of(m, "microtonal_one")) for m in results.config["models"]]
    per_semitone = [(m, cells[0]) for m, cells in per_semitone if cells]
    vs_b = {}
    for model in results.config["models"]:
        for _, rec, _ in results.of(model, "microtonal_all"):
            vs_b.setdefault(rec["result"]["bins_per_semitone"], (model, rec))
    if not per_semitone and not vs_b:
        return None
    panels = 1 + (len(vs_b) >= 2)
    fig, axes = _new_figure(1, panels)
    lows, highs = [], []
    for model, (_, rec, arrays) in per_semitone:
        layout = FrequencyLayout.from_dict(rec["result"])
        by = stats.group_summary(arrays["importances"], arrays["group_ids"], confidence=rec["result"]["confidence"])
        keys = layout.is_key(by["group"])  # semitones above the top key are no keys: not drawn
        plots.importance_per_semitone(by["group"][keys], by["mean"][keys], by["ci_low"][keys], by["ci_high"][keys],
                                      label=f"{registry.label(model)} (B={layout.bins_per_semitone})", lowest_midi=layout.lowest_midi,
                                      ax=axes[0, 0])
        lows += list(by["ci_low"][keys])
        highs += list(by["ci_high"][keys])
    ci = plots.interval_phrase(lows, highs, "Monte Carlo", none="too few draws per semitone for an interval")
    axes[0, 0].set_title(f"Shuffling the bins of one semitone ({ci})")
    if panels == 2:
        bs = sorted(vs_b)
        m, lo, hi = np.array([_mean_ci(vs_b[b][1]) for b in bs]).T
        plots.importance_bars([f"B={b}\n{registry.label(vs_b[b][0])}" for b in bs], m, lo, hi,
                              xlabel="bins per semitone B (model)", interval="95 % Monte Carlo CI", ax=axes[0, 1])
        axes[0, 1].set_title("Every semitone shuffled, vs B (0 by construction at B = 1)")
    return fig


def figure_random_spectral(results: Results):
    """Random-spectral importance of the whole axis and per band, one panel per model."""
    from amt_jax.sweep.probes import PROBES

    models = [(m, results.of(m, "random_spectral")) for m in results.config["models"]]
    models = [(m, cells) for m, cells in models if cells]
    if not models:
        return None
    fig, axes = _new_figure(1, len(models))
    for ax, (model, cells) in zip(axes[0], models):
        labels = [PROBES["random_spectral"].label(c["params"]).replace("-", "–") for c, _, _ in cells]
        m, lo, hi = np.array([_mean_ci(rec) for _, rec, _ in cells]).T
        plots.importance_bars(labels, m, lo, hi, xlabel="bins shuffled (semitones above the lowest key)",
                              interval="95 % Monte Carlo CI", ax=ax)
        ax.set_title(f"Random spectral shuffles — {registry.label(model)}")
    return fig


def figure_example(results: Results):
    """X and πX of a harmonic draw, the model's output Y(X) and the change Y(πX) − Y(X) (diverging)."""
    cells = [c for c in results.cells if c["kind"] == "example" and c["id"] in results.finished]
    if not cells:
        return None
    rec, a = results.finished[cells[0]["id"]]
    moved = np.flatnonzero(a["idx"] != np.arange(len(a["idx"])))
    fig, axes = _new_figure(2, 2, size=(6.4, 3.8))
    h = cells[0]["params"]["n_harmonics"]
    r = rec["result"]
    low = r.get("lowest_midi", MIDI_OFFSET)
    top = float(max(np.max(a["x"]), np.max(a["x_perm"]))) or None  # one colour scale for X and πX
    plots.spectrogram(a["x"], title="X: the features of one clip", vmax=top, ax=axes[0, 0])
    plots.spectrogram(a["x_perm"], title=f"πX: harmonics 1–{h} of bin {r['group']} shuffled (moved bins ◀; "
                      f"largest effect of {r['n_draws']} draws)", marked_bins=moved, vmax=top, ax=axes[0, 1])
    plots.piano_roll(a["y"], title=f"Model output Y(X) — {registry.label(cells[0]['model'])}", lowest_midi=low,
                     ax=axes[1, 0])
    plots.piano_roll(np.asarray(a["y_perm"], float) - np.asarray(a["y"], float), difference=True, lowest_midi=low,
                     title=f"Change Y(πX) − Y(X): mean |ΔY| = {r['output_l1']:.3g}", ax=axes[1, 1])
    return fig


def _single(name: str, make: Callable[[Results], object]) -> Callable[[Results], list]:
    def figures(results: Results) -> list:
        fig = make(results)
        return [] if fig is None else [(name, fig)]

    return figures


FIGURES: dict[str, Callable[[Results], list]] = {
    "harmonic": _single("harmonic", figure_harmonic),
    "harmonic_reliance": _single("harmonic_reliance", figures_reliance.figure_reliance),
    "factorial": _single("factorial", figures_reliance.figure_factorial),
    "resolution": _single("resolution", figures_reliance.figure_resolution),
    "per_instrument": _single("per_instrument", figures_reliance.figure_per_instrument),
    "registers": _single("registers", figures_reliance.figure_registers),
    "microtonal": _single("microtonal", figure_microtonal),
    "random_spectral": _single("random_spectral", figure_random_spectral),
    "noise": figures_edge.per_model("noise", figures_edge.figure_noise),
    "edge_frequencies": figures_edge.per_model("edge_frequencies", figures_edge.figure_edge),
    "example": _single("example", figure_example),
}


def save_figure(fig, directory: epath.Path, name: str) -> None:
    """``directory/name.{pdf,png}``, each written atomically."""
    for fmt in FIGURE_FORMATS:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=120)
        amt_io.atomic_write(directory / f"{name}.{fmt}", buf.getvalue())
