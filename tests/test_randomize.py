"""Sanity-check randomisations: the cascade re-initialises exactly the layers it names (with the
module's initialisers, the same values at every depth), and label shuffling gives every example
another example's rolls; a training run on shuffled labels takes a couple of steps."""

import jax
import numpy as np
import pytest

from amt_jax import training
from amt_jax.constants import HOP_LENGTH, N_PITCHES
from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.models import bp_model, randomize
from amt_jax.training import label_randomization
from amt_jax.models.basic_pitch import BasicPitchConfig

TINY = BasicPitchConfig(bins_per_semitone=1, harmonics=(0.5, 1, 2, 3), n_filters_contour=3, n_filters_notes=4,
                        n_filters_onsets=2, contour_span_semitones=5, n_pitches=24, n_input_semitones=40,
                        conv_blocks=())
MODEL = bp_model.network_model("tiny", config=TINY, params=None, frontend=None, identity={}, frame_threshold=0.3,
                               layout=FrequencyLayout(n_bins=40, bins_per_semitone=1, center_offset=0, n_pitches=24),
                               invert=None)  # its init and cascade capabilities


@pytest.fixture(scope="module")
def trained():
    """Stand-in for trained variables: every leaf differs from a fresh initialisation."""
    v = jax.tree.map(np.array, bp_model.init_fn(TINY)(jax.random.key(7, impl="rbg")))
    rng = np.random.default_rng(0)
    return jax.tree.map(lambda a: (a + rng.normal(scale=0.1, size=a.shape)).astype(np.float32), v)


def test_cascade_changes_exactly_the_layers_it_names(trained):
    key = jax.random.key(1, impl="rbg")
    steps = bp_model.FULL_CASCADE
    depths = randomize.cascade(MODEL, key, variables=trained, steps=steps)
    assert len(depths) == len(steps) + 1 and depths[0] is trained
    for d, v in enumerate(depths):
        assert randomize.changed_layers(trained, v) == {name for step in steps[:d] for name in step}, d
        if d:
            assert randomize.changed_layers(depths[d - 1], v) == set(steps[d - 1]), d
    for i, step in enumerate(steps):  # the values of step i come from fold_in(key, i), at every depth >= i + 1
        fresh = bp_model.init_fn(TINY)(jax.random.fold_in(key, i))
        for v in depths[i + 1:]:
            for name in step:
                for collection in v:
                    if name in v[collection]:
                        jax.tree.map(np.testing.assert_array_equal, v[collection][name], fresh[collection][name])
    # fresh batch norms: identity scale, zero bias, running mean 0 and variance 1
    bn = depths[-1]
    np.testing.assert_array_equal(bn["params"]["contour_bn"]["scale"], 1.0)
    np.testing.assert_array_equal(bn["batch_stats"]["contour_bn"]["var"], 1.0)


def test_cascade_rejects_unknown_or_repeated_layers(trained):
    with pytest.raises(ValueError, match="steps\\[1\\] names layer 'dense'"):
        randomize.cascade(MODEL, jax.random.key(0), variables=trained, steps=[("note_out",), ("dense",)])
    with pytest.raises(ValueError, match="second time"):
        randomize.cascade(MODEL, jax.random.key(0), variables=trained, steps=[("note_out",), ("note_out",)])


def examples(n=4, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        n_frames = 40 + 7 * i
        audio = (0.1 * rng.normal(size=(n_frames - 1) * HOP_LENGTH)).astype(np.float32)
        frames = np.zeros((N_PITCHES, n_frames), bool)
        frames[30 + 5 * i, 3:20] = True  # each example its own key
        onsets = np.zeros_like(frames)
        onsets[30 + 5 * i, 3] = True
        out.append({"audio": audio, "frames": frames, "onsets": onsets, "id": f"piece{i}"})
    return out


def test_shuffled_labels_come_from_other_examples():
    ex = examples()
    shuffled = label_randomization.shuffled_labels(ex, seed=3)
    assert len(shuffled) == 4 and not np.any(shuffled.source == np.arange(4))
    for i, s in enumerate(shuffled):
        j = int(shuffled.source[i])
        np.testing.assert_array_equal(s["audio"], ex[i]["audio"])
        assert s["frames"].shape == ex[i]["frames"].shape
        k = min(ex[i]["frames"].shape[1], ex[j]["frames"].shape[1])
        np.testing.assert_array_equal(s["frames"][:, :k], ex[j]["frames"][:, :k])
        np.testing.assert_array_equal(s["frames"][:, k:], False)
        assert not np.array_equal(s["frames"], ex[i]["frames"])
    with pytest.raises(ValueError, match="n must be >= 2"):
        label_randomization.shuffled_labels(ex[:1], seed=0)


def test_training_on_shuffled_labels_runs(tmp_path):
    config = training.TrainConfig(model=TINY.__class__(**{**TINY.__dict__, "n_pitches": 88, "n_input_semitones": 103}),
                                  window_samples=15 * HOP_LENGTH, batch_size=2, steps=2, warmup_steps=1, log_every=1,
                                  checkpoint_every=2, eval_batch_size=2)
    records = []
    model = label_randomization.train_label_randomized(config, workdir=tmp_path, examples=examples(), seed=0, log=records.append)
    assert model.step == 2 and [r["step"] for r in records if "step" in r] == [1, 2]
    assert (tmp_path / training.CHECKPOINT_DIR).is_dir()
