"""Permutation families: valid permutations, the right members, uniform shuffles, validation."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from amt_jax import permutations

N_DRAWS = 1200


def draws(family, n=N_DRAWS, seed=0):
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(np.arange(n))
    idx, group = jax.jit(jax.vmap(family.sample))(keys)
    return np.asarray(idx), np.asarray(group)


def assert_permutations(idx, n_bins):
    assert idx.dtype == np.int32
    np.testing.assert_array_equal(np.sort(idx, axis=1), np.broadcast_to(np.arange(n_bins), idx.shape))


def moved(row):
    return set(np.flatnonzero(row != np.arange(row.size)).tolist())


def assert_groups_shuffle_their_members(idx, group, members_of):
    """Every draw moves only its group's members; over the draws, every group with >= 2 members
    has a draw moving >= 2 of them and moves each of them at some point (an identity "shuffle"
    fails); groups with one member never move."""
    moved_by = {}
    for row, g in zip(idx, group):
        m = moved(row)
        assert m <= members_of(int(g)), (int(g), m)
        moved_by.setdefault(int(g), []).append(m)
    for g, sets in moved_by.items():
        expected = members_of(g)
        if len(expected) >= 2:
            assert max(len(m) for m in sets) >= 2, g
            assert set().union(*sets) == expected, (g, expected)
        else:
            assert all(not m for m in sets), g
    assert any(len(members_of(g)) >= 2 for g in moved_by)  # not a degenerate case


def uniformity(orderings):
    """Chi-square test that the observed orderings (tuples) are uniform over all of them."""
    labels, counts = np.unique(np.asarray(orderings), axis=0, return_counts=True)
    return labels, scipy.stats.chisquare(counts).pvalue


def test_random_spectral_band_only_moves_band_and_is_uniform():
    fam = permutations.random_spectral(n_bins=20, band=(5, 8))
    idx, group = draws(fam)
    assert_permutations(idx, 20)
    assert np.all(group == 0)
    np.testing.assert_array_equal(idx[:, :5], np.broadcast_to(np.arange(5), (N_DRAWS, 5)))
    np.testing.assert_array_equal(idx[:, 8:], np.broadcast_to(np.arange(8, 20), (N_DRAWS, 12)))
    labels, p = uniformity([tuple(r[5:8]) for r in idx])
    assert len(labels) == 6 and p > 1e-3


def test_random_spectral_whole_axis_by_default():
    idx, _ = draws(permutations.random_spectral(n_bins=16), n=200)
    assert_permutations(idx, 16)
    # each bin lands everywhere: position 0 takes every value over 200 draws
    assert len(np.unique(idx[:, 0])) == 16


@pytest.mark.parametrize("bpo,h,f0_range,n_bins", [(12, 5, (0, 30), 40), (36, 8, (10, 40), 150), (4, 6, (0, 12), 40)])
def test_harmonic_members_follow_log_axis(bpo, h, f0_range, n_bins):
    fam = permutations.harmonic(n_bins=n_bins, bins_per_octave=bpo, n_harmonics=h, f0_range=f0_range)
    idx, group = draws(fam, n=400)
    assert_permutations(idx, n_bins)
    assert group.min() >= f0_range[0] and group.max() < f0_range[1]
    assert set(group.tolist()) == set(fam.groups) == set(range(*f0_range))  # every fundamental drawn

    def members_of(f):
        return {f + round(bpo * math.log2(k)) for k in range(1, h + 1)} - set(range(n_bins, 10 * n_bins))

    for row, f in zip(idx, group):
        expected = members_of(int(f))
        # values only come from member bins
        assert set(row[list(expected)].tolist()) == expected
    assert_groups_shuffle_their_members(idx, group, members_of)


def test_harmonic_linear_axis_uses_integer_multiples():
    fam = permutations.harmonic(n_bins=50, n_harmonics=4, f0_range=(3, 20), frequency_scale="linear", derangement=True)
    idx, group = draws(fam, n=300)
    assert_permutations(idx, 50)
    for row, f in zip(idx, group):
        assert moved(row) == {k * f for k in range(1, 5) if k * f < 50}


def test_harmonic_shuffle_is_uniform_and_derangement_moves_every_member():
    # f0 fixed at 2 with bpo=12, h=3: members 2, 14, 21
    kw = dict(n_bins=30, bins_per_octave=12, n_harmonics=3, f0_range=(2, 3))
    idx, group = draws(permutations.harmonic(**kw))
    assert np.all(group == 2)
    members = [2, 14, 21]
    labels, p = uniformity([tuple(r[members]) for r in idx])
    assert len(labels) == 6 and p > 1e-3
    idx, _ = draws(permutations.harmonic(**kw, derangement=True))
    derangements = {perm for perm in itertools.permutations(members) if all(a != b for a, b in zip(perm, members))}
    labels, p = uniformity([tuple(r[members]) for r in idx])
    assert {tuple(lab) for lab in labels} == derangements and p > 1e-3


def test_harmonic_drops_harmonics_beyond_axis():
    # harmonics 1..4 at f, f + 12, f + 19, f + 24: f = 4..7 keep two (f, f + 12), f = 8, 9 keep one
    fam = permutations.harmonic(n_bins=20, bins_per_octave=12, n_harmonics=4, f0_range=(4, 10))
    idx, group = draws(fam, n=200)
    assert_permutations(idx, 20)
    assert set(group.tolist()) == set(range(4, 10))
    assert_groups_shuffle_their_members(idx, group, lambda f: {f, f + 12, f + 19, f + 24} & set(range(20)))


def test_control_pairs_with_harmonic_group_and_size():
    kw = dict(n_bins=60, bins_per_octave=12, n_harmonics=5, f0_range=(0, 40), derangement=True)
    h_idx, h_group = draws(permutations.harmonic(**kw), n=300)
    c_idx, c_group = draws(permutations.harmonic_control(**kw), n=300)
    assert_permutations(c_idx, 60)
    np.testing.assert_array_equal(h_group, c_group)
    h_size = np.array([len(moved(r)) for r in h_idx])
    c_size = np.array([len(moved(r)) for r in c_idx])
    np.testing.assert_array_equal(h_size, c_size)  # derangements move every member
    assert set(h_size.tolist()) == {3, 4, 5}  # harmonics dropped near the top of the axis
    # positions are spread over the whole axis, not the harmonic series
    assert len(set().union(*(moved(r) for r in c_idx))) > 55


def test_linear_control_pairs_with_linear_harmonic():
    kw = dict(n_bins=50, n_harmonics=4, f0_range=(3, 20), frequency_scale="linear", derangement=True)
    h_idx, h_group = draws(permutations.harmonic(**kw), n=300)
    control = permutations.harmonic_control(**kw)
    assert control.target == permutations.harmonic(**kw) and control.groups == tuple(range(3, 20))
    c_idx, c_group = draws(control, n=300)
    assert_permutations(c_idx, 50)
    np.testing.assert_array_equal(h_group, c_group)
    c_size = np.array([len(moved(r)) for r in c_idx])
    want = np.array([sum(k * f < 50 for k in range(1, 5)) for f in h_group])  # k·f inside the axis
    np.testing.assert_array_equal(c_size, want)
    np.testing.assert_array_equal(np.array([len(moved(r)) for r in h_idx]), want)
    assert set(want.tolist()) == {2, 3, 4}
    assert len(set().union(*(moved(r) for r in c_idx))) > 45  # random positions, not multiples of f0


@pytest.mark.parametrize("b,offset", [(3, 0), (3, 1), (4, 1), (5, -2), (1, 0)])
def test_microtonal_all_shuffles_within_semitones(b, offset):
    n_bins = 26
    fam = permutations.microtonal(n_bins=n_bins, bins_per_semitone=b, center_offset=offset)
    idx, group = draws(fam, n=300)
    assert_permutations(idx, n_bins)
    assert np.all(group == 0)
    semitone = (np.arange(n_bins) - offset + b // 2) // b  # p·B + offset − B//2 <= j < ... + B
    semitone = np.where(semitone >= 0, semitone, -1 - np.arange(n_bins))  # bins in no group: their own
    np.testing.assert_array_equal(semitone[idx], np.broadcast_to(semitone, idx.shape))
    if b > 1:  # every bin of a full group moves sometimes
        assert len(set().union(*(moved(r) for r in idx))) >= n_bins - 2 * b


def test_microtonal_group_uniform_and_one_scope():
    fam = permutations.microtonal(n_bins=30, bins_per_semitone=3, scope="all")
    idx, _ = draws(fam)
    labels, p = uniformity([tuple(r[[5, 6, 7]]) for r in idx])  # semitone 2: bins 5, 6, 7
    assert len(labels) == 6 and p > 1e-3
    one = permutations.microtonal(n_bins=30, bins_per_semitone=3, scope="one")
    idx, group = draws(one, n=600)
    assert one.n_groups == 11 and set(group.tolist()) == set(one.groups) == set(range(11))  # group 10 = {29}, clipped
    assert_groups_shuffle_their_members(idx, group, lambda p_: set(range(3 * p_ - 1, 3 * p_ + 2)) & set(range(30)))


def test_families_are_hashable_static_config():
    a = permutations.harmonic(n_bins=30, bins_per_octave=12, n_harmonics=3)
    b = permutations.harmonic(n_bins=30, bins_per_octave=12, n_harmonics=3)
    assert a == b and hash(a) == hash(b)
    assert hash(permutations.harmonic_control(n_bins=30, bins_per_octave=12, n_harmonics=3)) is not None
    assert hash(permutations.microtonal(n_bins=30, bins_per_semitone=3)) is not None


@pytest.mark.parametrize(
    "make,arg",
    [
        (lambda: permutations.random_spectral(n_bins=10, band=(5, 11)), "band"),
        (lambda: permutations.random_spectral(n_bins=10, band=(-1, 3)), "band"),
        (lambda: permutations.random_spectral(n_bins=10, band=(4, 4)), "band"),
        (lambda: permutations.random_spectral(n_bins=0), "n_bins"),
        (lambda: permutations.harmonic(n_bins=10, bins_per_octave=12, n_harmonics=0), "n_harmonics"),
        (lambda: permutations.harmonic(n_bins=10, n_harmonics=2), "bins_per_octave"),
        (lambda: permutations.harmonic(n_bins=10, bins_per_octave=12, n_harmonics=2, f0_range=(0, 11)), "f0_range"),
        (lambda: permutations.harmonic(n_bins=20, bins_per_octave=12, n_harmonics=2, derangement=True), "f0_range"),
        (lambda: permutations.harmonic(n_bins=20, n_harmonics=2, frequency_scale="mel"), "frequency_scale"),
        (lambda: permutations.harmonic(n_bins=20, n_harmonics=2, frequency_scale="linear"), "f0_range"),
        (lambda: permutations.microtonal(n_bins=10, bins_per_semitone=0), "bins_per_semitone"),
        (lambda: permutations.microtonal(n_bins=10, bins_per_semitone=3, scope="some"), "scope"),
        (lambda: permutations.microtonal(n_bins=10, bins_per_semitone=3, center_offset=-2), "center_offset"),
    ],
)
def test_validation_names_the_argument(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


def test_bin_shift_moves_the_whole_axis_and_repeats_the_edge():
    x = np.arange(10, dtype=np.float32)[None, :, None] * np.ones((2, 1, 3), np.float32)
    down, group = permutations.perturb(permutations.bin_shift(n_bins=10, bins=-1), jax.random.key(0), x)
    np.testing.assert_array_equal(np.asarray(down)[0, :, 0], [1, 2, 3, 4, 5, 6, 7, 8, 9, 9])  # X'[f] = X[f + 1]
    up, _ = permutations.perturb(permutations.bin_shift(n_bins=10, bins=2), jax.random.key(5), x)
    np.testing.assert_array_equal(np.asarray(up)[1, :, 2], [0, 0, 0, 1, 2, 3, 4, 5, 6, 7])
    assert int(group) == 0
    for bad in (0, 10, 1.5, True):
        with pytest.raises(ValueError, match="bins"):
            permutations.bin_shift(n_bins=10, bins=bad)


def test_a_centre_bin_reader_loses_f1_under_a_one_bin_mistuning_and_a_semitone_pooler_does_not():
    """Planted (issue 24): at B = 3 a one-bin shift is a 33-cent mistuning. Partials sit on their
    keys' centre bins; a model that reads only each harmonic's centre bin loses every note, one that
    sums each harmonic's semitone (its 3 bins) keeps them all, and an always-on output loses nothing
    because it had nothing to lose (F1 cost 0, however poor its F1)."""
    from amt_jax import importance
    from amt_jax.models import planted

    lay = planted.layout(3)
    rng = np.random.default_rng(0)
    n_clips, T = 6, 16
    x = 0.01 * rng.random((n_clips, lay.n_bins, T)).astype(np.float32)
    targets = np.zeros((n_clips, lay.n_pitches, T), np.float32)
    offsets = np.asarray(lay.harmonic_offsets(4))
    for c in range(n_clips):
        for p in rng.choice(np.arange(6, 22), size=3, replace=False):
            t0 = int(rng.integers(0, T // 2))
            targets[c, p, t0:] = 1
            for k, f in enumerate(lay.pitch_bin(int(p)) + offsets, start=1):
                x[c, f, t0:] += 1.0 / k
    centre = np.zeros((lay.n_pitches, lay.n_bins), np.float32)
    pooled = np.zeros_like(centre)
    for p in range(lay.n_pitches):
        for k, f in enumerate(lay.pitch_bin(p) + offsets, start=1):
            if f + 1 < lay.n_bins:
                centre[p, f] = 1.0 / k
                pooled[p, f - 1 : f + 2] = 1.0 / k

    def reader(w, x):  # on when the weighted partials reach 1.2 (the fundamental and harmonic 2, say)
        return jax.nn.sigmoid(20.0 * (jnp.einsum("pf,...ft->...pt", w, x) - 1.2))

    def always_on(w, x):
        return jnp.ones((x.shape[0], lay.n_pitches, x.shape[-1]))

    shift = permutations.bin_shift(n_bins=lay.n_bins, bins=-1)
    cost = {name: importance.permutation_importance(fn, w, x, family=shift, n_permutations=1, key=jax.random.key(0),
                                                    metric="frame_f1", targets=targets, threshold=0.5).importances_mean
            for name, fn, w in (("centre", reader, centre), ("pooled", reader, pooled), ("always-on", always_on, centre))}
    assert cost["centre"] > 0.9  # every note lost
    assert abs(cost["pooled"]) < 1e-6 and abs(cost["always-on"]) < 1e-6
