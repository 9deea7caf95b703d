"""The harmonic stack's channels: the stack read off the module and fed back reproduces the model,
a channel derangement moves exactly one channel's frames, and I(h) is 0 for a channel the note
path never reads and > 0 (piece-level CI above 0) for one it reads."""

import jax
import numpy as np
import pytest

from amt_jax.estimators import runner
from amt_jax.explain import stack
from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.models import bp_model, bp_stack
from amt_jax.models.basic_pitch import BasicPitch, BasicPitchConfig

TINY = BasicPitchConfig(bins_per_semitone=1, harmonics=(0.5, 1, 2, 3), n_filters_contour=3, n_filters_notes=4,
                        n_filters_onsets=2, contour_span_semitones=5, n_pitches=24, n_input_semitones=40,
                        conv_blocks=())
T = 12
VIEW = bp_stack.BasicPitchStack(TINY)  # the family's stack capability
MODEL = bp_model.network_model("tiny", config=TINY, params=None, frontend=None, identity={}, frame_threshold=0.3,
                               layout=FrequencyLayout(n_bins=40, bins_per_semitone=1, center_offset=0, n_pitches=24),
                               invert=None)


@pytest.fixture(scope="module")
def variables():
    v = jax.tree.map(np.array, bp_model.init_fn(TINY)(jax.random.key(0, impl="rbg")))
    rng = np.random.default_rng(0)
    v["params"]["input_bn"]["scale"][:] = 2.0
    v["params"]["input_bn"]["bias"][:] = -0.5
    for layer in v["params"].values():
        if "kernel" in layer:
            layer["bias"] = rng.normal(scale=0.2, size=layer["bias"].shape).astype(np.float32)
    return v


@pytest.fixture(scope="module")
def features():
    return np.random.default_rng(1).random((4, TINY.n_input_bins, T)).astype(np.float32)


def test_stack_read_off_the_module_and_fed_back_reproduces_the_model(variables, features):
    s = np.asarray(jax.jit(VIEW.features)(variables, features))
    assert s.shape == (4, len(TINY.harmonics) * TINY.n_contour_bins, T)
    # channel 1 (h = 1) is the batch-normalised input itself: 2x/√(1 + eps) − 0.5 (fresh statistics)
    np.testing.assert_allclose(s[:, TINY.n_contour_bins:2 * TINY.n_contour_bins],
                               2 * features[:, :24] / np.sqrt(1 + 1e-3) - 0.5, rtol=1e-5, atol=1e-6)
    y = BasicPitch(TINY).apply(variables, features)
    y2 = jax.jit(VIEW.apply)(variables, s)
    for head in y:
        np.testing.assert_allclose(y2[head], y[head], atol=1e-6)


def test_channel_derangement_moves_exactly_one_channels_frames():
    fam = stack.channel_family(VIEW, 2)
    x = np.random.default_rng(0).random((3, fam.n_bins, T)).astype(np.float32)
    xp, group = fam.perturb(jax.random.key(5), x)
    xp = np.asarray(xp)
    per = TINY.n_contour_bins
    assert int(group) == 2
    np.testing.assert_array_equal(np.delete(xp, np.s_[2 * per:3 * per], axis=1), np.delete(x, np.s_[2 * per:3 * per], axis=1))
    moved, orig = xp[:, 2 * per:3 * per], x[:, 2 * per:3 * per]
    perm = [int(np.flatnonzero(np.all(orig[..., :] == moved[..., [t]], axis=(0, 1)))[0]) for t in range(T)]
    assert sorted(perm) == list(range(T)) and all(p != t for t, p in enumerate(perm))
    with pytest.raises(ValueError, match="channel"):
        stack.channel_family(VIEW, 4)


def test_channel_importance_is_zero_for_an_unread_channel_and_positive_for_a_read_one(variables, features):
    v = jax.tree.map(np.array, variables)
    v["params"]["contour_conv"]["kernel"][:, :, 0, :] = 0.0  # the note path never reads channel h = 0.5
    compiled = runner.chunk._cache_size()
    res = stack.channel_importance(MODEL, features, params=v, key=jax.random.key(0), n_permutations=8,
                                   clusters=np.array([0, 0, 1, 1]), channels=[0, 1], chunk_size=4)
    assert runner.chunk._cache_size() <= compiled + 1  # the channel is data: one program for both channels
    assert set(res) == {0.5, 1.0}
    np.testing.assert_allclose(res[0.5].importances, 0.0, atol=1e-6)  # zero weights; batch shapes differ
    assert res[1.0].ci_low > 1e-4 and res[1.0].clip_ci_low > 0
    summary = stack.summary(res)
    assert summary["1.0"]["n_clusters"] == 2 and summary["1.0"]["n_permutations"] == 8
