"""Plots of detection per key (probe tones, :mod:`amt_jax.tones.probe`). Like
:mod:`amt_jax.report.plots`: each primitive takes arrays, draws on ``ax`` (the current axes when
None) and returns ``ax``; :func:`probe_keys_figure` lays the primitives out in one figure.
"""

from __future__ import annotations

import numpy as np

from amt_jax.constants import MIDI_OFFSET, N_PITCHES
from amt_jax.report.plots import axes_or_new

KEYBOARD = (MIDI_OFFSET, MIDI_OFFSET + N_PITCHES - 1)  # A0 = 21, C8 = 108


def detection_vs_key(midi, mean, ci_low, ci_high, *, labels, ylabel: str = "frame recall",
                     model_keys: tuple[int, int] | None = None, threshold: float | None = None, ax=None):
    """Detection vs key: x = MIDI note ``midi [K]``, one line per row of ``mean [L, K]`` (e.g. per
    level, named by ``labels [L]``) with its CI band ``ci_low, ci_high [L, K]`` (NaN = not probed,
    a gap). Dashed verticals mark the keyboard's ends (A0 = 21, C8 = 108); dotted ones the model's
    own lowest and highest key when ``model_keys = (lo, hi)`` differs; a grey horizontal line the
    detection ``threshold``."""
    ax = axes_or_new(ax)
    midi = np.asarray(midi)
    mean, ci_low, ci_high = (np.atleast_2d(np.asarray(a, float)) for a in (mean, ci_low, ci_high))
    if not (mean.shape == ci_low.shape == ci_high.shape and mean.shape[-1] == midi.shape[0]):
        raise ValueError(f"mean, ci_low, ci_high must have shape [L, {midi.shape[0]}], got {mean.shape}, "
                         f"{ci_low.shape}, {ci_high.shape}")
    if len(labels) != mean.shape[0]:
        raise ValueError(f"labels must name the {mean.shape[0]} lines, got {len(labels)}")
    for row, low, high, label in zip(mean, ci_low, ci_high, labels):
        (line,) = ax.plot(midi, row, ".-", ms=3, label=str(label))
        ax.fill_between(midi, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    for end, name in zip(KEYBOARD, ("A0", "C8")):
        ax.axvline(end, color="k", ls="--", lw=0.8)
        ax.annotate(name, (end, 1.0), xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize="small")
    if model_keys is not None and tuple(model_keys) != KEYBOARD:
        for end in model_keys:
            ax.axvline(end, color="tab:gray", ls=":", lw=0.8)
    if threshold is not None:
        ax.axhline(threshold, color="tab:gray", lw=0.6)
    ax.set_xlim(KEYBOARD[0] - 2, KEYBOARD[1] + 2)
    ax.set_xlabel("key (MIDI note; A0 = 21, C8 = 108)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="x-small", loc="lower center")
    return ax


def probe_keys_figure(midi, timbres, levels_dbfs, recall: dict, output: dict, *, title: str = "",
                      model_keys: tuple[int, int] | None = None, threshold: float = 0.5):
    """One row per timbre (``timbres [S]``): frame recall (left) and mean output at the tone's key
    (right) vs key, one line per level. ``recall`` and ``output`` hold ``mean, ci_low, ci_high``
    ``[S, L, K]``. Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    n = len(timbres)
    fig, axes = plt.subplots(n, 2, figsize=(11, 2.6 * n + 0.6), sharex=True, squeeze=False)
    labels = [f"{level:g} dBFS" for level in levels_dbfs]
    for s, timbre in enumerate(timbres):
        for ax, values, ylabel, thr in ((axes[s, 0], recall, "frame recall", threshold),
                                        (axes[s, 1], output, "mean output at key", None)):
            detection_vs_key(midi, values["mean"][s], values["ci_low"][s], values["ci_high"][s], labels=labels,
                             ylabel=f"{ylabel}\n{timbre}", model_keys=model_keys, threshold=thr, ax=ax)
            ax.set_ylim(-0.03, 1.03)
            if s < n - 1:
                ax.set_xlabel("")
            if (s, ax) != (0, axes[0, 0]):
                ax.get_legend().remove()  # one legend (the levels) for the figure
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def key_f1_figure(midi, levels_dbfs, key_f1: dict, *, title: str = "", model_keys: tuple[int, int] | None = None):
    """Per level (rows): F1 per key of the model with the two baselines' F1 (left; energy dashed,
    argmax dotted) and the advantage over the better baseline with its CI (right; grey line at 0).
    ``key_f1``: :meth:`amt_jax.tones.ProbeTones.key_f1` (``{mean, ci_low, ci_high}`` ``[L, K]``
    per measure). Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    n = len(levels_dbfs)
    fig, axes = plt.subplots(n, 2, figsize=(11, 2.8 * n + 0.6), sharex=True, squeeze=False)
    for l, level in enumerate(levels_dbfs):
        f1, adv = key_f1["f1"], key_f1["advantage"]
        ax = detection_vs_key(midi, f1["mean"][l], f1["ci_low"][l], f1["ci_high"][l], labels=["model"],
                              ylabel=f"F1 (false positives counted)\n{level:g} dBFS", model_keys=model_keys,
                              threshold=0.5, ax=axes[l, 0])
        ax.plot(midi, key_f1["f1_energy"]["mean"][l], "--", color="tab:gray", lw=1, label="energy baseline")
        ax.plot(midi, key_f1["f1_argmax"]["mean"][l], ":", color="k", lw=1, label="argmax baseline")
        ax.set_ylim(-0.03, 1.03)
        ax.legend(fontsize="x-small", loc="lower center")
        ax = detection_vs_key(midi, adv["mean"][l], adv["ci_low"][l], adv["ci_high"][l], labels=["model − better baseline"],
                              ylabel="F1 advantage over\nthe better baseline", model_keys=model_keys, threshold=0.0,
                              ax=axes[l, 1])
        ax.set_ylim(-1.03, 1.03)
        if l < n - 1:
            for a in axes[l]:
                a.set_xlabel("")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
