"""What each figure of :data:`amt_jax.report.figures.FIGURES` shows and how to read it, with the
kind of every interval it draws (crossed: draws and pieces random; piece: t over the pieces' means,
conditional on the draws; Monte Carlo: over draws, for these pieces). The report page prints them
under the figures; ``experiments/figures/<name>.py`` uses them as its caption."""

from __future__ import annotations

CAPTIONS: dict[str, str] = {
    "harmonic": (
        "The seed harmonic family: the output change (mean |ΔY|, probability) when harmonics 1–h of a fundamental "
        "bin are shuffled among themselves (circles), beside a size-matched control that shuffles as many random "
        "bins in the same draws (squares), against the number of harmonics h; right: the same per unit of input "
        "change |πX − X|. Error bars: 95 % Monte Carlo CIs over the draws, for these pieces. A comb's bins co-vary, "
        "so the shuffle moves less input than the control: the gap is not evidence about harmonics (read the "
        "harmonic-reliance figure)."),
    "harmonic_reliance": (
        "Harmonic reliance. Left: against h, the drop of the note output (probability) of the key q whose harmonics "
        "2..h were swapped with mistuned bins (diagonal), of the co-sounding keys whose combs the draw left untouched "
        "(off-diagonal), and their contrast; error bars are 95 % crossed CIs (draws and pieces random). A contrast "
        "above 0 means a key relies on its own harmonics more than on the spectrum around it. Right: R[q, p], the mean "
        "drop at key p when q's harmonics moved (colour: probability; red = drop), cropped to the keys measured; "
        "the diagonal, octave and fifth lines are dotted."),
    "factorial": (
        "The missing fundamental: the drop of a sounding key's own output when its fundamental (F), its harmonics 2..h "
        "(H) or both (F∪H) are replaced by the same bins of frames where the key is silent, and the interaction "
        "v(F∪H) − v(F) − v(H), on the scale named on the y axis. Error bars: 95 % crossed CIs (draws and pieces "
        "random). An interaction above 0: the model recovers a note from either cue; below 0: either cue alone "
        "already removes much of the note."),
    "resolution": (
        "Semitone pooling: each key's semitone replaced by its mean. Left: per key, one key pooled per draw (mean "
        "|ΔY|, probability); a 95 % Monte Carlo band only where a key had enough draws, points otherwise. Right: "
        "every key pooled at once, per model, with its 95 % piece CI (t over the pieces). 0 by construction at B = 1, "
        "so models of different B compare."),
    "microtonal": (
        "The seed microtonal family: the output change (mean |ΔY|, probability) when the B bins of one semitone are "
        "shuffled, per semitone (a 95 % Monte Carlo band where a semitone had enough draws), and with several B the "
        "shuffle of every semitone per model (bars, 95 % Monte Carlo CIs). 0 by construction at B = 1."),
    "random_spectral": (
        "Random spectral shuffles of the whole axis and of bands (semitones above the lowest key): the output change "
        "(mean |ΔY|, probability), one panel per model, with 95 % Monte Carlo CIs over the draws. The summary reports "
        "the other divergences relative to the whole-axis bar."),
    "noise": (
        "Under spectral noise: left, the mean note output per key (probability) with its 95 % jackknife CI (delete-one "
        "batch); middle, each bin's first-order sensitivity S_f (share of the output variance) with its jackknife CI "
        "and the reverse-correlation kernel's R²; right, the kernel's weights [bins × keys] (colour: probability per "
        "feature unit), each key's fundamental dotted. A key whose weights sit on its fundamental reads it."),
    "edge_frequencies": (
        "Probe tones on every key of the model: F1 per key with false positives counted (0–1), for a tone alone "
        "(top) and on a chord (bottom), per level, with its 95 % t CI over the timbres (or the repetitions of one "
        "timbre); the energy baseline (dashed) and the argmax baseline (dotted) read the same features. Keys where "
        "the model falls below 0.5 (grey line) and below the baselines are keys it does not hear. The x axis spans "
        "the keys probed."),
    "registers": (
        "The reliance contrast and the factorial interaction for the low, middle and high thirds of the keys that "
        "sound (MIDI range and pieces under each point), with 95 % crossed CIs (draws and pieces random); an open "
        "point has no interval (one piece, or an interval of zero width such as an exact 0)."),
    "per_instrument": (
        "Per instrument (General MIDI program of the pieces; pieces in brackets): the reliance contrast, the factorial "
        "interaction, semitone pooling and the whole-axis shuffle, mean over the program's pieces with a 95 % piece CI "
        "(t over them, conditional on the draws). An open point has no interval: a program with one piece (or an "
        "interval of zero width)."),
    "example": (
        "One harmonic draw of the example cell: the features X of a clip and πX (harmonics 1–h of one fundamental "
        "shuffled; the draw that changed the output most; moved bins marked ◀), colour = feature value; the model's "
        "note output Y(X) (probability) and the change Y(πX) − Y(X) on a diverging scale (red: the output rose, blue: "
        "it fell). No interval: one draw."),
}


def caption(name: str) -> str:
    """The caption of figure ``name``, or of the figure a per-model file ``<name>_<model slug>`` belongs to."""
    if name in CAPTIONS:
        return CAPTIONS[name]
    base = max((k for k in CAPTIONS if name.startswith(f"{k}_")), key=len, default=None)
    if base is None:
        raise KeyError(f"no caption for figure {name!r}; figures: {sorted(CAPTIONS)}")
    return CAPTIONS[base]
