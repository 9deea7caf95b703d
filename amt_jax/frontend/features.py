"""Pure feature transforms on spectrogram-like arrays X[..., F, T] (frequency bins, frames)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import validate
from amt_jax.frontend.layout import harmonic_shift

_DB_PER_NEPER = float(10.0 / np.log(10.0))  # 10·log10(x) = ln(x) · 10/ln(10)
_DB_ATOL = 1e-4  # dB ranges below this are float32 rounding noise (eps at 100 dB is 8e-6 dB)


def power_to_db(power, *, amin: float = 1e-10) -> jax.Array:
    """10·log10(power + amin) in dB, elementwise (Basic Pitch's additive floor, not librosa's max).

    Args:
        power: non-negative power values, any shape.
        amin: positive floor added before the log.
    """
    validate.positive("amin", amin)
    return jnp.log(jnp.asarray(power) + amin) * _DB_PER_NEPER


def minmax_normalize(x, *, atol: float = 0.0) -> jax.Array:
    """(x − min) / max(x − min), min and max over the last two axes [F, T] of each example; 0 where max ≤ atol.

    Args:
        x: [..., F, T].
        atol: ranges max − min ≤ atol count as constant (output 0). XLA may round the same
            expression differently in the reduction and in the elementwise pass, so a constant
            input can show a range of a few ulps; a small ``atol`` maps it to 0 as intended.

    Returns:
        [..., F, T] in [0, 1].
    """
    validate.min_rank("x", x, 2, "[..., F, T]")
    if not atol >= 0:
        raise ValueError(f"atol must be >= 0, got {atol!r}")
    x = jnp.asarray(x)
    offset = x - jnp.min(x, axis=(-2, -1), keepdims=True)
    peak = jnp.max(offset, axis=(-2, -1), keepdims=True)
    nonzero = peak > atol
    return jnp.where(nonzero, offset / jnp.where(nonzero, peak, 1.0), 0.0)


def normalized_log(magnitude) -> jax.Array:
    """Basic Pitch's NormalizedLog: per-example min-max-normalised 10·log10(|C|² + 1e-10).

    Args:
        magnitude: |C| [..., F, T] (e.g. ``cqt2010`` output).

    Returns:
        [..., F, T] in [0, 1]; depends on the whole [F, T] window of each example; 0 for a
        window whose dB range is below 1e-4 dB (silence), as Basic Pitch's divide_no_nan gives.
    """
    validate.min_rank("magnitude", magnitude, 2, "[..., F, T]")
    magnitude = jnp.asarray(magnitude)
    return minmax_normalize(power_to_db(magnitude * magnitude), atol=_DB_ATOL)


def harmonic_shifts(harmonics: Sequence[float], bins_per_octave: int) -> tuple[int, ...]:
    """Bin offset round(bins_per_octave·log2 h) of each harmonic h (0.5 gives −bins_per_octave)."""
    for i, h in enumerate(harmonics):
        validate.positive(f"harmonics[{i}]", h)
    validate.positive_int("bins_per_octave", bins_per_octave)
    return tuple(harmonic_shift(h, bins_per_octave) for h in harmonics)


def harmonic_stack(x, *, harmonics: Sequence[float], bins_per_octave: int, n_output_bins: int) -> jax.Array:
    """Stack copies of ``x`` shifted down in frequency so harmonic h of bin f lands on bin f.

    Channel i holds x[..., f + s_i, :] with s_i = round(bins_per_octave·log2 h_i), zeros where f + s_i
    falls outside [0, F); only the first ``n_output_bins`` bins are kept.

    Args:
        x: [..., F, T].
        harmonics: positive harmonic numbers, e.g. (0.5, 1, 2, ..., 7).
        bins_per_octave: bins per octave of the log-frequency axis.
        n_output_bins: bins kept, at most F.

    Returns:
        [..., len(harmonics), n_output_bins, T].
    """
    validate.min_rank("x", x, 2, "[..., F, T]")
    if not len(harmonics):
        raise ValueError(f"harmonics must be a non-empty sequence, got {harmonics!r}")
    shifts = harmonic_shifts(harmonics, bins_per_octave)
    validate.positive_int("n_output_bins", n_output_bins)
    n_bins = np.shape(x)[-2]
    if n_output_bins > n_bins:
        raise ValueError(f"n_output_bins must be at most the {n_bins} input bins, got {n_output_bins}")
    below = max(0, -min(shifts))
    above = max(0, n_output_bins + max(shifts) - n_bins)
    pad = [(0, 0)] * (np.ndim(x) - 2) + [(below, above), (0, 0)]
    padded = jnp.pad(jnp.asarray(x), pad)
    channels = [padded[..., below + s : below + s + n_output_bins, :] for s in shifts]
    return jnp.stack(channels, axis=-3)
