"""Frame-level metrics on posteriorgram rolls ``Y[..., P, T]``, jit-able (pure ``jax.numpy``).

A roll is thresholded to a binary roll (``y >= threshold``); the reference may be binary
already (it is thresholded the same way). Frame precision/recall follow
``mir_eval.multipitch`` on the same rolls: counts pooled over all pitches and frames of one
clip, precision = TP / n_est (0 if nothing is estimated), recall = TP / n_ref (0 if nothing is
in the reference), F1 = 2PR / (P + R) (0 if P + R = 0). Leading batch axes are kept
(``frame_prf`` reduces ``[P, T]``, the per-pitch functions reduce ``T``); inside ``jit`` the
functions return arrays, :func:`clip_frame_scores` returns plain floats for one clip.
"""

from __future__ import annotations

import jax.numpy as jnp

from amt_jax import validate


def _safe_ratio(num: jnp.ndarray, den: jnp.ndarray, empty: float) -> jnp.ndarray:
    return jnp.where(den > 0, num / jnp.maximum(den, 1), empty)


def frame_counts(y_est, y_ref, *, threshold: float = 0.5) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """True positives, estimated and reference active frames per pitch.

    Args:
      y_est, y_ref: ``[..., P, T]`` posteriorgrams or binary rolls (broadcastable).
      threshold: active where ``y >= threshold``.
    Returns:
      ``(tp, n_est, n_ref)``, each float32 ``[..., P]``.
    """
    est = jnp.asarray(y_est) >= threshold
    ref = jnp.asarray(y_ref) >= threshold
    f32 = jnp.float32
    return jnp.sum(est & ref, -1, dtype=f32), jnp.sum(est, -1, dtype=f32), jnp.sum(ref, -1, dtype=f32)


def frame_prf(y_est, y_ref, *, threshold: float = 0.5) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Frame precision, recall and F1 of ``y_est [..., P, T]`` against ``y_ref``, each ``[...]``.

    Equal to ``mir_eval.multipitch.evaluate``'s Precision and Recall on the same rolls
    (F1 computed from them).
    """
    tp, n_est, n_ref = (c.sum(-1) for c in frame_counts(y_est, y_ref, threshold=threshold))
    precision = _safe_ratio(tp, n_est, 0.0)
    recall = _safe_ratio(tp, n_ref, 0.0)
    both = precision + recall
    f1 = jnp.where(both > 0, 2 * precision * recall / jnp.where(both > 0, both, 1), 0.0)
    return precision, recall, f1


def frame_f1_per_pitch(y_est, y_ref, *, threshold: float = 0.5) -> jnp.ndarray:
    """Frame F1 per pitch, ``[..., P]``: 2·TP / (n_est + n_ref), and 1 where a pitch is silent
    in both (nothing to find, nothing found), so false positives on silent pitches count."""
    tp, n_est, n_ref = frame_counts(y_est, y_ref, threshold=threshold)
    return _safe_ratio(2 * tp, n_est + n_ref, 1.0)


def clip_frame_scores(y_est, y_ref, *, threshold: float = 0.5) -> dict[str, float]:
    """``{"precision", "recall", "f1"}`` as plain floats for one clip ``[P, T]`` (API edge)."""
    validate.exact_rank("y_est", y_est, 2, "[P, T]")
    validate.exact_rank("y_ref", y_ref, 2, "[P, T]")
    if jnp.shape(y_est) != jnp.shape(y_ref):
        raise ValueError(f"y_est and y_ref must have the same shape, got {jnp.shape(y_est)} and {jnp.shape(y_ref)}")
    validate.finite("y_est", y_est)
    validate.finite("y_ref", y_ref)
    p, r, f = frame_prf(y_est, y_ref, threshold=threshold)
    return {"precision": float(p), "recall": float(r), "f1": float(f)}


def binary_cross_entropy(y_prob, targets, *, eps: float = 1e-7) -> jnp.ndarray:
    """Mean binary cross-entropy (nats) over frames, per pitch: ``[..., P]``.

    ``y_prob`` are probabilities (clipped to ``[eps, 1 − eps]``), ``targets`` in ``[0, 1]``.
    """
    p = jnp.clip(jnp.asarray(y_prob), eps, 1 - eps)
    t = jnp.asarray(targets, p.dtype)
    return -jnp.mean(t * jnp.log(p) + (1 - t) * jnp.log1p(-p), axis=-1)
