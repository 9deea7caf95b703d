"""Held-out frame scores of a trained variant beside the CQT-energy baseline, each at the
frame threshold its validation pieces choose."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from amt_jax import validate
from amt_jax.constants import HOP_LENGTH, OVERLAP_FRAMES
from amt_jax.training.config import THRESHOLDS, TrainConfig
from amt_jax.training.trained import Trained
from amt_jax.transcription import baseline

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


def evaluate(
    model: Trained, *, validation: Sequence[dict], test: Sequence[dict], thresholds: Sequence[float] = THRESHOLDS
) -> dict:
    """Held-out frame scores of the trained model and of the fundamental-energy baseline.

    For each, the frame threshold maximising mean frame F1 over the ``validation`` pieces is
    chosen, then precision/recall/F1 (``metrics.frame_prf``, equal to mir_eval.multipitch) are
    averaged over the ``test`` pieces. Both read the same frontend (same windows, same B).
    """
    config = model.config
    note = jax.jit(lambda params, audio: model.apply(params, model.frontend(audio))["note"])  # params not baked in
    forwards = {
        "model": functools.partial(note, model.params),
        "baseline": jax.jit(lambda audio: baseline.fundamental_energy(model.frontend(audio), layout=model.layout)),
    }
    out = {}
    for name, forward in forwards.items():
        threshold, validation_f1 = baseline.best_threshold(rolls(validation, forward, config=config), thresholds)
        scores = baseline.mean_frame_scores(rolls(test, forward, config=config), threshold)
        out[name] = {"threshold": threshold, "validation_f1": validation_f1, **scores}
    return out
