"""The installed JAX computes what amt_jax's estimators rely on: vmapped VJPs (every gradient
method batches its objectives so) and vmapped reductions, batched against one at a time, at the
sizes where jax 0.10.2 miscompiles them on CPU (jax-ml/jax#39103). These tests fail on 0.10.2."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amt_jax import toolchain
from amt_jax.explain import attribution as attr

RTOL = 1e-4  # float32, different summation orders


def _layer_norm(z):
    mean = z.mean(-1, keepdims=True)
    var = jnp.square(z - mean).mean(-1, keepdims=True)
    return (z - mean) * jax.lax.rsqrt(var + 1e-5)


def _rel(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


@pytest.mark.parametrize("rows, width, k", [(4096, 8, 3), (1376, 64, 3)])
def test_a_vmapped_vjp_through_a_layer_norm_matches_one_cotangent_at_a_time(rows, width, k):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(-60, 10, (rows, width)), jnp.float32)
    cotangents = jnp.asarray(rng.normal(size=(k, rows, width)), jnp.float32)

    @jax.jit
    def batched(x, c):
        _, vjp = jax.vjp(_layer_norm, x)
        return jax.vmap(lambda ck: vjp(ck)[0])(c)

    one = jax.jit(lambda x, c: jax.vjp(_layer_norm, x)[1](c)[0])
    got = batched(x, cotangents)
    for i in range(k):
        assert _rel(got[i], one(x, cotangents[i])) < RTOL, i


def test_the_gradient_of_every_objective_of_a_frame_normalising_model_matches_its_own_gradient():
    """attribution.gradient batches its K objectives (a vmapped VJP): on a model that normalises
    each frame over bins (as PESTO's LayerNorm), 8 clips of 172 frames, each objective's gradient
    is the gradient of that objective alone."""
    rng = np.random.default_rng(1)
    w = jnp.asarray(rng.normal(size=(12, 64)) / 8, jnp.float32)

    def logit_fn(params, x):  # [B, F, T] -> [B, P, T]
        return jnp.einsum("pf,bft->bpt", params, jnp.swapaxes(_layer_norm(jnp.swapaxes(x, 1, 2)), 1, 2))

    x = jnp.asarray(rng.normal(-60, 10, (8, 64, 172)), jnp.float32)
    masks = attr.key_masks((rng.random((8, 12, 172)) < 0.3).astype(np.float32), np.array([0, 5, -1]))
    got = attr.gradient(logit_fn, w, x, masks)
    grad = jax.jit(jax.grad(lambda v, m: jnp.sum(m * logit_fn(w, v))))  # one compile for every mask
    for k in range(len(masks)):
        want = grad(x, jnp.asarray(masks[k]))
        assert _rel(got[k], want) < RTOL, k


def test_a_vmapped_matrix_vector_product_then_a_sum_matches_eager():
    """jax-ml/jax#39103's reproducer (float32 at its size)."""
    n = 32_769
    i = jnp.arange(n, dtype=jnp.float32)
    x = jnp.stack((i, jnp.zeros_like(i), jnp.zeros_like(i)), axis=1)
    matrix = jnp.eye(3, dtype=jnp.float32)

    def f(x):
        return jax.vmap(lambda row: jnp.sum((matrix @ row) ** 2))(x)

    want = np.asarray(x[:, 0], np.float64) ** 2
    assert np.max(np.abs(np.asarray(jax.jit(f)(x)) - want) / np.maximum(want, 1)) < 1e-6


def test_a_known_bad_jax_is_named_with_what_to_install(monkeypatch):
    monkeypatch.setattr(toolchain, "installed", lambda name: "0.10.2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = toolchain.check()
    assert len(found) == 2 and found[0].startswith("jax 0.10.2:") and "jax-ml/jax#39103" in found[0]
    assert "jax[cpu]==0.10.1" in found[0] and [w.category for w in caught] == [toolchain.ToolchainWarning] * 2
    monkeypatch.setattr(toolchain, "installed", lambda name: "0.10.1")
    assert toolchain.problems() == []


@pytest.mark.parametrize("version", ["0.10.2rc1", "0.10.2.dev20261201", "0.10.2+cuda12", "0.10.2.post1"])
def test_pre_dev_and_local_builds_of_a_known_bad_release_are_caught(monkeypatch, version):
    monkeypatch.setattr(toolchain, "installed", lambda name: version)
    assert len(toolchain.problems()) == 2
    for fine in ("0.10.20", "0.10.1", "1.10.2"):
        assert toolchain.release(fine) not in toolchain.KNOWN_BAD


def test_the_warning_can_be_silenced_where_a_user_checked_their_backend(monkeypatch):
    monkeypatch.setattr(toolchain, "installed", lambda name: "0.10.2")
    monkeypatch.setenv(toolchain.OPT_OUT, "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = toolchain.check()
    assert len(found) == 2 and caught == []


def test_the_installed_jax_is_not_known_bad():
    assert toolchain.problems() == [], toolchain.problems()
