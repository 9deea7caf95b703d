"""The non-learned baseline: thresholded CQT energy at each pitch's fundamental bin.

``fundamental_energy(X)`` reads the frontend's NormalizedLog CQT X [..., F, T] at the centre bin
p·B + B // 2 of each of the 88 pitches: a "model" whose posteriorgram is the input itself at the
fundamentals. Its only parameter, the frame threshold, is chosen on held-out data with
:func:`best_threshold`; :func:`frame_scores` then scores any posteriorgram on test pieces. Both
helpers also serve the trained models (``amt_jax.train.evaluate``), so model and baseline are
tuned and scored the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import metrics, validate
from amt_jax.constants import N_PITCHES


def fundamental_energy(x, *, bins_per_semitone: int, n_pitches: int = N_PITCHES) -> jax.Array:
    """X [..., F, T] at bins p·B + B // 2 for p < n_pitches → [..., n_pitches, T].

    Args:
        x: features on a log-frequency axis with B bins per semitone whose bin B // 2 is the
            lowest pitch (``amt_jax.train.frontend``), F ≥ n_pitches·B.
        bins_per_semitone: B.
        n_pitches: P, pitches read (88 keys from A0).
    """
    validate.min_rank("x", x, 2, "[..., F, T]")
    validate.positive_int("bins_per_semitone", bins_per_semitone)
    validate.positive_int("n_pitches", n_pitches)
    if np.shape(x)[-2] < n_pitches * bins_per_semitone:
        raise ValueError(
            f"x must have at least {n_pitches * bins_per_semitone} bins (axis -2), got shape {np.shape(x)}"
        )
    return jnp.asarray(x)[..., bins_per_semitone // 2 : n_pitches * bins_per_semitone : bins_per_semitone, :]


def _check_pairs(pairs: Sequence[tuple]) -> None:
    if not len(pairs):
        raise ValueError("pairs must hold at least one (estimate, reference) pair, got none")
    for i, (est, ref) in enumerate(pairs):
        if np.shape(est) != np.shape(ref) or np.ndim(est) != 2:
            raise ValueError(
                f"pairs[{i}] must be two [P, T] rolls of one shape, got {np.shape(est)} and {np.shape(ref)}"
            )


def mean_f1_by_threshold(pairs: Sequence[tuple], thresholds: Sequence[float]) -> np.ndarray:
    """Frame F1 (mir_eval.multipitch on ``est >= threshold``), averaged over pieces, per threshold: [K].

    Args:
        pairs: (estimate [P, T] in [0, 1], reference [P, T] bool) per piece.
        thresholds: K candidate thresholds (estimates and thresholds are compared in float32).
    """
    _check_pairs(pairs)
    th = np.asarray(thresholds, np.float32)
    if th.ndim != 1 or not len(th):
        raise ValueError(f"thresholds must be a non-empty 1-d sequence, got {thresholds!r}")
    f1 = [
        np.asarray(metrics.frame_prf(np.asarray(est, np.float32)[None] >= th[:, None, None], np.asarray(ref, bool))[2])
        for est, ref in pairs
    ]
    return np.mean(f1, axis=0)


def best_threshold(pairs: Sequence[tuple], thresholds: Sequence[float]) -> tuple[float, float]:
    """(threshold, mean F1) maximising :func:`mean_f1_by_threshold` (the lowest threshold on ties)."""
    f1 = mean_f1_by_threshold(pairs, thresholds)
    i = int(np.argmax(f1))
    return float(thresholds[i]), float(f1[i])


def frame_scores(pairs: Sequence[tuple], threshold: float) -> dict[str, float]:
    """Frame precision, recall and F1 at ``threshold``, each averaged over pieces (as ``amt_jax.evaluate``)."""
    _check_pairs(pairs)
    threshold = np.float32(threshold)  # compared in float32, as in mean_f1_by_threshold
    scores = np.array([
        [float(v) for v in metrics.frame_prf(np.asarray(est, np.float32) >= threshold, np.asarray(ref, bool))]
        for est, ref in pairs
    ])
    return dict(zip(("precision", "recall", "f1"), scores.mean(axis=0).tolist()))
