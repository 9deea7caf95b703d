"""features: NormalizedLog and harmonic stacking against Basic Pitch's graph (onnxruntime) and naive numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amt_jax.frontend import features
from amt_jax.constants import BP_BINS_PER_OCTAVE, BP_CONTOUR_BINS, BP_HARMONICS, WINDOW_SAMPLES
from amt_jax.models.onnx_weights import onnxruntime_reference


@pytest.fixture(scope="module")
def reference():
    """onnxruntime intermediates for two windows (noise, a tone over quiet noise)."""
    rng = np.random.default_rng(1)
    t = np.arange(WINDOW_SAMPLES) / 22050
    audio = np.stack([0.1 * rng.standard_normal(WINDOW_SAMPLES), 0.5 * np.sin(2 * np.pi * 220 * t)])
    audio[1] += 1e-3 * rng.standard_normal(WINDOW_SAMPLES)
    run = onnxruntime_reference(extra_outputs=("cqt", "normalized_log", "input_bn", "harmonic_stack"))
    return run(audio.astype(np.float32))


def naive_harmonic_stack(x, harmonics, bins_per_octave, n_output_bins):
    n_bins = x.shape[-2]
    out = np.zeros(x.shape[:-2] + (len(harmonics), n_output_bins, x.shape[-1]), x.dtype)
    for i, h in enumerate(harmonics):
        shift = int(round(bins_per_octave * np.log2(h)))
        for f in range(n_output_bins):
            if 0 <= f + shift < n_bins:
                out[..., i, f, :] = x[..., f + shift, :]
    return out


def test_normalized_log_matches_onnxruntime(reference):
    ours = np.asarray(features.normalized_log(reference["cqt"]))  # ORT's |C| [N, F, T] in, so only the transform differs
    np.testing.assert_allclose(ours, reference["normalized_log"].transpose(0, 2, 1), atol=2e-6, rtol=0)
    np.testing.assert_allclose(ours.min(axis=(1, 2)), 0.0, atol=0)
    np.testing.assert_allclose(ours.max(axis=(1, 2)), 1.0, atol=1e-6)


def test_harmonic_stack_matches_onnxruntime(reference):
    x = reference["input_bn"][..., 0].transpose(0, 2, 1)  # [N, F, T]
    ours = features.harmonic_stack(
        x, harmonics=BP_HARMONICS, bins_per_octave=BP_BINS_PER_OCTAVE, n_output_bins=BP_CONTOUR_BINS
    )
    np.testing.assert_array_equal(np.asarray(ours), reference["harmonic_stack"].transpose(0, 3, 2, 1))


@pytest.mark.parametrize(
    "harmonics, bins_per_octave, n_bins, n_output_bins",
    [((0.5, 1, 2, 3, 4, 5, 6, 7), 36, 309, 264), ((1,), 12, 10, 10), ((0.25, 0.5, 1.5, 9), 12, 40, 25), ((2, 3), 60, 70, 5)],
)
def test_harmonic_stack_matches_naive(harmonics, bins_per_octave, n_bins, n_output_bins):
    x = np.random.default_rng(0).standard_normal((2, 3, n_bins, 7)).astype(np.float32)
    ours = features.harmonic_stack(x, harmonics=harmonics, bins_per_octave=bins_per_octave, n_output_bins=n_output_bins)
    np.testing.assert_array_equal(np.asarray(ours), naive_harmonic_stack(x, harmonics, bins_per_octave, n_output_bins))


def test_normalized_log_constant_and_silent_inputs_give_zero_with_finite_grad():
    value_and_grad = jax.jit(jax.value_and_grad(lambda m: jnp.sum(features.normalized_log(m))))
    for magnitude in (np.zeros((2, 5, 4), np.float32), np.full((2, 5, 4), 3.0, np.float32)):
        out, grad = value_and_grad(jnp.asarray(magnitude))
        assert float(out) == 0.0 and bool(jnp.all(jnp.isfinite(grad)))


def test_power_to_db_and_minmax_normalize():
    power = np.array([0.0, 1e-10, 1.0, 100.0], np.float32)
    np.testing.assert_allclose(np.asarray(features.power_to_db(power)), 10 * np.log10(power + 1e-10), rtol=1e-6)
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    expect = (x - x.min(axis=(1, 2), keepdims=True)) / np.ptp(x.reshape(3, -1), axis=1)[:, None, None]
    np.testing.assert_allclose(np.asarray(features.minmax_normalize(x)), expect, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: features.normalized_log(np.zeros(5)), r"magnitude must have shape \[..., F, T\]"),
        (lambda: features.minmax_normalize(np.zeros(5)), r"x must have shape"),
        (lambda: features.power_to_db(np.ones(3), amin=0.0), "amin"),
        (lambda: features.harmonic_stack(np.zeros((4, 2)), harmonics=(1, 0), bins_per_octave=12, n_output_bins=2),
         r"harmonics\[1\]"),
        (lambda: features.harmonic_stack(np.zeros((4, 2)), harmonics=(), bins_per_octave=12, n_output_bins=2),
         "harmonics must be a non-empty"),
        (lambda: features.harmonic_stack(np.zeros((4, 2)), harmonics=(1,), bins_per_octave=12, n_output_bins=5),
         "n_output_bins must be at most the 4"),
        (lambda: features.harmonic_stack(np.zeros((4, 2)), harmonics=(1,), bins_per_octave=0, n_output_bins=2),
         "bins_per_octave"),
    ],
)
def test_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()
