"""The non-learned baseline: thresholded CQT energy at each pitch's fundamental bin.

``fundamental_energy(X, layout=...)`` reads the frontend's NormalizedLog CQT X [..., F, T] at the
centre bin of each key (the layout's ``pitch_bin``): a "model" whose posteriorgram is the input itself at the
fundamentals. Its only parameter, the frame threshold, is chosen on held-out data with
:func:`best_threshold`; :func:`mean_frame_scores` then scores any posteriorgram on test pieces. Both
helpers also serve the trained models (``amt_jax.train.evaluate``), so model and baseline are
tuned and scored the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax.estimators import metrics
from amt_jax import validate
from amt_jax.frontend.layout import FrequencyLayout


def fundamental_energy(x, *, layout: FrequencyLayout) -> jax.Array:
    """X [..., F, T] at each key's centre bin ``layout.pitch_bin(p)`` → [..., P, T].

    Args:
        x: features on the axis ``layout`` describes (F = ``layout.n_bins``), e.g. a trained
            variant's frontend output (``amt_jax.training.frontend``).
        layout: the frontend's :class:`~amt_jax.frontend.layout.FrequencyLayout`; every key's centre
            bin must lie on the axis.
    """
    validate.min_rank("x", x, 2, "[..., F, T]")
    if not isinstance(layout, FrequencyLayout):
        raise ValueError(f"layout must be an amt_jax.FrequencyLayout, got {layout!r}")
    if np.shape(x)[-2] != layout.n_bins:
        raise ValueError(f"x must have F = layout.n_bins = {layout.n_bins} bins (axis -2), got shape {np.shape(x)}")
    centres = layout.pitch_bin(np.arange(layout.n_pitches))
    if centres.min() < 0 or centres.max() >= layout.n_bins:
        raise ValueError(f"layout puts key centres on bins {centres.min()}..{centres.max()}, off the axis of {layout.n_bins} bins")
    return jnp.asarray(x)[..., centres, :]


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


def mean_frame_scores(pairs: Sequence[tuple], threshold: float) -> dict[str, float]:
    """Frame precision, recall and F1 at ``threshold``, each averaged over pieces (as ``amt_jax.evaluate``)."""
    _check_pairs(pairs)
    threshold = np.float32(threshold)  # compared in float32, as in mean_f1_by_threshold
    scores = np.array([
        [float(v) for v in metrics.frame_prf(np.asarray(est, np.float32) >= threshold, np.asarray(ref, bool))]
        for est, ref in pairs
    ])
    return dict(zip(("precision", "recall", "f1"), scores.mean(axis=0).tolist()))
