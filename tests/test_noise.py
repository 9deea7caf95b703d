"""The noise response: reverse-correlation kernels recovered on planted models, the per-bin
sensitivity and the kernel's R², flat vs per-bin noise, lags, jackknife intervals, validation."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amt_jax import importance
from amt_jax.estimators.noise import flat_distribution, per_bin_distribution

B, P = 3, 8
F, T = B * P + 3, 6
W = np.random.default_rng(1).normal(size=(F, P)).astype(np.float32) / np.sqrt(F)


def linear_apply(w, x):
    return jnp.einsum("fp,bft->bpt", w, x)


def untouchable_apply(w, x):
    raise AssertionError("apply_fn ran before the arguments were validated")


def test_noise_response_recovers_linear_weights_and_silent_pitches():
    lin = importance.noise_response(linear_apply, W, shape=(F, T), n_samples=200, key=jax.random.key(0))
    assert lin.weights.shape == (F, P)
    assert np.corrcoef(lin.weights.ravel(), W.ravel())[0, 1] >= 0.95
    inside = (lin.weights_ci_low <= W) & (W <= lin.weights_ci_high)
    assert inside.mean() > 0.85  # jackknife CIs: roughly nominal

    def biased(w, x):  # pitch 0 is never activated
        return jax.nn.sigmoid(jnp.einsum("fp,bft->bpt", w, x) - 30.0 * (jnp.arange(P) == 0)[:, None])

    silent = importance.noise_response(
        biased, W, shape=(F, T), n_samples=100, key=jax.random.key(1), mean=0.5, std=0.2, value_range=(0.0, 1.0)
    )
    assert silent.output_mean[0] < 1e-6
    assert silent.output_mean_ci_high[0] < silent.output_mean_ci_low[1:].min()
    json.dumps(silent.to_dict())


def test_noise_response_uses_per_bin_mean_and_std():
    """Per-bin [F] mean and std: a model echoing x and x² reads back mean_f and mean_f² + std_f² per bin."""
    mean = np.linspace(-1.0, 1.0, F).astype(np.float32)
    std = np.linspace(0.5, 2.0, F).astype(np.float32)

    def echo(_, x):
        return jnp.concatenate([x, x * x], axis=-2)  # [B, 2F, T]

    n = 200
    resp = importance.noise_response(echo, None, shape=(F, T), n_samples=n, key=jax.random.key(2), mean=mean, std=std)
    se = std / np.sqrt(n * T)
    np.testing.assert_allclose(resp.output_mean[:F], mean, atol=5 * se.max())
    second = mean.astype(np.float64) ** 2 + std.astype(np.float64) ** 2
    np.testing.assert_allclose(resp.output_mean[F:], second, rtol=0.15)
    np.testing.assert_allclose(np.diag(resp.weights[:, :F]), 1.0, atol=1e-4)  # x_f against y_f = x_f
    assert np.all(np.abs(resp.output_mean[:F] - mean) <= 5 * se)  # each bin near its own mean


def test_noise_response_checks_confidence_before_any_compute():
    with pytest.raises(ValueError, match="confidence"):
        importance.noise_response(untouchable_apply, W, shape=(F, T), n_samples=40, key=jax.random.key(0), confidence=1.2)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(shape=(F,)), "shape"),
        (dict(n_samples=0), "n_samples"),
        (dict(n_batches=1), "n_batches"),
        (dict(mean=np.zeros(F + 1)), "mean"),
        (dict(std=0.0), "std"),
        (dict(value_range=(1.0, 0.0)), "value_range"),
        (dict(key=None), "key"),
    ],
)
def test_noise_response_validation(kwargs, arg):
    call = {"shape": (F, T), "n_samples": 40, "key": jax.random.key(0), **kwargs}
    with pytest.raises(ValueError, match=arg):
        importance.noise_response(linear_apply, W, **call)


def test_linear_model_is_fully_explained_and_its_sensitivity_is_its_weights():
    """A linear model under flat noise: the kernel's R² ≈ 1, and S_f = Σ_p w[f, p]² / Σ w²."""
    resp = importance.noise_response(linear_apply, W, shape=(F, T), n_samples=400, key=jax.random.key(3), mean=0.5, std=0.3)
    assert resp.config["distribution"] == "flat"
    assert resp.r2_ci_low <= 1.0 <= resp.r2_ci_high + 0.02 and abs(resp.r2 - 1) < 0.03, (resp.r2, resp.r2_ci_low, resp.r2_ci_high)
    want = (W.astype(np.float64) ** 2).sum(axis=1) / (W.astype(np.float64) ** 2).sum()
    np.testing.assert_allclose(resp.sensitivity, want, atol=0.01)
    assert np.corrcoef(resp.sensitivity, want)[0, 1] > 0.98
    np.testing.assert_allclose(resp.sensitivity.sum(), resp.r2, rtol=1e-9)
    # the intervals are t with n_batches − 1 df around the jackknife SE
    half = (resp.weights_ci_high - resp.weights_ci_low) / 2
    np.testing.assert_allclose(half, 2.093024 * resp.weights_standard_error, rtol=1e-5)  # t_{0.975, 19}


def test_a_nonlinear_model_has_a_low_r2():
    def square(w, x):  # even in x around the noise mean: no first-order kernel at all
        return jnp.einsum("fp,bft->bpt", w, (x - 0.5) ** 2)

    resp = importance.noise_response(square, np.abs(W), shape=(F, T), n_samples=200, key=jax.random.key(4), mean=0.5,
                                     std=0.3)
    assert resp.r2 < 0.05 and resp.r2_ci_low < 0.05


def test_lagged_kernel_finds_a_model_that_reads_the_previous_frame():
    def delayed(w, x):
        prev = jnp.concatenate([jnp.zeros_like(x[..., :1]), x[..., :-1]], axis=-1)  # y(t) reads x(t − 1)
        return jnp.einsum("fp,bft->bpt", w, prev)

    resp = importance.noise_response(delayed, W, shape=(F, 12), n_samples=300, key=jax.random.key(5), lags=2)
    assert resp.lagged_weights.shape == (5, F, P)
    np.testing.assert_allclose(resp.lagged_weights[3], W, atol=0.05)  # lag +1 (index lags + 1)
    other = np.abs(resp.lagged_weights[[0, 1, 2, 4]])  # noise only: SE ≈ 0.017 here, max of 864 entries ≈ 3.5 SE
    assert other.max() < 6 * resp.weights_standard_error.max() and other.mean() < 0.03
    assert resp.r2 > 0.9
    same_frame = importance.noise_response(delayed, W, shape=(F, 12), n_samples=300, key=jax.random.key(5))
    assert same_frame.r2 < 0.05  # without lags the kernel misses it: the R² says so


def test_flat_noise_gives_a_flat_output_where_per_bin_noise_carries_the_clips_spectrum():
    """Keys read their own bin with the same weight (a model without preferences). Per-bin noise with
    the statistics of clips that play low keys makes the low keys fire more; flat noise does not."""
    def uniform(scale, x):
        return jax.nn.sigmoid(scale * (x[:, 0 : B * P : B, :] - 0.5))

    clips = np.random.default_rng(6).random((4, F, T)).astype(np.float32) * 0.2
    clips[:, : B * P // 2] += 0.6  # the clips play the lower half of the keys
    flat = importance.noise_response(uniform, 4.0, shape=(F, T), n_samples=200, key=jax.random.key(7),
                                     **flat_distribution(clips))
    per_bin = importance.noise_response(uniform, 4.0, shape=(F, T), n_samples=200, key=jax.random.key(7),
                                        **per_bin_distribution(clips))
    assert flat.config["distribution"] == "flat" and per_bin.config["distribution"] == "per_bin"
    assert np.ptp(flat.output_mean) < 0.05  # the same for every key, up to noise
    assert per_bin.output_mean[: P // 2].min() > per_bin.output_mean[P // 2:].max() + 0.2
    json.dumps(per_bin.to_dict())
