"""Whole-file inference with Basic Pitch's windowing: windows -> model -> full-length posteriorgrams.

As ``basic_pitch.inference`` (0.4.0) does it: 3,840 zeros (half the 30-frame overlap) are
prepended; windows of 43,844 samples start every 36,164 samples while the start is inside the
padded signal, the last one zero-padded. Each window's 172 output frames lose 15 frames at each
end, the remaining 142 are concatenated and the result is cut to floor(n_samples · 86 / 22050)
frames (86 = 22050 // 256, the integer frame rate Basic Pitch's constants use).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import numpy as np

from amt_jax import validate
from amt_jax.data import windowing
from amt_jax.constants import (
    HOP_LENGTH,
    OVERLAP_FRAMES,
    SAMPLE_RATE,
    WINDOW_FRAMES,
)

# the windowing lives with the data (amt_jax.data.windowing); these names stay here for callers
PAD_SAMPLES = windowing.PAD_SAMPLES  # 3,840 zeros prepended to the audio
n_windows = windowing.n_windows
window_audio = windowing.window_audio
TRIM_FRAMES = OVERLAP_FRAMES // 2  # 15 frames cut from each end of every window's output
_INTEGER_FPS = SAMPLE_RATE // HOP_LENGTH  # 86: Basic Pitch trims with the integer frame rate


def n_output_frames(n_samples: int) -> int:
    """Frames of the unwrapped posteriorgram for ``n_samples`` samples: floor(n_samples · 86 / 22050)."""
    windowing.check_n_samples(n_samples)
    return n_samples * _INTEGER_FPS // SAMPLE_RATE


def unwrap_windows(outputs: np.ndarray, n_samples: int) -> np.ndarray:
    """Join per-window model outputs [n_windows, C, 172] into a full-length [C, n_frames] array.

    ``n_samples`` is the length of the audio before windowing; n_frames = :func:`n_output_frames`.
    """
    outputs = np.asarray(outputs)
    validate.exact_rank("outputs", outputs, 3, "[n_windows, C, 172]")
    n_frames = n_output_frames(n_samples)
    if outputs.shape[2] != WINDOW_FRAMES or outputs.shape[0] != n_windows(n_samples):
        raise ValueError(
            f"outputs must have shape [{n_windows(n_samples)}, C, {WINDOW_FRAMES}] for n_samples={n_samples}, "
            f"got {outputs.shape}"
        )
    kept = outputs[:, :, TRIM_FRAMES : WINDOW_FRAMES - TRIM_FRAMES]
    return kept.transpose(1, 0, 2).reshape(outputs.shape[1], -1)[:, :n_frames]


def transcribe_audio(audio: np.ndarray, *, model: Any, batch_size: int = 8) -> dict[str, np.ndarray]:
    """Full-length posteriorgrams of mono audio [n_samples] at 22,050 Hz.

    ``model`` has ``frontend(windows [B, 43844]) -> features`` and ``apply(params, features)
    -> {name: [B, C, 172]}`` and ``params`` (e.g. ``pretrained.basic_pitch()``). Windows go
    through one jitted frontend+apply in batches of exactly ``batch_size`` (the last batch is
    zero-padded), so it compiles once per batch size (and model, when its functions are hashable).

    Returns:
        ``{name: [C, n_frames]}`` float32 numpy arrays, e.g. ``note`` [88, T], ``onset`` [88, T],
        ``contour`` [264, T] for Basic Pitch, with T = floor(n_samples · 86 / 22050).
    """
    audio = np.asarray(audio, dtype=np.float32)
    validate.exact_rank("audio", audio, 1, "[n_samples]")
    validate.finite("audio", audio)
    validate.positive_int("batch_size", batch_size)
    n = n_windows(audio.shape[0])
    n_batches = -(-n // batch_size)
    windows = windowing.window_view(audio, n_batches * batch_size)  # a view: memory stays O(n_samples)
    forward = _jitted_forward(model.frontend, model.apply)
    batches = [forward(model.params, windows[b * batch_size : (b + 1) * batch_size]) for b in range(n_batches)]
    return {
        name: unwrap_windows(np.concatenate([np.asarray(y[name]) for y in batches])[:n], audio.shape[0])
        for name in batches[0]
    }


def _jitted_forward(frontend: Callable, apply: Callable) -> Callable:
    """``jit(apply(params, frontend(x)))``, cached on the two functions when they are hashable."""
    try:
        return _cached_forward(frontend, apply)
    except TypeError:  # unhashable callables: a fresh jit, compiled once for this call
        return jax.jit(lambda params, x: apply(params, frontend(x)))


@functools.lru_cache(maxsize=8)
def _cached_forward(frontend: Callable, apply: Callable) -> Callable:
    return jax.jit(lambda params, x: apply(params, frontend(x)))
