"""Key-targeted replacement families: semitone pooling (a centre reader loses, a semitone-summing
model exactly does not, B = 1 is untouched by construction) and the factorial's time replacement."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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
