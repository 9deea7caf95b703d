"""Windowing and unwrapping against ``basic_pitch.inference`` (0.4.0) and onnxruntime on nmp.onnx."""

import importlib.resources
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile

from amt_jax.transcription import inference

sys.modules.setdefault("resampy", types.ModuleType("resampy"))  # only for basic_pitch's sonification
import basic_pitch.inference as bp_inference  # noqa: E402

SR = 22050
# Lengths around the window boundaries: empty, tiny, one window, one hop, multiples of 11,025
# (where n · 86 / 22050 is an integer) and a few windows.
LENGTHS = [0, 1, 256, 32323, 32324, 32325, 36164, 43844, 44100, 72328, 110250, 123457]


def reference_windows(audio):
    padded = np.concatenate([np.zeros(3840, np.float32), audio])
    return np.stack([w[:, 0] for w, _ in bp_inference.window_audio_file(padded, 36164)])


@pytest.mark.parametrize("n_samples", LENGTHS)
def test_windows_equal_basic_pitch(n_samples, rng):
    audio = rng.standard_normal(n_samples).astype(np.float32)
    windows = inference.window_audio(audio)
    assert windows.dtype == np.float32
    np.testing.assert_array_equal(windows, reference_windows(audio))
    assert inference.n_windows(n_samples) == windows.shape[0]


@pytest.mark.parametrize("n_samples", LENGTHS)
def test_unwrap_equals_basic_pitch(n_samples, rng):
    outputs = rng.random((inference.n_windows(n_samples), 5, 172)).astype(np.float32)
    ours = inference.unwrap_windows(outputs, n_samples)
    ref = bp_inference.unwrap_output(outputs.transpose(0, 2, 1), n_samples, 30)
    np.testing.assert_array_equal(ours, ref.T)
    assert ours.shape == (5, inference.n_output_frames(n_samples))


def test_output_frames_equal_basic_pitchs_float_formula():
    n = np.arange(0, 3_000_000, 7)
    n = np.concatenate([n, np.arange(0, 3_000_000, 11025)])
    expected = np.floor(n * (86 / 22050)).astype(np.int64)  # as unwrap_output computes it
    assert [inference.n_output_frames(int(k)) for k in n[::997]] == expected[::997].tolist()
    assert np.array_equal(n * 86 // 22050, expected)  # the integer formula we use, everywhere


def probe_model():
    """Frontend: the audio sample at each frame position; apply: that value as one channel."""
    return types.SimpleNamespace(
        frontend=lambda x: x[:, ::256],  # [B, 43844] -> [B, 172]
        apply=lambda params, x: {"value": x[:, None, :] * params, "double": jnp.stack([x, 2 * x], axis=1)},
        params=jnp.float32(1.0),
    )


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_transcribe_audio_places_every_frame(batch_size):
    n = 200_000  # 6 windows
    audio = np.arange(n, dtype=np.float32)  # sample value = its index (exact in float32)
    out = inference.transcribe_audio(audio, model=probe_model(), batch_size=batch_size)
    j = np.arange(inference.n_output_frames(n))
    # Frame j comes from window j // 142 (starting at (j // 142) · 36164 − 3840 in the audio),
    # frame 15 + j % 142 of it, i.e. audio sample (j // 142) · 36164 + (j % 142) · 256.
    np.testing.assert_array_equal(out["value"], [(j // 142) * 36164 + (j % 142) * 256])
    np.testing.assert_array_equal(out["double"], np.stack([out["value"][0], 2 * out["value"][0]]))


def test_transcribe_audio_of_an_empty_signal():
    out = inference.transcribe_audio(np.zeros(0, np.float32), model=probe_model())
    assert out["value"].shape == (1, 0) and out["double"].shape == (2, 0)


@pytest.fixture(scope="module")
def onnx_model():
    path = importlib.resources.files("basic_pitch") / "saved_models/icassp_2022/nmp.onnx"
    return bp_inference.Model(str(path))


def onnx_as_jax_model(bp_model):
    """nmp.onnx behind ``jax.pure_callback``: frontend = identity, outputs [B, C, 172]."""
    shapes = {"note": 88, "onset": 88, "contour": 264}

    def host(x):
        pred = bp_model.predict(np.asarray(x)[:, :, None])
        return {k: np.ascontiguousarray(pred[k].transpose(0, 2, 1)) for k in shapes}

    def apply(params, x):
        spec = {k: jax.ShapeDtypeStruct((x.shape[0], c, 172), jnp.float32) for k, c in shapes.items()}
        return jax.pure_callback(host, spec, x)

    return types.SimpleNamespace(frontend=lambda x: x, apply=apply, params=None)


def test_transcribe_audio_equals_run_inference(onnx_model, tmp_path, rng):
    t = np.arange(80_000) / SR  # 3 windows
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) * (t > 0.5) + 0.2 * np.sin(2 * np.pi * 660 * t) * (t > 2.0)).astype(np.float32)
    audio += 1e-3 * rng.standard_normal(audio.shape).astype(np.float32)
    path = tmp_path / "clip.wav"
    soundfile.write(path, audio, SR, subtype="FLOAT")
    ref = bp_inference.run_inference(path, onnx_model)  # reads the file, one window at a time
    ours = inference.transcribe_audio(audio, model=onnx_as_jax_model(onnx_model), batch_size=2)
    assert set(ours) == set(ref)
    for name in ref:
        assert ours[name].shape == ref[name].T.shape
        np.testing.assert_allclose(ours[name], ref[name].T, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: inference.window_audio(np.zeros((2, 100))), "audio"),
        (lambda: inference.unwrap_windows(np.zeros((1, 5, 171)), 100), "outputs"),
        (lambda: inference.unwrap_windows(np.zeros((2, 5, 172)), 100), "outputs"),
        (lambda: inference.n_output_frames(-1), "n_samples"),
        (lambda: inference.transcribe_audio(np.zeros(10), model=probe_model(), batch_size=0), "batch_size"),
        (lambda: inference.transcribe_audio(np.full(10, np.nan), model=probe_model()), "audio"),
    ],
)
def test_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()
