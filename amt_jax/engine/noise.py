"""The noise (reverse-correlation) response of a model: feed noise, record the output.

``noise_response`` draws ``x [F, T] = mean + std · N(0, 1)`` per sample (clipped to a value range),
runs the model and keeps per-batch sums, from which it estimates the mean output per key and the
first-order reverse-correlation kernel ``w[f, p] = Cov(x_f, y_p) / Var(x_f)``, with delete-one-batch
jackknife intervals.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import validate
from amt_jax.engine import stats
from amt_jax.engine.scoring import select
from amt_jax.engine.spec import check_key, key_data


@dataclass(frozen=True, eq=False)
class NoiseResponse:
    """Response of a model to noise input.

    Attributes:
      output_power: ``[P]`` mean output per pitch over samples and frames (pitches never
        activated stay near their floor); ``output_power_ci_low/high`` its CI.
      weights: ``[F, P]`` first-order reverse-correlation kernel
        ``w[f, p] = Cov(x_f, y_p) / Var(x_f)`` over samples and frames (same frame);
        ``weights_standard_error`` and ``weights_ci_low/high`` from a delete-one-batch jackknife.
      config: JSON-able description.
    """

    output_power: np.ndarray
    output_power_ci_low: np.ndarray
    output_power_ci_high: np.ndarray
    weights: np.ndarray
    weights_standard_error: np.ndarray
    weights_ci_low: np.ndarray
    weights_ci_high: np.ndarray
    config: dict

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: config and arrays as lists."""
        arrays = {f.name: getattr(self, f.name).tolist() for f in dataclasses.fields(self) if f.name != "config"}
        return {**self.config, **arrays}


@partial(jax.jit, static_argnames=("apply_fn", "output", "shape", "chunk_size", "n_batches"))
def _noise_chunk(params, key, start, n_samples, mean, std, lo, hi, *, apply_fn, output, shape, chunk_size, n_batches):
    """Per-batch sums of noise samples ``start ..``: n, Σx, Σx², Σy, Σxy (x centred on ``mean``)."""
    ids = start + jnp.arange(chunk_size, dtype=jnp.int32)
    x = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), shape))(ids)
    x = jnp.clip(mean[:, None] + std[:, None] * x, lo[:, None], hi[:, None])  # [C, F, T]
    y = select(apply_fn(params, x), output)  # [C, P, T]
    w = jax.nn.one_hot(ids % n_batches, n_batches) * (ids < n_samples)[:, None]  # [C, K]: batch, masked
    xc = x - mean[:, None]
    return (
        w.sum(0) * shape[1],
        jnp.einsum("ck,cft->kf", w, xc),
        jnp.einsum("ck,cft->kf", w, xc * xc),
        jnp.einsum("ck,cpt->kp", w, y),
        jnp.einsum("ck,cft,cpt->kfp", w, xc, y),
    )


def _per_bin(name: str, value, n_bins: int) -> np.ndarray:
    """A scalar or ``[F]`` value as a float32 ``[F]`` array."""
    if np.shape(value) not in ((), (n_bins,)):
        raise ValueError(f"{name} must be a scalar or have shape [{n_bins}], got shape {np.shape(value)}")
    validate.finite(name, value)
    return np.full(n_bins, value, np.float32)


def _check_noise_args(shape, n_samples, key, chunk_size, n_batches, confidence, mean, std, value_range):
    """Validate :func:`noise_response`'s arguments; per-bin ``mean, std, lo, hi`` as float32 ``[F]``."""
    if not (isinstance(shape, (tuple, list)) and len(shape) == 2 and all(isinstance(s, int) and s > 0 for s in shape)):
        raise ValueError(f"shape must be (F, T) of positive ints, got {shape!r}")
    validate.positive_int("n_samples", n_samples)
    check_key(key)
    validate.positive_int("chunk_size", chunk_size)
    validate.positive_int("n_batches", n_batches)
    if n_batches < 2 or n_samples < n_batches:
        raise ValueError(f"n_batches must be in [2, n_samples={n_samples}], got {n_batches}")
    stats.normal_interval(0.0, 1.0, confidence=confidence)  # validates confidence before any compute
    n_bins = shape[0]
    mean_f, std_f = _per_bin("mean", mean, n_bins), _per_bin("std", std, n_bins)
    if np.any(std_f <= 0):
        raise ValueError(f"std must be > 0 in every bin, got min {std_f.min()}")
    if value_range is None:
        lo, hi = np.full(n_bins, -np.inf, np.float32), np.full(n_bins, np.inf, np.float32)
    else:
        if not (isinstance(value_range, (tuple, list)) and len(value_range) == 2 and value_range[0] < value_range[1]):
            raise ValueError(f"value_range must be (lo, hi) with lo < hi, got {value_range!r}")
        lo, hi = np.full(n_bins, value_range[0], np.float32), np.full(n_bins, value_range[1], np.float32)
    return mean_f, std_f, lo, hi


def noise_response(
    apply_fn: Callable,
    params,
    *,
    shape: tuple[int, int],
    n_samples: int,
    key: jax.Array,
    mean=0.0,
    std=1.0,
    value_range: tuple[float, float] | None = None,
    output: str | None = None,
    chunk_size: int = 32,
    n_batches: int = 20,
    confidence: float = 0.95,
) -> NoiseResponse:
    """Feed noise ``x [F, T] = mean + std · N(0, 1)`` per bin (clipped to ``value_range``,
    the feature's range, if given) and measure the output.

    Args:
      apply_fn, params, output: the model, as in :func:`permutation_importance`.
      shape: ``(F, T)`` of one noise input.
      n_samples: number of noise inputs; sample i uses ``fold_in(key, i)``.
      mean, std: scalars or ``[F]`` (e.g. per-bin statistics of a dataset).
      value_range: ``(lo, hi)`` clip range, or None.
      chunk_size: samples per jitted call.
      n_batches: samples go to batch ``i % n_batches`` for the jackknife CIs (>= 2).
      confidence: CI level.

    Returns:
      :class:`NoiseResponse` with ``output_power [P]`` and ``weights [F, P]`` plus CIs.
    """
    mean_f, std_f, lo, hi = _check_noise_args(shape, n_samples, key, chunk_size, n_batches, confidence, mean, std, value_range)

    run = partial(_noise_chunk, apply_fn=apply_fn, output=output, shape=tuple(shape), chunk_size=chunk_size, n_batches=n_batches)
    params, n_samples_d, mean_d, std_d, lo_d, hi_d = jax.device_put((params, np.int32(n_samples), mean_f, std_f, lo, hi))  # once
    sums = None
    for start in range(0, n_samples, chunk_size):
        part = [np.asarray(s, np.float64) for s in run(params, key, jax.device_put(np.int32(start)), n_samples_d, mean_d, std_d, lo_d, hi_d)]
        sums = part if sums is None else [a + b for a, b in zip(sums, part)]
    n_k, sx_k, sxx_k, sy_k, sxy_k = sums  # per batch: [K], [K, F], [K, F], [K, P], [K, F, P]

    def estimate(n, sx, sxx, sy, sxy):
        mx, my = sx / n, sy / n
        return my, (sxy / n - mx[:, None] * my[None, :]) / (sxx / n - mx * mx)[:, None]

    total = [s.sum(0) for s in sums]
    power, weights = estimate(*total)
    leave_out = [estimate(*(t - s[k] for t, s in zip(total, sums))) for k in range(n_batches)]
    k = n_batches

    def jackknife_se(values):
        values = np.stack(values)
        return np.sqrt((k - 1) / k * np.sum((values - values.mean(0)) ** 2, axis=0))

    power_se = jackknife_se([p for p, _ in leave_out])
    weights_se = jackknife_se([w for _, w in leave_out])
    p_low, p_high = stats.t_interval(power, power_se, k - 1, confidence=confidence)  # jackknife: t, n_batches − 1 df
    w_low, w_high = stats.t_interval(weights, weights_se, k - 1, confidence=confidence)
    config = {
        "shape": list(shape),
        "n_samples": int(n_samples),
        "n_batches": int(n_batches),
        "value_range": None if value_range is None else [float(v) for v in value_range],
        "output": output,
        "confidence": float(confidence),
        "key": key_data(key),
    }
    return NoiseResponse(power, p_low, p_high, weights, weights_se, w_low, w_high, config)
