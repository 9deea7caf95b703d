"""What a variant trains on: its training targets and random training windows (its frontend and
layout: :mod:`amt_jax.frontend.variants`)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax.constants import HOP_LENGTH, N_PITCHES
from amt_jax.frontend.variants import layout

def make_targets(frames, onsets, *, bins_per_semitone: int) -> dict[str, jax.Array]:
    """Float targets from rolls frames, onsets [..., 88, T]: note, onset [..., 88, T] and contour
    [..., 88·B, T] (each active key on its centre bin ``layout.pitch_bin(p)``, zeros elsewhere)."""
    frames = jnp.asarray(frames, jnp.float32)
    lay = layout(bins_per_semitone)
    n_contour = frames.shape[-2] * lay.bins_per_semitone
    centres = lay.pitch_bin(np.arange(frames.shape[-2]))
    contour = jnp.zeros((*frames.shape[:-2], n_contour, frames.shape[-1]), jnp.float32)
    return {
        "contour": contour.at[..., centres, :].set(frames),
        "note": frames,
        "onset": jnp.asarray(onsets, jnp.float32),
    }


class WindowSampler:
    """Random training windows from examples with ``audio`` [n] and ``frames``, ``onsets`` [88, n // 256 + 1].

    Every window start (a multiple of the hop, the window inside the piece or, for a piece shorter
    than a window, at 0 with zero padding) is equally likely over the whole split. Examples are
    read on demand (a ``amt_jax.data.Source`` or a list of dicts); only their lengths are kept.
    """

    def __init__(self, examples: Sequence[dict], *, window_samples: int):
        if not len(examples):
            raise ValueError("examples must hold at least one example, got none")
        self.examples = examples
        self.window_samples = window_samples
        self.window_frames = window_samples // HOP_LENGTH + 1
        lengths = np.array([len(examples[i]["audio"]) for i in range(len(examples))], np.int64)
        # start frames a piece offers: the window must end inside the audio (at least one start)
        self.n_starts = np.maximum((lengths - window_samples) // HOP_LENGTH + 1, 1)
        self.cumulative = np.cumsum(self.n_starts)

    def window(self, index: int, start_frame: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Audio [S], frames and onsets [88, T] of example ``index`` from frame ``start_frame`` (zero-padded)."""
        ex = self.examples[index]
        s0 = start_frame * HOP_LENGTH
        audio = np.zeros(self.window_samples, np.float32)
        chunk = np.asarray(ex["audio"][s0 : s0 + self.window_samples], np.float32)
        audio[: len(chunk)] = chunk
        rolls = []
        for name in ("frames", "onsets"):
            roll = np.zeros((N_PITCHES, self.window_frames), bool)
            part = np.asarray(ex[name])[:, start_frame : start_frame + self.window_frames]
            roll[:, : part.shape[1]] = part
            rolls.append(roll)
        return audio, rolls[0], rolls[1]

    def batch(self, key: jax.Array, batch_size: int) -> dict[str, np.ndarray]:
        """``batch_size`` windows drawn with ``key``: {"audio": [N, S], "frames", "onsets": [N, 88, T] bool}."""
        flat = np.asarray(jax.random.randint(key, (batch_size,), 0, int(self.cumulative[-1])))
        pieces = np.searchsorted(self.cumulative, flat, side="right")
        starts = flat - np.concatenate([[0], self.cumulative])[pieces]
        audio, frames, onsets = zip(*(self.window(int(i), int(s)) for i, s in zip(pieces, starts)))
        return {"audio": np.stack(audio), "frames": np.stack(frames), "onsets": np.stack(onsets)}
