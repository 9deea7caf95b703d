"""LRP: the rules against their textbook formulas on explicit matrices, LRP-0 = gradient × input
on bias-free ReLU networks, γ = 0 = LRP-0, conservation on Basic Pitch (what biases absorb is
reported, nothing else is lost), the graph's logits = the module's, class-wise top-n maps."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from amt_jax.explain import attribution as attr
from amt_jax.models import bp_lrp, bp_model
from amt_jax.explain import crossmethod as cm
from amt_jax.explain import lrp
from amt_jax.models import registry
from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.models.basic_pitch import BasicPitchConfig
from amt_jax import training

RNG = np.random.default_rng(0)
TINY = BasicPitchConfig(bins_per_semitone=1, harmonics=(0.5, 1, 2, 3), n_filters_contour=3, n_filters_notes=4,
                        n_filters_onsets=2, contour_span_semitones=5, n_pitches=24, n_input_semitones=40,
                        conv_blocks=())
T = 12
GRAPH = bp_lrp.BasicPitchLRP(TINY)  # the family's LRP adapter


def tiny_variables(seed: int, *, random_bn: bool = True) -> dict:
    """Fresh tiny variables with random biases and (optionally) random batch norms, a negative input scale."""
    v = jax.tree.map(np.array, bp_model.init_fn(TINY)(jax.random.key(seed, impl="rbg")))
    rng = np.random.default_rng(seed)
    for name, layer in v["params"].items():
        if "kernel" in layer:
            layer["bias"] = rng.normal(scale=0.3, size=layer["bias"].shape).astype(np.float32)
    if random_bn:
        for name in ("input_bn", "contour_bn"):
            n = v["params"][name]["scale"].shape
            v["params"][name]["scale"] = rng.normal(1.0, 0.5, n).astype(np.float32)
            v["params"][name]["bias"] = rng.normal(0.0, 0.3, n).astype(np.float32)
            v["batch_stats"][name]["mean"] = rng.normal(0.0, 0.3, n).astype(np.float32)
            v["batch_stats"][name]["var"] = rng.uniform(0.5, 2.0, n).astype(np.float32)
        v["params"]["input_bn"]["scale"] = -np.abs(v["params"]["input_bn"]["scale"])
    return v


def tiny_inputs(n: int = 2, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.random((n, TINY.n_input_bins, T)).astype(np.float32)
    targets = (rng.random((n, TINY.n_pitches, T)) < 0.2).astype(np.float32)
    return x, targets


# --------------------------------------------------------------------------- rules on explicit matrices


def reference_dense(rule, x, w, b, r, low=None, high=None):
    """R_in [N, I] by the textbook formula, float64 loops over outputs."""
    x, w, b, r = (np.asarray(a, np.float64) for a in (x, w, b, r))
    wp, wn = np.maximum(w, 0), np.minimum(w, 0)
    out = np.zeros_like(x)
    for n in range(x.shape[0]):
        for k in range(w.shape[1]):
            if isinstance(rule, lrp.Epsilon):
                contrib = x[n] * w[:, k]
                z = contrib.sum() + b[k]
                den = z + rule.epsilon * (1 if z >= 0 else -1)
            elif isinstance(rule, lrp.Gamma):
                contrib = x[n] * (w[:, k] + rule.gamma * wp[:, k])
                den = contrib.sum() + b[k] + rule.gamma * max(b[k], 0)
            elif isinstance(rule, lrp.ZPlus):
                contrib = np.maximum(x[n], 0) * wp[:, k] + np.minimum(x[n], 0) * wn[:, k]
                den = contrib.sum()
            else:
                contrib = x[n] * w[:, k] - low[0] * wp[:, k] - high[0] * wn[:, k]
                den = contrib.sum()
            out[n] += contrib * r[n, k] / den
    return out


def dense_lrp(rule, x, w, b, r, low=None, high=None):
    f = lambda v, probe: lrp.layer(rule, lrp.Dense(), v, w, b, probe, low, high)  # noqa: E731
    _, vjp = jax.vjp(f, jnp.asarray(x), jnp.zeros(x.shape[0]))
    return vjp(jnp.asarray(r))


@pytest.mark.parametrize("rule", [lrp.Epsilon(0.0), lrp.Epsilon(0.3), lrp.Gamma(0.25), lrp.Gamma(2.0), lrp.ZPlus(),
                                  lrp.ZBox()])
def test_rules_match_their_formulas_on_a_dense_layer(rule):
    x = RNG.random((3, 7)).astype(np.float32)  # inputs >= 0 (after a ReLU), in [0, 1] for ZBox
    if isinstance(rule, lrp.ZPlus):
        x = x - 0.3  # ZPlus splits positive and negative inputs
    w = RNG.normal(size=(7, 5)).astype(np.float32)
    b = RNG.normal(scale=0.2, size=5).astype(np.float32)
    r = RNG.normal(size=(3, 5)).astype(np.float32)
    low, high = (np.zeros((1, 7), np.float32), np.ones((1, 7), np.float32)) if isinstance(rule, lrp.ZBox) else (None, None)
    r_in, absorbed = dense_lrp(rule, x, w, b, r, low, high)
    ref = reference_dense(rule, x, w, b, r, low, high)
    np.testing.assert_allclose(r_in, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    np.testing.assert_allclose(absorbed, r.sum(axis=1) - ref.sum(axis=1), rtol=1e-4, atol=1e-4)
    if isinstance(rule, (lrp.ZPlus, lrp.ZBox)):  # bias-free denominators: conservative
        np.testing.assert_allclose(absorbed, 0.0, atol=1e-4)
    if isinstance(rule, lrp.Epsilon):  # the bias and ε take their share: R_k (b_k + ε sign z_k) / (z_k + ε sign z_k)
        z = x.astype(np.float64) @ w + b
        s = rule.epsilon * np.where(z >= 0, 1, -1)
        np.testing.assert_allclose(absorbed, np.sum(r * (b + s) / (z + s), axis=1), rtol=1e-4, atol=1e-4)


def relu_net(x, weights, linear):
    """Conv 3×3 → ReLU → conv 3×3 stride 2 → ReLU → conv 3×1; ``linear(i, x, w)`` applies layer i."""
    h = jax.nn.relu(linear(0, x, weights[0]))
    h = jax.nn.relu(linear(1, h, weights[1]))
    return linear(2, h, weights[2])


CONVS = (bp_lrp.Conv(1, 1), bp_lrp.Conv(2, 2), bp_lrp.Conv(1, 3))


def test_lrp0_on_a_bias_free_relu_network_equals_gradient_times_input():
    x = RNG.random((2, 6, 12, 2)).astype(np.float32)  # NHWC
    weights = [RNG.normal(size=s).astype(np.float32) for s in ((3, 3, 2, 4), (3, 3, 4, 3), (3, 1, 3, 1))]
    mask = (RNG.random((2, 6, 6, 1)) < 0.5).astype(np.float32)

    def plain(v):
        return relu_net(v, weights, lambda i, h, w: CONVS[i](h, w))

    def rule_net(v, rule):
        probe = jnp.zeros(v.shape[0])
        return relu_net(v, weights, lambda i, h, w: lrp.layer(rule, CONVS[i], h, w, jnp.zeros(w.shape[-1]), probe))

    @jax.jit
    def relevances(v):
        out = []
        for rule in (lrp.Epsilon(0.0), lrp.Gamma(0.0), lrp.Gamma(1.0)):
            z, vjp = jax.vjp(lambda u, rule=rule: rule_net(u, rule), v)
            out.append(vjp(mask * z)[0])
        return out

    gxi = x * jax.jit(jax.grad(lambda v: jnp.sum(mask * plain(v))))(x)
    lrp0, gamma0, gamma1 = relevances(jnp.asarray(x))
    for r in (lrp0, gamma0):
        np.testing.assert_allclose(r, gxi, rtol=1e-5, atol=1e-5 * np.abs(gxi).max())
    assert np.max(np.abs(gamma1 - gxi)) > 1e-2 * np.abs(gxi).max()  # with γ > 0 it differs (the test can fail)


def test_gamma_zero_is_lrp0_on_basic_pitch_graph():
    v = tiny_variables(0)
    x, targets = tiny_inputs(1)  # one clip, three objectives: the shapes lrp_topn_maps compiles for
    masks = attr.key_masks(targets, [3, 10, -1])
    gamma0 = lrp.Composite(lrp.Epsilon(0.0), lrp.Gamma(0.0), lrp.Gamma(0.0))
    a = lrp.relevance(v, x, masks, graph=GRAPH, composite=gamma0)
    b = lrp.relevance(v, x, masks, graph=GRAPH, composite="lrp0")
    np.testing.assert_allclose(a.input, b.input, rtol=1e-6, atol=1e-7 * float(np.abs(b.input).max()))
    c = lrp.relevance(v, x, masks, graph=GRAPH, composite="epsilon_gamma_box")
    assert np.max(np.abs(np.asarray(c.input) - np.asarray(b.input))) > 1e-3 * float(np.abs(b.input).max())
    for r in (b, c):  # nothing lost outside the rules, with random batch norms folded in
        assert np.max(np.abs(np.asarray(r.residual))) < 1e-4


def test_graph_logits_equal_the_module_logits():
    """BN folding (random batch norms, a negative input scale) and the stack keep the forward."""
    x, _ = tiny_inputs()
    for seed in (0, 1):
        v = tiny_variables(seed)
        ref = bp_model.logits_fn(TINY)(v, x)
        probes = {n: jnp.zeros(x.shape[0]) for n in GRAPH.layers}
        ops = lrp.Ops(lrp.get_composite("epsilon_gamma_box"), GRAPH.layers)
        got = jax.jit(lambda v, x: GRAPH.graph(v, GRAPH.input_map(x), probes, ops))(v, x)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))


def test_relevance_is_linear_in_the_seed():
    """What class-wise aggregation relies on: the relevance of two objectives' sum is the sum."""
    v = tiny_variables(2)
    x, targets = tiny_inputs(1)
    masks = attr.key_masks(targets, [3, 10])
    r = lrp.relevance(v, x, np.concatenate([masks, masks.sum(axis=0, keepdims=True)]), graph=GRAPH)
    np.testing.assert_allclose(r.input[2], r.input[0] + r.input[1], rtol=1e-5, atol=1e-5 * float(np.abs(r.input).max()))


@pytest.fixture(scope="module")
def bp():
    return registry.load("basic-pitch")


def test_conservation_on_basic_pitch(bp):
    """Σ R_input + Σ absorbed = Σ R_top (nothing lost outside the rules: stack, ReLU, sigmoid pass);
    the bounded first layer and z⁺ layers absorb nothing; the rest is what biases absorb."""
    rng = np.random.default_rng(3)
    x = 0.2 * rng.random((1, 309, 40)).astype(np.float32)
    keys = [30, 37, 42]
    for p in keys:  # harmonic combs of three keys, frames 5..35
        for k in range(1, 7):
            f = 3 * p + int(round(36 * np.log2(k)))
            x[0, f - 1:f + 2, 5:35] += 0.8 / k
    x = np.clip(x, 0, 1)
    targets = np.zeros((1, 88, 40), np.float32)
    targets[0, keys, 5:35] = 1
    masks = attr.key_masks(targets, keys + [-1])
    for name in ("epsilon_gamma_box", "epsilon_plus_box"):
        r = lrp.relevance(bp.params, x, masks, graph=bp.lrp, composite=name)
        top = np.abs(np.asarray(r.top))
        assert np.all(top > 1), name
        assert np.max(np.abs(np.asarray(r.residual))) < 1e-4, name
        expected = sum(np.asarray(a) for a in r.absorbed.values()) / top
        np.testing.assert_allclose(r.conservation_error, -expected, atol=1e-4)
        assert np.max(np.abs(np.asarray(r.absorbed["contour_conv"])) / top) < 1e-4, name  # ZBox
        if name == "epsilon_plus_box":
            for layer in ("contour_out", "note_conv"):
                assert np.max(np.abs(np.asarray(r.absorbed[layer])) / top) < 1e-4, layer
        np.testing.assert_allclose(np.asarray(r.stack).sum(axis=-1), np.asarray(r.input).sum(axis=(2, 3)),
                                   rtol=1e-4, atol=1e-3)


def test_topn_masks_and_key_maps():
    logits = np.array([[[5.0, 1.0, 3.0], [0.0, 9.0, 0.0]], [[4.0, 8.0, 2.0], [1.0, 1.0, 1.0]]])  # [C=2, P=2, T=3]
    targets = np.array([[[1, 1, 1], [0, 1, 0]], [[1, 0, 1], [0, 0, 0]]], np.float32)
    sel = lrp.topn_masks(logits, targets, 2)
    # key 0: labelled logits 5, 1, 3 (clip 0) and 4, 2 (clip 1): top-2 = 5 (c0 t0) and 4 (c1 t0); 8 is unlabelled
    np.testing.assert_array_equal(sel[:, 0], [[1, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(sel[:, 1], [[0, 1, 0], [0, 0, 0]])  # one labelled frame only
    maps, counts = lrp.key_maps(np.array([[[2.0, 4.0], [1.0, 1.0]], [[0.0, 2.0], [0.0, 0.0]]]), sel)
    np.testing.assert_array_equal(counts, [2, 1])
    np.testing.assert_allclose(maps, [[1.0, 3.0], [1.0, 1.0]])


def test_kurtosis_matches_scipy():
    x = RNG.standard_t(4, size=(3, 50))
    np.testing.assert_allclose(lrp.map_kurtosis(x), scipy.stats.kurtosis(x, axis=-1), rtol=1e-10)


def test_class_wise_topn_maps_of_a_trained_variant():
    cfg = training.TrainConfig(model=TINY)
    state = types.SimpleNamespace(params=tiny_variables(4, random_bn=False)["params"],
                                  batch_stats=tiny_variables(4, random_bn=False)["batch_stats"], step=0)
    trained = training.model_of(cfg, state)
    model = bp_model.network_model("tiny", config=TINY, params=trained.params, frontend=None,
                                   layout=FrequencyLayout(n_bins=40, bins_per_semitone=1, center_offset=0, n_pitches=24),
                                   identity={"kind": "trained"}, frame_threshold=0.3, invert=None)
    x, targets = tiny_inputs(3)
    out = cm.lrp_topn_maps(model, x, targets, n=4, max_keys=3)
    assert out["maps"].shape == (24, 40)
    labelled = targets.sum(axis=(0, 2)) > 0
    np.testing.assert_array_equal(out["counts"], np.minimum(targets.sum(axis=(0, 2)), 4))
    assert np.all(np.isfinite(out["maps"][labelled])) and np.all(np.isnan(out["maps"][~labelled]))
    # the map of a key equals the LRP of its selected frames, summed over clips, per frame
    p = int(np.flatnonzero(labelled)[0])
    sel = lrp.topn_masks(np.asarray(bp_model.logits_fn(TINY)(model.params, x)), targets, 4)
    r = lrp.relevance(model.params, x, attr.key_masks(sel, [p, p, -1]), graph=GRAPH)  # 3 objectives: shared compile
    np.testing.assert_allclose(out["maps"][p], attr.reduce_time(r.input)[0].sum(axis=0) / out["counts"][p],
                               rtol=1e-4, atol=1e-5)


def test_bad_input_raises_naming_the_argument():
    v = tiny_variables(0)
    x, targets = tiny_inputs()
    masks = attr.key_masks(targets, [1])
    with pytest.raises(ValueError, match="x must have F"):
        lrp.relevance(v, x[:, :-1], masks, graph=GRAPH)
    with pytest.raises(ValueError, match="masks"):
        lrp.relevance(v, x, masks[:, :1], graph=GRAPH)
    with pytest.raises(ValueError, match="composite"):
        lrp.relevance(v, x, masks, graph=GRAPH, composite="alpha_beta")
    with pytest.raises(ValueError, match="low and high"):
        dense_lrp(lrp.ZBox(), np.ones((1, 2), np.float32), np.ones((2, 2), np.float32), np.zeros(2, np.float32),
                  np.ones((1, 2), np.float32))
    with pytest.raises(ValueError, match="n"):
        lrp.topn_masks(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)), 0)


def test_an_adapters_fixed_rules_win_and_activations_pass_relevance():
    """``rules`` of an adapter fix a layer's rule whatever the composite (the others keep the
    composite's by position); ``activation_pass`` hands the cotangent through unchanged, where the
    ordinary VJP of a leaky ReLU would keep 0.3 of a negative unit's."""
    graph = types.SimpleNamespace(layers=("a", "b", "c"), rules=(("b", lrp.Epsilon(0.0)),))
    ops = lrp.ops_of(graph, lrp.get_composite("epsilon_gamma_box"))
    assert [ops.rule(n) for n in graph.layers] == [lrp.ZBox(), lrp.Epsilon(0.0), lrp.Epsilon(1e-6)]
    assert lrp.ops_of(GRAPH, lrp.get_composite("epsilon_gamma_box")).fixed == ()  # Basic Pitch fixes none
    leaky = lambda v: jnp.where(v >= 0, v, 0.3 * v)  # noqa: E731
    z = jnp.array([-2.0, 1.0])
    out, vjp = jax.vjp(lambda v: lrp.activation_pass(leaky, v), z)
    np.testing.assert_allclose(out, [-0.6, 1.0])
    np.testing.assert_allclose(vjp(jnp.array([5.0, 7.0]))[0], [5.0, 7.0])
    np.testing.assert_allclose(jax.vjp(leaky, z)[1](jnp.array([5.0, 7.0]))[0], [1.5, 7.0])
