"""Key-targeted replacement families: semitone pooling (a centre reader loses, a semitone-summing
model exactly does not, B = 1 is untouched by construction) and the factorial's time replacement."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from amt_jax import FrequencyLayout
from amt_jax import importance
from amt_jax import permutations


def _perturb(family, x, seed=0, draw=0):
    xp, g = jax.jit(family.perturb)(jax.random.key(seed), jnp.asarray(x), draw)
    return np.asarray(xp), int(g)


def test_pooling_replaces_each_key_semitone_by_its_mean_and_nothing_else():
    lay = FrequencyLayout(n_bins=40, bins_per_semitone=3, center_offset=0, n_pitches=12)
    x = np.random.default_rng(0).random((2, 40, 5)).astype(np.float32)
    xp, g = _perturb(permutations.semitone_pooling(layout=lay), x)
    assert g == 0
    for p in range(12):
        lo, hi = lay.semitone_bins(p)
        np.testing.assert_allclose(xp[:, lo:hi], np.broadcast_to(x[:, lo:hi].mean(axis=1, keepdims=True), xp[:, lo:hi].shape),
                                   rtol=1e-6)
    np.testing.assert_array_equal(xp[:, lay.key_bins[1]:], x[:, lay.key_bins[1]:])  # above the keys: untouched
    one, q = _perturb(permutations.semitone_pooling(layout=lay, scope="one"), x, seed=3)
    lo, hi = lay.semitone_bins(q)
    changed = np.flatnonzero(np.any(one != x, axis=(0, 2)))
    assert set(changed) <= set(range(lo, hi)) and len(changed) > 0


def centre_reader(scale, x, *, lay):
    return jax.nn.sigmoid(scale * x[:, lay.pitch_bin(np.arange(lay.n_pitches)), :])


def semitone_sum(scale, x, *, lay):
    members, valid = lay.semitone_members()
    return jax.nn.sigmoid(scale * jnp.sum(jnp.where(valid[: lay.n_pitches, :, None], x[:, members[: lay.n_pitches], :], 0),
                                          axis=-2))


def _pooling_importance(apply, lay, x, scope="all"):
    fam = permutations.semitone_pooling(layout=lay, scope=scope)
    return importance.permutation_importance(apply, 2.0, x, family=fam, n_permutations=16, key=jax.random.key(1),
                                             chunk_size=8)


def test_pooling_importance_planted_models():
    lay = FrequencyLayout(n_bins=4 * 12, bins_per_semitone=4, center_offset=2, n_pitches=12)
    # dyadic features (multiples of 1/64): the semitone means and sums are exact in float32, so a
    # semitone-summing model computes bit-identical inputs after pooling
    x = (np.random.default_rng(1).integers(0, 64, size=(3, lay.n_bins, 6)) / 64).astype(np.float32)
    summing = _pooling_importance(lambda s, v: semitone_sum(s, v, lay=lay), lay, x)
    np.testing.assert_array_equal(summing.importances, 0.0)
    centre = _pooling_importance(lambda s, v: centre_reader(s, v, lay=lay), lay, x)
    assert centre.ci_low > 0 and centre.clip_ci_low > 0
    per_key = _pooling_importance(lambda s, v: centre_reader(s, v, lay=lay), lay, x, scope="one")
    assert per_key.ci_low > 0 and set(per_key.group_ids) <= set(range(12))
    # B = 1: a semitone is one bin, pooling is the identity: exactly 0 for any model
    lay1 = FrequencyLayout(n_bins=20, bins_per_semitone=1, center_offset=0, n_pitches=20)
    x1 = np.random.default_rng(2).random((3, 20, 6)).astype(np.float32)
    one = _pooling_importance(lambda s, v: centre_reader(s, v, lay=lay1), lay1, x1)
    np.testing.assert_array_equal(one.importances, 0.0)


def test_time_replacement_keeps_each_bin_distribution_and_pairs_the_parts():
    lay = FrequencyLayout(n_bins=100, bins_per_semitone=3, center_offset=1, n_pitches=20)
    x = np.random.default_rng(3).random((2, 100, 16)).astype(np.float32)
    weights = np.zeros(20)
    weights[[4, 9]] = 1.0
    out = {}
    for part in ("fundamental", "harmonics", "both"):
        fam = permutations.key_replacement(layout=lay, n_harmonics=3, part=part, key_weights=weights)
        out[part] = _perturb(fam, x, seed=5)
    qs = {q for _, q in out.values()}
    assert len(qs) == 1 and qs <= {4, 9}  # the three conditions target the same sounding key
    q = qs.pop()
    changed = {part: set(np.flatnonzero(np.any(xp != x, axis=(0, 2)))) for part, (xp, _) in out.items()}
    fundamental = set(range(lay.pitch_bin(q) - 1, lay.pitch_bin(q) + 2))  # the semitone around it (width B)
    assert changed["fundamental"] == fundamental
    assert changed["both"] == changed["fundamental"] | changed["harmonics"] and not changed["fundamental"] & changed["harmonics"]
    xp = out["both"][0]
    for f in changed["both"]:  # every bin keeps its own values (a time permutation of them)...
        np.testing.assert_array_equal(np.sort(xp[:, f], axis=-1), np.sort(x[:, f], axis=-1))
        assert not np.any(np.all(xp[:, f] == x[:, f], axis=0))  # ...and no frame keeps its own (a derangement)


def test_families_validate_their_arguments():
    lay = FrequencyLayout(n_bins=40, bins_per_semitone=3, center_offset=0, n_pitches=12)
    with pytest.raises(ValueError, match="part"):
        permutations.key_replacement(layout=lay, n_harmonics=3, part="overtones")
    with pytest.raises(ValueError, match="key_weights"):
        permutations.harmonic_swap(layout=lay, n_harmonics=3, key_weights=np.ones(5))
    with pytest.raises(ValueError, match="n_harmonics"):
        permutations.harmonic_swap(layout=lay, n_harmonics=1)
    with pytest.raises(ValueError, match="layout"):
        permutations.semitone_pooling(layout=None)
    with pytest.raises(ValueError, match="targets"):
        permutations.key_weights_from_targets(np.zeros((3, 4)))


# --------------------------------------------------------------------------- which keys a draw targets

PIANO = FrequencyLayout(n_bins=88 * 3 + 24, bins_per_semitone=3, center_offset=1, n_pitches=88)  # Basic Pitch's geometry
CHORALE_KEYS = np.arange(38 - 21, 81 - 21 + 1)  # MIDI 38–81: the chorales' range


def _chorale_targets(n_clips=12, n_frames=40, seed=0):
    """``[n_clips, 88, T]`` labels: each clip holds 8 keys of MIDI 38–81 (a clip's keys are either
    low or high, so a key's share differs from clip to clip), each sounding a random number of frames."""
    rng = np.random.default_rng(seed)
    targets = np.zeros((n_clips, 88, n_frames), np.float32)
    for c in range(n_clips):
        half = CHORALE_KEYS[: len(CHORALE_KEYS) // 2] if c % 2 else CHORALE_KEYS[len(CHORALE_KEYS) // 3:]
        for p in rng.choice(half, 8, replace=False):
            targets[c, p, : rng.integers(1, n_frames)] = 1
    return targets


def _keys(family, n, seed=0):
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(np.arange(n))
    return np.asarray(jax.jit(jax.vmap(family.sample))(keys, np.arange(n))[1])


@pytest.mark.parametrize("make", ["harmonic_swap", "key_replacement"])
def test_per_clip_keys_follow_each_clips_frame_weights_and_reach_every_register(make):
    """Planted: clips whose keys span MIDI 38–81. Each clip draws its own key among the keys that
    sound in it, in proportion to their frames, so every clip has a sounding key on every draw and
    the top third of the range is targeted as often as its frames say."""
    targets = _chorale_targets()
    weights = permutations.key_weights_from_targets(targets, per_clip=True)  # [n_clips, 88]
    if make == "harmonic_swap":
        family = permutations.harmonic_swap(layout=PIANO, n_harmonics=4, key_weights=weights)
        q = _keys(family, 600)  # [draws, clips]
    else:
        family = permutations.key_replacement(layout=PIANO, n_harmonics=4, part="both", key_weights=weights)
        x = jnp.zeros((len(targets), PIANO.n_bins, 8))
        keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(0), i))(np.arange(600))
        q = np.asarray(jax.jit(jax.vmap(lambda k, i: family.perturb(k, x, i)[1]))(keys, np.arange(600)))
    assert q.shape == (600, len(targets))
    sounds = weights[np.arange(len(targets))[None, :], q] > 0
    assert sounds.all()  # every clip, every draw: a key that sounds in it
    for c in range(len(targets)):  # in proportion to the clip's own frames
        keys = np.flatnonzero(weights[c])
        counts = np.array([(q[:, c] == k).sum() for k in keys])
        assert scipy.stats.chisquare(counts, 600 * weights[c, keys] / weights[c].sum()).pvalue > 1e-4, c
    top = CHORALE_KEYS[2 * len(CHORALE_KEYS) // 3:]
    pooled = weights.sum(axis=0)
    share = np.isin(q, top).mean()
    expected = np.mean(weights[:, top].sum(axis=1) / weights.sum(axis=1))
    assert share == pytest.approx(expected, abs=0.03) and share > 0.1
    assert set(np.unique(q)) == set(np.flatnonzero(pooled))  # every key that sounds is targeted


def test_stratified_is_balanced_over_every_sounding_key_and_needs_a_multiple_of_them():
    targets = _chorale_targets()
    pooled = permutations.key_weights_from_targets(targets)
    n_keys = int(np.sum(pooled > 0))
    family = permutations.harmonic_swap(layout=PIANO, n_harmonics=4, key_weights=pooled, stratified=True)
    q = _keys(family, 2 * n_keys)
    np.testing.assert_array_equal(np.bincount(q, minlength=88), 2 * (pooled > 0))  # each key twice, the top ones too
    x = np.zeros((len(targets), PIANO.n_bins, 40), np.float32)
    with pytest.raises(ValueError, match=f"n_permutations must be a multiple of the family's {n_keys} groups"):
        importance.permutation_importance(lambda p, v: v[:, :88], None, x, family=family, n_permutations=24,
                                          key=jax.random.key(0), metric="key_drop", targets=targets)
    per_clip = permutations.harmonic_swap(layout=PIANO, n_harmonics=4,
                                          key_weights=permutations.key_weights_from_targets(targets[:5], per_clip=True))
    with pytest.raises(ValueError, match="key per clip for 5 clips .* features hold 12 clips"):
        importance.permutation_importance(lambda p, v: v[:, :88], None, x, family=per_clip, n_permutations=8,
                                          key=jax.random.key(0), metric="key_drop", targets=targets)


def test_seed_harmonic_fundamentals_fall_on_the_bins_of_sounding_keys():
    """The seed harmonic family and its control draw fundamentals among the bins of the keys that
    sound (by their frames), not from the bottom of the axis."""
    pooled = permutations.key_weights_from_targets(_chorale_targets())
    f0_weights = PIANO.bin_weights(pooled)
    kw = dict(n_bins=PIANO.n_bins, bins_per_octave=PIANO.bins_per_octave, n_harmonics=4, f0_range=PIANO.key_bins,
              f0_weights=f0_weights)
    f0 = _keys(permutations.harmonic(**kw), 500)
    assert np.all(pooled[PIANO.bin_pitch(f0)] > 0)
    assert PIANO.bin_pitch(f0).max() >= CHORALE_KEYS[-4]  # the top of the range is reached
    ctl = _keys(permutations.harmonic_control(**kw), 500)
    np.testing.assert_array_equal(ctl, f0)  # the control draws the same fundamentals
    n_bins = int(np.sum(f0_weights > 0))
    strat = _keys(permutations.harmonic(**kw, stratified=True), n_bins)
    assert sorted(strat) == list(np.flatnonzero(f0_weights))  # in turn: every sounding bin once
    assert f0_weights.sum() == pytest.approx(pooled.sum())  # a key's weight split over its bins
