"""Plot functions of the study. Each takes arrays (already read from saved results), draws on
``ax`` (the current axes when None) and returns ``ax``; none reads files or computes results.
"""

from __future__ import annotations

import numpy as np

from amt_jax.constants import MIDI_OFFSET
from amt_jax.frontend.layout import FrequencyLayout


def axes_or_new(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def error_bars(mean, ci_low, ci_high) -> np.ndarray:
    mean = np.asarray(mean, float)
    return np.stack([mean - np.asarray(ci_low, float), np.asarray(ci_high, float) - mean])


def harmonic_vs_control(
    h, mean, ci_low, ci_high, *, control_mean, control_ci_low, control_ci_high, label: str = "", ax=None
):
    """Importance vs number of harmonics ``h`` (error bars = CI), beside the size-matched control."""
    ax = axes_or_new(ax)
    h = np.asarray(h, float)
    line = ax.errorbar(h - 0.08, mean, yerr=error_bars(mean, ci_low, ci_high), fmt="o-", capsize=3,
                       label=f"harmonic {label}".strip())
    ax.errorbar(h + 0.08, control_mean, yerr=error_bars(control_mean, control_ci_low, control_ci_high), fmt="s--",
                capsize=3, color=line[0].get_color(), alpha=0.6, label=f"size-matched control {label}".strip())
    ax.set_xlabel("number of harmonics h")
    ax.set_ylabel("permutation importance")
    ax.set_xticks(np.unique(h))
    ax.legend(fontsize="small")
    return ax


def importance_per_semitone(semitone, mean, ci_low, ci_high, *, label: str = "", lowest_midi: int = MIDI_OFFSET, ax=None):
    """Importance per key's semitone across the keyboard (x = MIDI note, A0 = 21), CI band; pass
    only the model's keys (semitones above the top key are no keys)."""
    ax = axes_or_new(ax)
    midi = np.asarray(semitone) + lowest_midi
    (line,) = ax.plot(midi, mean, ".-", label=label or None)
    ax.fill_between(midi, ci_low, ci_high, color=line.get_color(), alpha=0.25, linewidth=0)
    ax.set_xlabel("semitone (MIDI note; A0 = 21)")
    ax.set_ylabel("microtonal importance")
    if label:
        ax.legend(fontsize="small")
    return ax


def importance_bars(labels, mean, ci_low, ci_high, *, xlabel: str, ylabel: str = "permutation importance", ax=None):
    """One bar per condition (e.g. per band, per B) with CI error bars."""
    ax = axes_or_new(ax)
    x = np.arange(len(labels))
    ax.bar(x, mean, yerr=error_bars(mean, ci_low, ci_high), capsize=3, color="tab:blue", alpha=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels([str(v) for v in labels], rotation=40 if len(labels) > 6 else 0, ha="right" if len(labels) > 6 else "center",
                       rotation_mode="anchor")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def per_key(values, ci_low, ci_high, *, ylabel: str, label: str = "", lowest_midi: int = MIDI_OFFSET, color=None,
            ax=None):
    """A value per key (x = MIDI note; pass the model's keys only), CI band; the ends of the model's
    keyboard (A0 = 21 and C8 = 108 for a piano) dotted."""
    ax = axes_or_new(ax)
    midi = np.arange(len(values)) + lowest_midi
    (line,) = ax.plot(midi, values, color=color, label=label or None)
    ax.fill_between(midi, ci_low, ci_high, color=line.get_color(), alpha=0.25, linewidth=0)
    for end in (midi[0], midi[-1]):
        ax.axvline(end, color="0.6", lw=0.6, ls=":")
    ax.set_xlabel("key (MIDI note)")
    ax.set_ylabel(ylabel)
    if label:
        ax.legend(fontsize="small")
    return ax


def per_bin(values, ci_low, ci_high, *, ylabel: str, ax=None):
    """A value per frequency bin (x = bin), CI band."""
    ax = axes_or_new(ax)
    f = np.arange(len(values))
    ax.plot(f, values, color="tab:purple", lw=0.8)
    ax.fill_between(f, ci_low, ci_high, color="tab:purple", alpha=0.25, linewidth=0)
    ax.set_xlabel("frequency bin f")
    ax.set_ylabel(ylabel)
    return ax


def estimates_vs_h(h, estimates: dict, *, ax=None):
    """Named estimates against h (``{name: (mean, ci_low, ci_high)}`` of arrays over h), error bars
    (piece-level CIs), a dashed zero line."""
    ax = axes_or_new(ax)
    h = np.asarray(h, float)
    for j, (name, (mean, low, high)) in enumerate(estimates.items()):
        x = h + 0.06 * (j - (len(estimates) - 1) / 2)
        ax.errorbar(x, mean, yerr=error_bars(mean, low, high), fmt="o-", capsize=3, label=name)
    ax.axhline(0, color="0.5", lw=0.8, ls="--")
    ax.set_xticks(np.unique(h))
    ax.set_xlabel("number of harmonics h")
    ax.legend(fontsize="small")
    return ax


def key_map(values, *, layout: FrequencyLayout, label: str, ax=None):
    """A key × key map ``[P, P]`` (rows: the key whose harmonics moved, columns: where the output
    dropped), diverging colours around 0, nan blank; octave (±12) and fifth (+7, +19) lines dotted."""
    ax = axes_or_new(ax)
    v = np.asarray(values, float)
    lim = float(np.nanpercentile(np.abs(v), 99)) if np.any(np.isfinite(v)) else 1.0  # a few rare pairs do not set the scale
    lim = lim if lim > 0 else 1.0
    low, n = layout.lowest_midi, v.shape[0]
    image = ax.imshow(v, origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                      extent=(low - 0.5, low + n - 0.5, low - 0.5, low + n - 0.5))
    keys = low + np.arange(n)
    for shift in (0, 12, -12, 7, 19):
        ax.plot(keys, keys + shift, ":", color="0.4" if shift else "k", lw=0.6)
    ax.set_xlim(low - 0.5, low + n - 0.5)
    ax.set_ylim(low - 0.5, low + n - 0.5)
    ax.figure.colorbar(image, ax=ax, label=label)
    ax.set_xlabel("key p whose output dropped (MIDI)")
    ax.set_ylabel("key q whose harmonics moved (MIDI)")
    return ax


def fundamental_line(layout: FrequencyLayout) -> np.ndarray:
    """Per key p, the centre (in bins) of its semitone ``layout.semitone_bins(p)`` (``p·B +
    center_offset``, minus ½ for even B), inside the clipped semitone at the axis edges."""
    bounds = [layout.semitone_bins(p) for p in range(layout.n_pitches)]
    return np.array([(lo + hi - 1) / 2 if hi > lo else np.nan for lo, hi in bounds])


def weight_map(weights, *, layout: FrequencyLayout, ax=None):
    """Reverse-correlation weights ``[F, P]`` (bins × keys), diverging colour map around 0;
    the dotted line marks each key's fundamental (the centre of its semitone)."""
    ax = axes_or_new(ax)
    w = np.asarray(weights, float)
    lim = float(np.nanmax(np.abs(w))) or 1.0
    n_bins, n_pitches = w.shape
    low = layout.lowest_midi
    image = ax.imshow(w, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                      extent=(low - 0.5, low + n_pitches - 0.5, -0.5, n_bins - 0.5))
    ax.plot(low + np.arange(layout.n_pitches), fundamental_line(layout), "k:", lw=0.8, label="fundamental")
    ax.figure.colorbar(image, ax=ax, label="weight Cov(x_f, y_p) / Var(x_f)")
    ax.set_xlabel("pitch (MIDI note)")
    ax.set_ylabel("frequency bin f")
    ax.legend(fontsize="small", loc="upper left")
    return ax


def spectrogram(x, *, title: str, marked_bins=None, ax=None):
    """Features ``[F, T]`` as an image; ``marked_bins`` are ticked on the right edge."""
    ax = axes_or_new(ax)
    ax.imshow(np.asarray(x), origin="lower", aspect="auto", cmap="magma", interpolation="nearest")
    if marked_bins is not None and len(marked_bins):
        ax.plot(np.full(len(marked_bins), np.shape(x)[1] - 0.5), marked_bins, "c<", ms=5, clip_on=False)
    ax.set_title(title)
    ax.set_xlabel("frame t")
    ax.set_ylabel("frequency bin f")
    return ax


def piano_roll(y, *, title: str, ax=None):
    """Model output ``[P, T]`` (x = frame, y = MIDI note), values in [0, 1]."""
    ax = axes_or_new(ax)
    y = np.asarray(y)
    ax.imshow(y, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
              extent=(-0.5, y.shape[1] - 0.5, MIDI_OFFSET - 0.5, MIDI_OFFSET + y.shape[0] - 0.5))
    ax.set_title(title)
    ax.set_xlabel("frame t")
    ax.set_ylabel("pitch (MIDI note)")
    return ax
