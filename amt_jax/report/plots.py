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


# Axis labels with their units (issue 27): one wording for each quantity the figures share.
KEY = "key (MIDI note number)"
BIN = "frequency bin f (index; B bins per semitone)"
FRAME = "frame t (index; the model's frame step)"
OUTPUT = "note output (probability)"
IMPORTANCE = "importance: mean |ΔY| (probability)"
H = "harmonics shuffled h (count)"


def error_bars(mean, ci_low, ci_high) -> np.ndarray:
    mean = np.asarray(mean, float)
    return np.stack([mean - np.asarray(ci_low, float), np.asarray(ci_high, float) - mean])


def has_interval(ci_low, ci_high) -> np.ndarray:
    """Where an interval exists: both ends finite and apart (a missing or zero-width interval is none)."""
    lo, hi = np.asarray(ci_low, float), np.asarray(ci_high, float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(lo) & np.isfinite(hi) & (hi > lo)


def interval_phrase(ci_low, ci_high, kind: str, *, none: str = "no interval") -> str:
    """``"95 % <kind> CI"`` when any interval of ``ci_low, ci_high`` is drawn, else ``none``: a
    title says which interval it shows, and claims none it does not draw."""
    return f"95 % {kind} CI" if has_interval(ci_low, ci_high).any() else none


def interval_bars(ax, x, mean, ci_low, ci_high, *, label: str, **kwargs) -> None:
    """Error bars at ``x`` where an interval exists (:func:`has_interval`), labelled ``label`` (its
    kind); nothing elsewhere (a missing interval is not drawn as a cap of zero width)."""
    ok = has_interval(ci_low, ci_high)
    if ok.any():
        m, lo, hi = (np.asarray(v, float)[ok] for v in (mean, ci_low, ci_high))
        ax.errorbar(np.asarray(x, float)[ok], m, yerr=error_bars(m, lo, hi), fmt="none", capsize=3,
                    label=label, **{"color": "k", **kwargs})


def harmonic_vs_control(
    h, mean, ci_low, ci_high, *, control_mean, control_ci_low, control_ci_high, label: str = "", ax=None
):
    """Importance vs number of harmonics ``h`` (error bars = CI), beside the size-matched control."""
    ax = axes_or_new(ax)
    h = np.asarray(h, float)
    (line,) = ax.plot(h - 0.08, mean, "o-", label=f"harmonic {label}".strip())
    interval_bars(ax, h - 0.08, mean, ci_low, ci_high, label="_", color=line.get_color())
    ax.plot(h + 0.08, control_mean, "s--", color=line.get_color(), alpha=0.6, label=f"size-matched control {label}".strip())
    interval_bars(ax, h + 0.08, control_mean, control_ci_low, control_ci_high, label="_", color=line.get_color(), alpha=0.6)
    ax.set_xlabel(H)
    ax.set_ylabel(IMPORTANCE)
    ax.set_xticks(np.unique(h))
    ax.legend(fontsize="small")
    return ax


def importance_per_semitone(semitone, mean, ci_low, ci_high, *, label: str = "", lowest_midi: int = MIDI_OFFSET, ax=None):
    """Importance per key's semitone across the keyboard (x = MIDI note, A0 = 21), CI band; pass
    only the model's keys (semitones above the top key are no keys)."""
    ax = axes_or_new(ax)
    midi = np.asarray(semitone) + lowest_midi
    (line,) = ax.plot(midi, mean, ".-", label=label or None)
    ok = has_interval(ci_low, ci_high)
    ax.fill_between(midi, np.where(ok, ci_low, np.nan), np.where(ok, ci_high, np.nan), color=line.get_color(),
                    alpha=0.25, linewidth=0)
    ax.set_xlabel("semitone shuffled (MIDI note number; A0 = 21)")
    ax.set_ylabel(IMPORTANCE)
    if label:
        ax.legend(fontsize="small")
    return ax


def importance_bars(labels, mean, ci_low, ci_high, *, xlabel: str, ylabel: str = IMPORTANCE, interval: str = "95 % CI",
                    ax=None):
    """One bar per condition (e.g. per band, per B) with CI error bars where there is an interval
    (``interval`` names its kind in the legend); a bar without one has no cap."""
    ax = axes_or_new(ax)
    x = np.arange(len(labels))
    ax.bar(x, mean, color="tab:blue", alpha=0.8)
    interval_bars(ax, x, mean, ci_low, ci_high, label=interval)
    if has_interval(ci_low, ci_high).any():
        ax.legend(fontsize="small")
    ax.set_xticks(x)
    ax.set_xticklabels([str(v) for v in labels], rotation=40 if len(labels) > 6 else 0, ha="right" if len(labels) > 6 else "center",
                       rotation_mode="anchor")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def estimate_points(labels, mean, ci_low, ci_high, *, xlabel: str, ylabel: str, interval: str, ax=None):
    """One point per group (e.g. per instrument, per register) with its CI (``interval`` names the
    kind in the legend); a group without an interval (one piece) is an open point, no cap."""
    ax = axes_or_new(ax)
    x = np.arange(len(labels))
    mean = np.asarray(mean, float)
    ok = has_interval(ci_low, ci_high)
    if ok.any():
        ax.plot(x[ok], mean[ok], "o", color="tab:blue")
        interval_bars(ax, x, mean, ci_low, ci_high, label=f"mean, {interval}", color="tab:blue")
    if (~ok).any():
        ax.plot(x[~ok], mean[~ok], "o", mfc="white", color="tab:blue", label="no interval (one piece, or zero width)")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels([str(v) for v in labels], rotation=40 if len(labels) > 4 else 0,
                       ha="right" if len(labels) > 4 else "center", rotation_mode="anchor")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax


def per_key(values, ci_low, ci_high, *, ylabel: str, label: str = "", lowest_midi: int = MIDI_OFFSET, color=None,
            ax=None):
    """A value per key (x = MIDI note; pass the model's keys only), CI band where there is one,
    points where a key has a value but no interval; the ends of the model's keys dotted."""
    ax = axes_or_new(ax)
    midi = np.arange(len(values)) + lowest_midi
    (line,) = ax.plot(midi, values, ".-", ms=3, color=color, label=label or None)
    ok = has_interval(ci_low, ci_high)
    ax.fill_between(midi, np.where(ok, ci_low, np.nan), np.where(ok, ci_high, np.nan), color=line.get_color(),
                    alpha=0.25, linewidth=0)
    for end in (midi[0], midi[-1]):
        ax.axvline(end, color="0.6", lw=0.6, ls=":")
    ax.set_xlabel(KEY)
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
    ax.set_xlabel(BIN)
    ax.set_ylabel(ylabel)
    return ax


def estimates_vs_h(h, estimates: dict, *, ax=None):
    """Named estimates against h (``{name: (mean, ci_low, ci_high)}`` of arrays over h), error bars
    (piece-level CIs), a dashed zero line."""
    ax = axes_or_new(ax)
    h = np.asarray(h, float)
    for j, (name, (mean, low, high)) in enumerate(estimates.items()):
        x = h + 0.06 * (j - (len(estimates) - 1) / 2)
        (line,) = ax.plot(x, mean, "o-", label=name)
        interval_bars(ax, x, mean, low, high, label="_", color=line.get_color())
    ax.axhline(0, color="0.5", lw=0.8, ls="--")
    ax.set_xticks(np.unique(h))
    ax.set_xlabel(H)
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
    measured = np.flatnonzero(np.isfinite(v).any(0) | np.isfinite(v).any(1))  # the axes show the keys measured
    first, last = (measured[0], measured[-1]) if len(measured) else (0, n - 1)
    ax.set_xlim(low + first - 0.5, low + last + 0.5)
    ax.set_ylim(low + first - 0.5, low + last + 0.5)
    ax.figure.colorbar(image, ax=ax, label=label)
    ax.set_xlabel("key p whose output dropped (MIDI note number)")
    ax.set_ylabel("key q whose harmonics moved (MIDI note number)")
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
    ax.figure.colorbar(image, ax=ax, label="weight Cov(x_f, y_p) / Var(x_f)\n(probability per feature unit)")
    ax.set_xlabel(KEY)
    ax.set_ylabel(BIN)
    ax.legend(fontsize="small", loc="upper left")
    return ax


def spectrogram(x, *, title: str, marked_bins=None, vmax: float | None = None, ax=None):
    """Features ``[F, T]`` as an image with a colourbar; ``marked_bins`` are ticked on the right edge."""
    ax = axes_or_new(ax)
    image = ax.imshow(np.asarray(x), origin="lower", aspect="auto", cmap="magma", interpolation="nearest", vmin=0,
                      vmax=vmax)
    if marked_bins is not None and len(marked_bins):
        ax.plot(np.full(len(marked_bins), np.shape(x)[1] - 0.5), marked_bins, "c<", ms=5, clip_on=False)
    ax.figure.colorbar(image, ax=ax, label="feature value (model input units)")
    ax.set_title(title)
    ax.set_xlabel(FRAME)
    ax.set_ylabel(BIN)
    return ax


def piano_roll(y, *, title: str, lowest_midi: int = MIDI_OFFSET, difference: bool = False, ax=None):
    """Model output ``[P, T]`` (x = frame, y = MIDI note) with a colourbar: values in [0, 1], or with
    ``difference`` a change of the output on a diverging scale symmetric around 0."""
    ax = axes_or_new(ax)
    y = np.asarray(y, float)
    lim = (float(np.nanmax(np.abs(y))) or 1.0) if difference else 1.0
    image = ax.imshow(y, origin="lower", aspect="auto", cmap="RdBu_r" if difference else "Greys",
                      vmin=-lim if difference else 0, vmax=lim, interpolation="nearest",
                      extent=(-0.5, y.shape[1] - 0.5, lowest_midi - 0.5, lowest_midi + y.shape[0] - 0.5))
    ax.figure.colorbar(image, ax=ax, label="change of the note output (probability)" if difference else OUTPUT)
    ax.set_title(title)
    ax.set_xlabel(FRAME)
    ax.set_ylabel(KEY)
    return ax
