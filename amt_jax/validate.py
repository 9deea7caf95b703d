"""Input validation shared by every stage (mir_eval style: check first, name the argument).

Every check raises ``ValueError`` whose message names the argument and the bad value.
Checks that need concrete values (finiteness) are skipped for JAX tracers, so validated
functions stay safe under ``jax.jit``/``vmap``/``grad``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def is_concrete(x: Any) -> bool:
    """True unless ``x`` is an abstract JAX tracer (inside jit/vmap/grad)."""
    try:
        import jax.core

        return not isinstance(x, jax.core.Tracer)
    except ImportError:  # pragma: no cover
        return True


def positive(name: str, value: float) -> None:
    """``value > 0`` (and finite)."""
    if not (isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def positive_int(name: str, value: int) -> None:
    """``value`` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def at_least(name: str, value: int, low: int) -> None:
    """``value`` is an integer >= ``low`` (a command checks its flags with it: ``name`` is the flag)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def min_rank(name: str, x: Any, rank: int, shape_doc: str) -> None:
    """``x.ndim >= rank``; ``shape_doc`` describes the expected shape, e.g. ``[..., n_samples]``."""
    ndim = np.ndim(x)
    if ndim < rank:
        raise ValueError(f"{name} must have shape {shape_doc} (rank >= {rank}), got shape {np.shape(x)}")


def exact_rank(name: str, x: Any, rank: int, shape_doc: str) -> None:
    """``x.ndim == rank``."""
    if np.ndim(x) != rank:
        raise ValueError(f"{name} must have shape {shape_doc} (rank {rank}), got shape {np.shape(x)}")


def finite(name: str, x: Any) -> None:
    """All values finite (skipped under tracing)."""
    if not is_concrete(x):
        return
    arr = np.asarray(x)
    if arr.size and not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].ravel()[0]
        n = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"{name} contains {n} non-finite value(s) (e.g. {bad}); clean or mask the input first")


def one_of(name: str, value: Any, allowed) -> None:
    """``value in allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(map(str, allowed))}, got {value!r}")


def spectrogram_settings(*, sr, hop_length, fmin, n_bins, bins_per_octave, filter_scale) -> None:
    """The shared settings of a constant-Q transform: all positive, counts integral."""
    positive("sr", sr)
    positive_int("hop_length", hop_length)
    positive("fmin", fmin)
    positive_int("n_bins", n_bins)
    positive_int("bins_per_octave", bins_per_octave)
    positive("filter_scale", filter_scale)
