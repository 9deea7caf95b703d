"""Piece-level intervals: the unit of data is the piece (a cluster of clips: the windows of one piece,
the same piece rendered with several programs). :func:`cluster_ci` and :func:`piece_contrast` reduce
each cluster to its mean and use t with n_clusters − 1 degrees of freedom (a cluster bootstrap as an
option), so duplicating windows never narrows an interval.
"""

from __future__ import annotations

import warnings

import numpy as np

from amt_jax import validate
from amt_jax.stats.intervals import confidence_level, percentile_bootstrap_ci, t_interval, t_test


# --------------------------------------------------------------------------- pieces


def check_clusters(name: str, clusters, n: int) -> np.ndarray:
    """Cluster ids ``[n]`` (ints); ``arange(n)`` (each clip its own cluster) for None."""
    clusters = np.arange(n) if clusters is None else np.asarray(clusters)
    validate.exact_rank(name, clusters, 1, "[n_clips]")
    if clusters.shape[0] != n:
        raise ValueError(f"{name} must have one id per clip ({n}), got shape {clusters.shape}")
    if not np.issubdtype(clusters.dtype, np.integer):
        raise ValueError(f"{name} must hold integer ids, got dtype {clusters.dtype}")
    return clusters


def cluster_means(values, clusters=None) -> tuple[np.ndarray, np.ndarray]:
    """``(ids [K], means [K, ...])``: the mean of ``values [n_clips, ...]`` within each cluster
    (sorted ids; each clip its own cluster when ``clusters`` is None). NaN values are skipped, a
    cluster with none left gives NaN."""
    x = np.asarray(values, np.float64)
    validate.min_rank("values", x, 1, "[n_clips, ...]")
    c = check_clusters("clusters", clusters, x.shape[0])
    ids = np.unique(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-nan cluster -> nan
        means = np.stack([np.nanmean(x[c == k], axis=0) for k in ids])
    return ids, means


def cluster_ci(values, clusters=None, *, confidence: float = 0.95, method: str = "t", key=None,
               n_resamples: int = 2000) -> dict[str, np.ndarray]:
    """Piece-level estimate and CI of the mean of ``values [n_clips, ...]``.

    Each cluster (piece) counts once: ``mean`` is the mean of the cluster means (clusters with a
    NaN mean are left out) and the interval is t over cluster means with n_clusters − 1 degrees of
    freedom (``method="t"``, default) or a percentile bootstrap over clusters
    (``method="bootstrap"``, needs ``key``). Duplicating the clips of a cluster changes nothing.
    Below 2 clusters: ``standard_error`` and the interval are NaN, with a warning.

    Returns ``{"mean", "standard_error", "ci_low", "ci_high", "n_clusters"}``.
    """
    if method not in ("t", "bootstrap"):
        raise ValueError(f"method must be one of ['bootstrap', 't'], got {method!r}")
    _, means = cluster_means(values, clusters)
    ok = np.isfinite(means)
    k = ok.sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(means, axis=0)
        se = np.nanstd(means, axis=0, ddof=1) / np.sqrt(k)
    se = np.where(k >= 2, se, np.nan)
    if np.any(k < 2):
        warnings.warn(f"piece-level interval needs >= 2 clusters, got {int(np.min(k))}: reported as nan", stacklevel=2)
    if method == "t":
        low, high = t_interval(mean, se, k - 1, confidence=confidence)
    elif means.shape[0] < 2 or not np.all(ok):
        low = high = np.full(np.shape(mean), np.nan)
    else:
        if key is None:
            raise ValueError("method='bootstrap' needs key, got key=None")
        low, high = percentile_bootstrap_ci(means, key=key, n_resamples=n_resamples, confidence=confidence, batch_size=256)
    return {"mean": mean, "standard_error": se, "ci_low": low, "ci_high": high, "n_clusters": k}


def piece_contrast(a, b, clusters=None, *, confidence: float = 0.95) -> dict[str, np.ndarray]:
    """Piece-level paired contrast of per-clip values ``a − b`` (``[n_clips, ...]`` each, e.g. a
    family's and its control's per-clip mean importances): per-cluster mean differences, t with
    n_clusters − 1 degrees of freedom. Returns ``{"mean", "standard_error", "ci_low", "ci_high",
    "t", "p", "n_clusters"}`` (nan below 2 clusters)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape (paired clips), got {a.shape} and {b.shape}")
    out = cluster_ci(a - b, clusters, confidence=confidence)
    df = np.where(out["n_clusters"] >= 2, out["n_clusters"] - 1, np.nan)
    t, p = t_test(out["mean"], out["standard_error"], df)
    return {**out, "t": t, "p": p}
