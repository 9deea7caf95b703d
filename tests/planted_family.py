"""A planted model family of another geometry, defined outside ``amt_jax/`` and loaded as
``py:tests/planted_family.py:load``: 2 bins per semitone, 60 keys (MIDI 21–80), key p's centre on
bin ``2p + 1`` (``center_offset`` 1), independent sigmoids over keys, blind below MIDI 40.

Its frontend is a CQT (``amt_jax.cqt``) whose bins follow that layout, NormalizedLog-scaled; key p
reads harmonics k = 1..4 of its own fundamental (weight 1/k, those on the axis); keys below MIDI 40
read nothing. The truth is known: it relies on harmonics, it cannot hear the low register.
"""

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import FrequencyLayout, cqt
from amt_jax.constants import HOP_LENGTH, SAMPLE_RATE, midi_to_hz
from amt_jax.frontend.features import normalized_log
from amt_jax.models import Model, Output

B, KEYS, LOWEST, BLIND_BELOW = 2, 60, 21, 40
LAYOUT = FrequencyLayout(n_bins=B * KEYS + 2, bins_per_semitone=B, center_offset=1, n_pitches=KEYS, lowest_midi=LOWEST)
LAYERS = ("features", "drive")


def frontend(audio):
    """NormalizedLog CQT ``audio [..., n] (22,050 Hz) -> [..., 122, T]``: bin 2p + 1 centred on key p."""
    fmin = midi_to_hz(LOWEST) * 2.0 ** (-LAYOUT.center_offset / LAYOUT.bins_per_octave)
    return normalized_log(cqt.cqt(audio, sr=SAMPLE_RATE, hop_length=HOP_LENGTH, fmin=fmin, n_bins=LAYOUT.n_bins,
                                  bins_per_octave=LAYOUT.bins_per_octave))


def weights() -> np.ndarray:
    w = np.zeros((KEYS, LAYOUT.n_bins), np.float32)
    for p in range(KEYS):
        if LAYOUT.midi(p) < BLIND_BELOW:
            continue
        for k, offset in enumerate(LAYOUT.harmonic_offsets(4), start=1):
            f = LAYOUT.pitch_bin(p) + offset
            if f < LAYOUT.n_bins:
                w[p, f] += 1.0 / k
    return w


def logits(params, x):
    return params["gain"] * (jnp.einsum("pf,...ft->...pt", params["w"], x) - params["bias"])


def apply(params, x):
    return jax.nn.sigmoid(logits(params, x))


def intermediates(params, x, names):
    """``features``: the input frames ``[N, T, F]``; ``drive``: ``W x`` ``[N, T, P]``."""
    out = {"features": jnp.swapaxes(x, -1, -2), "drive": jnp.swapaxes(jnp.einsum("pf,nft->npt", params["w"], x), -1, -2)}
    return {name: out[name] for name in names}


def load() -> Model:
    params = {"w": weights(), "gain": np.float32(10.0), "bias": np.float32(0.7)}
    return Model("planted-family", apply, params, LAYOUT, {"family": "planted geometry B=2, 60 keys, offset 1"},
                 outputs=(Output(None),), output=None, frame_threshold=0.5, frontend=frontend, logits=logits,
                 intermediates=intermediates, layers=LAYERS)
