"""Pretrained models, ready to call::

    from amt_jax.models import pretrained
    bp = pretrained.basic_pitch()
    x = bp.frontend(audio)      # audio [B, 43844] float32 at 22,050 Hz -> X [B, 309, 172]
    y = bp.apply(bp.params, x)  # {"note": [B, 88, 172], "onset": [B, 88, 172], "contour": [B, 264, 172]}
    bp.layout                   # FrequencyLayout: key p on bin 3p of the 309

``frontend`` and ``apply`` are pure and safe under ``jax.jit`` / ``vmap``; they accept any
leading batch shape.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax.models import onnx_weights
from amt_jax.frontend.cqt2010 import CQT2010Config, cqt2010
from amt_jax.frontend.features import normalized_log
from amt_jax.frontend.layout import FrequencyLayout
from amt_jax import validate
from amt_jax.io import params_digest
from amt_jax.models.basic_pitch import BasicPitchConfig
from amt_jax.models.bp_model import apply_fn, network_model
from amt_jax.models.model import DEFAULT_FRAME_THRESHOLD, Inverse, Model


class Pretrained(NamedTuple):
    """A pretrained model: ``frontend(audio) -> X``, ``apply(params, X) -> dict of Y[..., P, T]``."""

    frontend: Callable[[jax.Array], jax.Array]
    apply: Callable[[Any, jax.Array], dict[str, jax.Array]]
    params: Any  # Flax variables {"params": ..., "batch_stats": ...}
    config: BasicPitchConfig
    frontend_config: CQT2010Config
    layout: FrequencyLayout  # key p on bin 3p (the CQT starts at A0 = 27.5 Hz)


def basic_pitch_frontend(audio, *, config: CQT2010Config = CQT2010Config()) -> jax.Array:
    """Basic Pitch's input features: NormalizedLog of the CQT2010v2 magnitude, computed by one jitted
    program per input shape and config (called eagerly, not op by op).

    Args:
        audio: [..., n_samples] float32 at ``config.sr`` Hz (one model window = 43,844 samples).

    Returns:
        X [..., n_bins, n_frames] in [0, 1] (309 × 172 for one window).
    """
    validate.finite("audio", audio)  # here: the jitted program cannot look at values (skipped under a trace)
    return _basic_pitch_frontend(audio, config=config)


@functools.partial(jax.jit, static_argnames=("config",))
def _basic_pitch_frontend(audio, *, config: CQT2010Config) -> jax.Array:
    return normalized_log(
        cqt2010(
            audio,
            sr=config.sr,
            hop_length=config.hop_length,
            fmin=config.fmin,
            n_bins=config.n_bins,
            bins_per_octave=config.bins_per_octave,
            filter_scale=config.filter_scale,
        )
    )


def _identity_stats(n: int, epsilon: float) -> dict[str, np.ndarray]:
    """Running statistics for which BatchNorm is exactly the identity: mean 0, var + eps == 1."""
    return {"mean": np.zeros(n, np.float32), "var": np.full(n, np.float32(1.0) - np.float32(epsilon), np.float32)}


def basic_pitch_variables(weights: dict[str, np.ndarray], config: BasicPitchConfig = BasicPitchConfig()) -> dict:
    """Flax variables of ``BasicPitch(config)`` from ``onnx_weights.load()`` arrays (folded BNs).

    Each BN gets identity statistics and the ONNX affine: the input BN scale/bias carry the
    folded input normalisation, the later BNs are identities (their affine is in the conv).
    """
    eps = config.bn_epsilon
    params = {
        name: {"kernel": weights[f"{name}_kernel"], "bias": weights[f"{name}_bias"]}
        for name, _ in onnx_weights.CONV_LAYOUT
    }
    params["input_bn"] = {"scale": weights["input_bn_scale"], "bias": weights["input_bn_bias"]}
    stats = {"input_bn": _identity_stats(1, eps)}
    for name, n in (("contour_bn", config.n_filters_contour), ("onset_bn", config.n_filters_onsets)):
        params[name] = {"scale": np.ones(n, np.float32), "bias": np.zeros(n, np.float32)}
        stats[name] = _identity_stats(n, eps)
    return {"params": params, "batch_stats": stats}


@functools.lru_cache(maxsize=1)
def basic_pitch() -> Pretrained:
    """Basic Pitch ICASSP 2022 (basic-pitch 0.4.0's nmp.onnx), offline; weights cached after first use."""
    config = BasicPitchConfig()
    variables = jax.tree.map(jnp.asarray, basic_pitch_variables(onnx_weights.load(), config))
    return Pretrained(
        frontend=basic_pitch_frontend,
        apply=apply_fn(config),
        params=variables,
        config=config,
        frontend_config=CQT2010Config(),
        layout=basic_pitch_layout(config),
    )


def basic_pitch_layout(config: BasicPitchConfig = BasicPitchConfig()) -> FrequencyLayout:
    """Basic Pitch's axis: F = 309 bins from A0 (27.5 Hz) at B = 3, key p's centre on bin 3p."""
    return FrequencyLayout(n_bins=config.n_input_bins, bins_per_semitone=config.bins_per_semitone,
                           center_offset=0, n_pitches=config.n_pitches)


def _invert_gradient(audio, *, x_perm=None, idx=None, n_steps: int = 600, n_iter=None, **options):
    from amt_jax.frontend import inverse

    return inverse.invert_basic_pitch(x_perm, audio, n_steps=n_steps, **options).audio


def load(match: re.Match, seed: int, load_spec) -> Model:
    """``basic-pitch``: Basic Pitch ICASSP 2022 with every capability of the family."""
    bp = basic_pitch()
    identity = {"kind": "basic-pitch", "onnx_sha256": onnx_weights.onnx_digest(), "params_sha256": params_digest(bp.params)}
    return network_model(match.string, config=bp.config, params=bp.params, frontend=bp.frontend, layout=bp.layout,
                         identity=identity, frame_threshold=DEFAULT_FRAME_THRESHOLD,
                         invert=Inverse("gradient", _invert_gradient), source=bp)

