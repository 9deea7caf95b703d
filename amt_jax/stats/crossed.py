"""Two-way crossed designs: intervals with both factors random (seeds × pieces, draws × pieces),
variance components of a draw × clip matrix, and the sample sizes they plan.
"""

from __future__ import annotations

import numpy as np
import scipy.stats

from amt_jax import validate
from amt_jax.stats.clustered import check_clusters, cluster_means
from amt_jax.stats.intervals import confidence_level, t_interval, t_test


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
    t, p = t_test(grand, se, df)
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
    t = scipy.stats.t.ppf(0.5 + confidence_level(confidence) / 2, p - 1) if p >= 2 else np.nan
    z = scipy.stats.norm.ppf(0.5 + confidence_level(confidence) / 2)
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
