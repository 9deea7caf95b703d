"""Uncertainty for importances, at two levels.

- **Monte Carlo** (which draws were taken): standard errors, normal and percentile-bootstrap CIs
  over draws. They say how precise an estimate is for the clips measured, not whether it generalises.
- **Pieces** (which pieces were measured): the unit of data is the piece (a cluster of clips: the
  windows of one piece, the same piece rendered with several programs). :func:`cluster_ci` and
  :func:`piece_contrast` reduce each cluster to its mean and use t with n_clusters − 1 degrees
  of freedom (a cluster bootstrap as an option), so duplicating windows never narrows an interval.

Also: paired t-tests per group (:func:`paired_t`), t group summaries, Benjamini–Hochberg, and
variance components of a draw × clip matrix (:func:`variance_components`).

Host-side numpy (results are small). Bootstrap resample ``b`` uses ``jax.random.fold_in(key, b)``,
so results do not depend on batching. Samples are along axis 0; trailing axes (e.g. pitches) are
carried through.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from amt_jax import validate


def _confidence(confidence: float) -> float:
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
    z = scipy.stats.norm.ppf(0.5 + _confidence(confidence) / 2)
    mean, se = np.asarray(mean, np.float64), np.asarray(standard_error, np.float64)
    return mean - z * se, mean + z * se


def t_interval(mean, standard_error, df, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """``mean ± t_{df} · standard_error`` (two-sided, ``confidence``); nan where df < 1."""
    df = np.asarray(df, np.float64)
    df = np.where(df >= 1, df, np.nan)
    half = scipy.stats.t.ppf(0.5 + _confidence(confidence) / 2, df) * np.asarray(standard_error, np.float64)
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
    alpha = 1 - _confidence(confidence)
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
        half = scipy.stats.t.ppf(0.5 + _confidence(confidence) / 2, df) * se
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
    t, p = _t_test(out["mean"], out["standard_error"], df)
    return {**out, "t": t, "p": p}


def _t_test(mean, standard_error, df) -> tuple[np.ndarray, np.ndarray]:
    """``(t, two-sided p)`` of ``mean`` against 0: ±inf (p = 0) for a non-zero mean with zero
    standard error, 0 for a zero one; nan where the standard error is nan."""
    mean, se = np.asarray(mean, np.float64), np.asarray(standard_error, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, mean / se, np.where(mean == 0, 0.0, np.sign(mean) * np.inf))
    t = np.where(np.isnan(se), np.nan, t)
    return t, 2 * scipy.stats.t.sf(np.abs(t), df)


def _two_way(name: str, x, rows: str, cols: str) -> np.ndarray:
    """``x`` as a finite float64 matrix ``[n_<rows>, n_<cols>]`` with at least 2 of each, or a
    ValueError naming ``name``."""
    v = np.asarray(x, np.float64)
    validate.exact_rank(name, v, 2, f"[n_{rows}, n_{cols}]")
    validate.finite(name, v)
    if v.shape[0] < 2 or v.shape[1] < 2:
        raise ValueError(f"{name} needs >= 2 {rows} and >= 2 {cols}, got shape {v.shape}")
    return v


def crossed_ci(values, *, confidence: float = 0.95) -> dict[str, float]:
    """Mean of ``values [n_seeds, n_pieces]`` with both seeds and pieces random (crossed), e.g. per-seed,
    per-piece F1 (or F1 differences) of retrained models: the interval says what the result would be
    for new seeds *and* new pieces.

    Two-way random-effects ANOVA without replication, ``v[s, p] = μ + seed(s) + piece(p) + e[s, p]``:
    mean squares ``MS_seed = P·var_s(row means)``, ``MS_piece = S·var_p(column means)``, ``MS_res``
    (interaction); components clamped at 0; ``Var(mean) = σ²_seed/S + σ²_piece/P + σ²_e/(S·P)`` =
    ``(MS_res + (MS_seed − MS_res)⁺ + (MS_piece − MS_res)⁺)/(S·P)``, t interval with Satterthwaite
    degrees of freedom. With no seed component (clamped) this is the t interval over the pieces'
    seed-averaged values (P − 1 df); with no piece component, t over the seeds' means (S − 1 df).

    Returns ``{"mean", "standard_error", "ci_low", "ci_high", "df", "t", "p", "n_seeds", "n_pieces",
    "seed_variance", "piece_variance", "residual_variance"}``.
    """
    v = _two_way("values", values, "seeds", "pieces")
    n_s, n_p = v.shape
    grand, row, col = v.mean(), v.mean(axis=1), v.mean(axis=0)
    ms_seed = n_p * float(np.var(row, ddof=1))
    ms_piece = n_s * float(np.var(col, ddof=1))
    ms_res = float(np.sum((v - row[:, None] - col[None, :] + grand) ** 2) / ((n_s - 1) * (n_p - 1)))
    # Var(mean)·S·P as a combination Σ c·MS of the mean squares (a clamped component drops its pair)
    c_seed, c_piece = float(ms_seed > ms_res), float(ms_piece > ms_res)
    terms = ((c_seed, ms_seed, n_s - 1), (c_piece, ms_piece, n_p - 1),
             (1.0 - c_seed - c_piece, ms_res, (n_s - 1) * (n_p - 1)))
    combined = sum(c * ms for c, ms, _ in terms)
    denominator = sum((c * ms) ** 2 / df for c, ms, df in terms)  # Satterthwaite
    df = combined**2 / denominator if denominator > 0 else float("inf")
    se = float(np.sqrt(combined / (n_s * n_p)))
    low, high = t_interval(grand, se, df, confidence=confidence)
    t, p = _t_test(grand, se, df)
    return {"mean": float(grand), "standard_error": se, "ci_low": float(low), "ci_high": float(high),
            "df": float(df), "t": float(t), "p": float(p),
            "n_seeds": n_s, "n_pieces": n_p, "seed_variance": max((ms_seed - ms_res) / n_p, 0.0),
            "piece_variance": max((ms_piece - ms_res) / n_s, 0.0), "residual_variance": ms_res}


def variance_components(draw_clip, clusters=None) -> dict[str, float]:
    """Variance components of a draw × clip matrix ``[n_draws, n_clips]`` (scalar importances).

    Model: ``v[d, c] = μ + piece(c) + clip(c) + draw(d) + residual``. Method-of-moments
    estimates (clamped at 0): ``between_pieces`` (variance of piece effects), ``within_pieces``
    (clip effects inside a piece), ``between_draws`` (draw effects, shared by all clips) and
    ``residual`` (draw × clip). Also returned: ``n_draws``, ``n_clips``, ``n_pieces`` and
    ``clips_per_piece`` (the harmonic mean).

    What they predict (:func:`planned_halfwidth`): the piece-level variance of a mean over
    ``n_pieces`` pieces of ``m`` clips each is ``between_pieces/n_pieces + within_pieces/(n_pieces·m)``;
    the Monte Carlo variance of a mean over ``n_draws`` draws is
    ``(between_draws + residual/n_clips)/n_draws``.
    """
    v = _two_way("draw_clip", draw_clip, "draws", "clips")
    d, n = v.shape
    c = check_clusters("clusters", clusters, n)
    clip_mean, draw_mean, grand = v.mean(0), v.mean(1), v.mean()
    resid = v - clip_mean[None] - draw_mean[:, None] + grand
    residual = float(np.sum(resid**2) / ((d - 1) * (n - 1)))
    between_draws = max(float(np.var(draw_mean, ddof=1)) - residual / n, 0.0)
    clip_var = residual / d  # sampling variance of a clip's mean over draws
    ids, piece = cluster_means(clip_mean, c)
    sizes = np.array([np.sum(c == k) for k in ids])
    k = len(ids)
    within_ss = sum(np.sum((clip_mean[c == i] - piece[j]) ** 2) for j, i in enumerate(ids))
    within = max(within_ss / (n - k) - clip_var, 0.0) if n > k else 0.0
    m = float(k / np.sum(1.0 / sizes))
    between = max(float(np.var(piece, ddof=1)) - (within + clip_var) / m, 0.0) if k >= 2 else float("nan")
    return {"between_pieces": float(between), "within_pieces": float(within), "between_draws": float(between_draws),
            "residual": float(residual),
            "n_draws": d, "n_clips": n, "n_pieces": k, "clips_per_piece": m}


def planned_halfwidth(components: dict, *, n_pieces: int, clips_per_piece: float, n_draws: int,
                      confidence: float = 0.95) -> dict[str, float]:
    """Predicted half-widths for a run of ``n_pieces`` pieces × ``clips_per_piece`` clips and
    ``n_draws`` draws, from :func:`variance_components` of a pilot.

    ``piece``: t half-width (n_pieces − 1 df) of the piece-level interval, from the variance
    ``between_pieces/P + (within_pieces + residual/D)/(P·m)``; ``mc``: normal half-width of the
    Monte Carlo interval, from ``(between_draws + residual/(P·m))/D``.
    """
    p, m, d = float(n_pieces), float(clips_per_piece), float(n_draws)
    piece_var = components["between_pieces"] / p + (components["within_pieces"] + components["residual"] / d) / (p * m)
    mc_var = (components["between_draws"] + components["residual"] / (p * m)) / d
    t = scipy.stats.t.ppf(0.5 + _confidence(confidence) / 2, p - 1) if p >= 2 else np.nan
    z = scipy.stats.norm.ppf(0.5 + _confidence(confidence) / 2)
    return {"piece": float(t * np.sqrt(piece_var)), "mc": float(z * np.sqrt(mc_var)),
            "piece_standard_error": float(np.sqrt(piece_var)), "mc_standard_error": float(np.sqrt(mc_var))}


def plan_sizes(components: dict, *, halfwidth: float, clips_per_piece: float, mc_fraction: float = 0.25,
               confidence: float = 0.95, max_pieces: int = 100_000) -> dict[str, float]:
    """The fewest pieces (and the draws that go with them) whose predicted piece-level half-width
    is <= ``halfwidth``: for each P, D is the fewest draws whose Monte Carlo SE is at most
    ``mc_fraction`` × the piece-level SE (more draws would not narrow the interval). Returns
    ``{"n_pieces", "n_draws", "piece", "mc"}`` (nan when the pilot cannot tell: < 2 pieces, or
    ``max_pieces`` is not enough)."""
    validate.positive("halfwidth", halfwidth)
    validate.positive("mc_fraction", mc_fraction)
    nan = {"n_pieces": np.nan, "n_draws": np.nan, "piece": np.nan, "mc": np.nan}
    if not np.isfinite(components["between_pieces"]):
        return nan
    m = float(clips_per_piece)
    data_var = components["between_pieces"] + components["within_pieces"] / m
    p = 2
    while p <= max_pieces:
        piece_se2 = data_var / p
        mc_var1 = components["between_draws"] + components["residual"] / (p * m)  # × 1/D
        d = max(int(np.ceil(mc_var1 / (mc_fraction**2 * piece_se2))) if piece_se2 > 0 else 1, 2)
        predicted = planned_halfwidth(components, n_pieces=p, clips_per_piece=m, n_draws=d, confidence=confidence)
        if predicted["piece"] <= halfwidth:
            return {"n_pieces": p, "n_draws": d, "piece": predicted["piece"], "mc": predicted["mc"]}
        p = p + 1 if p < 64 else int(np.ceil(p * 1.1))
    return nan
