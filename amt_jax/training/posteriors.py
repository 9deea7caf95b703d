"""Whole-piece posteriorgrams on the label frame grid from a windowed forward, and (estimate,
reference) roll pairs for scoring: what held-out evaluation and the plateau check share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from amt_jax import validate
from amt_jax.constants import HOP_LENGTH, OVERLAP_FRAMES
from amt_jax.training.config import TrainConfig


def posteriorgram(audio, forward: Callable[[np.ndarray], Any], *, window_samples: int, batch_size: int) -> np.ndarray:
    """Whole-piece output [C, n_samples // 256 + 1] on the label frame grid.

    Windows of ``window_samples`` start every ``keep`` frames (window frames minus ``trim`` at each
    end, trim = min(15, (frames − 1) // 4)) from frame −trim; each window's frames
    [trim, trim + keep) are kept, so output frame t is centred on sample t·256 as the labels are.
    ``forward(windows [batch_size, S]) -> [batch_size, C, T]`` sees full batches only (zero-padded).
    """
    audio = np.asarray(audio, np.float32)
    validate.exact_rank("audio", audio, 1, "[n_samples]")
    n_frames = len(audio) // HOP_LENGTH + 1
    window_frames = window_samples // HOP_LENGTH + 1
    trim = min(OVERLAP_FRAMES // 2, (window_frames - 1) // 4)
    keep = window_frames - 2 * trim
    n_windows = -(-n_frames // keep)
    n_batches = -(-n_windows // batch_size)
    padded = np.zeros((n_batches * batch_size - 1) * keep * HOP_LENGTH + window_samples, np.float32)
    padded[trim * HOP_LENGTH : trim * HOP_LENGTH + len(audio)] = audio
    windows = np.lib.stride_tricks.sliding_window_view(padded, window_samples)[:: keep * HOP_LENGTH]
    out = np.concatenate([np.asarray(forward(windows[b * batch_size : (b + 1) * batch_size]))
                          for b in range(n_batches)])[:n_windows, :, trim : trim + keep]
    return out.transpose(1, 0, 2).reshape(out.shape[1], -1)[:, :n_frames]


def rolls(examples: Sequence[dict], forward: Callable, *, config: TrainConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """(estimate [88, T], reference frames [88, T]) for each example (see :func:`posteriorgram`)."""
    return [
        (posteriorgram(ex["audio"], forward, window_samples=config.window_samples, batch_size=config.eval_batch_size),
         np.asarray(ex["frames"]))
        for ex in examples
    ]
