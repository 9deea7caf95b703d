"""Plot primitives for the cross-method evidence (issue 13). Like :mod:`amt_jax.report.plots`: each
takes arrays already read from saved results, draws on ``ax`` (current axes when None) and returns it.
"""

from __future__ import annotations

import numpy as np

from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.report.plots import axes_or_new, fundamental_line


MAX_CI_METHODS = 5  # above this, heatmap cells show ρ only


def agreement_heatmap(methods, rho, ci_low=None, ci_high=None, *, title: str = "", ax=None):
    """Method × method Spearman ρ ``[M, M]`` as a heatmap in [−1, 1], each cell annotated with ρ
    (and its CI ``[lo, hi]`` when given and there are at most ``MAX_CI_METHODS`` methods: more do
    not fit in a cell; the intervals stay in the results)."""
    ax = axes_or_new(ax)
    rho = np.asarray(rho, float)
    image = ax.imshow(rho, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    for i in range(rho.shape[0]):
        for j in range(rho.shape[1]):
            if i == j or not np.isfinite(rho[i, j]):
                continue
            text = f"{rho[i, j]:.2f}"
            if (ci_low is not None and ci_high is not None and len(methods) <= MAX_CI_METHODS
                    and np.isfinite(ci_low[i][j])):
                text += f"\n[{ci_low[i][j]:.2f}, {ci_high[i][j]:.2f}]"
            ax.text(j, i, text, ha="center", va="center", fontsize="x-small",
                    color="white" if abs(rho[i, j]) > 0.6 else "black")
    ax.set_xticks(range(len(methods)), methods, rotation=45, ha="right")
    ax.set_yticks(range(len(methods)), methods)
    ax.figure.colorbar(image, ax=ax, label="Spearman ρ (mean over pieces)")
    if title:
        ax.set_title(title)
    return ax


def cascade_curves(depth_labels, values: dict, ci_low: dict | None = None, ci_high: dict | None = None, *,
                   ylabel: str = "Spearman ρ with the trained model", null: dict | None = None, ax=None):
    """One line per method: similarity to the trained model vs randomisation depth (x: the layers
    randomised so far), CI band when given; ``null``: method → the ρ random maps reach (a dashed
    line in the method's colour: the level a destroyed explanation falls to)."""
    ax = axes_or_new(ax)
    x = np.arange(len(depth_labels))
    for method, v in values.items():
        (line,) = ax.plot(x, v, "o-", label=method)
        if ci_low is not None and ci_high is not None and method in ci_low:
            ax.fill_between(x, ci_low[method], ci_high[method], color=line.get_color(), alpha=0.2, linewidth=0)
        if null is not None and method in null:
            ax.plot(x, np.broadcast_to(np.asarray(null[method], float), x.shape), "--", color=line.get_color(), lw=0.8)
    if null:
        ax.plot([], [], "k--", lw=0.8, label="random maps (null)")
    ax.set_xticks(x, depth_labels, rotation=30, ha="right")
    ax.set_xlabel("randomised from the top down to")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax


def key_map(maps, *, layout: FrequencyLayout, label: str = "relevance per labelled frame", ax=None):
    """Per-key maps ``[P, F]`` (e.g. class-wise LRP) drawn as bins × keys like
    :func:`amt_jax.report.plots.weight_map` (so the two sit side by side); NaN rows (keys never
    labelled) stay blank; diverging colours around 0; the dotted line marks each key's fundamental."""
    ax = axes_or_new(ax)
    m = np.asarray(maps, float).T  # [F, P]
    lim = float(np.nanmax(np.abs(m))) if np.any(np.isfinite(m)) else 1.0
    low = layout.lowest_midi
    image = ax.imshow(np.ma.masked_invalid(m), origin="lower", aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                      interpolation="nearest", extent=(low - 0.5, low + m.shape[1] - 0.5, -0.5, m.shape[0] - 0.5))
    ax.plot(low + np.arange(layout.n_pitches), fundamental_line(layout), "k:", lw=0.8, label="fundamental")
    ax.figure.colorbar(image, ax=ax, label=label)
    ax.set_xlabel("pitch (MIDI note)")
    ax.set_ylabel("frequency bin f")
    ax.legend(fontsize="small", loc="upper left")
    return ax


def harmonic_profiles(profiles: dict, *, ax=None):
    """Score of harmonic k = 1..K of a sounding key per method, each divided by its largest |score|
    (methods have different units), so the shapes compare."""
    ax = axes_or_new(ax)
    for method, v in profiles.items():
        v = np.asarray(v, float)
        peak = np.nanmax(np.abs(v)) if np.any(np.isfinite(v)) else 1.0
        ax.plot(np.arange(1, len(v) + 1), v / (peak or 1.0), "o-", label=method)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("harmonic k of a sounding key")
    ax.set_ylabel("score / max |score|")
    ax.legend(fontsize="small")
    return ax


def stack_importance(harmonics, mean, ci_low, ci_high, *, ax=None):
    """I(h) per harmonic-stack channel with (piece-level) CI error bars."""
    ax = axes_or_new(ax)
    x = np.arange(len(harmonics))
    mean = np.asarray(mean, float)
    ax.bar(x, mean, yerr=np.stack([mean - np.asarray(ci_low, float), np.asarray(ci_high, float) - mean]), capsize=3)
    ax.set_xticks(x, [f"{h:g}" for h in harmonics])
    ax.set_xlabel("harmonic-stack channel h")
    ax.set_ylabel("I(h): note-output change")
    return ax
