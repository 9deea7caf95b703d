"""Synthetic clips whose truth is known: harmonic combs of random keys over noise on any model's
frequency axis (a :class:`~amt_jax.frontend.layout.FrequencyLayout`), with the frame labels of the
keys that sound. The planted models read them (``data="synthetic"`` in a sweep); any model can.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from amt_jax import validate
from amt_jax.frontend.layout import FrequencyLayout

HARMONICS = 4  # partials of each synthetic note
FRAMES = 32  # frames of each clip


class Synthetic(NamedTuple):
    """Synthetic clips: ``features [n_clips, F, T]`` in [0, 1] and ``targets [n_clips, P, T]`` (0/1)."""

    features: np.ndarray
    targets: np.ndarray


def synthetic(*, n_clips: int, layout: FrequencyLayout, seed: int = 0, clips_per_piece: int | None = None) -> Synthetic:
    """Synthetic clips on any model's axis ``layout``: 6–10 random keys per clip sounding over random frame spans, each a
    4-harmonic comb (amplitude 1/k, half spilled to the neighbouring bins) over noise, and the
    labels of the keys that sound.

    With ``clips_per_piece`` = m, clips come in pieces of m: the clips of a piece play the piece's
    own keys (drawn once per piece; each clip its own spans and loudness), so clips of one piece
    are alike and pieces differ — the structure the piece-level statistics are built for. The
    piece of clip c is ``c // m``.
    """
    validate.positive_int("n_clips", n_clips)
    lay = layout
    rng = np.random.default_rng(seed)
    x = 0.05 * rng.random((n_clips, lay.n_bins, FRAMES))
    targets = np.zeros((n_clips, lay.n_pitches, FRAMES), np.float32)
    if clips_per_piece is None:
        for c in range(n_clips):
            for p in rng.integers(0, lay.n_pitches, size=rng.integers(6, 11)):
                _add_note(x[c], targets[c], lay, int(p), *sorted(rng.integers(0, FRAMES, size=2)))
    else:
        validate.positive_int("clips_per_piece", clips_per_piece)
        keys = {}
        for c in range(n_clips):
            piece = c // clips_per_piece
            if piece not in keys:
                keys[piece] = rng.integers(0, lay.n_pitches, size=rng.integers(6, 11))
            gain = rng.uniform(0.5, 1.0)
            for p in keys[piece]:
                _add_note(x[c], targets[c], lay, int(p), *sorted(rng.integers(0, FRAMES, size=2)), gain=gain)
    return Synthetic(np.clip(x, 0.0, 1.0).astype(np.float32), targets)


def _add_note(x: np.ndarray, target: np.ndarray, lay: FrequencyLayout, p: int, t0: int, t1: int, gain: float = 1.0) -> None:
    """Key p sounding over frames t0..t1 into one clip's features ``x [F, T]`` and labels ``target [P, T]``."""
    target[p, t0 : t1 + 1] = 1.0
    for k, f in enumerate(lay.pitch_bin(p) + np.asarray(lay.harmonic_offsets(HARMONICS)), start=1):
        for df, a in ((0, 1.0), (-1, 0.5), (1, 0.5)):
            if 0 <= f + df < lay.n_bins:
                x[f + df, t0 : t1 + 1] += gain * a / k

