"""The trained variants' frontend: a librosa-compatible CQT with B bins per semitone and
NormalizedLog, and its frequency layout.

Key p (0 = A0) sits on bin ``p·B + B//2``: fmin is 27.5 Hz lowered by ``B//2`` bins, so every
key's semitone lies whole on the axis (:func:`layout`).
"""

from __future__ import annotations

import functools

import jax

from amt_jax import validate
from amt_jax.constants import BP_N_SEMITONES, FMIN_HZ, HOP_LENGTH, N_PITCHES, SAMPLE_RATE
from amt_jax.frontend import cqt, features
from amt_jax.frontend.layout import FrequencyLayout


def layout(bins_per_semitone: int) -> FrequencyLayout:
    """The variants' axis: 103·B bins (A0 to just below Nyquist), key p on bin ``p·B + B//2``, 88 keys."""
    validate.positive_int("bins_per_semitone", bins_per_semitone)
    return FrequencyLayout(n_bins=BP_N_SEMITONES * bins_per_semitone, bins_per_semitone=bins_per_semitone,
                           center_offset=bins_per_semitone // 2, n_pitches=N_PITCHES)


def cqt_kwargs(bins_per_semitone: int) -> dict:
    """``cqt.cqt`` settings whose bins follow :func:`layout`: 12·B bins/octave, 103·B bins, fmin 27.5 Hz
    (A0) lowered by the layout's ``center_offset`` bins, so key p's centre bin is p·B + center_offset."""
    lay = layout(bins_per_semitone)
    return dict(
        sr=SAMPLE_RATE,
        hop_length=HOP_LENGTH,
        fmin=FMIN_HZ * 2.0 ** (-lay.center_offset / lay.bins_per_octave),
        n_bins=lay.n_bins,
        bins_per_octave=lay.bins_per_octave,
    )


def frontend(audio, *, bins_per_semitone: int) -> jax.Array:
    """NormalizedLog CQT of audio [..., n_samples] (22,050 Hz) → X [..., 103·B, n_samples // 256 + 1],
    computed by one jitted program per input shape and B (called eagerly, not op by op)."""
    validate.finite("audio", audio)  # here: the jitted program cannot look at values (skipped under a trace)
    return _frontend(audio, bins_per_semitone=bins_per_semitone)


@functools.partial(jax.jit, static_argnames=("bins_per_semitone",))
def _frontend(audio, *, bins_per_semitone: int) -> jax.Array:
    return features.normalized_log(cqt.cqt(audio, **cqt_kwargs(bins_per_semitone)))
