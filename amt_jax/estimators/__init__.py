"""Estimators: Monte Carlo over draws of a perturbation family, scored by a metric, with intervals.

- :mod:`~amt_jax.estimators.spec` (validated settings), :mod:`~amt_jax.estimators.runner` (draws
  in jitted, vmapped chunks, streamed, sharded), :mod:`~amt_jax.estimators.result`
  (:class:`ImportanceResult`), :mod:`~amt_jax.estimators.importance`
  (:func:`permutation_importance`, :func:`paired_contrast`);
- :mod:`~amt_jax.estimators.reliance` (harmonic reliance, the factorial), :mod:`~amt_jax.estimators.noise`
  (the noise response);
- :mod:`~amt_jax.estimators.scoring` and :mod:`~amt_jax.estimators.metrics` (what a draw costs).

``from amt_jax import importance`` is this package (the public API's name).
"""

from amt_jax.estimators import importance, metrics, noise, reliance, result, runner, scoring, spec
from amt_jax.estimators.importance import (
    PAIRED_FIELDS,
    family_config,
    keep_drawing,
    paired_contrast,
    permutation_importance,
    run,
)
from amt_jax.estimators.reliance import (
    FACTORIAL_PARTS,
    factorial,
    REGISTERS,
    by_register,
    harmonic_reliance,
    moved_bins,
    reliance_difference,
)
from amt_jax.estimators.noise import (
    NoiseResponse,
    flat_distribution,
    noise_response,
    per_bin_distribution,
)
from amt_jax.estimators.result import (
    ImportanceResult,
    PIECE_CI_METHODS,
    summarize,
)
from amt_jax.estimators.scoring import (
    METRICS,
    Metric,
    key_drop,
    make_metric,
)
from amt_jax.estimators.spec import (
    CI_METHODS,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MC_FRACTION,
    ImportanceSpec,
    Stopping,
    build_spec,
    check_key,
    key_data,
)

__all__ = ["CI_METHODS", "DEFAULT_CHUNK_SIZE", "DEFAULT_MC_FRACTION", "FACTORIAL_PARTS", "ImportanceResult", "ImportanceSpec", "METRICS", "Metric", "NoiseResponse", "PAIRED_FIELDS", "PIECE_CI_METHODS", "Stopping", "build_spec", "check_key", "factorial", "family_config", "flat_distribution", "harmonic_reliance", "importance", "REGISTERS", "by_register", "reliance_difference", "keep_drawing", "key_data", "key_drop", "make_metric", "metrics", "moved_bins", "noise", "noise_response", "paired_contrast", "per_bin_distribution", "permutation_importance", "reliance", "result", "run", "runner", "scoring", "spec", "summarize"]
