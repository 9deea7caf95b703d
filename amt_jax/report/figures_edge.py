"""Figures of the keyboard's edges and of noise, per model, from saved results only: the probe
tones' F1 per key beside the energy and argmax baselines (the ``probe_keys`` cell: which keys a
model hears, alone and on a chord), and the response to spectral noise (the ``noise`` cells)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.models import registry
from amt_jax.report import plots
from amt_jax.report.results import Results

CONTEXTS = {"alone": "a tone alone", "chord": "a tone on a chord"}


def _new_figure(n_rows: int = 1, n_cols: int = 1, *, size=(6.4, 4.0)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * n_cols, size[1] * n_rows), layout="constrained")
    return fig, fig.subplots(n_rows, n_cols, squeeze=False)


def per_model(name: str, make: Callable[[Results, str], object]) -> Callable[[Results], list]:
    """``results -> [(file name, figure)]``: ``make(results, model)`` per model of the sweep, named
    ``name`` (one model) or ``name_<model slug>`` (several)."""

    def figures(results: Results) -> list:
        multi = len(results.config["models"]) > 1
        out = []
        for model in results.config["models"]:
            fig = make(results, model)
            if fig is not None:
                out.append((f"{name}_{registry.slug(model)}" if multi else name, fig))
        return out

    return figures


def _f1(values: dict, level: int) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(values[k], float)[level] for k in ("mean", "ci_low", "ci_high"))


def figure_edge(results: Results, model: str):
    """Probe tones: per context (rows: alone, on a chord) and level (columns), the model's F1 per key
    (false positives counted) with its 95 % t CI over the timbres (or repetitions), beside the
    energy baseline (dashed) and the argmax baseline (dotted); x cropped to the keys probed."""
    cells = results.of(model, "probe_keys")
    if not cells:
        return None
    _, rec, _ = cells[0]
    r = rec["result"]
    midi, levels = np.asarray(r["midi"]), r["levels_dbfs"]
    contexts = [c for c in CONTEXTS if c in r["key_f1"]]
    fig, axes = _new_figure(len(contexts), len(levels), size=(5.6, 3.4))
    for row, context in enumerate(contexts):
        f1 = r["key_f1"][context]
        over = f1.get("interval_over", "timbres")
        for col, level in enumerate(levels):
            ax = axes[row, col]
            mean, low, high = _f1(f1["f1"], col)
            ok = plots.has_interval(low, high)
            (line,) = ax.plot(midi, mean, ".-", ms=3, label="model")
            ax.fill_between(midi, np.where(ok, low, np.nan), np.where(ok, high, np.nan), color=line.get_color(),
                            alpha=0.25, linewidth=0, label=f"model, 95 % t CI over {over}" if ok.any() else None)
            ax.plot(midi, _f1(f1["f1_energy"], col)[0], "--", color="tab:gray", lw=1, label="energy baseline")
            ax.plot(midi, _f1(f1["f1_argmax"], col)[0], ":", color="k", lw=1, label="argmax baseline")
            ax.axhline(0.5, color="0.7", lw=0.6)
            ax.set_xlim(midi[0] - 0.5, midi[-1] + 0.5)
            ax.set_ylim(-0.03, 1.03)
            ax.set_xlabel(plots.KEY)
            ax.set_ylabel("F1 per key (0–1; false positives counted)")
            ax.set_title(f"{registry.label(model)}: {CONTEXTS[context]}, {level:g} dBFS")
            ax.legend(fontsize="x-small", loc="lower center")
    return fig


def figure_noise(results: Results, model: str):
    """Under noise: the output per key (flat noise, and per-bin noise when run), the per-bin
    first-order sensitivity S_f with the kernel's R², and the weight map [F × P]."""
    cells = results.of(model, "noise")
    if not cells:
        return None
    fig, axes = _new_figure(1, 3)
    first, lows, highs = None, [], []
    for cell, rec, arrays in cells:
        layout = FrequencyLayout.from_dict(rec["result"])
        keys = layout.n_pitches
        low, high = arrays["output_mean_ci_low"][:keys], arrays["output_mean_ci_high"][:keys]
        plots.per_key(arrays["output_mean"][:keys], low, high, ylabel="mean note output under noise (probability)",
                      label=f"{cell['params']['distribution']} noise", lowest_midi=layout.lowest_midi, ax=axes[0, 0])
        lows, highs = [*lows, *low], [*highs, *high]
        first = first or (rec, arrays, layout)
    rec, arrays, layout = first
    axes[0, 0].set_title(f"Output per key under noise, {registry.label(model)} "
                         f"({plots.interval_phrase(lows, highs, 'jackknife')})")
    r = rec["result"]
    low, high = arrays["sensitivity_ci_low"], arrays["sensitivity_ci_high"]
    plots.per_bin(arrays["sensitivity"], low, high, ylabel="first-order sensitivity S_f (share of output variance)",
                  ax=axes[0, 1])
    axes[0, 1].set_title(f"Per-bin sensitivity, {r['distribution']} noise ({plots.interval_phrase(low, high, 'jackknife')});"
                         f"\nkernel R² = {r['r2']:.2g} [{r['r2_ci_low']:.2g}, {r['r2_ci_high']:.2g}]")
    plots.weight_map(arrays["weights"], layout=layout, ax=axes[0, 2])
    axes[0, 2].set_title("Reverse-correlation weights [F × P]")
    return fig
