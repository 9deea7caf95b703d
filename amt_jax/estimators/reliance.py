"""Harmonic reliance, measured where it happens: the key whose harmonics moved against the keys
whose did not, in the same draw; and the factorial design for the missing fundamental.

:func:`harmonic_reliance` reads a :func:`~amt_jax.perturb.key_families.harmonic_swap` run scored
with ``key_drop`` per key: the *diagonal* is the drop of key q's own output (q: the key whose
harmonics moved) over q's frames; the *off-diagonal* is the mean drop of the other keys that sound
with q and none of whose comb bins (fundamental and harmonics 1..h) the draw moved, over the
frames where both sound. Both come from the same draw and the same frames, so they are matched on
how much input moved and on what else sounds: a model that does not single out a key's own
harmonics gives a contrast (diagonal − off-diagonal) whose expectation is 0.

:func:`factorial` runs the three replacement conditions of
:func:`~amt_jax.perturb.key_families.key_replacement` — fundamental (F), harmonics 2..h (H), both
(F∪H) — with one key, so draw i of each replaces the same key's bins with the same frames, and
scores the drop at that key over its own frames: v(F), v(H), v(F∪H) and the interaction
v(F∪H) − v(F) − v(H) (> 0: the model recovers a note from its harmonics when the fundamental is gone).

Every estimate carries a Monte Carlo interval (over draws) and a piece-level one (t over the
clusters' means, n_clusters − 1 df).
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import jax
import numpy as np

from amt_jax import stats
from amt_jax.perturb.key_families import HarmonicSwap, key_replacement, key_weights_from_targets
from amt_jax.estimators.result import ImportanceResult

FACTORIAL_PARTS = {"F": "fundamental", "H": "harmonics", "FH": "both"}


def _estimate(per_draw: np.ndarray, per_draw_clip: np.ndarray, clusters: np.ndarray, confidence: float) -> dict:
    """Monte Carlo mean and CI over the non-nan draws; piece-level mean and t CI over the clusters'
    means of each clip's mean over draws (``clip_means [n_clips]``, nan-aware); two-sided piece-level
    p against 0."""
    ok = per_draw[np.isfinite(per_draw)]
    mean, _, se = stats.nan_moments(ok) if ok.size else (np.nan, np.nan, np.nan)
    low, high = stats.normal_interval(mean, se, confidence=confidence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        clip = np.nanmean(per_draw_clip, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # below 2 pieces: nan, as documented
        piece = stats.piece_contrast(clip, np.zeros_like(clip), clusters, confidence=confidence)
    return {"mean": float(mean), "ci_low": float(low), "ci_high": float(high), "n": int(ok.size),
            "piece_mean": float(piece["mean"]), "piece_ci_low": float(piece["ci_low"]),
            "piece_ci_high": float(piece["ci_high"]), "p": float(piece["p"]), "n_pieces": int(piece["n_clusters"]),
            "clip_means": clip}


def _root_key(result: ImportanceResult, key):
    if key is not None:
        return key
    return jax.random.wrap_key_data(np.asarray(result.config["key"], np.uint32))


@functools.partial(jax.jit, static_argnames="family")
def _sample_draws(key, draws, *, family):
    return jax.vmap(lambda i: family.sample(jax.random.fold_in(key, i), i))(draws)


def moved_bins(family, n_draws: int, key, groups: np.ndarray | None = None) -> np.ndarray:
    """``[n_draws, F]`` bool: the bins draw i of a permutation family moved (recomputed from its key;
    ValueError if the recomputed groups differ from ``groups``, the run's)."""
    idx, got = _sample_draws(key, np.arange(n_draws, dtype=np.int32), family=family)
    if groups is not None and not np.array_equal(np.asarray(got), groups):
        raise ValueError("the family and key do not reproduce the run's draws (other family arguments, or a key "
                         "that is not the run's: pass key=)")
    return np.asarray(idx) != np.arange(family.n_bins)[None, :]


def _comb_touched(family: HarmonicSwap, moved: np.ndarray) -> np.ndarray:
    """``[n_draws, P]`` bool: whether the draw moved any bin of key p's comb blocks (harmonics 1..h)."""
    keys = np.arange(family.layout.n_pitches)
    starts = family.layout.pitch_bin(keys)[:, None] + np.asarray(family.comb_offsets)[None, :] - family.width // 2
    bins = (starts[:, :, None] + np.arange(family.width)).reshape(len(keys), -1)
    on_axis = (bins >= 0) & (bins < family.n_bins)
    touched = moved[:, np.clip(bins, 0, family.n_bins - 1)] & on_axis[None]
    return touched.any(axis=-1)


def harmonic_reliance(result: ImportanceResult, family: HarmonicSwap, *, key=None) -> dict[str, Any]:
    """The reliance contrast of a ``harmonic_swap`` run scored with ``metric="key_drop", per_pitch=True``.

    Returns ``"diagonal"``, ``"off_diagonal"``, ``"contrast"`` (each a dict with ``mean``, ``ci_low``,
    ``ci_high`` (Monte Carlo), ``piece_mean``, ``piece_ci_low``, ``piece_ci_high``, ``p`` (piece
    level, against 0), ``n`` draws and ``n_pieces``), ``"n_dropped"`` (draws with no eligible
    off-diagonal key), ``"map"`` ``[P, P]`` (R[q, p]: the mean drop at key p over the draws whose
    harmonics-moved key is q; nan where never measured) and ``"map_counts"`` ``[P]`` (draws per q).
    ``key``: the run's root key (default: rebuilt from ``result.config["key"]``, threefry).
    """
    if not isinstance(family, HarmonicSwap):
        raise ValueError(f"family must be a harmonic_swap family, got {type(family).__name__}")
    if result.config.get("metric") != "key_drop" or result.importances.ndim != 2:
        raise ValueError(f"result must come from metric='key_drop' with per_pitch=True, got metric="
                         f"{result.config.get('metric')!r} and importances of shape {result.importances.shape}")
    if result.config.get("family", {}).get("name") != "HarmonicSwap":
        raise ValueError(f"result must come from a harmonic_swap family, got {result.config.get('family', {}).get('name')!r}")
    n, n_pitches = result.importances.shape
    q = result.group_ids
    touched = _comb_touched(family, moved_bins(family, n, _root_key(result, key), result.group_ids))  # [n, P]
    eligible = ~touched
    eligible[np.arange(n), q] = False
    pooled, per_clip = result.importances, result.draw_clip_importances  # [n, P], [n, C, P]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # draws without an eligible key: nan, counted below
        diag = pooled[np.arange(n), q]
        off = np.nanmean(np.where(eligible, pooled, np.nan), axis=1)
        diag_clip = per_clip[np.arange(n), :, q]  # [n, C]
        off_clip = np.nanmean(np.where(eligible[:, None, :], per_clip, np.nan), axis=2)
    contrast, contrast_clip = diag - off, diag_clip - off_clip
    conf = result.confidence
    return {
        "diagonal": _estimate(diag, diag_clip, result.clusters, conf),
        "off_diagonal": _estimate(off, off_clip, result.clusters, conf),
        "contrast": _estimate(contrast, contrast_clip, result.clusters, conf),
        "n_dropped": int(np.sum(~np.isfinite(off))),
        **_reliance_map(pooled, q, n_pitches),
    }


def _reliance_map(pooled: np.ndarray, q: np.ndarray, n_pitches: int) -> dict[str, np.ndarray]:
    sums = np.zeros((n_pitches, n_pitches))
    counts = np.zeros((n_pitches, n_pitches))
    np.add.at(sums, q, np.nan_to_num(pooled))
    np.add.at(counts, q, np.isfinite(pooled))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"map": np.where(counts > 0, sums / np.maximum(counts, 1), np.nan), "map_counts": np.bincount(q, minlength=n_pitches)}


def factorial(apply_fn, params, features, *, layout, targets, n_harmonics: int, n_permutations: int, key,
              key_weights=None, clusters=None, width: int | None = None, output: str | None = None,
              chunk_size: int | None = None, mesh=None, stratified: bool = False, confidence: float = 0.95,
              progress=None) -> dict[str, Any]:
    """The factorial design for key q (drawn from ``key_weights``, by default the keys that sound in
    ``targets``): v(F), v(H), v(F∪H) — the drop of q's output over q's frames when its fundamental,
    its harmonics 2..h, or both are replaced from other frames — and the interaction
    v(F∪H) − v(F) − v(H), each an estimate as in :func:`harmonic_reliance` (Monte Carlo and piece
    level). Also returns ``"results"``: the three :class:`ImportanceResult` s."""
    from amt_jax.estimators.importance import permutation_importance

    weights = key_weights_from_targets(targets) if key_weights is None else key_weights
    results = {}
    for name, part in FACTORIAL_PARTS.items():
        family = key_replacement(layout=layout, n_harmonics=n_harmonics, part=part, key_weights=weights, width=width,
                                 stratified=stratified)
        results[name] = permutation_importance(
            apply_fn, params, features, family=family, n_permutations=n_permutations, key=key, metric="key_drop",
            targets=targets, clusters=clusters, output=output, chunk_size=chunk_size, mesh=mesh, confidence=confidence,
            progress=progress,
        )
    groups = results["F"].group_ids
    if not all(np.array_equal(r.group_ids, groups) for r in results.values()):
        raise AssertionError("factorial conditions did not pair draw for draw (same key, same groups)")
    draw = {k: r.importances for k, r in results.items()}
    clip = {k: r.draw_clip_importances for k, r in results.items()}
    draw["interaction"] = draw["FH"] - draw["F"] - draw["H"]
    clip["interaction"] = clip["FH"] - clip["F"] - clip["H"]
    cl = results["F"].clusters
    return {**{k: _estimate(draw[k], clip[k], cl, confidence) for k in ("F", "H", "FH", "interaction")},
            "results": results}
