"""Statistics of the estimates, at three levels:

- **Monte Carlo** (:mod:`~amt_jax.stats.intervals`, which draws were taken): standard errors,
  normal, t and percentile-bootstrap intervals over draws; paired t per group; Benjamini–Hochberg.
- **Pieces** (:mod:`~amt_jax.stats.clustered`, which pieces were measured): each piece (a cluster
  of clips) reduced to its mean, t with n_pieces − 1 df, so duplicating windows never narrows an
  interval.
- **Crossed** (:mod:`~amt_jax.stats.crossed`): both factors random (seeds × pieces, draws ×
  pieces: :func:`crossed_estimate`, the interval every cell reports), variance components of a
  draw × clip matrix, and the sizes they plan.

Also :mod:`~amt_jax.stats.similarity` (Spearman ρ, SSIM, kurtosis of attribution maps).
Host-side numpy; ``from amt_jax import stats`` gives every name below.
"""

from amt_jax.stats import similarity
from amt_jax.stats.clustered import check_clusters, cluster_ci, cluster_means, piece_contrast
from amt_jax.stats.crossed import (
    crossed_ci,
    crossed_estimate,
    draws_by_pieces,
    plan_sizes,
    planned_halfwidth,
    variance_components,
)
from amt_jax.stats.intervals import (
    benjamini_hochberg,
    cluster_bootstrap_ci,
    confidence_level,
    group_summary,
    mc_standard_error,
    nan_moments,
    normal_ci,
    normal_interval,
    paired_t,
    percentile_bootstrap_ci,
    t_interval,
    t_test,
)

__all__ = [
    "benjamini_hochberg", "check_clusters", "cluster_bootstrap_ci", "cluster_ci", "cluster_means",
    "confidence_level", "crossed_ci", "crossed_estimate", "draws_by_pieces", "group_summary", "mc_standard_error", "nan_moments", "normal_ci",
    "normal_interval", "paired_t", "percentile_bootstrap_ci", "piece_contrast", "plan_sizes",
    "planned_halfwidth", "similarity", "t_interval", "t_test", "variance_components",
]
