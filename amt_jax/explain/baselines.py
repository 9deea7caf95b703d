"""The reference input of grad × input, integrated gradients and occlusion: silence or quiet noise.

Attribution from a baseline ``b`` explains ``o(x) − o(b)``, so ``b`` must be an input the model
reads as "nothing there". Two candidates, both made by the model's own frontend from audio:

- **silence**: the features of silent audio (a scalar, their mean; for a dB frontend its floor).
- **noise**: the features of white Gaussian noise at ``level_db`` dBFS RMS, frame by frame
  (``[F, T]``): quiet, and not flat across bins in any frame.

:func:`choose_baseline` with ``kind="auto"`` takes silence unless the model normalises each frame
over bins (:func:`amt_jax.explain.attribution.frame_offset_sensitivity` below
:data:`OFFSET_INVARIANT`, e.g. PESTO's LayerNorm): then a flat frame is a degenerate point where
the straight path to ``x`` makes nearly all its change in its first percent (no quadrature node
of IG looks there) and noise is taken instead. Noise is unusable through a frontend that normalises
the level away (Basic Pitch's per-window min-max log: noise at −60 dBFS comes out as loud as any
input, so it is not quiet) or when it lies flat on the frontend's floor (as degenerate as
silence): ``noise`` is then refused, and ``auto`` keeps silence, records why with
``degenerate: True`` and warns (IG from it may miss its completeness).

``spread`` (both kinds): the mean over frames of the standard deviation across bins, in the
features' units: 0 for a flat floor, a few dB for noise through a dB frontend.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import validate

KINDS = ("auto", "silence", "noise")
OFFSET_INVARIANT = 1e-3  # frame_offset_sensitivity below this: the model normalises each frame over bins
LEVEL_INVARIANT = 1e-3  # the peak feature of noise 20 dB louder moves by less than this fraction of the range
LEVEL_STEP_DB = 20.0
FLAT = 1e-3  # spread (features' units) below which a noise map is flat: on the frontend's floor


def spread(features: np.ndarray) -> float:
    """Mean over frames of the std across bins of ``features [..., F, T]`` (0: flat frames)."""
    return float(np.mean(np.std(np.asarray(features, np.float64), axis=-2)))


def silence(frontend, n_samples: int) -> tuple[float, float]:
    """``(value, spread)``: the mean of ``frontend``'s features of ``n_samples`` of silence and
    their :func:`spread`."""
    features = np.asarray(jax.jit(frontend)(np.zeros((1, n_samples), np.float32)), np.float64)
    return float(features.mean()), spread(features)


def noise(frontend, n_samples: int, *, key, level_db: float) -> np.ndarray:
    """``[F, T]``: ``frontend``'s features of ``n_samples`` of white Gaussian noise at ``level_db``
    dBFS RMS (from ``key``), frame by frame (its mean over frames would be nearly flat, ≈ 0.7 dB
    across PESTO's bins, and keep the path's jump)."""
    audio = 10 ** (level_db / 20) * jax.random.normal(key, (1, n_samples), jnp.float32)
    return np.asarray(jax.jit(frontend)(audio), np.float64)[0]


def level_sensitivity(frontend, n_samples: int, *, key, level_db: float) -> float:
    """``|max f(g·a) − max f(a)| / (max f(a) − min f(a))`` for noise ``a`` at ``level_db`` and
    ``g`` = +20 dB: how far the loudest feature follows the level. About 0 for a frontend that
    normalises each window to a fixed range (its peak is the same at any level); for a dB frontend
    20 dB over the window's range."""
    return _noise_and_level(frontend, n_samples, key=key, level_db=level_db)[1]


def _noise_and_level(frontend, n_samples: int, *, key, level_db: float) -> tuple[np.ndarray, float]:
    """:func:`noise` at ``level_db`` and its :func:`level_sensitivity`, the noise computed once."""
    quiet = noise(frontend, n_samples, key=key, level_db=level_db)
    loud = noise(frontend, n_samples, key=key, level_db=level_db + LEVEL_STEP_DB)
    return quiet, float(abs(loud.max() - quiet.max()) / max(np.ptp(quiet), 1e-12))


def _unusable(features_of_noise: np.ndarray, level: float, level_db: float) -> str | None:
    """Why noise at ``level_db`` (its features and :func:`level_sensitivity`) is no quiet,
    informative baseline, or None."""
    if level < LEVEL_INVARIANT:
        return (f"its features of noise {LEVEL_STEP_DB:g} dB louder peak {level:.2g} of their range higher: the "
                f"frontend normalises each window's level away, so noise at {level_db:g} dBFS is not quiet")
    flatness = spread(features_of_noise)
    if flatness < FLAT:
        return (f"its features of noise at {level_db:g} dBFS are flat (spread {flatness:.2g} across bins): "
                f"on the frontend's floor, as degenerate as silence")
    return None


def choose_baseline(kind: str, model, frontend, features, n_samples: int, *, key, level_db: float) -> tuple:
    """``(baseline, record)`` for ``model`` (whose frontend ``frontend`` made ``features [B, F, T]``
    from windows of ``n_samples``): the baseline of ``kind`` (:data:`KINDS`; ``auto``: see the module
    docstring) as :class:`amt_jax.explain.crossmethod.Settings` takes it (a float, or ``[F, T]`` as
    nested tuples), and what a result file records of it (kind, why, value, spread, the two
    sensitivities). ValueError (naming ``baseline``) for an unknown kind, or for ``noise`` when it
    is unusable (a frontend that normalises the level away, or noise flat on the frontend's floor);
    ``auto`` then falls back to silence and records why."""
    from amt_jax.explain import attribution as attr

    validate.one_of("baseline", kind, KINDS)
    value, silent_spread = silence(frontend, n_samples)
    sensitivity = attr.frame_offset_sensitivity(attr.logit_fn_of(model), model.params, np.asarray(features)[:1])
    record = {"frame_offset_sensitivity": sensitivity, "silence": {"value": value, "spread": silent_spread}}
    asked = kind
    if kind == "auto":
        kind = "noise" if sensitivity < OFFSET_INVARIANT else "silence"
        record["why"] = (f"auto: the logits move by {sensitivity:.2g} of their range when every bin of a frame moves by 1 "
                         f"({'below' if kind == 'noise' else 'at least'} {OFFSET_INVARIANT:g}: "
                         f"{'a flat silence is degenerate for it' if kind == 'noise' else 'silence is informative'})")
    unusable = None
    if kind == "noise":
        features_of_noise, level = _noise_and_level(frontend, n_samples, key=key, level_db=level_db)
        unusable = _unusable(features_of_noise, level, level_db)
    if unusable and asked == "noise":
        raise ValueError(f"baseline='noise' is unusable for model {model.spec!r}: {unusable}; use baseline='silence'")
    if unusable:  # auto: silence after all, degenerate for this model: said in the record and as a warning
        record["why"] += f"; but noise is unusable ({unusable}): silence, degenerate for this model"
        record["degenerate"] = True
        warnings.warn(f"model {model.spec!r}: {record['why']} (IG from it may miss its completeness)", stacklevel=2)
        kind = "silence"
    if kind == "silence":
        return value, {**record, "kind": "silence", "value": value, "spread": silent_spread,
                       "what": "the features of silent audio (their mean)"}
    return tuple(map(tuple, features_of_noise.tolist())), {
        **record, "kind": "noise", "value": float(features_of_noise.mean()), "spread": spread(features_of_noise),
        "level_db": level_db, "level_sensitivity": level,
        "what": f"the features of white noise at {level_db:g} dBFS RMS, frame by frame"}
