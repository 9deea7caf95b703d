"""amt_jax.cqt against librosa.cqt (the reference no one here wrote)."""

import warnings

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest

from amt_jax.frontend import cqt

SETTINGS = {
    "22k-36bpo": dict(sr=22050, hop_length=256, fmin=27.5, n_bins=264, bins_per_octave=36),
    "16k-12bpo": dict(sr=16000, hop_length=512, fmin=32.7, n_bins=84, bins_per_octave=12),
    # few bins far below Nyquist: librosa downsamples early, a different code path
    "early-downsampling": dict(sr=22050, hop_length=512, fmin=32.7, n_bins=24, bins_per_octave=12),
}


def _signals(sr: int, seconds: float = 3.0, f0: float = 110.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    return {
        "white_noise": 0.1 * rng.standard_normal(n),
        "exp_sweep": librosa.chirp(fmin=f0 / 4, fmax=0.4 * sr / 2, sr=sr, duration=seconds, linear=False),
        "vibrato": np.sin(2 * np.pi * f0 * t + 2 * np.sin(2 * np.pi * 5.5 * t)),
        "harmonic_decay": sum(np.sin(2 * np.pi * f0 * k * t + k) / k for k in range(1, 9)) * np.exp(-1.5 * t),
    }


def _librosa_cqt(y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.abs(librosa.cqt(np.asarray(y, dtype=np.float32), **kw))


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_matches_librosa(setting):
    kw = SETTINGS[setting]
    # keep each tone inside the setting's frequency range
    f0 = 55.0 if kw["n_bins"] <= 24 else 110.0
    names, signals = zip(*_signals(kw["sr"], f0=f0).items())
    batch = np.stack(signals).astype(np.float32)
    ours = np.asarray(cqt.cqt(batch, **kw))
    assert ours.dtype == np.float32
    for name, y, c in zip(names, batch, ours):
        ref = _librosa_cqt(y, **kw)
        assert c.shape == ref.shape, name
        rel = np.linalg.norm(c - ref) / np.linalg.norm(ref)
        assert rel <= 1e-2, f"{setting}/{name}: relative Frobenius error {rel:.2e}"


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_frame_count_matches_librosa(setting):
    kw = SETTINGS[setting]
    hop = kw["hop_length"]
    for n in (hop * 3, hop * 3 + 1, hop * 4 - 1, 5000, 7777):
        y = np.zeros(n, dtype=np.float32)
        y[::97] = 1.0
        assert cqt.CQTConfig(**{k: float(v) if k in ("sr", "fmin") else v for k, v in kw.items()}).n_frames(
            n
        ) == _librosa_cqt(y, **kw).shape[-1], n


def test_leading_batch_dims_and_vmap():
    kw = SETTINGS["16k-12bpo"]
    y = np.random.default_rng(0).standard_normal((2, 3, 8000)).astype(np.float32)
    full = cqt.cqt(y, **kw)
    assert full.shape == (2, 3, 84, 1 + 8000 // 512)
    single = cqt.cqt(y[1, 2], **kw)
    np.testing.assert_allclose(full[1, 2], single, rtol=1e-5, atol=1e-6)
    vmapped = jax.vmap(lambda a: cqt.cqt(a, **kw))(y.reshape(6, -1))
    np.testing.assert_allclose(vmapped.reshape(full.shape), full, rtol=1e-5, atol=1e-6)


def test_jit_grad_safe_and_compiles_once():
    kw = SETTINGS["16k-12bpo"]
    y = np.zeros(4096, dtype=np.float32)  # silence: the magnitude's gradient must stay finite
    y[100] = 1.0

    @jax.jit
    def energy(a):
        return jnp.sum(cqt.cqt(a, **kw) ** 2)

    g = jax.grad(energy)(jnp.asarray(y))
    assert g.shape == y.shape and bool(jnp.all(jnp.isfinite(g)))
    g0 = jax.grad(energy)(jnp.zeros_like(y))
    assert bool(jnp.all(jnp.isfinite(g0)))
    energy(jnp.ones_like(y))
    assert energy._cache_size() == 1  # same shapes: no retrace


def test_filter_bank_cached_per_configuration():
    kw = dict(sr=16000, hop_length=512, fmin=32.7, n_bins=84, bins_per_octave=12)
    y = np.zeros(4096, dtype=np.float32)
    cqt.cqt(y, **kw)
    hits = cqt._plan.cache_info().hits
    cqt.cqt(y + 1, **kw)
    assert cqt._plan.cache_info().hits > hits


@pytest.mark.parametrize(
    "kwargs, y, match",
    [
        (dict(sr=0), np.zeros(4096), "sr"),
        (dict(hop_length=-5), np.zeros(4096), "hop_length"),
        (dict(fmin=-1.0), np.zeros(4096), "fmin"),
        (dict(n_bins=0), np.zeros(4096), "n_bins"),
        (dict(bins_per_octave=0), np.zeros(4096), "bins_per_octave"),
        (dict(filter_scale=0.0), np.zeros(4096), "filter_scale"),
        (dict(n_bins=120), np.zeros(4096), "Nyquist"),
        (dict(), np.array(1.0), "y must have shape"),
        (dict(), np.zeros(0), "y has 0 samples"),
        (dict(), np.array([0.0] * 4000 + [np.nan] * 96), "non-finite"),
    ],
)
def test_validation(kwargs, y, match):
    kw = {**SETTINGS["16k-12bpo"], **kwargs}
    with pytest.raises(ValueError, match=match):
        cqt.cqt(y, **kw)


def test_the_jitted_model_frontends_refuse_non_finite_audio_on_a_direct_call():
    """Basic Pitch's and the trained variants' frontends run one jitted program, which cannot look
    at values: the check of the audio happens before it (a NaN would otherwise give finite features)."""
    from amt_jax.frontend import variants
    from amt_jax.models.pretrained import basic_pitch_frontend

    audio = np.zeros((1, 4096), np.float32)
    audio[0, 100] = np.nan
    for call in (basic_pitch_frontend, lambda a: variants.frontend(a, bins_per_semitone=1)):
        with pytest.raises(ValueError, match="audio contains 1 non-finite value"):
            call(audio)
