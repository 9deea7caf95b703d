"""Attribution methods against references we did not write (finite differences, the planted
model's known weights, exact linear identities), keys by fold_in (chunking invariance), occlusion
of unread bins exactly 0, and IG's completeness gap on Basic Pitch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amt_jax.constants import SAMPLE_RATE, WINDOW_SAMPLES
from amt_jax.explain import attribution as attr
from amt_jax.explain import crossmethod as cm
from amt_jax.explain import groups as grp
from amt_jax.models import planted, registry

B = 1
LAY = planted.layout(B)  # 48 bins, key p on bin p
PARAMS = planted.params(bins_per_semitone=B, seed=0)
DATA = planted.synthetic(n_clips=3, bins_per_semitone=B, seed=1)
RNG = np.random.default_rng(0)
W1 = RNG.normal(size=(16, LAY.n_bins)).astype(np.float32) / 4
W2 = RNG.normal(size=(LAY.n_pitches, 16)).astype(np.float32) / 2


def tanh_logits(params, x):
    """A smooth nonlinear model: W2 tanh(W1 x) per frame."""
    return jnp.einsum("ph,...ht->...pt", params[1], jnp.tanh(jnp.einsum("hf,...ft->...ht", params[0], x)))


KEPT = np.r_[0:10, 20:LAY.n_bins]  # bins 10..19 are never read
READ = KEPT[np.arange(LAY.n_pitches) % len(KEPT)]  # the bin key p reads


def slicing_logits(scale, x):
    """Key p reads bin READ[p] only (a gather), elementwise."""
    return jnp.tanh(scale * x[..., READ, :] - 0.3)


def sounding(clip: int) -> list[int]:
    return np.flatnonzero(DATA.targets[clip].sum(axis=1) > 0).tolist()


def masks_for(clips=(0, 1), keys=None):
    keys = sounding(clips[0])[:3] + [-1] if keys is None else keys
    return attr.key_masks(DATA.targets[list(clips)], keys)


def fd_gradient(f, x, coords, h):
    """Central differences of scalar f at the given (clip, bin, frame) coordinates."""
    out = []
    for c in coords:
        e = np.zeros_like(x)
        e[c] = h
        out.append((float(f(x + e)) - float(f(x - e))) / (2 * h))
    return np.array(out)


def test_planted_logits_are_the_pre_sigmoid_output():
    x = DATA.features
    np.testing.assert_allclose(jax.nn.sigmoid(planted.logits(PARAMS, x)), planted.apply(PARAMS, x), atol=1e-7)


@pytest.mark.parametrize("model", ["planted", "tanh"])
def test_gradient_matches_finite_differences(model):
    """Linear planted model: central differences are exact up to rounding (h = 0.1); tanh net: h = 1e-2."""
    fn, params, h, tol = (planted.logits, PARAMS, 0.1, 1e-3) if model == "planted" else (tanh_logits, (W1, W2), 1e-2, 2e-3)
    x = np.asarray(DATA.features[:2], np.float32)
    masks = masks_for()
    g = np.asarray(attr.gradient(fn, params, x, masks))
    coords = [(b, f, t) for b, f, t in zip([0, 0, 1, 1, 0], [3, 15, 27, 40, 22], [5, 9, 30, 2, 17])]
    for k in range(masks.shape[0]):
        obj = lambda v, k=k: attr.objective(fn, params, v, masks)[k].sum()  # noqa: E731
        ref = fd_gradient(obj, x, coords, h)
        got = np.array([g[k][c] for c in coords])
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())
    # grad x input uses the same gradient
    np.testing.assert_allclose(attr.grad_times_input(fn, params, x, masks), g * x[None], rtol=1e-6)


def test_planted_gradient_recovers_the_planted_weights():
    """Key p's logit is gain·(w_p · x − bias) per frame, so the gradient of its labelled frames,
    per frame, is gain·w_p: harmonic k of p at gain/k (k = 1..4) plus a small random map."""
    x = DATA.features[:1]
    keys = sounding(0)[:2]
    masks = attr.key_masks(DATA.targets[:1], keys)
    g = attr.reduce_time(attr.gradient(planted.logits, PARAMS, x, masks))[:, 0]  # [K, F]
    frames = DATA.targets[0, keys].sum(axis=1)
    gain = float(PARAMS["gain"])
    np.testing.assert_allclose(g / frames[:, None], gain * PARAMS["w"][keys], rtol=1e-5, atol=1e-6)
    for i, p in enumerate(keys):
        for k, f in enumerate(LAY.harmonic_bins(p, 4), start=1):
            assert g[i, f] / frames[i] == pytest.approx(gain / k, abs=0.25)


def test_integrated_gradients_is_exact_on_a_linear_model():
    """For a linear model IG = (x − x0) ⊙ ∇ = grad × input for any node count: gap ≈ 0."""
    x, masks = DATA.features[:2], masks_for()
    ig = attr.integrated_gradients(planted.logits, PARAMS, x, masks, n_nodes=3)
    gxi = attr.grad_times_input(planted.logits, PARAMS, x, masks)
    np.testing.assert_allclose(ig.attribution, gxi, rtol=1e-5, atol=1e-6)
    assert np.max(np.asarray(ig.relative_gap)) < 1e-5


def test_gauss_legendre_integrates_polynomials_exactly():
    a, w = attr.gauss_legendre(4)  # exact up to degree 7
    assert np.sum(w) == pytest.approx(1.0, abs=1e-14)
    assert np.sum(w * a**7) == pytest.approx(1 / 8, abs=1e-14)
    assert np.all((a > 0) & (a < 1))


def test_occlusion_of_a_group_equals_its_grad_times_input_on_a_linear_model():
    x, masks = DATA.features[:2], masks_for()
    table = grp.concat(grp.semitone_groups(LAY, [3, 17, 30]), grp.band_groups(LAY, [(0, 12), (24, 36)]))
    drops = np.asarray(attr.occlusion(planted.logits, PARAMS, x, table.members, masks, chunk_size=2))
    gxi = attr.reduce_time(attr.grad_times_input(planted.logits, PARAMS, x, masks))  # [K, B, F]
    ref = np.einsum("gf,kbf->gkb", table.members, gxi)
    np.testing.assert_allclose(drops, ref, rtol=1e-4, atol=1e-3)


def test_occlusion_and_permutation_of_bins_the_model_never_reads_are_exactly_zero():
    """Exact by construction: the model gathers the bins it reads and maps them elementwise, and a
    drop is Σ mask·(y_ref − y) with the difference taken first."""
    x = DATA.features[:2]
    p = sounding(0)[0]
    masks = attr.key_masks(DATA.targets[:2], [-1, p])
    members = np.zeros((3, LAY.n_bins), bool)
    members[0, 10:20] = True  # never read
    members[1, 12] = True  # never read
    members[2, READ[sounding(0) + sounding(1)]] = True  # read by the sounding keys
    drops = np.asarray(attr.occlusion(slicing_logits, 2.0, x, members, masks))
    np.testing.assert_array_equal(drops[:2], 0.0)
    scored = masks.sum(axis=(2, 3)) > 0  # [K, B]: objectives with labelled frames
    assert np.all(np.abs(drops[2][scored]) > 0)
    perm = attr.time_permutation(slicing_logits, 2.0, x, members, masks, key=jax.random.key(0), n_draws=3)
    np.testing.assert_array_equal(np.asarray(perm.group)[:, :2], 0.0)
    assert np.all(np.abs(np.asarray(perm.group)[:, 2][:, scored]) > 0)


def test_smoothgrad_is_the_mean_gradient_at_fold_in_noise_for_any_chunking():
    x, masks = DATA.features[:2], masks_for()
    key, n, level = jax.random.key(3), 7, 0.2
    runs = [attr.smoothgrad(tanh_logits, (W1, W2), x, masks, key=key, n_samples=n, noise_level=level, chunk_size=c)
            for c in (3, 7)]
    for r in runs[1:]:  # float summation order only
        np.testing.assert_allclose(r, runs[0], rtol=1e-5, atol=1e-6)
    sigma = level * (x.max(axis=(1, 2)) - x.min(axis=(1, 2)))
    manual = np.mean([attr.gradient(tanh_logits, (W1, W2), x + sigma[:, None, None] * np.asarray(
        jax.random.normal(jax.random.fold_in(key, i), x.shape)), masks) for i in range(n)], axis=0)
    np.testing.assert_allclose(runs[0], manual, rtol=1e-5, atol=1e-6)
    other = attr.smoothgrad(tanh_logits, (W1, W2), x, masks, key=jax.random.key(4), n_samples=n, noise_level=level)
    assert np.max(np.abs(np.asarray(other) - np.asarray(runs[0]))) > 1e-3  # the key matters


def test_integrated_gradients_and_permutation_do_not_depend_on_chunking():
    x, masks = DATA.features[:2], masks_for()
    igs = [attr.integrated_gradients(tanh_logits, (W1, W2), x, masks, n_nodes=9, chunk_size=c) for c in (1, 8)]
    for ig in igs[1:]:
        np.testing.assert_allclose(ig.attribution, igs[0].attribution, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ig.gap, igs[0].gap, atol=1e-4)
    table = grp.harmonic_groups(LAY, sounding(0)[:2], n_harmonics=3)
    perms = [attr.time_permutation(planted.logits, PARAMS, x, table.members, masks, key=jax.random.key(1),
                                   n_draws=3, chunk_size=c) for c in (1, 5)]
    np.testing.assert_allclose(perms[1].group, perms[0].group, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(perms[1].control, perms[0].control, rtol=1e-5, atol=1e-4)


def test_ig_gap_shrinks_with_nodes_on_a_nonlinear_model():
    x, masks = DATA.features[:2], masks_for()
    gaps = [float(np.max(attr.integrated_gradients(tanh_logits, (W1, W2), x, masks, n_nodes=n).relative_gap))
            for n in (1, 16)]
    assert gaps[1] < 1e-4 < gaps[0]


def test_time_derangement_and_random_members():
    perms = np.asarray(jax.jit(jax.vmap(lambda i: attr.time_derangement(jax.random.fold_in(jax.random.key(0), i), 9)))(
        np.arange(200)))
    np.testing.assert_array_equal(np.sort(perms, axis=1), np.tile(np.arange(9), (200, 1)))  # permutations
    assert not np.any(perms == np.arange(9))  # no fixed frame
    assert len({tuple(p) for p in perms}) > 150  # random
    allowed = np.zeros(30, bool)
    allowed[5:25] = True
    m = np.asarray(attr.random_members(jax.random.key(0), 7, allowed))
    assert m.sum() == 7 and not np.any(m & ~allowed)


def test_planted_table_ranks_read_harmonics_first_for_every_method():
    """On the planted model (key p reads harmonics 1..4, weight 1/k) every method scores harmonics
    1..4 above 5..8 (a small random map only), and the methods agree (ρ > 0.8 over harmonic groups)."""
    model = registry.load("planted-b1")
    settings = cm.Settings(methods=tuple(m for m in cm.METHODS if not m.startswith("lrp")), ig_nodes=4, smoothgrad_samples=4,
                           n_draws=2, max_keys=10, chunk_size=16)
    table = cm.score_clips(model, DATA.features[:2], DATA.targets[:2], key=jax.random.key(0), settings=settings)
    harmonic = grp.select(table.labels, "harmonic")
    assert [table.labels[i] for i in np.flatnonzero(harmonic)] == [f"harmonic {k}" for k in range(1, 9)]
    for method, values in table.scores.items():
        profile = grp.piece_profile(values[:, harmonic])
        assert profile[:4].min() > profile[4:].max(), method
    agree = grp.agreement(table.scores, key=jax.random.key(0), n_resamples=50, mask=harmonic)
    assert np.nanmin(agree.rho) > 0.8


def test_bad_input_raises_naming_the_argument():
    x, masks = DATA.features[:2], masks_for()
    with pytest.raises(ValueError, match="keys"):
        attr.key_masks(DATA.targets, [48])
    with pytest.raises(ValueError, match="masks"):
        attr.gradient(planted.logits, PARAMS, x, masks[:, :1])
    with pytest.raises(ValueError, match="n_nodes"):
        attr.integrated_gradients(planted.logits, PARAMS, x, masks, n_nodes=0)
    with pytest.raises(ValueError, match="members"):
        attr.occlusion(planted.logits, PARAMS, x, np.zeros((2, LAY.n_bins)), masks)
    with pytest.raises(ValueError, match="noise_level"):
        attr.smoothgrad(planted.logits, PARAMS, x, masks, key=jax.random.key(0), noise_level=-1.0)
    with pytest.raises(ValueError, match="x"):
        attr.gradient(planted.logits, PARAMS, x[0], masks)


# --------------------------------------------------------------------------- Basic Pitch


@pytest.fixture(scope="module")
def bp_clip():
    """Basic Pitch's features of a two-note chord of harmonic tones (A3 + E4) and its labels."""
    model = registry.load("basic-pitch")
    t = np.arange(WINDOW_SAMPLES) / SAMPLE_RATE
    keys = [48 - 21, 64 - 21]
    audio = sum(0.6 ** k * np.sin(2 * np.pi * 440 * 2 ** ((p + 21 - 69) / 12) * (k + 1) * t) for p in keys for k in range(6))
    x = np.asarray(jax.jit(model.frontend)((0.1 * audio).astype(np.float32)[None]))
    targets = np.zeros((1, 88, x.shape[-1]), np.float32)
    targets[0, keys, 10:160] = 1.0
    return model, x, targets, keys


def test_basic_pitch_logits_are_the_pre_sigmoid_note_output(bp_clip):
    """On 4 clips, so the model's own call runs its CPU inference loop (2 steps of 2) while the
    logits come from the network on the whole batch."""
    model, x, _, _ = bp_clip
    xs = np.concatenate([x, 0.5 * x, x[..., ::-1], np.zeros_like(x)])
    z = attr.logit_fn_of(model)(model.params, xs)
    np.testing.assert_allclose(jax.nn.sigmoid(z), model.apply(model.params, xs)["note"], atol=1e-6)


def test_integrated_gradients_completeness_gap_below_one_percent_on_basic_pitch(bp_clip):
    """At the node count the cross-method table uses (Settings().ig_nodes)."""
    model, x, targets, keys = bp_clip
    masks = attr.key_masks(targets, keys[:1] + [-1])
    ig = attr.integrated_gradients(attr.logit_fn_of(model), model.params, x, masks, n_nodes=cm.Settings().ig_nodes)
    assert np.all(np.abs(np.asarray(ig.delta)) > 10)  # the chord moves the logits from silence
    assert np.max(np.asarray(ig.relative_gap)) < 0.01


def test_a_baseline_of_the_wrong_shape_is_refused_by_name():
    x = jnp.zeros((2, 5, 3))
    for good in (0.5, np.zeros(5), np.zeros((5, 3))):
        assert attr.broadcast_baseline(good, x).shape == x.shape
    for bad in (np.zeros(3), np.zeros((3, 5)), np.zeros((2, 5, 3))):
        with pytest.raises(ValueError, match=r"baseline must be a scalar, \[F\] = \[5\] or \[F, T\] = \[5, 3\]"):
            attr.broadcast_baseline(bad, x)
