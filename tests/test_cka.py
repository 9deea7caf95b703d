"""CKA (amt_jax.explain.cka): estimators against their definitions and closed forms, invariances,
the unbiased estimator's batch-size independence (simulation), a planted shared subspace, and
per-layer activations of (randomly initialised) Basic Pitch networks."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amt_jax import training
from amt_jax.explain import cka
from amt_jax.models import bp_model
from amt_jax import permutations
from amt_jax.frontend import features
from amt_jax.models.basic_pitch import BasicPitch


def _random_orthogonal(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def test_self_cka_is_one_and_bounded(rng):
    x = rng.standard_normal((50, 7))
    y = rng.standard_normal((50, 4))
    assert float(cka.linear_cka(x, x)) == pytest.approx(1.0, abs=1e-6)
    assert cka.minibatch_cka(x.reshape(5, 10, 7), x.reshape(5, 10, 7)) == pytest.approx(1.0, abs=1e-6)
    assert 0.0 <= float(cka.linear_cka(x, y)) < 1.0


def test_linear_cka_equals_the_kernel_form(rng):
    # Kornblith et al. eq. (2)/(4): tr(KHLH) / sqrt(tr(KHKH) tr(LHLH)), computed independently in float64
    x, y = rng.standard_normal((30, 6)), rng.standard_normal((30, 9)) + 0.5 * rng.standard_normal((30, 1))
    h = np.eye(30) - 1 / 30
    k, l = x @ x.T, y @ y.T
    reference = np.trace(k @ h @ l @ h) / np.sqrt(np.trace(k @ h @ k @ h) * np.trace(l @ h @ l @ h))
    assert float(cka.linear_cka(x, y)) == pytest.approx(reference, rel=1e-5)


def test_invariant_to_orthogonal_transforms_and_isotropic_scaling_not_to_anisotropic(rng):
    x = rng.standard_normal((40, 8))
    y = x @ rng.standard_normal((8, 5)) + rng.standard_normal((40, 5))
    base = float(cka.linear_cka(x, y))
    q = _random_orthogonal(rng, 8)
    assert float(cka.linear_cka(3.7 * x @ q, y)) == pytest.approx(base, rel=1e-5)
    assert float(cka.linear_cka(x, 0.01 * y @ _random_orthogonal(rng, 5))) == pytest.approx(base, rel=1e-5)
    xb, yb = x.reshape(4, 10, 8), y.reshape(4, 10, 5)
    assert cka.minibatch_cka(2.0 * xb @ q, yb) == pytest.approx(cka.minibatch_cka(xb, yb), rel=1e-5)
    stretched = x * np.array([10.0] + [1.0] * 7)  # not isotropic: CKA changes (the check can fail)
    assert abs(float(cka.linear_cka(stretched, y)) - base) > 1e-3


def _hsic_from_definition(k, l):
    """Song et al. (2012), Theorem 2: the U-statistic over ordered distinct 4-tuples (i, j, q, r) of
    h = (1/4!) Σ over the 24 orderings (t, u, v, w) of k_tu l_tu + k_tu l_vw − 2 k_tu l_tv."""
    n = k.shape[0]
    total = 0.0
    for tup in itertools.permutations(range(n), 4):
        h = 0.0
        for t, u, v, w in itertools.permutations(tup):
            h += k[t, u] * l[t, u] + k[t, u] * l[v, w] - 2 * k[t, u] * l[t, v]
        total += h / 24
    return total / (n * (n - 1) * (n - 2) * (n - 3))


def test_unbiased_hsic_equals_its_u_statistic_definition(rng):
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    k, l = x @ x.T, y @ y.T
    assert float(cka.hsic_unbiased(k, l)) == pytest.approx(_hsic_from_definition(k, l), rel=1e-4, abs=1e-6)


def test_unbiased_hsic_mean_does_not_depend_on_batch_size():
    # x ~ N(0, I_p), y = x A + noise: for linear kernels HSIC = ‖Cov(x, y)‖²_F = ‖A‖²_F (closed form)
    p, q, n_total = 3, 2, 96_000
    a = np.array([[1.0, 0.0], [0.5, -0.5], [0.0, 0.3]])
    truth = float(np.sum(a**2))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_total, p))
    y = x @ a + rng.standard_normal((n_total, q))
    estimate = jax.jit(lambda xb, yb: jax.vmap(cka._hsic1)(cka.gram(xb), cka.gram(yb)))
    for n in (5, 12, 48):
        est = np.asarray(estimate(x.reshape(-1, n, p).astype(np.float32), y.reshape(-1, n, q).astype(np.float32)))
        se = est.std(ddof=1) / np.sqrt(len(est))
        assert abs(est.mean() - truth) < 4 * se + 1e-3, (n, est.mean(), truth, se)
    # the biased estimator at n = 5 is off by far more than its Monte Carlo error (the test can fail)
    xb, yb = x.reshape(-1, 5, p), y.reshape(-1, 5, q)
    xc, yc = xb - xb.mean(1, keepdims=True), yb - yb.mean(1, keepdims=True)
    biased = np.sum(np.einsum("bnp,bnq->bpq", xc, yc) ** 2, axis=(1, 2)) / (5 - 1) ** 2
    assert abs(biased.mean() - truth) > 10 * biased.std(ddof=1) / np.sqrt(len(biased))


def test_planted_shared_subspace_gives_the_closed_form():
    # x = [s, u] Q1, y = [s, v] Q2 with s (k dims) shared: population CKA = k / sqrt((k + m1)(k + m2))
    rng = np.random.default_rng(1)
    k_dim, m1, m2, b, n = 3, 5, 2, 400, 16
    s = rng.standard_normal((b, n, k_dim))
    x = np.concatenate([s, rng.standard_normal((b, n, m1))], -1) @ _random_orthogonal(rng, k_dim + m1)
    y = np.concatenate([s, rng.standard_normal((b, n, m2))], -1) @ _random_orthogonal(rng, k_dim + m2)
    truth = k_dim / np.sqrt((k_dim + m1) * (k_dim + m2))
    assert cka.minibatch_cka(x, y) == pytest.approx(truth, abs=0.03)
    unrelated = rng.standard_normal((b, n, m2))
    assert abs(cka.minibatch_cka(x, unrelated)) < 0.03


def test_bad_input_raises_naming_the_argument(rng):
    with pytest.raises(ValueError, match="x and y must have the same number"):
        cka.linear_cka(rng.standard_normal((5, 2)), rng.standard_normal((6, 2)))
    with pytest.raises(ValueError, match="n >= 4"):
        cka.hsic_unbiased(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="frames_per_clip"):
        cka.frame_rows(jax.random.PRNGKey(0), 2, 10, 11)
    with pytest.raises(ValueError, match="layers"):
        cka.activations(cka.Network(None, None, ("harmonic_stack",)), np.zeros((1, 3, 4)), layers=("conv9",))


# --------------------------------------------------------------------------- networks


@functools.lru_cache(maxsize=None)
def _init(config):
    return jax.jit(BasicPitch(config.model).init)


def _random_network(seed):
    """A randomly initialised ``tiny`` (B = 1) network; seeds share one compiled init."""
    config = training.get_config("tiny", bins_per_semitone=1)
    x = jnp.zeros((1, config.model.n_input_bins, 8), jnp.float32)
    variables = _init(config)(training.root_key(seed), x)  # rbg: compiles far faster than threefry here
    model = bp_model.network_model(f"random-{seed}", config=config.model, params=variables, layout=training.layout(1),
                                    frontend=functools.partial(training.frontend, bins_per_semitone=1), identity={},
                                    frame_threshold=0.3, invert=None)
    return cka.network(model)


@pytest.fixture(scope="module")
def audio():
    # three short clips (33 frames) of two "pieces": a harmonic tone changing pitch at random times, over noise
    rng = np.random.default_rng(0)
    clips = []
    for _ in range(3):
        f0 = np.repeat(110.0 * 2 ** (rng.integers(0, 24, 8) / 12), 1024)
        phase = 2 * np.pi * np.cumsum(f0) / 22050
        clips.append(sum(np.sin(h * phase) / h for h in (1, 2, 3)) + 0.01 * rng.standard_normal(8192))
    return np.stack(clips).astype(np.float32), np.array([0, 0, 1])


@pytest.fixture(scope="module")
def net1():
    return _random_network(0)


def test_activations_match_the_model_and_the_harmonic_stack(audio, net1):
    net = net1
    x = net.frontend(audio[0])  # [3, F, T]
    h = cka.activations(net, x)
    assert set(h) == set(net.layers) == set(bp_model.LAYERS)
    n_frames = x.shape[-1]
    assert all(v.shape[:2] == (3, n_frames) for v in h.values())
    config = training.get_config("tiny", bins_per_semitone=1).model  # net1's architecture
    y = jax.jit(BasicPitch(config).apply)(net.params, x)
    np.testing.assert_allclose(jax.nn.sigmoid(h["note_out"]).swapaxes(1, 2), y["note"], atol=1e-6)
    np.testing.assert_allclose(jax.nn.sigmoid(h["contour_out"]).swapaxes(1, 2), y["contour"], atol=1e-6)
    bn = net.params["params"]["input_bn"]
    stats = net.params["batch_stats"]["input_bn"]
    x_bn = (x - stats["mean"]) / jnp.sqrt(stats["var"] + config.bn_epsilon) * bn["scale"] + bn["bias"]
    stack = features.harmonic_stack(x_bn, harmonics=config.harmonics, bins_per_octave=config.bins_per_octave,
                                    n_output_bins=config.n_contour_bins)
    np.testing.assert_allclose(h["harmonic_stack"], jnp.transpose(stack, (0, 3, 2, 1)).reshape(3, n_frames, -1), atol=1e-5)


def test_layer_cka_of_a_network_with_itself_and_between_two_inits(audio, net1):
    clips, pieces = audio
    key = jax.random.PRNGKey(0)
    net_b = _random_network(1)  # another init
    same = cka.layer_cka(net1, net1, clips, key=key, clusters=pieces, frames_per_clip=16, n_resamples=200)
    assert same.cka.shape == (7, 7) and same.n_clusters == 2
    np.testing.assert_allclose(np.diag(same.cka), 1.0, atol=1e-5)
    np.testing.assert_allclose(same.cka, same.cka.T, atol=1e-5)
    # one clip per forward pass gives the same numbers (to float rounding)
    chunked = cka.layer_cka(net1, net1, clips, key=key, clusters=pieces, frames_per_clip=16, chunk_size=1, n_resamples=200)
    np.testing.assert_allclose(chunked.cka, same.cka, rtol=1e-4, atol=1e-5)
    other = cka.layer_cka(net1, net_b, clips, key=key, clusters=pieces, frames_per_clip=16, n_resamples=200)
    assert np.all(np.isfinite(other.cka)) and np.all(other.cka <= 1 + 1e-6)
    assert np.all((other.ci_low <= other.cka + 1e-9) | np.isnan(other.ci_low))


def test_permutation_cka_is_one_for_the_identity_and_drops_for_a_shuffle(audio, net1):
    clips, pieces = audio
    net = net1
    x = net.frontend(clips)
    key = jax.random.PRNGKey(1)
    identity = permutations.random_spectral(n_bins=x.shape[1], band=(0, 1))  # one bin: nothing moves
    still = cka.permutation_cka(net, x, family=identity, key=key, n_draws=2, clusters=pieces, frames_per_clip=16,
                                n_resamples=100)
    np.testing.assert_allclose(still.cka, 1.0, atol=1e-5)
    shuffle = permutations.random_spectral(n_bins=x.shape[1])
    moved = cka.permutation_cka(net, x, family=shuffle, key=key, n_draws=2, clusters=pieces, frames_per_clip=16,
                                n_resamples=100)
    assert moved.terms.shape == (2, 7, 3, 3)
    # a permutation of the bins is an orthogonal map of the input, which linear CKA cannot see (up to
    # the stack's zero-filled edges); the convolutions, local in frequency, do see it
    assert moved.cka[0] > 0.95
    assert min(moved.cka[1:]) < 0.9


def test_cka_plots_draw_and_return_their_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from amt_jax.report import plots_cka

    layers = bp_model.LAYERS[:3]
    m = np.array([[1.0, 0.5, 0.2], [0.4, 0.9, 0.3]])
    fig, ax = plt.subplots()
    assert plots_cka.cka_matrix(m, layers[:2], layers, ax=ax) is ax and ax.has_data()
    assert plots_cka.cka_by_layer(layers, m[0], m[0] - 0.1, m[0] + 0.1, label="x", ax=ax) is ax
    plt.close(fig)
    with pytest.raises(ValueError, match="cka must have shape"):
        plots_cka.cka_matrix(m, layers, layers)
    result = cka.CKAResult(m, m - 0.1, m + 0.1, np.zeros((2, 3, 1, 3)), layers[:2], layers, 2)
    assert len(plots_cka.figure_layer_cka({"a vs b": result}).axes) == 2  # the heat map and its colour bar
    per_layer = cka.CKAResult(m[0], m[0] - 0.1, m[0] + 0.1, np.zeros((1, 3, 1, 3)), layers, layers, 2)
    assert plots_cka.figure_permutation_cka({"harmonic": per_layer}).axes[0].has_data()


# --------------------------------------------------------------------------- networks at different frame steps


def _windows(params, x, names):
    """A planted "network": each frame's features times an orthogonal ``params`` (CKA cannot see it)."""
    return {names[0]: jnp.swapaxes(x, -1, -2) @ params}


def _framed(hop, width=16):
    """A frontend framing every ``hop`` samples, frame t the ``width`` samples centred on sample t·hop."""

    def frontend(audio):
        audio = jnp.asarray(audio)
        n_frames = audio.shape[-1] // hop + 1
        padded = jnp.pad(audio, [(0, 0), (width // 2, width + hop)])
        idx = hop * np.arange(n_frames)[None, :] + np.arange(width)[:, None]  # [width, T]
        return padded[:, idx]  # [N, width, T]

    return frontend


def _planted_pair(rng, hop_a, hop_b, width=16):
    q_a, q_b = _random_orthogonal(rng, width), _random_orthogonal(rng, width)
    net_a = cka.Network(_windows, jnp.asarray(q_a, jnp.float32), ("h",), _framed(hop_a, width), hop_a, 22050)
    net_b = cka.Network(_windows, jnp.asarray(q_b, jnp.float32), ("h",), _framed(hop_b, width), hop_b, 22050)
    return net_a, net_b


def _unaligned(net_a, net_b, audio, key, frames_per_clip):
    """CKA of the two networks' activations at the same frame indices (no alignment in time)."""
    xa, xb = net_a.frontend(audio), net_b.frontend(audio)
    n = min(xa.shape[-1], xb.shape[-1])
    rows = cka.frame_rows(jax.random.fold_in(key, 0), audio.shape[0], n, frames_per_clip)
    ha, hb = (cka.activations(net, x)["h"] for net, x in ((net_a, xa), (net_b, xb)))
    take = lambda h: np.take_along_axis(np.asarray(h), rows[:, :, None], axis=1)  # noqa: E731
    return cka.minibatch_cka(take(ha), take(hb))


def test_nearest_frames_and_aligned_rows_pair_the_same_instants():
    from amt_jax.explain.cka_frames import nearest_frames

    # frames every 10 ms (hop 220.5 ≈ 220 at 22,050 Hz) nearest to Basic Pitch's 11.61 ms frames 0..4
    times = np.arange(5) * 256 / 22050
    np.testing.assert_array_equal(nearest_frames(times, hop_length=220, sample_rate=22050, n_frames=100), [0, 1, 2, 3, 5])
    np.testing.assert_array_equal(nearest_frames([10.0], hop_length=220, sample_rate=22050, n_frames=7), [6])  # clipped
    coarse, fine = (cka.Network(None, None, ("h",), None, hop, 22050) for hop in (512, 256))
    key = jax.random.PRNGKey(3)
    (r_fine, r_coarse), offset = cka.aligned_rows((fine, coarse), [65, 33], 16384, key=key, n_clips=2, frames_per_clip=8)
    np.testing.assert_array_equal(r_fine, 2 * r_coarse)  # drawn on the coarser network, whichever side it is
    np.testing.assert_array_equal(r_coarse, cka.frame_rows(key, 2, 33, 8))
    assert offset == 0.0
    with pytest.raises(ValueError, match="frame step is not hop_length"):
        cka.aligned_rows((fine, coarse), [33, 33], 16384, key=key, n_clips=2, frames_per_clip=8)
    with pytest.raises(ValueError, match="no frame step to align"):
        cka.aligned_rows((fine._replace(hop_length=None), coarse._replace(hop_length=None)), [65, 33], 16384, key=key,
                         n_clips=2, frames_per_clip=8)


@pytest.mark.parametrize("hop_a, hop_b", [(512, 256), (300, 256)])
def test_time_shifted_copies_at_different_hops_give_cka_one_after_alignment(hop_a, hop_b):
    # two "models" reading the same audio: each frame is the audio around sample t·hop (rotated by an
    # orthogonal map per model), so frame t of one is a time-shifted copy of frame t of the other
    rng = np.random.default_rng(5)
    if hop_a % hop_b == 0:  # the coarse frames fall on fine frames: white noise, the instants must match exactly
        audio = rng.standard_normal((4, 16384))
    else:  # nearest frames are up to half a hop off: a signal slow beside that (periods of 3,000-8,000 samples)
        t = np.arange(16384)
        audio = sum(np.sin(2 * np.pi * t / rng.uniform(3000, 8000, (4, 1)) + rng.uniform(0, 6, (4, 1))) for _ in range(6))
    audio = audio.astype(np.float32)
    net_a, net_b = _planted_pair(rng, hop_a, hop_b)
    key = jax.random.PRNGKey(0)
    clusters = np.array([0, 0, 1, 1])
    aligned = cka.layer_cka(net_a, net_b, audio, key=key, clusters=clusters, frames_per_clip=24, n_resamples=50)
    swapped = cka.layer_cka(net_b, net_a, audio, key=key, clusters=clusters, frames_per_clip=24, n_resamples=50)
    assert aligned.cka.shape == (1, 1)
    assert float(aligned.cka[0, 0]) == pytest.approx(float(swapped.cka[0, 0]), abs=1e-6)
    unaligned = _unaligned(net_a, net_b, audio, key, 24)
    if hop_a % hop_b == 0:
        assert float(aligned.cka[0, 0]) == pytest.approx(1.0, abs=1e-5) and aligned.max_offset_ms == 0.0
        assert unaligned < 0.2
    else:
        assert float(aligned.cka[0, 0]) > 0.98 and 0 < aligned.max_offset_ms <= 1000 * hop_b / 2 / 22050 + 1e-9
        assert unaligned < float(aligned.cka[0, 0]) - 0.5  # measured: 0.99 aligned, 0.12 not


def test_a_cross_family_pair_runs_on_a_tiny_input(audio, net1, monkeypatch):
    """Basic Pitch's architecture (tiny, random) against PESTO through the experiment: PESTO framed
    every 10 ms (its own step), rows matched by nearest frame, with both baselines."""
    from types import SimpleNamespace

    from amt_jax.models import registry
    from experiments import cka_variants

    tiny = bp_model.network_model("tiny-bp", config=training.get_config("tiny", bins_per_semitone=1).model,
                                  params=net1.params, layout=training.layout(1), identity={}, frame_threshold=0.3,
                                  frontend=net1.frontend, invert=None)
    monkeypatch.setattr(cka_variants, "load_model", lambda name: tiny if name == "tiny-bp" else registry.load(name))
    clips, pieces = audio
    nets = cka_variants.Networks(step_ms=10.0)
    results, record = cka_variants.compare(nets, "tiny-bp", "pesto", SimpleNamespace(audio=clips, clusters=pieces),
                                           key=jax.random.PRNGKey(0), frames_per_clip=16, baselines=True)
    pair = results["tiny-bp vs pesto"]
    n_pesto = len(registry.load("pesto").layers)
    assert pair.cka.shape == (len(bp_model.LAYERS), n_pesto) == (7, 11)
    # in [0, 1] up to the unbiased estimator's noise: HSIC₁ of 16 frames × 3 clips dips below 0 where the
    # population value is ≈ 0 (measured: −0.06 at the random tiny network's note_out)
    assert np.all(np.isfinite(pair.cka)) and np.all(pair.cka >= -0.1) and np.all(pair.cka <= 1 + 1e-6)
    assert pair.cka.max() > 0.3  # the two read the same audio: their early layers share its geometry
    assert 0 < pair.max_offset_ms <= 5.02 + 1e-9  # half of PESTO's 221-sample (10.02 ms: 10 ms rounded half up) step at most
    assert record["frame_steps_ms"] == pytest.approx({"tiny-bp": 1000 * 256 / 22050, "pesto": 1000 * 221 / 22050})
    base = record["baselines"]
    assert set(base) == {"tiny-bp input vs pesto input", "tiny-bp input vs tiny-bp", "pesto input vs pesto",
                         "tiny-bp input vs pesto", "tiny-bp vs pesto input", "tiny-bp vs random:pesto"}
    assert record["baselines_missing"] == ["random:tiny-bp"]  # not a registry spec: no random control
    assert np.shape(base["tiny-bp vs random:pesto"]["cka"]) == (7, 11)
    assert np.shape(base["pesto input vs pesto"]["cka"]) == (1, 11)
    # PESTO's "input" layer is its own input features cropped (the VQT's 219 middle bins, ln power)
    assert base["pesto input vs pesto"]["cka"][0][0] > 0.9
    assert any("differ in kind (multipitch vs key_mass)" in line for line in record["reading"])
