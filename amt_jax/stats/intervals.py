"""Monte Carlo intervals (which draws were taken): standard errors, normal, t and percentile-bootstrap
intervals over draws; paired t-tests per group, t group summaries, Benjamini–Hochberg.

Host-side numpy (results are small). Bootstrap resample ``b`` uses ``jax.random.fold_in(key, b)``,
so results do not depend on batching. Samples are along axis 0; trailing axes (e.g. pitches) are
carried through.
"""


import warnings

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from amt_jax import validate



def confidence_level(confidence: float) -> float:
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return float(confidence)


def _samples(name: str, x, min_n: int = 1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    validate.min_rank(name, x, 1, "[n, ...]")
    if x.shape[0] < min_n:
        raise ValueError(f"{name} needs at least {min_n} sample(s) along axis 0, got shape {x.shape}")
    validate.finite(name, x)
    return x


def mc_standard_error(samples) -> np.ndarray:
    """Standard error of the mean over axis 0: ``std(ddof=1) / sqrt(n)`` (``[...]``; nan if n < 2)."""
    x = _samples("samples", samples)
    n = x.shape[0]
    if n < 2:
        return np.full(x.shape[1:], np.nan)
    return x.std(axis=0, ddof=1) / np.sqrt(n)


def nan_moments(samples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean, std (ddof=1), standard error)`` over axis 0, each entry over its non-nan samples
    (nan where fewer than 1 resp. 2). Equal to the plain moments when nothing is nan."""
    x = np.asarray(samples, np.float64)
    validate.min_rank("samples", x, 1, "[n, ...]")
    if np.any(np.isinf(x)):
        raise ValueError(f"samples contains infinite values (e.g. {x[np.isinf(x)].ravel()[0]})")
    n = np.sum(~np.isnan(x), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-nan columns -> nan
        if not np.any(np.isnan(x)):
            mean = x.mean(axis=0)
            std = x.std(axis=0, ddof=1) if x.shape[0] > 1 else np.full(x.shape[1:], np.nan)
        else:
            mean = np.nanmean(x, axis=0)
            std = np.where(n > 1, np.nanstd(x, axis=0, ddof=1), np.nan)
    return mean, std, std / np.sqrt(np.maximum(n, 1))


def normal_interval(mean, standard_error, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """``mean ± z · standard_error`` with z the two-sided normal quantile of ``confidence``."""
    z = scipy.stats.norm.ppf(0.5 + confidence_level(confidence) / 2)
    mean, se = np.asarray(mean, np.float64), np.asarray(standard_error, np.float64)
    return mean - z * se, mean + z * se


def t_interval(mean, standard_error, df, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """``mean ± t_{df} · standard_error`` (two-sided, ``confidence``); nan where df < 1."""
    df = np.asarray(df, np.float64)
    df = np.where(df >= 1, df, np.nan)
    half = scipy.stats.t.ppf(0.5 + confidence_level(confidence) / 2, df) * np.asarray(standard_error, np.float64)
    mean = np.asarray(mean, np.float64)
    return mean - half, mean + half


def normal_ci(samples, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Normal CI of the mean over axis 0 (Monte Carlo uncertainty when samples are draws)."""
    x = _samples("samples", samples)
    return normal_interval(x.mean(axis=0), mc_standard_error(x), confidence=confidence)


@jax.jit
def _resample_means(x: jax.Array, key: jax.Array, ids: jax.Array) -> jax.Array:
    """Means ``[len(ids), ...]`` of the resamples ``ids`` of the rows of ``x``; resample b draws
    its rows (with replacement) from ``fold_in(key, b)``."""
    n = x.shape[0]
    rows = jax.vmap(lambda i: jax.random.randint(jax.random.fold_in(key, i), (n,), 0, n))(ids)
    return jnp.mean(x[rows], axis=1)


def _bootstrap_means(x: np.ndarray, key: jax.Array, n_resamples: int, batch_size: int) -> np.ndarray:
    """Means ``[n_resamples, ...]`` of bootstrap resamples of the rows of ``x``."""
    xj = jax.device_put(np.asarray(x, np.float32))  # explicit: once, not per batch
    out = [
        np.asarray(_resample_means(xj, key, jnp.arange(start, start + batch_size)), np.float64)
        for start in range(0, n_resamples, batch_size)
    ]
    return np.concatenate(out)[:n_resamples]


def percentile_bootstrap_ci(
    samples, *, key: jax.Array, n_resamples: int = 1000, confidence: float = 0.95, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap CI of the mean over axis 0 (rows resampled with replacement).

    Memory is ``batch_size · n`` indices at a time.
    """
    x = _samples("samples", samples)
    validate.positive_int("n_resamples", n_resamples)
    validate.positive_int("batch_size", batch_size)
    alpha = 1 - confidence_level(confidence)
    means = _bootstrap_means(x, key, n_resamples, batch_size)
    return np.quantile(means, alpha / 2, axis=0), np.quantile(means, 1 - alpha / 2, axis=0)


def cluster_bootstrap_ci(
    cluster_means, *, key: jax.Array, n_resamples: int = 2000, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster (clip) bootstrap CI of the mean: resample whole clips, each given by its mean
    importance over draws (``[n_clips, ...]``). Frames of one clip are correlated, so clips,
    not frames, are the independent units. Nan when there are fewer than 2 clips."""
    x = _samples("cluster_means", cluster_means)
    if x.shape[0] < 2:
        nan = np.full(x.shape[1:], np.nan)
        return nan, nan.copy()
    return percentile_bootstrap_ci(x, key=key, n_resamples=n_resamples, confidence=confidence, batch_size=256)


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), same shape; nan entries stay nan and
    are not counted among the tests. Reject at FDR α where ``q <= α``."""
    p = np.asarray(p_values, np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError(f"p_values must lie in [0, 1], got min {p[ok].min()} and max {p[ok].max()}")
    pf = p[ok]
    m = pf.size
    if m == 0:
        return q
    order = np.argsort(pf)
    scaled = pf[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adjusted
    q[ok] = out
    return q


def _group_rows(samples: np.ndarray, groups) -> tuple[np.ndarray, list[np.ndarray]]:
    groups = np.asarray(groups)
    validate.exact_rank("groups", groups, 1, "[n]")
    if groups.shape[0] != samples.shape[0]:
        raise ValueError(f"groups must have one id per sample ({samples.shape[0]}), got shape {groups.shape}")
    ids = np.unique(groups)
    return ids, [samples[groups == g] for g in ids]


def group_summary(samples, groups, *, confidence: float = 0.95) -> dict[str, np.ndarray]:
    """Per group: ``group, n, mean, standard_error, ci_low, ci_high`` (t CI with n − 1 degrees of
    freedom: groups often hold a handful of draws; arrays over the sorted unique groups, trailing
    sample axes kept; se/CI nan for groups with n < 2)."""
    x = _samples("samples", samples)
    ids, rows = _group_rows(x, groups)
    mean = np.stack([r.mean(axis=0) for r in rows])
    se = np.stack([mc_standard_error(r) for r in rows])
    df = np.reshape([len(r) - 1 for r in rows], (-1,) + (1,) * (x.ndim - 1))
    low, high = t_interval(mean, se, df, confidence=confidence)
    return {"group": ids, "n": np.array([len(r) for r in rows]), "mean": mean, "standard_error": se, "ci_low": low, "ci_high": high}


def paired_t(a, b, *, groups=None, confidence: float = 0.95) -> dict[str, np.ndarray]:
    """Paired t-test of ``a − b`` over samples (e.g. the draws of a family and of its size-matched
    control, same keys, same clips: a Monte Carlo contrast), per group (one group if ``groups`` is None).

    Per group: ``group, n, mean`` (mean difference), ``standard_error``, t-based ``ci_low,
    ci_high``, ``t``, two-sided paired-t ``p`` and Benjamini–Hochberg ``q`` across groups
    (nan where n < 2).
    """
    a = _samples("a", a)
    b = _samples("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape (paired draws), got {a.shape} and {b.shape}")
    d = a - b
    ids, rows = _group_rows(d, np.zeros(d.shape[0], int) if groups is None else groups)
    n = np.array([len(r) for r in rows])
    mean = np.stack([r.mean(axis=0) for r in rows])
    se = np.stack([mc_standard_error(r) for r in rows])
    df = np.reshape(n - 1, (-1,) + (1,) * (d.ndim - 1)).astype(float)
    df = np.where(df > 0, df, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, mean / se, np.where(mean == 0, 0.0, np.sign(mean) * np.inf))
        t = np.where(np.isnan(se), np.nan, t)
        p = 2 * scipy.stats.t.sf(np.abs(t), df)
        half = scipy.stats.t.ppf(0.5 + confidence_level(confidence) / 2, df) * se
    return {
        "group": ids,
        "n": n,
        "mean": mean,
        "standard_error": se,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "t": t,
        "p": p,
        "q": benjamini_hochberg(p.ravel()).reshape(p.shape),
    }


def t_test(mean, standard_error, df) -> tuple[np.ndarray, np.ndarray]:
    """``(t, two-sided p)`` of ``mean`` against 0: ±inf (p = 0) for a non-zero mean with zero
    standard error, 0 for a zero one; nan where the standard error is nan."""
    mean, se = np.asarray(mean, np.float64), np.asarray(standard_error, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, mean / se, np.where(mean == 0, 0.0, np.sign(mean) * np.inf))
    t = np.where(np.isnan(se), np.nan, t)
    return t, 2 * scipy.stats.t.sf(np.abs(t), df)
