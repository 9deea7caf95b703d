"""Pretrained Basic Pitch (frontend + Flax model) against onnxruntime on the wheel's nmp.onnx."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amt_jax.models import onnx_weights, pretrained
from amt_jax.constants import SAMPLE_RATE, WINDOW_FRAMES, WINDOW_SAMPLES
from amt_jax.models.basic_pitch import BasicPitch, BasicPitchConfig, freq_blocked_conv
from conftest import REPO, SUITE_XLA_FLAGS, USER_XLA_FLAGS

OUTPUT_BINS = {"note": 88, "onset": 88, "contour": 264}


def synth_music(seed: int, noise_floor_db: float) -> np.ndarray:
    """Bass, triads and a melody of decaying harmonic tones (random phases), peak 1, plus white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(WINDOW_SAMPLES) / SAMPLE_RATE
    out = np.zeros(WINDOW_SAMPLES)

    def note(midi, start, duration, amplitude):
        span = slice(int(start * SAMPLE_RATE), min(WINDOW_SAMPLES, int((start + duration) * SAMPLE_RATE)))
        tt = t[span] - start
        envelope = np.minimum(tt / 0.01, 1.0) * np.exp(-2.5 * tt)
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        for h in range(1, 11):
            if f0 * h < 0.5 * SAMPLE_RATE:
                out[span] += amplitude / h**1.2 * np.sin(2 * np.pi * f0 * h * tt + rng.uniform(0, 2 * np.pi)) * envelope

    for i, (bass, chord) in enumerate([(36, (60, 64, 67)), (41, (60, 65, 69)), (43, (59, 62, 67)), (36, (55, 64, 72))]):
        note(bass, 0.5 * i, 0.6, 0.3)
        for midi in chord:
            note(midi, 0.5 * i + 0.02, 0.55, 0.15)
        note(chord[-1] + 12, 0.5 * i + 0.25, 0.3, 0.1)
    return out / np.abs(out).max() + 10 ** (noise_floor_db / 20) * rng.standard_normal(WINDOW_SAMPLES)


def rendered_chorale(program: int, start_s: float) -> np.ndarray:
    """A window of a real Bach chorale (music21 corpus) rendered with the default SoundFont."""
    from amt_jax.data import render
    from amt_jax.data.chorales.chorales_dataset_builder import export_notes

    audio = render.render(export_notes("bach/bwv66.6"), program=program)
    start = int(start_s * SAMPLE_RATE)
    return audio[start : start + WINDOW_SAMPLES]


# (name, audio, max abs output difference allowed)
def _windows():
    rng = np.random.default_rng(0)
    t = np.arange(WINDOW_SAMPLES) / SAMPLE_RATE
    return [
        ("tone 110 Hz", 0.5 * np.sin(2 * np.pi * 110 * t), 2e-3),
        ("tone 1 kHz", 0.5 * np.sin(2 * np.pi * 1000 * t), 2e-3),
        ("noise", 0.1 * rng.standard_normal(WINDOW_SAMPLES), 1e-4),
        ("noise loud", 0.8 * rng.standard_normal(WINDOW_SAMPLES), 1e-4),
        ("music -70 dB floor", 0.5 * synth_music(1, -70), 1e-4),
        ("music -60 dB floor", 0.9 * synth_music(2, -60), 1e-4),
        ("silence", np.zeros(WINDOW_SAMPLES), 1e-4),
        ("rendered chorale, piano", rendered_chorale(0, 4.0), 1e-4),
        ("rendered chorale, strings", rendered_chorale(48, 10.0), 1e-4),
    ]


@pytest.fixture(scope="module")
def bp():
    return pretrained.basic_pitch()


@pytest.fixture(scope="module")
def traces():
    return []


@pytest.fixture(scope="module")
def transcribe(bp, traces):
    def run(params, audio):
        traces.append(audio.shape)
        return bp.apply(params, bp.frontend(audio))

    return jax.jit(run)


@pytest.fixture(scope="module")
def case():
    names, audio, tolerances = zip(*_windows())
    audio = np.stack(audio).astype(np.float32)
    run = onnx_weights.onnxruntime_reference(extra_outputs=("normalized_log",))
    # one window per call: onnxruntime's own NormalizedLog of a silent window is not exactly 0 in
    # batches (a few 1.0 entries, float rounding differing between its min and subtract passes)
    per_window = [run(a[None]) for a in audio]
    reference = {k: np.concatenate([r[k] for r in per_window]) for k in per_window[0]}
    return names, audio, np.array(tolerances), reference


def test_outputs_match_onnxruntime(bp, transcribe, case):
    names, audio, tolerances, reference = case
    ours = transcribe(bp.params, audio)
    for key, bins in OUTPUT_BINS.items():
        assert ours[key].shape == reference[key].shape == (len(names), bins, WINDOW_FRAMES)
        err = np.abs(np.asarray(ours[key]) - reference[key]).max(axis=(1, 2))
        bad = {n: float(e) for n, e, tol in zip(names, err, tolerances) if not e <= tol}
        assert not bad, f"{key}: max abs error above tolerance for {bad}"


XLA_DEFAULTS_SCRIPT = """
import sys
import jax
import numpy as np
from amt_jax.models import pretrained
jax.config.update("jax_default_matmul_precision", "highest")  # as the CLI and the suite
jax.devices()  # XLA reads XLA_FLAGS here; importing test_pretrained runs conftest, which appends the suite's flags
sys.path.insert(0, sys.argv[3])
from test_pretrained import gradients
bp, audio = pretrained.basic_pitch(), np.load(sys.argv[1])
out = jax.jit(lambda params, x: bp.apply(params, bp.frontend(x)))(bp.params, audio)
grads = gradients(bp, audio)
np.savez(sys.argv[2], **{k: np.asarray(v) for k, v in out.items()}, **{f"grad {k}": v for k, v in grads.items()})
"""


def gradients(bp, audio: np.ndarray) -> dict[str, np.ndarray]:
    """The gradient of the sum of Basic Pitch's outputs on the first two windows of ``audio``
    [N, 43844] with respect to every parameter array ({"layer/kernel": array})."""
    features = jax.jit(bp.frontend)(audio[:2])
    grads = jax.jit(jax.grad(lambda params: sum(jnp.sum(v) for v in bp.apply(params, features).values())))(bp.params)
    return {"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(v)
            for path, v in jax.tree_util.tree_flatten_with_path(grads)[0]}


@pytest.mark.skipif(not SUITE_XLA_FLAGS, reason="the suite already runs with XLA's default compiler flags")
def test_the_suites_xla_flags_give_the_outputs_and_gradients_of_xlas_defaults(bp, transcribe, case, tmp_path):
    """The suite compiles with its own XLA flags (tests/conftest.py: SUITE_XLA_FLAGS), users' runs with
    XLA's defaults: Basic Pitch's outputs on every window, compiled each way, agree to a few float32
    ulps, and its parameter gradients to 1e-5 of each array's largest (measured here: outputs bitwise,
    gradients up to 6.2e-8 of the largest)."""
    names, audio, _, _ = case
    np.save(tmp_path / "audio.npy", audio)
    env = {**os.environ, "XLA_FLAGS": USER_XLA_FLAGS, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-c", XLA_DEFAULTS_SCRIPT, str(tmp_path / "audio.npy"), str(tmp_path / "out.npz"),
                          str(REPO / "tests")], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    defaults = np.load(tmp_path / "out.npz")
    outputs, grads = transcribe(bp.params, audio), gradients(bp, audio)  # the program the script compiles
    for key in OUTPUT_BINS:
        err = np.abs(np.asarray(outputs[key]) - defaults[key]).max(axis=(1, 2))
        assert np.all(err <= 1e-6), (key, dict(zip(names, err)))
    assert sorted(f"grad {k}" for k in grads) == sorted(k for k in defaults if k.startswith("grad "))
    for name, g in grads.items():
        np.testing.assert_allclose(g, defaults[f"grad {name}"], rtol=0, atol=1e-5 * np.abs(g).max(), err_msg=name)


def test_frontend_matches_onnxruntime(bp, case):
    names, audio, _, reference = case
    ours = np.asarray(jax.jit(bp.frontend)(audio))
    assert ours.shape == (len(names), 309, WINDOW_FRAMES)
    expected = reference["normalized_log"].transpose(0, 2, 1)
    err = np.abs(ours - expected).max(axis=(1, 2))
    tolerance = np.where([n.startswith("tone") for n in names], 2e-2, 2e-3)  # float32 noise in near-silent bins
    assert np.all(err <= tolerance), dict(zip(names, err))
    assert np.all(ours[names.index("silence")] == 0.0)


def test_learned_part_alone_matches_onnxruntime(bp, case):
    """Fed onnxruntime's own NormalizedLog CQT, the Flax model must agree tightly on every window."""
    names, _, _, reference = case
    ours = jax.jit(bp.apply)(bp.params, reference["normalized_log"].transpose(0, 2, 1))
    for key in OUTPUT_BINS:
        np.testing.assert_allclose(np.asarray(ours[key]), reference[key], atol=1e-5, rtol=0, err_msg=key)


def test_jitted_apply_does_not_retrace(bp, transcribe, traces, case):
    _, audio, _, _ = case
    transcribe(bp.params, audio)
    transcribe(bp.params, audio[::-1].copy())
    transcribe(jax.tree.map(lambda a: a * 1.0, bp.params), audio + 0.01)
    assert traces == [audio.shape]


def test_vmap_over_examples_matches_batch(bp, case):
    names, _, _, reference = case
    x = reference["normalized_log"].transpose(0, 2, 1)[:2]
    batched = jax.jit(bp.apply)(bp.params, x)
    mapped = jax.jit(jax.vmap(bp.apply, in_axes=(None, 0)))(bp.params, x)  # each call sees x [F, T]
    for key, bins in OUTPUT_BINS.items():
        assert mapped[key].shape == (2, bins, WINDOW_FRAMES)
        np.testing.assert_allclose(np.asarray(mapped[key]), np.asarray(batched[key]), atol=1e-6)


def test_weights_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("AMT_JAX_CACHE", str(tmp_path))
    fresh = onnx_weights.load()
    assert len(list(tmp_path.glob("*.npz"))) == 1
    cached = onnx_weights.load()
    direct = onnx_weights.convert(onnx_weights.onnx_model_path())
    assert fresh.keys() == cached.keys() == direct.keys()
    for k in direct:
        np.testing.assert_array_equal(cached[k], direct[k])
    n_learned = sum(v.size for v in direct.values())
    assert n_learned == 16_702  # every learned number of the folded graph is mapped


def test_trainable_variants_and_batchnorm_training():
    x = np.random.default_rng(0).uniform(size=(2, 103, 12)).astype(np.float32)  # B = 1: 103 semitone bins
    config = BasicPitchConfig(bins_per_semitone=1, harmonics=(0.5, 1, 2, 3))
    model = BasicPitch(config)
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)  # (compiling init's RNG would take ~10 s)
    rng = np.random.default_rng(1)
    variables = jax.tree.map(lambda s: np.abs(0.1 * rng.standard_normal(s.shape)).astype(np.float32), shapes)
    def loss(params, stats, a):
        y, updates = model.apply({"params": params, "batch_stats": stats}, a, train=True, mutable=["batch_stats"])
        return sum(jnp.mean(v) for v in y.values()), (y, updates)

    grads, (y, updates) = jax.jit(jax.grad(loss, has_aux=True))(variables["params"], variables["batch_stats"], x)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    assert float(jnp.abs(grads["contour_conv"]["kernel"]).max()) > 0
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), variables["batch_stats"], updates["batch_stats"])
    assert all(jax.tree.leaves(moved))
    default = jax.eval_shape(BasicPitch().init, jax.random.key(0), np.zeros((1, 309, 8), np.float32))
    assert sum(v.size for v in jax.tree.leaves(default["params"])) == 16_782


@pytest.mark.parametrize(
    "n_bins, kernel, stride, block",
    [(264, (3, 39), 1, 4), (264, (5, 5), 1, 8), (264, (7, 7), 3, 2), (103, (5, 4), 1, 3), (50, (2, 1), 3, 5), (20, (1, 6), 4, 7)],
)
def test_freq_blocked_conv_equals_lax_same_conv(n_bins, kernel, stride, block):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, n_bins, 3)).astype(np.float32)
    w = rng.standard_normal((*kernel, 3, 5)).astype(np.float32)
    expected = jax.lax.conv_general_dilated(x, w, (1, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(np.asarray(freq_blocked_conv(x, w, stride=stride, block=block)), expected, atol=1e-4)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: jax.eval_shape(BasicPitch().init, jax.random.key(0), np.zeros((1, 200, 8))), r"F = 309 frequency"),
        # more than P·B = 264 bins but not the CQT's 309: the harmonic stack would zero-fill silently
        (lambda: jax.eval_shape(BasicPitch().init, jax.random.key(0), np.zeros((1, 300, 8))), r"F = 309 .*\(1, 300, 8\)"),
        (lambda: jax.eval_shape(BasicPitch().init, jax.random.key(0), np.zeros((1, 310, 8))), r"F = 309 .*\(1, 310, 8\)"),
        (lambda: jax.eval_shape(BasicPitch(BasicPitchConfig(bins_per_semitone=1)).init, jax.random.key(0),
                                np.zeros((1, 309, 8))), r"F = 103 "),
        (lambda: BasicPitchConfig(n_input_semitones=80), "n_input_semitones"),
        (lambda: jax.eval_shape(BasicPitch().init, jax.random.key(0), np.zeros(8)), r"x must have shape \[..., F, T\]"),
        (lambda: BasicPitchConfig(bins_per_semitone=0), "bins_per_semitone"),
        (lambda: BasicPitchConfig(harmonics=(1, -2)), r"harmonics\[1\]"),
        (lambda: BasicPitchConfig(bn_momentum=1.0), "bn_momentum"),
        (lambda: BasicPitchConfig(conv_blocks=(("contour", 2),)), "conv_blocks layer name"),
    ],
)
def test_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()

