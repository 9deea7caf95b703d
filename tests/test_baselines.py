"""amt_jax.explain.baselines: which reference attribution starts from, planted and on both real frontends."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from amt_jax.constants import HOP_LENGTH, SAMPLE_RATE, WINDOW_SAMPLES
from amt_jax.explain import baselines
from amt_jax.models import registry

N_SAMPLES = WINDOW_SAMPLES  # one model window (Basic Pitch's CQT needs ≥ 33,024 samples)


@pytest.fixture(scope="module")
def frontends():
    return {spec: registry.load(spec).frontend_on(SAMPLE_RATE, HOP_LENGTH, "test") for spec in ("basic-pitch", "pesto")}


def _planted(normalise_frames: bool, n_bins: int):
    """A model whose logits are a fixed linear read of each frame, of the frame itself (reads levels)
    or of the frame minus its mean over bins (blind to a frame-wide offset, as a LayerNorm is)."""
    w = jax.random.normal(jax.random.key(0), (3, n_bins)) / np.sqrt(n_bins)

    def logits(params, x):
        x = x - x.mean(-2, keepdims=True) if normalise_frames else x
        return jnp.einsum("pf,bft->bpt", params, x)

    return types.SimpleNamespace(require=lambda *_: logits, params=w, spec=f"planted-normalise={normalise_frames}")


def test_noise_is_refused_for_a_frontend_that_normalises_the_level_away(frontends):
    """Basic Pitch's features are min-max normalised per window: noise 20 dB louder gives the same
    features, so 'quiet noise' is not quiet there; PESTO's dB VQT moves by the 20 dB."""
    key = jax.random.key(3)
    bp = baselines.level_sensitivity(frontends["basic-pitch"], N_SAMPLES, key=key, level_db=-60.0)
    pesto = baselines.level_sensitivity(frontends["pesto"], N_SAMPLES, key=key, level_db=-60.0)
    assert bp < baselines.LEVEL_INVARIANT < pesto, (bp, pesto)
    x = np.asarray(frontends["basic-pitch"](np.zeros((1, N_SAMPLES), np.float32)))
    model = _planted(True, x.shape[1])
    with pytest.raises(ValueError, match="baseline='noise' is unusable .* normalises each window's level away"):
        baselines.choose_baseline("noise", model, frontends["basic-pitch"], x, N_SAMPLES, key=key, level_db=-60.0)
    with pytest.warns(UserWarning, match="degenerate for this model"):
        b, record = baselines.choose_baseline("auto", model, frontends["basic-pitch"], x, N_SAMPLES, key=key,
                                              level_db=-60.0)
    assert record["kind"] == "silence" and "noise is unusable" in record["why"] and record["degenerate"]
    with pytest.raises(ValueError, match="baseline must be one of"):
        baselines.choose_baseline("pink", model, frontends["basic-pitch"], x, N_SAMPLES, key=key, level_db=-60.0)


def test_auto_takes_noise_only_for_a_model_blind_to_a_frame_wide_offset(frontends):
    frontend = frontends["pesto"]
    audio = 0.1 * jax.random.normal(jax.random.key(1), (1, N_SAMPLES))
    x = np.asarray(frontend(audio))
    chosen = {}
    for normalise in (False, True):
        b, record = baselines.choose_baseline("auto", _planted(normalise, x.shape[1]), frontend, x, N_SAMPLES,
                                              key=jax.random.key(2), level_db=-60.0)
        chosen[normalise] = record["kind"]
        if record["kind"] == "noise":
            assert np.shape(b) == x.shape[1:] and record["spread"] > 3  # ≈ 5 dB across bins per frame
        else:
            assert np.ndim(b) == 0 and record["spread"] < 1e-3  # silence through a dB frontend: a flat floor
    assert chosen == {False: "silence", True: "noise"}


def test_spread_is_the_mean_over_frames_of_the_std_across_bins():
    f = np.array([[[0.0, 1.0], [2.0, 1.0]]])  # [1, F=2, T=2]: frame 0 is (0, 2), frame 1 is (1, 1)
    assert baselines.spread(f) == pytest.approx(0.5)


def test_the_sweeps_cross_method_cell_starts_pesto_from_noise_and_basic_pitch_from_silence(frontends):
    """The sweep's ``cross_method`` probe chose a flat 0.0 for every model: for PESTO (dB features,
    a LayerNorm per frame) that is neither its silence nor a point IG can integrate from."""
    from amt_jax.constants import WINDOW_SAMPLES
    from amt_jax.sweep.compute import _attribution_baseline
    from amt_jax.sweep.context import Inputs

    audio = 0.1 * np.asarray(jax.random.normal(jax.random.key(4), (1, WINDOW_SAMPLES)))
    kinds = {}
    for spec in ("basic-pitch", "pesto"):
        model = registry.load(spec)
        x = np.asarray(frontends[spec](audio))
        inputs = Inputs(model, x, provenance={"data": {"data": "chorales:test"}})
        b, record = _attribution_baseline("auto", inputs, jax.random.key(0))
        kinds[spec] = record["kind"]
        assert np.ndim(b) == (2 if spec == "pesto" else 0)
        synthetic = Inputs(model, x, provenance={"data": {"data": "synthetic"}})
        assert _attribution_baseline("auto", synthetic, jax.random.key(0))[0] == 0.0
    assert kinds == {"basic-pitch": "silence", "pesto": "noise"}


def test_noise_flat_on_a_frontends_floor_is_refused():
    """A dB frontend with a floor: noise below it is as flat (degenerate) as silence, though 20 dB
    more escapes the floor (so the level test alone would pass it)."""
    def floored(audio):  # [..., n] -> [..., 8, n // 8] |sample| in dB, floored at -80
        a = jnp.asarray(audio)
        frames = a[..., : a.shape[-1] // 8 * 8].reshape(a.shape[:-1] + (-1, 8))
        return jnp.swapaxes(jnp.maximum(20 * jnp.log10(jnp.abs(frames) + 1e-30), -80.0), -1, -2)

    key = jax.random.key(0)
    assert baselines.level_sensitivity(floored, N_SAMPLES, key=key, level_db=-110.0) > baselines.LEVEL_INVARIANT
    x = np.asarray(floored(0.1 * jax.random.normal(key, (1, N_SAMPLES))))
    with pytest.raises(ValueError, match="flat .* on the frontend's floor"):
        baselines.choose_baseline("noise", _planted(True, 8), floored, x, N_SAMPLES, key=key, level_db=-110.0)


def test_a_cross_method_cell_from_before_the_baseline_choice_is_not_resumed():
    from amt_jax.sweep import store

    cell = types.SimpleNamespace(kind="cross_method", to_dict=lambda: {"id": "m__cross_method_h8"})
    record = {"cell": {"id": "m__cross_method_h8"}, "seed": 0, "result": {"methods": []}}
    assert any("attribution baseline" in d for d in store.differences(record, cell, 0, None))
    record["result"]["baseline"] = {"kind": "silence"}
    assert store.differences(record, cell, 0, None) == []
