"""cqt2010 against Basic Pitch's own graph: constants vs the ONNX initializers, |C| vs onnxruntime."""

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from amt_jax.frontend import cqt2010 as C
from amt_jax.constants import WINDOW_FRAMES, WINDOW_SAMPLES
from amt_jax.models.onnx_weights import onnx_model_path, onnxruntime_reference


@pytest.fixture(scope="module")
def graph():
    return onnx.load(str(onnx_model_path())).graph


@pytest.fixture(scope="module")
def onnx_cqt():
    """onnxruntime's |C| [N, 309, 172] (the graph's magnitude Sqrt) for audio [N, 43844]."""
    run = onnxruntime_reference(extra_outputs=("cqt",))
    return lambda audio: run(audio)["cqt"]


@pytest.fixture(scope="module")
def cqt_jit():
    return jax.jit(C.cqt2010)


def _signals():
    rng = np.random.default_rng(0)
    t = np.arange(WINDOW_SAMPLES) / 22050
    chirp = np.sin(2 * np.pi * 30 * (2 ** (t * 4.5) - 1) / (4.5 * np.log(2)))  # 30 Hz -> 680 Hz sweep
    return np.stack([
        0.1 * rng.standard_normal(WINDOW_SAMPLES),
        0.5 * np.sin(2 * np.pi * 440 * t),
        0.5 * np.sin(2 * np.pi * 8000 * t),
        0.3 * chirp + 1e-3 * rng.standard_normal(WINDOW_SAMPLES),
    ]).astype(np.float32)


def test_constants_match_onnx_initializers(graph):
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    const = C.filter_constants(C.CQT2010Config())
    negated = {n.input[0] for n in graph.node if n.op_type == "Neg"}
    banks = {"real": set(), "imag": set()}
    for node in graph.node:
        if node.op_type == "Conv" and inits[node.input[1]].shape == (36, 1, 1, 256):
            banks["imag" if node.output[0] in negated else "real"].add(node.input[1])
    assert len(banks["real"]) == len(banks["imag"]) == 1
    n = const.n_filters
    np.testing.assert_array_equal(inits[banks["real"].pop()][:, 0, 0, :], const.kernels[:, :n].T)
    np.testing.assert_array_equal(inits[banks["imag"].pop()][:, 0, 0, :], const.kernels[:, n:].T)
    (lowpass,) = {n.input[1] for n in graph.node if n.op_type == "Conv" and inits[n.input[1]].shape == (1, 1, 1, 256)}
    np.testing.assert_array_equal(inits[lowpass].ravel(), const.lowpass)
    (scale,) = [c for n in graph.node if n.op_type == "Mul" for c in n.input if c in inits and inits[c].shape == (309, 1, 1)]
    np.testing.assert_array_equal(inits[scale].ravel(), const.scale.ravel()[-309:])


def test_matches_onnxruntime(onnx_cqt, cqt_jit):
    audio = _signals()
    ours, ref = np.asarray(cqt_jit(audio)), onnx_cqt(audio)
    assert ours.shape == ref.shape == (4, 309, WINDOW_FRAMES)
    err = np.abs(ours - ref).max(axis=(1, 2)) / ref.max(axis=(1, 2))
    assert np.all(err < 1e-5), err


def test_leading_dims_and_vmap(cqt_jit):
    audio = _signals()
    full = np.asarray(cqt_jit(audio))
    nested = np.asarray(jax.jit(jax.vmap(C.cqt2010))(audio.reshape(2, 2, -1)))  # vmap over [2, S] batches
    assert nested.shape == (2, 2, 309, WINDOW_FRAMES)
    np.testing.assert_allclose(nested.reshape(full.shape), full, rtol=1e-5, atol=1e-6)


def test_shortest_input_shape_and_finite_grad_on_silence():
    n = C.CQT2010Config().min_samples()
    y = np.zeros(n, np.float32)
    y[:1000] = np.sin(np.arange(1000) / 5.0)
    magnitude, grad = jax.jit(lambda a: (C.cqt2010(a), jax.grad(lambda b: jnp.sum(C.cqt2010(b)))(a)))(y)
    assert magnitude.shape == (309, n // 256 + 1)
    assert grad.shape == y.shape and bool(jnp.all(jnp.isfinite(grad)))


@pytest.mark.parametrize(
    "y, kwargs, match",
    [
        (np.full(WINDOW_SAMPLES, np.nan, np.float32), {}, "y contains"),
        (np.zeros(1000, np.float32), {}, "at least 33024 samples"),
        (np.float32(0.0), {}, r"y must have shape \[..., n_samples\]"),
        (np.zeros(WINDOW_SAMPLES, np.float32), {"n_bins": 400}, "n_bins=400"),
        (np.zeros(WINDOW_SAMPLES, np.float32), {"hop_length": 0}, "hop_length"),
        (np.zeros(WINDOW_SAMPLES, np.float32), {"hop_length": 100}, "hop_length must be divisible"),
        (np.zeros(WINDOW_SAMPLES, np.float32), {"fmin": -1.0}, "fmin"),
        (np.zeros(WINDOW_SAMPLES, np.float32), {"sr": 0}, "sr"),
        (np.zeros(WINDOW_SAMPLES, np.float32), {"filter_scale": 0.0}, "filter_scale"),
    ],
)
def test_validation(y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        C.cqt2010(y, **kwargs)
