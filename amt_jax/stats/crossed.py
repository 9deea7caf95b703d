"""Two-way crossed designs: intervals with both factors random (seeds × pieces, draws × pieces),
variance components of a draw × clip matrix, and the sample sizes they plan.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.stats

from amt_jax import validate
from amt_jax.stats.clustered import check_clusters, cluster_means
from amt_jax.stats.intervals import confidence_level, normal_interval, t_interval, t_test


def _two_way(name: str, x, rows: str, cols: str) -> np.ndarray:
    """``x`` as a finite float64 matrix ``[n_<rows>, n_<cols>]`` with at least 2 of each, or a
    ValueError naming ``name``."""
    v = np.asarray(x, np.float64)
    validate.exact_rank(name, v, 2, f"[n_{rows}, n_{cols}]")
    validate.finite(name, v)
    if v.shape[0] < 2 or v.shape[1] < 2:
        raise ValueError(f"{name} needs >= 2 {rows} and >= 2 {cols}, got shape {v.shape}")
    return v


def _fill_missing(v: np.ndarray, iterations: int = 5000) -> np.ndarray:
    """``v`` with its nan cells replaced by the additive fit ``row + column − grand`` of the filled
    matrix (iterated to convergence, a warning if it does not; Yates's missing-value method for a
    two-way table)."""
    missing = np.isnan(v)
    if not missing.any():
        return v
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        filled = np.where(missing, np.nanmean(v, axis=0, keepdims=True), v)
    n_r, n_c = v.shape
    for _ in range(iterations):  # the means as sums / counts, as ndarray.mean computes them, without its overhead
        fit = (np.add.reduce(filled, axis=1, keepdims=True) / n_c + np.add.reduce(filled, axis=0, keepdims=True) / n_r
               - np.add.reduce(filled, axis=None) / filled.size)
        update = np.where(missing, fit, v)
        # np.allclose(update, filled, rtol=0, atol=…) without its overhead (this loop runs hundreds of times)
        if np.max(np.abs(update - filled)) <= 1e-12 * (1 + np.abs(filled).max()):
            return update
        filled = update
    warnings.warn(f"the additive fill of {int(missing.sum())} missing cells did not converge in {iterations} "
                  "iterations; intervals are approximate", RuntimeWarning, stacklevel=2)
    return filled


def _crossed_variance(v: np.ndarray, n_missing: int = 0) -> dict[str, float]:
    """Two-way random-effects ANOVA without replication of ``v [R, C]`` (filled): the variance of
    the grand mean ``(MS_res + (MS_row − MS_res)⁺ + (MS_col − MS_res)⁺)/(R·C)``, its Satterthwaite df,
    and the components. ``n_missing`` filled cells are taken off the residual df."""
    n_r, n_c = v.shape
    grand, row, col = v.mean(), v.mean(axis=1), v.mean(axis=0)
    ms_row = n_c * float(np.var(row, ddof=1))
    ms_col = n_r * float(np.var(col, ddof=1))
    df_res = max((n_r - 1) * (n_c - 1) - n_missing, 1)
    ms_res = float(np.sum((v - row[:, None] - col[None, :] + grand) ** 2) / df_res)
    # Var(mean)·R·C as a combination Σ c·MS of the mean squares (a clamped component drops its pair)
    c_row, c_col = float(ms_row > ms_res), float(ms_col > ms_res)
    terms = ((c_row, ms_row, n_r - 1), (c_col, ms_col, n_c - 1), (1.0 - c_row - c_col, ms_res, df_res))
    combined = sum(c * ms for c, ms, _ in terms)
    denominator = sum((c * ms) ** 2 / df for c, ms, df in terms)  # Satterthwaite
    return {"standard_error": float(np.sqrt(combined / (n_r * n_c))),
            "df": combined**2 / denominator if denominator > 0 else float("inf"),
            "row_variance": max((ms_row - ms_res) / n_c, 0.0), "column_variance": max((ms_col - ms_res) / n_r, 0.0),
            "residual_variance": ms_res}


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
    var = _crossed_variance(v)
    grand = float(v.mean())
    low, high = t_interval(grand, var["standard_error"], var["df"], confidence=confidence)
    t, p = t_test(grand, var["standard_error"], var["df"])
    return {"mean": grand, "standard_error": var["standard_error"], "ci_low": float(low), "ci_high": float(high),
            "df": float(var["df"]), "t": float(t), "p": float(p), "n_seeds": n_s, "n_pieces": n_p,
            "seed_variance": var["row_variance"], "piece_variance": var["column_variance"],
            "residual_variance": var["residual_variance"]}


def draws_by_pieces(draw_clip, clusters=None) -> np.ndarray:
    """``[n_draws, n_pieces]``: each piece's mean over its clips (nan-aware) of a draw × clip matrix
    ``[n_draws, n_clips]`` (pieces in sorted id order)."""
    v = np.asarray(draw_clip, np.float64)
    validate.exact_rank("draw_clip", v, 2, "[n_draws, n_clips]")
    return cluster_means(v.T, check_clusters("clusters", clusters, v.shape[1]))[1].T


def crossed_estimate(draw_clip, clusters=None, *, confidence: float = 0.95) -> dict[str, float]:
    """One estimand and its three intervals, from a draw × clip matrix ``[n_draws, n_clips]`` whose
    draws are shared by all clips (nan: nothing measured for that clip in that draw).

    The estimate is the mean over pieces of each piece's mean over draws (of its clips' values);
    a draw × piece cell with nothing measured is filled by the additive fit (draw effect + piece
    effect, Yates's method) first, so the estimate, its standard errors and their df all belong to
    one estimator. Every interval is centred on it:

    - ``crossed_ci_low``/``crossed_ci_high`` (the one to report): draws and pieces both random,
      two-way crossed (:func:`crossed_ci` on the draw × piece means, missing cells filled by the
      additive fit and taken off the residual df), t with Satterthwaite df — what a rerun with
      other draws on other pieces would give. With one draw (a deterministic family) it is the
      piece interval;
    - ``piece_ci_low``/``piece_ci_high``: t over the pieces' means, n_pieces − 1 df, *conditional on
      these draws*;
    - ``ci_low``/``ci_high``: Monte Carlo, normal over the draws' means (over pieces), *for these pieces*.

    ``p`` is the crossed test against 0 (``p_piece``: the conditional one). Also ``n`` (draws with a
    value), ``n_pieces`` (pieces with a value) and ``n_pieces_total``. Below 2 pieces the piece and
    crossed intervals are nan.
    """
    m = draws_by_pieces(draw_clip, clusters)
    n_total = m.shape[1]
    m = m[:, np.isfinite(m).any(axis=0)]
    m = m[np.isfinite(m).any(axis=1)]
    d, k = m.shape
    nan = float("nan")
    out = {"mean": nan, "ci_low": nan, "ci_high": nan, "crossed_ci_low": nan, "crossed_ci_high": nan,
           "piece_ci_low": nan, "piece_ci_high": nan, "p": nan, "p_piece": nan, "crossed_df": nan,
           "crossed_standard_error": nan, "piece_standard_error": nan, "mc_standard_error": nan,
           "n": int(d), "n_pieces": int(k), "n_pieces_total": int(n_total)}
    if d == 0:
        return out
    missing = int(np.isnan(m).sum())
    if missing and (d - 1) * (k - 1) - missing < 1:  # too few cells left to tell draws from pieces: no intervals
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out["mean"] = float(np.nanmean(np.nanmean(m, axis=0)))
        return out
    filled = _fill_missing(m)  # the additive fit in the holes: one estimator for the estimate and every SE
    piece_means, draw_means = filled.mean(axis=0), filled.mean(axis=1)
    estimate = float(piece_means.mean())
    out["mean"] = estimate
    if d >= 2:
        se = float(np.std(draw_means, ddof=1) / np.sqrt(d))
        out["mc_standard_error"] = se
        out["ci_low"], out["ci_high"] = (float(b) for b in normal_interval(estimate, se, confidence=confidence))
    if k >= 2:
        se = float(np.std(piece_means, ddof=1) / np.sqrt(k))
        out["piece_standard_error"] = se
        out["piece_ci_low"], out["piece_ci_high"] = (float(b) for b in t_interval(estimate, se, k - 1, confidence=confidence))
        out["p_piece"] = float(t_test(estimate, se, k - 1)[1])
        if d >= 2:
            var = _crossed_variance(filled, missing)
            se, df = var["standard_error"], var["df"]
        else:
            df = k - 1
        out["crossed_standard_error"], out["crossed_df"] = float(se), float(df)
        out["crossed_ci_low"], out["crossed_ci_high"] = (float(b) for b in t_interval(estimate, se, df, confidence=confidence))
        out["p"] = float(t_test(estimate, se, df)[1]) if df >= 1 else float("nan")  # p and interval agree
    return out


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
    ``(between_draws + residual/n_clips)/n_draws``. Missing cells (nan: nothing measured) are
    filled with the additive fit first; clips with no value at all are left out.
    """
    v = np.asarray(draw_clip, np.float64)
    validate.exact_rank("draw_clip", v, 2, "[n_draws, n_clips]")
    c = check_clusters("clusters", clusters, v.shape[1])
    keep = ~np.all(np.isnan(v), axis=0)
    v, c = v[:, keep], c[keep]
    v = v[~np.all(np.isnan(v), axis=1)]
    n_missing = int(np.isnan(v).sum())
    v = _two_way("draw_clip", _fill_missing(v) if v.size else v, "draws", "clips")
    d, n = v.shape
    clip_mean, draw_mean, grand = v.mean(0), v.mean(1), v.mean()
    resid = v - clip_mean[None] - draw_mean[:, None] + grand
    residual = float(np.sum(resid**2) / max((d - 1) * (n - 1) - n_missing, 1))  # filled cells carry no residual
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

    ``crossed`` (the reported interval, :func:`crossed_estimate`): t half-width from the variance
    ``(between_pieces + within_pieces/m)/P + between_draws/D + residual/(D·P·m)`` with
    Satterthwaite df over its pieces (P − 1), draws (D − 1) and residual parts; ``piece``: t
    half-width (P − 1 df) of the piece-level interval conditional on the draws, from
    ``between_pieces/P + (within_pieces + residual/D)/(P·m)``; ``mc``: normal half-width of the
    Monte Carlo interval, from ``(between_draws + residual/(P·m))/D``.
    """
    p, m, d = float(n_pieces), float(clips_per_piece), float(n_draws)
    data = (components["between_pieces"] + components["within_pieces"] / m) / p
    draws, resid = components["between_draws"] / d, components["residual"] / (d * p * m)
    piece_var = components["between_pieces"] / p + (components["within_pieces"] + components["residual"] / d) / (p * m)
    mc_var = (components["between_draws"] + components["residual"] / (p * m)) / d
    crossed_var = data + draws + resid
    parts = ((data, p - 1), (draws, d - 1), (resid, (p - 1) * (d - 1)))
    denominator = sum(v**2 / df for v, df in parts if df > 0 and v > 0)
    df = crossed_var**2 / denominator if denominator > 0 else np.inf
    level = 0.5 + confidence_level(confidence) / 2
    t = scipy.stats.t.ppf(level, p - 1) if p >= 2 else np.nan
    t_crossed = scipy.stats.t.ppf(level, df) if p >= 2 else np.nan
    z = scipy.stats.norm.ppf(level)
    return {"crossed": float(t_crossed * np.sqrt(crossed_var)), "piece": float(t * np.sqrt(piece_var)),
            "mc": float(z * np.sqrt(mc_var)), "crossed_standard_error": float(np.sqrt(crossed_var)),
            "piece_standard_error": float(np.sqrt(piece_var)), "mc_standard_error": float(np.sqrt(mc_var))}


def plan_sizes(components: dict, *, halfwidth: float, clips_per_piece: float, mc_fraction: float = 0.25,
               confidence: float = 0.95, max_pieces: int = 100_000) -> dict[str, float]:
    """The fewest pieces (and the draws that go with them) whose predicted crossed half-width is
    <= ``halfwidth``: for each P, D is the fewest draws whose Monte Carlo SE is at most
    ``mc_fraction`` × the piece-level SE (more draws would hardly narrow the interval). Returns
    ``{"n_pieces", "n_draws", "crossed", "piece", "mc"}`` (nan when the pilot cannot tell: < 2
    pieces, or ``max_pieces`` is not enough)."""
    validate.positive("halfwidth", halfwidth)
    validate.positive("mc_fraction", mc_fraction)
    nan = {"n_pieces": np.nan, "n_draws": np.nan, "crossed": np.nan, "piece": np.nan, "mc": np.nan}
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
        if predicted["crossed"] <= halfwidth:
            return {"n_pieces": p, "n_draws": d, "crossed": predicted["crossed"], "piece": predicted["piece"],
                    "mc": predicted["mc"]}
        p = p + 1 if p < 64 else int(np.ceil(p * 1.1))
    return nan
