"""Similarity of two results: Spearman rank correlation of score vectors, SSIM of maps, kurtosis.

Host-side numpy (the arrays are small: scores per group, maps [P, F]).

- :func:`spearman`: rank correlation along the last axis, rows at a time, skipping positions
  where either value is not finite; equals ``scipy.stats.spearmanr`` (average ranks for ties).
- :func:`ssim`: structural similarity (Wang et al. 2004) of two 2-D maps with a uniform
  ``window × window`` window over the valid positions (no padding), sample (co)variances with
  ``ddof=1`` as scikit-image does; signed attribution maps are compared after dividing each by
  its largest absolute value (:func:`normalize_map`), so ``data_range`` is 2 by default.
- :func:`kurtosis`: excess (Fisher) kurtosis with population moments, as ``scipy.stats.kurtosis``.
"""

from __future__ import annotations

import numpy as np
import scipy.stats

from amt_jax import validate

SSIM_K1 = 0.01
SSIM_K2 = 0.03


def spearman(a, b) -> np.ndarray:
    """Spearman's ρ between ``a`` and ``b`` along the last axis (``[..., n]`` each → ``[...]``).

    Positions where either value is not finite are left out, per row; ties get average ranks.
    NaN where fewer than 3 positions remain or a row is constant.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    validate.min_rank("a", a, 1, "[..., n]")
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = np.where(ok, a, np.nan), np.where(ok, b, np.nan)
    ra = scipy.stats.rankdata(a, axis=-1, nan_policy="omit")
    rb = scipy.stats.rankdata(b, axis=-1, nan_policy="omit")
    n = ok.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = np.nansum(ra, axis=-1, keepdims=True) / n[..., None]
        mb = np.nansum(rb, axis=-1, keepdims=True) / n[..., None]
        da, db = np.where(ok, ra - ma, 0.0), np.where(ok, rb - mb, 0.0)
        rho = np.sum(da * db, axis=-1) / np.sqrt(np.sum(da * da, axis=-1) * np.sum(db * db, axis=-1))
    return np.where(n >= 3, rho, np.nan)


def normalize_map(x) -> np.ndarray:
    """``x / max|x|`` (all zeros stay zeros): a signed map in [−1, 1]."""
    x = np.asarray(x, np.float64)
    peak = np.max(np.abs(x)) if x.size else 0.0
    return x / peak if peak > 0 else np.zeros_like(x)


def ssim(a, b, *, window: int = 7, data_range: float | None = None, k1: float = SSIM_K1, k2: float = SSIM_K2) -> float:
    """Mean structural similarity of two 2-D maps ``[H, W]`` over all ``window × window`` windows.

    Per window: ``(2 μa μb + C1)(2 σab + C2) / ((μa² + μb² + C1)(σa² + σb² + C2))`` with
    ``C1 = (k1 L)²``, ``C2 = (k2 L)²``, ``L = data_range`` (default: the larger of the two maps'
    ranges ``max − min``, at least 1e-12). 1 for identical maps.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    validate.exact_rank("a", a, 2, "[H, W]")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    validate.positive_int("window", window)
    if window > min(a.shape):
        raise ValueError(f"window must be at most the smaller side of the maps {a.shape}, got {window}")
    validate.finite("a", a)
    validate.finite("b", b)
    if data_range is None:
        data_range = max(np.ptp(a), np.ptp(b), 1e-12)
    validate.positive("data_range", data_range)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    wa = np.lib.stride_tricks.sliding_window_view(a, (window, window)).reshape(-1, window * window)
    wb = np.lib.stride_tricks.sliding_window_view(b, (window, window)).reshape(-1, window * window)
    mu_a, mu_b = wa.mean(axis=1), wb.mean(axis=1)
    var_a, var_b = wa.var(axis=1, ddof=1), wb.var(axis=1, ddof=1)
    cov = np.sum((wa - mu_a[:, None]) * (wb - mu_b[:, None]), axis=1) / (window * window - 1)
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(np.mean(s))


def kurtosis(x, axis: int = -1) -> np.ndarray:
    """Excess kurtosis ``m4 / m2² − 3`` along ``axis`` (population moments; NaN for a constant row)."""
    x = np.asarray(x, np.float64)
    d = x - x.mean(axis=axis, keepdims=True)
    m2, m4 = np.mean(d**2, axis=axis), np.mean(d**4, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m2 > 0, m4 / np.where(m2 > 0, m2, 1.0) ** 2 - 3.0, np.nan)
