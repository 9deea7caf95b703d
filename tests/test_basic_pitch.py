"""The fast paths of the Basic Pitch module against plain references: the harmonic-stack convolution
and the single-channel and multi-input convolutions against ``lax.conv_general_dilated`` (values and
gradients), and the chunked inference loop against the same examples run one at a time."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amt_jax.frontend import features
from amt_jax.models import basic_pitch
from amt_jax.models.basic_pitch import BasicPitch, BasicPitchConfig, FreqBlockedConv, freq_blocked_conv

DN = ("NHWC", "HWIO", "NHWC")


def lax_same_conv(x, w, stride=1):
    return jax.lax.conv_general_dilated(x, w, (1, stride), "SAME", dimension_numbers=DN)


def reference_harmonic_conv(x, w, harmonics, bins_per_octave, n_bins):
    """Build the stack with ``features.harmonic_stack`` and convolve it with lax: x [N, T, F]."""
    stack = features.harmonic_stack(jnp.swapaxes(x, 1, 2), harmonics=harmonics, bins_per_octave=bins_per_octave,
                                    n_output_bins=n_bins)  # [N, H, n_bins, T]
    return lax_same_conv(jnp.transpose(stack, (0, 3, 2, 1)), w)


HARMONIC_CASES = [  # (harmonics, bins per octave, F, n_bins, kernel)
    ((0.5, 1, 2, 3, 4, 5, 6, 7), 36, 309, 264, (3, 39)),  # Basic Pitch's contour layer
    ((0.5, 1, 2, 3, 4, 5, 6, 7), 12, 103, 88, (3, 13)),  # B = 1
    ((1, 2, 3), 12, 103, 88, (3, 13)),
    ((1, 2, 3), 12, 60, 50, (2, 8)),  # even kernel: ends of unequal width
    ((0.5, 8), 36, 309, 264, (3, 39)),  # shifts too far apart to save work: the stack is convolved
    ((1, 2), 12, 20, 10, (3, 13)),  # fewer bins than taps: the stack is convolved
]


@pytest.mark.parametrize("harmonics, bins_per_octave, f, n_bins, kernel", HARMONIC_CASES)
@pytest.mark.parametrize("block", [1, 4])
def test_harmonic_stack_conv_equals_lax_conv_of_the_stack(harmonics, bins_per_octave, f, n_bins, kernel, block):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(2, 7, f)).astype(np.float32)
    w = rng.standard_normal((*kernel, len(harmonics), 5)).astype(np.float32)
    shifts = features.harmonic_shifts(harmonics, bins_per_octave)
    # jitted: one compile per case instead of one per op (the values are compared within float rounding)
    ours = jax.jit(lambda x, w: basic_pitch.harmonic_stack_conv(x, w, shifts=shifts, n_bins=n_bins, block=block))(x, w)
    expected = jax.jit(lambda x, w: reference_harmonic_conv(x, w, harmonics, bins_per_octave, n_bins))(x, w)
    assert ours.shape == expected.shape == (2, 7, n_bins, 5)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(expected), atol=2e-5 * np.abs(expected).max())


def test_harmonic_stack_conv_gradients_equal_the_reference():
    harmonics, bins_per_octave, f, n_bins, kernel = HARMONIC_CASES[1]
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(2, 6, f)).astype(np.float32)
    w = rng.standard_normal((*kernel, len(harmonics), 3)).astype(np.float32)
    probe = rng.standard_normal((2, 6, n_bins, 3)).astype(np.float32)
    shifts = features.harmonic_shifts(harmonics, bins_per_octave)

    def ours(x, w):
        return jnp.sum(probe * basic_pitch.harmonic_stack_conv(x, w, shifts=shifts, n_bins=n_bins, block=4))

    def reference(x, w):
        return jnp.sum(probe * reference_harmonic_conv(x, w, harmonics, bins_per_octave, n_bins))

    for g, g_ref in zip(jax.grad(ours, (0, 1))(x, w), jax.grad(reference, (0, 1))(x, w)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), atol=1e-4 * np.abs(g_ref).max())


def test_harmonic_stack_conv_rejects_a_shift_count_that_does_not_match_the_kernel():
    with pytest.raises(ValueError, match=r"shifts must have one entry per kernel input channel \(3\)"):
        basic_pitch.harmonic_stack_conv(np.zeros((1, 2, 40)), np.zeros((3, 5, 3, 2)), shifts=(0, 12), n_bins=30)


@pytest.mark.parametrize(
    "n_bins, kernel, stride", [(264, (5, 5), 1), (88, (3, 3), 1), (50, (7, 4), 3), (20, (1, 2), 4)]
)
def test_single_channel_filter_equals_lax_same_conv(n_bins, kernel, stride):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, n_bins, 1)).astype(np.float32)
    w = rng.standard_normal((*kernel, 1, 1)).astype(np.float32)
    expected = lax_same_conv(x, w, stride)
    np.testing.assert_allclose(np.asarray(freq_blocked_conv(x, w, stride=stride)), expected, atol=1e-5)


def test_multi_input_conv_equals_conv_of_the_concatenation():
    rng = np.random.default_rng(0)
    note = rng.standard_normal((2, 9, 88, 1)).astype(np.float32)
    h = rng.standard_normal((2, 9, 88, 32)).astype(np.float32)
    module = FreqBlockedConv(1, (3, 3), block=2)
    variables = module.init(jax.random.key(0), note, h)
    kernel = variables["params"]["kernel"]
    assert kernel.shape == (3, 3, 33, 1)
    variables = {"params": {"kernel": rng.standard_normal(kernel.shape).astype(np.float32), "bias": np.float32([0.5])}}
    expected = lax_same_conv(np.concatenate([note, h], axis=-1), variables["params"]["kernel"]) + 0.5
    # float32 sums of 297 products in another order (split inputs, blocks): 1e-6 of the largest value, not
    # an absolute 1e-5 (values reach ~60; a run here differed by 1.5e-5 at 15.5)
    np.testing.assert_allclose(np.asarray(module.apply(variables, note, h)), expected, atol=1e-6 * np.abs(expected).max())
    assert jax.tree.map(np.shape, module.init(jax.random.key(0), np.concatenate([note, h], axis=-1))) == \
        jax.tree.map(np.shape, variables)


@pytest.mark.parametrize("n, chunk", [(0, 2), (1, 1), (2, 2), (5, 1), (6, 2), (16, 2)])
def test_eval_chunk_divides_the_batch(n, chunk):
    assert basic_pitch.eval_chunk(n) == chunk


@pytest.fixture(scope="module")
def small_model():
    """A B = 1 model with random (non-identity) batch statistics, and 6 random inputs [6, 103, 16]."""
    config = BasicPitchConfig(bins_per_semitone=1, harmonics=(0.5, 1, 2, 3), n_filters_notes=8, n_filters_onsets=8)
    model = BasicPitch(config)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(6, config.n_input_bins, 16)).astype(np.float32)
    shapes = jax.eval_shape(model.init, jax.random.key(0), x[:1])
    variables = jax.tree.map(lambda s: (0.5 + 0.2 * rng.random(s.shape)).astype(np.float32), shapes)
    return model, variables, x


def test_chunked_inference_equals_examples_one_at_a_time(small_model):
    model, variables, x = small_model
    apply = jax.jit(model.apply)
    batched = apply(variables, x)  # 3 steps of 2 examples
    odd = apply(variables, x[:5])  # 5 steps of 1
    single = [apply(variables, x[i : i + 1]) for i in range(6)]
    lead = apply(variables, x.reshape(2, 3, *x.shape[1:]))  # any leading batch shape
    for key in batched:
        expected = np.concatenate([s[key] for s in single])
        np.testing.assert_allclose(np.asarray(batched[key]), expected, atol=1e-6, err_msg=key)
        np.testing.assert_allclose(np.asarray(odd[key]), expected[:5], atol=1e-6, err_msg=key)
        np.testing.assert_allclose(np.asarray(lead[key]).reshape(expected.shape), expected, atol=1e-6, err_msg=key)


def test_captured_intermediates_keep_the_batch_as_one_axis(small_model):
    """Capturing layers bypasses the inference loop: every layer's output has the whole batch, and
    the outputs equal the loop's (a scan would stack its chunks' captures, or drop them)."""
    model, variables, x = small_model
    # jitted: one compile each instead of one per op (the outputs are compared within float rounding)
    y, state = jax.jit(lambda v, x: model.apply(v, x, mutable=["intermediates"], capture_intermediates=True))(variables, x)
    inter = state["intermediates"]
    assert inter["note_out"]["__call__"][0].shape[0] == x.shape[0]
    assert inter["contour_conv"]["__call__"][0].shape[0] == x.shape[0]
    direct = jax.jit(lambda v, x: model.apply(v, x, method=BasicPitch.network))(variables, x)
    looped = jax.jit(model.apply)(variables, x)
    for key in y:
        np.testing.assert_allclose(np.asarray(y[key]), np.asarray(looped[key]), atol=1e-6, err_msg=key)
        np.testing.assert_allclose(np.asarray(y[key]), np.asarray(direct[key]), atol=1e-6, err_msg=key)


def test_chunked_inference_is_differentiable(small_model):
    model, variables, x = small_model

    def loss(v, xb):
        return jnp.mean(model.apply(v, xb)["onset"] ** 2)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))  # one function: the four single examples compile once
    g_batch = grad(variables, x[:4])  # 2 steps of 2
    per_example = [grad(variables, x[i : i + 1]) for i in range(4)]
    expected = np.concatenate([g[1] for g in per_example]) / 4
    np.testing.assert_allclose(np.asarray(g_batch[1]), expected, atol=1e-5 * float(np.abs(expected).max()))
    mean_params = jax.tree.map(lambda *gs: sum(gs) / 4, *[g[0] for g in per_example])
    for a, b in zip(jax.tree.leaves(g_batch[0]), jax.tree.leaves(mean_params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6 * max(1.0, float(np.abs(b).max())))


def test_training_mode_uses_the_whole_batch_for_batch_statistics(small_model):
    model, variables, x = small_model
    _, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
    mean = updates["batch_stats"]["input_bn"]["mean"]
    expected = 0.99 * variables["batch_stats"]["input_bn"]["mean"] + 0.01 * x.mean()
    np.testing.assert_allclose(np.asarray(mean), expected, rtol=1e-5)
