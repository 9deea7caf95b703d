"""The noise (reverse-correlation) response of a model: feed noise, record the output.

``noise_response`` draws ``x [F, T] = mean + std · N(0, 1)`` per sample (clipped to a value range),
runs the model and keeps per-batch sums, from which it estimates per key the mean output and the
output power, the first-order reverse-correlation kernel ``w[l, f, p] = Cov(x_f(t − l), y_p(t)) /
Var(x_f)`` over time lags l = −L..L, and from the kernel one number per bin, the first-order
sensitivity ``S_f = Σ_l Σ_p w[l, f, p]² Var(x_f) / Σ_p Var(y_p)``, whose sum over bins is the
kernel's R² (the fraction of the output's variance the linear kernel explains: noise bins and
frames are independent, so their contributions add). A low R² means the weights should not be
read as the model. Intervals: delete-one-batch jackknife, t with n_batches − 1 df.

Distribution: **flat** (``mean``, ``std`` scalars: one distribution for every bin, the seed's
definition — :func:`flat_distribution` pools a set of features' mean and spread over all bins) or
**per bin** (``[F]`` arrays, e.g. :func:`per_bin_distribution`). Per-bin noise carries the clips'
spectrum into the input, so "the output is highest for the keys the clips play" follows from the
input, not the model: use it only to probe the model near its data.
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
from amt_jax import stats
from amt_jax.estimators.scoring import select
from amt_jax.estimators.spec import check_key, key_data


def flat_distribution(features) -> dict[str, Any]:
    """One distribution for every bin: the mean and spread of ``features [..., F, T]`` pooled over
    all bins and frames, clipped to their range (``noise_response(**flat_distribution(x))``)."""
    x = np.asarray(features, np.float64)
    return {"mean": float(x.mean()), "std": max(float(x.std()), 1e-3), "value_range": (float(x.min()), float(x.max()) + 1e-6)}


def per_bin_distribution(features) -> dict[str, Any]:
    """Each bin its own mean and spread over the clips and frames of ``features [n, F, T]`` (carries
    the clips' spectrum into the noise: see the module docstring)."""
    x = np.asarray(features, np.float64)
    return {"mean": x.mean(axis=(0, 2)), "std": np.maximum(x.std(axis=(0, 2)), 1e-3),
            "value_range": (float(x.min()), float(x.max()) + 1e-6)}


@dataclass(frozen=True, eq=False)
class NoiseResponse:
    """Response of a model to noise input (``[P]`` per key, ``[F]`` per bin; each with
    ``*_ci_low/high``, t intervals from the jackknife).

    Attributes:
      output_mean: mean output per key over samples and frames (keys never activated stay near 0).
      output_power: mean of y² per key.
      output_variance: mean of (y − ȳ)² per key.
      weights: ``[F, P]`` kernel at lag 0 (``weights_standard_error``, ``weights_ci_low/high``).
      lagged_weights: ``[2L + 1, F, P]`` kernel at lags −L..L (lag 0 in the middle).
      sensitivity: ``[F]`` first-order sensitivity S_f (debiased: each w² less its jackknife variance).
      r2: the kernel's R² = Σ_f S_f (scalar).
      config: JSON-able description (distribution, lags, samples, key).
    """

    output_mean: np.ndarray
    output_mean_ci_low: np.ndarray
    output_mean_ci_high: np.ndarray
    output_power: np.ndarray
    output_power_ci_low: np.ndarray
    output_power_ci_high: np.ndarray
    output_variance: np.ndarray
    weights: np.ndarray
    weights_standard_error: np.ndarray
    weights_ci_low: np.ndarray
    weights_ci_high: np.ndarray
    lagged_weights: np.ndarray
    sensitivity: np.ndarray
    sensitivity_ci_low: np.ndarray
    sensitivity_ci_high: np.ndarray
    r2: float
    r2_ci_low: float
    r2_ci_high: float
    config: dict

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: config and arrays as lists."""
        arrays = {f.name: np.asarray(getattr(self, f.name)).tolist() for f in dataclasses.fields(self) if f.name != "config"}
        return {**self.config, **arrays}

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything but the config, as numpy arrays (NPZ)."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "config"}


@partial(jax.jit, static_argnames=("apply_fn", "output", "shape", "chunk_size", "n_batches", "lags"))
def _noise_chunk(params, key, start, n_samples, mean, std, lo, hi, *, apply_fn, output, shape, chunk_size, n_batches, lags):
    """Per-batch sums of noise samples ``start ..``: for each lag l, over the frames t with
    0 <= t − l < T: n, Σx, Σx², Σy, Σy², Σx(t − l)·y(t) (x centred on ``mean``)."""
    ids = start + jnp.arange(chunk_size, dtype=jnp.int32)
    x = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), shape))(ids)
    x = jnp.clip(mean[:, None] + std[:, None] * x, lo[:, None], hi[:, None])  # [C, F, T]
    y = select(apply_fn(params, x), output)  # [C, P, T]
    w = jax.nn.one_hot(ids % n_batches, n_batches) * (ids < n_samples)[:, None]  # [C, K]: batch, masked
    xc = x - mean[:, None]
    n_frames = shape[1]
    out = []
    for lag in range(-lags, lags + 1):
        t = jnp.arange(n_frames)
        valid = ((t - lag >= 0) & (t - lag < n_frames)).astype(x.dtype)  # [T]
        xs = jnp.roll(xc, lag, axis=-1) * valid  # xs[..., t] = xc[..., t − lag] where valid
        yv = y * valid
        out.append((
            w.sum(0) * valid.sum(),
            jnp.einsum("ck,cft->kf", w, xs), jnp.einsum("ck,cft->kf", w, xs * xs),
            jnp.einsum("ck,cpt->kp", w, yv), jnp.einsum("ck,cpt->kp", w, yv * y),
            jnp.einsum("ck,cft,cpt->kfp", w, xs, yv),
        ))
    return tuple(jnp.stack(parts, axis=1) for parts in zip(*out))  # each [K, L, ...]


def _per_bin(name: str, value, n_bins: int) -> np.ndarray:
    """A scalar or ``[F]`` value as a float32 ``[F]`` array."""
    if np.shape(value) not in ((), (n_bins,)):
        raise ValueError(f"{name} must be a scalar or have shape [{n_bins}], got shape {np.shape(value)}")
    validate.finite(name, value)
    return np.full(n_bins, value, np.float32)


def _check_noise_args(shape, n_samples, key, chunk_size, n_batches, confidence, mean, std, value_range, lags):
    """Validate :func:`noise_response`'s arguments; per-bin ``mean, std, lo, hi`` as float32 ``[F]``."""
    if not (isinstance(shape, (tuple, list)) and len(shape) == 2 and all(isinstance(s, int) and s > 0 for s in shape)):
        raise ValueError(f"shape must be (F, T) of positive ints, got {shape!r}")
    validate.positive_int("n_samples", n_samples)
    check_key(key)
    validate.positive_int("chunk_size", chunk_size)
    validate.positive_int("n_batches", n_batches)
    if n_batches < 2 or n_samples < n_batches:
        raise ValueError(f"n_batches must be in [2, n_samples={n_samples}], got {n_batches}")
    if isinstance(lags, bool) or not isinstance(lags, (int, np.integer)) or not 0 <= lags < shape[1]:
        raise ValueError(f"lags must be an int in [0, T={shape[1]}), got {lags!r}")
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


def _estimate(n, sx, sxx, sy, syy, sxy, lag0: int) -> dict[str, np.ndarray]:
    """Estimates from summed statistics (``[L, ...]`` per lag; lag 0 at index ``lag0``)."""
    mx, my = sx / n[:, None], sy / n[:, None]
    var_x = sxx[lag0] / n[lag0] - mx[lag0] ** 2
    power = syy[lag0] / n[lag0]
    w = (sxy / n[:, None, None] - mx[:, :, None] * my[:, None, :]) / var_x[None, :, None]  # [L, F, P]
    return {"mean": my[lag0], "power": power, "var_y": power - my[lag0] ** 2, "var_x": var_x, "w": w}


def _sensitivity(est: dict, w_var: np.ndarray | float = 0.0) -> np.ndarray:
    """S_f = Σ_l Σ_p (w² − Var(ŵ)) Var(x_f) / Σ_p Var(y_p) (``w_var``: the jackknife variance of ŵ)."""
    return np.sum(est["w"] ** 2 - w_var, axis=(0, 2)) * est["var_x"] / np.sum(est["var_y"])


def _jackknife(values: list[np.ndarray]) -> np.ndarray:
    """Delete-one-group jackknife standard error of K leave-one-out estimates."""
    v = np.stack(values)
    k = v.shape[0]
    return np.sqrt((k - 1) / k * np.sum((v - v.mean(0)) ** 2, axis=0))


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
    lags: int = 0,
    output: str | None = None,
    chunk_size: int = 32,
    n_batches: int = 20,
    confidence: float = 0.95,
) -> NoiseResponse:
    """Feed noise ``x [F, T] = mean + std · N(0, 1)`` (clipped to ``value_range``, the features'
    range, if given) and measure the output (see the module docstring).

    Args:
      apply_fn, params, output: the model, as in ``permutation_importance``.
      shape: ``(F, T)`` of one noise input.
      n_samples: number of noise inputs; sample i uses ``fold_in(key, i)``.
      mean, std: scalars (flat: one distribution for every bin) or ``[F]`` (per bin).
      value_range: ``(lo, hi)`` clip range, or None.
      lags: the kernel over time lags −lags..lags (0: the same frame only).
      chunk_size: samples per jitted call.
      n_batches: samples go to batch ``i % n_batches`` for the jackknife CIs (>= 2).
      confidence: CI level.
    """
    mean_f, std_f, lo, hi = _check_noise_args(shape, n_samples, key, chunk_size, n_batches, confidence, mean, std,
                                              value_range, lags)
    run = partial(_noise_chunk, apply_fn=apply_fn, output=output, shape=tuple(shape), chunk_size=chunk_size,
                  n_batches=n_batches, lags=int(lags))
    params, n_samples_d, mean_d, std_d, lo_d, hi_d = jax.device_put((params, np.int32(n_samples), mean_f, std_f, lo, hi))
    sums = None
    for start in range(0, n_samples, chunk_size):
        part = [np.asarray(s, np.float64) for s in run(params, key, jax.device_put(np.int32(start)), n_samples_d, mean_d,
                                                       std_d, lo_d, hi_d)]
        sums = part if sums is None else [a + b for a, b in zip(sums, part)]
    total = [s.sum(0) for s in sums]  # per batch [K, L, ...] -> [L, ...]
    est = _estimate(*total, lag0=int(lags))
    leave_out = [_estimate(*(t - s[k] for t, s in zip(total, sums)), lag0=int(lags)) for k in range(n_batches)]
    se = {name: _jackknife([e[name] for e in leave_out]) for name in ("mean", "power", "w")}
    sens = _sensitivity(est, se["w"] ** 2)
    sens_loo = [_sensitivity(e, se["w"] ** 2) for e in leave_out]
    sens_se, r2_se = _jackknife(sens_loo), _jackknife([s.sum() for s in sens_loo])
    df = n_batches - 1

    def ci(value, standard_error):
        return stats.t_interval(value, standard_error, df, confidence=confidence)

    r2 = float(sens.sum())
    config = {"shape": list(shape), "n_samples": int(n_samples), "n_batches": int(n_batches), "lags": int(lags),
              "distribution": "flat" if np.ptp(mean_f) == 0 and np.ptp(std_f) == 0 else "per_bin",
              "noise_mean": np.asarray(mean).tolist(), "noise_std": np.asarray(std).tolist(),
              "value_range": None if value_range is None else [float(v) for v in value_range], "output": output,
              "confidence": float(confidence), "key": key_data(key)}
    return NoiseResponse(
        est["mean"], *ci(est["mean"], se["mean"]), est["power"], *ci(est["power"], se["power"]), est["var_y"],
        est["w"][lags], se["w"][lags], *ci(est["w"][lags], se["w"][lags]), est["w"], sens, *ci(sens, sens_se),
        r2, *(float(v) for v in ci(r2, r2_se)), config,
    )
