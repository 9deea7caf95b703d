"""The result of a permutation-importance run: the draw × clip matrix and its two kinds of interval.

- Monte Carlo (``ci_low``, ``ci_high``): over draws, for the clips measured — how precise the estimate is.
- Pieces (``piece_ci_low``, ``piece_ci_high``; formerly ``clip_ci_*``, still readable): over clusters of clips (pieces), t with
  n_clusters − 1 degrees of freedom by default — whether it holds for music like this, *conditional
  on the draws made*.
- Crossed (``crossed_ci_low``, ``crossed_ci_high``): draws and pieces both random
  (:func:`amt_jax.stats.crossed_estimate`), around ``piece_mean`` — the interval to report, as every
  draw is shared by all clips (scalar metrics; nan per pitch).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from amt_jax import stats

_STATS_TAG = 0xFFFFFFFF  # fold_in tag of the statistics key; draws use tags < 2**31
PIECE_CI_METHODS = ("t", "bootstrap")


@dataclass(frozen=True, eq=False)
class ImportanceResult:
    """Permutation importances of one family on one set of clips (numpy arrays; ``[...]`` is
    ``[]`` for scalar metrics and ``[P]`` for per-pitch ones).

    Attributes:
      importances: ``[n_draws, ...]`` importance of each draw, the mean over clips.
      group_ids: ``[n_draws]`` group targeted by each draw, or ``[n_draws, n_clips]`` for a family
        that draws a key per clip.
      draw_clip_importances: ``[n_draws, n_clips, ...]`` importance of each draw on each clip (nan
        where a pooled metric had nothing to pool).
      draw_clip_weights: ``[n_draws, n_clips, ...]`` a pooled metric's counts (frames pooled), else None.
      input_change: ``[n_draws, n_clips]`` mean |πX − X| of each draw on each clip.
      clusters: ``[n_clips]`` cluster (piece) id of each clip.
      importances_mean, importances_std: ``[...]`` over draws (std with ddof=1).
      standard_error: ``[...]`` Monte Carlo standard error of the mean over draws.
      ci_low, ci_high: ``[...]`` Monte Carlo CI of the mean (``ci_method``, ``confidence``).
      clip_importances: ``[n_clips, ...]`` each clip's importance, the mean over draws.
      piece_mean: ``[...]`` mean of the clusters' means (each piece counts once).
      piece_standard_error: ``[...]`` its standard error over clusters.
      piece_ci_low, piece_ci_high: ``[...]`` piece-level CI around ``piece_mean`` (``piece_ci_method``;
        nan below 2 clusters), conditional on the draws.
      crossed_ci_low, crossed_ci_high: ``[...]`` crossed (draws × pieces) t CI around ``piece_mean``
        (Satterthwaite ``crossed_df``); nan per pitch and below 2 clusters.
      n_clusters: number of clusters.
      config: JSON-able description (family, metric, key, counts, shapes).
    """

    importances: np.ndarray
    group_ids: np.ndarray
    draw_clip_importances: np.ndarray
    draw_clip_weights: np.ndarray | None
    input_change: np.ndarray
    clusters: np.ndarray
    importances_mean: np.ndarray
    importances_std: np.ndarray
    standard_error: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    clip_importances: np.ndarray
    piece_mean: np.ndarray
    piece_standard_error: np.ndarray
    piece_ci_low: np.ndarray
    piece_ci_high: np.ndarray
    crossed_ci_low: np.ndarray
    crossed_ci_high: np.ndarray
    crossed_df: np.ndarray
    n_clusters: int
    confidence: float
    ci_method: str
    piece_ci_method: str
    config: dict

    @property
    def clip_ci_low(self) -> np.ndarray:
        """The former name of ``piece_ci_low`` (kept readable)."""
        return self.piece_ci_low

    @property
    def clip_ci_high(self) -> np.ndarray:
        """The former name of ``piece_ci_high`` (kept readable)."""
        return self.piece_ci_high

    def by_group(self) -> dict[str, np.ndarray]:
        """Per group: ``group, n, mean, standard_error, ci_low, ci_high`` (t CI over the group's draws)."""
        if self.group_ids.ndim != 1:
            raise ValueError(f"by_group needs one group per draw; this family drew one per clip (group_ids of shape "
                             f"{self.group_ids.shape}): group the draw × clip values by group_ids instead")
        return stats.group_summary(self.importances, self.group_ids, confidence=self.confidence)

    def summary(self) -> dict[str, Any]:
        """Config and summary statistics (no per-draw arrays), JSON-able."""
        fields = ("importances_mean", "importances_std", "standard_error", "ci_low", "ci_high", "piece_mean",
                  "piece_standard_error", "piece_ci_low", "piece_ci_high", "crossed_ci_low", "crossed_ci_high",
                  "crossed_df")
        out = {f: np.asarray(getattr(self, f)).tolist() for f in fields}
        out["clip_ci_low"], out["clip_ci_high"] = out["piece_ci_low"], out["piece_ci_high"]  # the former names
        return {**self.config, "confidence": self.confidence, "ci_method": self.ci_method,
                "piece_ci_method": self.piece_ci_method, "n_clusters": self.n_clusters,
                "mean_input_change": float(self.input_change.mean()), **out}

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-able (arrays as lists); ``np.savez(path, **result.arrays())`` for NPZ."""
        return {**self.summary(), **{k: v.tolist() for k, v in self.arrays().items()}}

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-draw and per-clip arrays, for NPZ storage."""
        out = {"importances": self.importances, "group_ids": self.group_ids, "clip_importances": self.clip_importances,
               "draw_clip_importances": self.draw_clip_importances, "input_change": self.input_change,
               "clusters": self.clusters}
        if self.draw_clip_weights is not None:
            out["draw_clip_weights"] = self.draw_clip_weights
        return out


def summarize(draws, *, clusters, key, confidence: float, ci_method: str, piece_ci_method: str, n_bootstrap: int,
              config: dict) -> ImportanceResult:
    """The :class:`ImportanceResult` of ``draws`` (an ``estimators.runner.Draws``) on clips grouped by
    ``clusters [n_clips]``; bootstrap CIs use ``fold_in(fold_in(key, 0xFFFFFFFF), 0 or 1)``."""
    values = draws.importances  # [n, ...] float64 (nan: a pooled metric had nothing to pool in a draw)
    stats_key = jax.random.fold_in(key, _STATS_TAG)
    mean, std, se = stats.nan_moments(values)
    if ci_method == "normal":
        low, high = stats.normal_interval(mean, se, confidence=confidence)
    else:
        low, high = stats.percentile_bootstrap_ci(
            values, key=jax.random.fold_in(stats_key, 0), n_resamples=n_bootstrap, confidence=confidence
        )
    clip_means = draws.clip_means
    with warnings.catch_warnings():
        if draws.weights is not None:  # per-key pooled metrics: keys that sound in < 2 pieces are nan, expectedly
            warnings.simplefilter("ignore", UserWarning)
        piece = stats.cluster_ci(clip_means, clusters, confidence=confidence, method=piece_ci_method,
                                 key=jax.random.fold_in(stats_key, 1), n_resamples=n_bootstrap)
    crossed = _crossed(draws.clip_values if draws.weights is None else None, clusters, confidence, piece["mean"])
    return ImportanceResult(
        importances=values,
        group_ids=draws.groups,
        draw_clip_importances=draws.clip_values,
        draw_clip_weights=draws.weights,
        input_change=draws.input_change,
        clusters=np.asarray(clusters, np.int64),
        importances_mean=mean,
        importances_std=std,
        standard_error=se,
        ci_low=low,
        ci_high=high,
        clip_importances=clip_means,
        piece_mean=piece["mean"],
        piece_standard_error=piece["standard_error"],
        piece_ci_low=piece["ci_low"],
        piece_ci_high=piece["ci_high"],
        crossed_ci_low=crossed["crossed_ci_low"],
        crossed_ci_high=crossed["crossed_ci_high"],
        crossed_df=crossed["crossed_df"],
        n_clusters=int(len(np.unique(clusters))),
        confidence=float(confidence),
        ci_method=ci_method,
        piece_ci_method=piece_ci_method,
        config=config,
    )


def _crossed(clip_values: np.ndarray | None, clusters, confidence: float, piece_mean) -> dict[str, np.ndarray]:
    """The crossed interval of a scalar metric's complete draw × clip matrix, around ``piece_mean``
    (the same mean over pieces of the pieces' means); nan per pitch, for a pooled metric (its
    per-clip values are ratios with missing cells: :mod:`amt_jax.estimators.reliance` reads those)
    and below 2 pieces."""
    nan = {k: np.full(np.shape(piece_mean), np.nan) for k in ("crossed_ci_low", "crossed_ci_high", "crossed_df")}
    if clip_values is None or clip_values.ndim != 2 or not np.all(np.isfinite(clip_values)):
        return nan
    est = stats.crossed_estimate(clip_values, clusters, confidence=confidence)
    se, df = est["crossed_standard_error"], est["crossed_df"]
    low, high = stats.t_interval(piece_mean, se, df, confidence=confidence)  # est["mean"] == piece_mean up to rounding
    return {"crossed_ci_low": np.asarray(low), "crossed_ci_high": np.asarray(high), "crossed_df": np.asarray(df)}
