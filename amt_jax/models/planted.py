"""The planted model of the ``tiny`` sweep and its synthetic features, where the truth is known.

Key p of the planted model reads harmonics k = 1..4 of its own fundamental (weight 1/k) through a
fixed linear map plus a small random map, then a sigmoid: ``y = sigmoid(gain · (W x − bias))``.
Its features are 4-harmonic combs of 6–10 random keys per clip over noise, in [0, 1], with the
frame-level labels of the keys that sound. P = 48 keys (4 octaves), F = 48·B bins, key p on bin
p·B (``center_offset`` 0), T = 32 frames.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import validate
from amt_jax.data.synthetic import HARMONICS, Synthetic
from amt_jax.data.synthetic import synthetic as synthetic_clips
from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.io import params_digest
from amt_jax.models.model import Model, Output

OCTAVES = 4


def layout(bins_per_semitone: int) -> FrequencyLayout:
    """The planted axis: 48·B bins, key p (MIDI 21 + p) on bin p·B, 48 keys."""
    validate.positive_int("bins_per_semitone", bins_per_semitone)
    n_pitches = 12 * OCTAVES
    return FrequencyLayout(n_bins=n_pitches * bins_per_semitone, bins_per_semitone=bins_per_semitone,
                           center_offset=0, n_pitches=n_pitches)


def apply(params: dict, x):
    """The planted model: ``sigmoid(gain · (W x − bias))``, ``x [..., F, T]`` → ``[..., P, T]``."""
    return jax.nn.sigmoid(logits(params, x))


def params(*, bins_per_semitone: int, seed: int = 0) -> dict:
    """Params of the planted model: key p reads bins ``p·B + round(12B·log2 k)``, k = 1..4, weight
    1/k, plus a small fixed random map."""
    lay = layout(bins_per_semitone)
    rng = np.random.default_rng(seed)
    w = 0.05 * rng.standard_normal((lay.n_pitches, lay.n_bins)) / np.sqrt(lay.n_bins)
    for p in range(lay.n_pitches):
        for k, f in enumerate(lay.pitch_bin(p) + np.asarray(lay.harmonic_offsets(HARMONICS)), start=1):
            if f < lay.n_bins:
                w[p, f] += 1.0 / k
    return {"w": w.astype(np.float32), "gain": np.float32(8.0), "bias": np.float32(0.6)}


def synthetic(*, n_clips: int, bins_per_semitone: int, seed: int = 0, clips_per_piece: int | None = None) -> Synthetic:
    """Clips of :func:`amt_jax.data.synthetic.synthetic` on the planted axis (:func:`layout`)."""
    return synthetic_clips(n_clips=n_clips, layout=layout(bins_per_semitone), seed=seed, clips_per_piece=clips_per_piece)


def logits(params: dict, x):
    """Pre-sigmoid output of :func:`apply`: ``gain · (W x − bias)``, ``[..., P, T]``."""
    return params["gain"] * (jnp.einsum("pf,...ft->...pt", params["w"], x) - params["bias"])


def load(match: re.Match, seed: int, load_spec) -> Model:
    """``planted-b<B>``: the planted model on synthetic features, B bins per semitone."""
    b = int(match.group(1))
    p = params(bins_per_semitone=b, seed=seed)
    identity = {"kind": "planted", "bins_per_semitone": b, "seed": seed, "params_sha256": params_digest(p)}
    return Model(match.string, apply, p, layout(b), identity, outputs=(Output(None),), output=None,
                 frame_threshold=0.5, logits=logits)

