"""PESTO's frontend in JAX: a variable-Q transform (VQT) as one strided convolution, in dB.

As pesto-pitch 2.0.1 computes it (its nnAudio-derived ``CQT`` with ``gamma``): bin ``k`` of ``n_bins``
has centre frequency ``f_k = fmin' · 2^(k / bins_per_octave)``, ``fmin' = fmin · 2^(−(B−1)/(24·B))``
(``center_bins``: A0 = 27.5 Hz is the centre of bin 1 at B = 3, so each semitone's B bins are
centred on its key), and a periodic-Hann-windowed complex exponential of length
``l_k = ceil(Q·sr / (f_k + gamma/alpha))`` samples (``alpha = 2^(1/bins_per_octave) − 1``,
``Q = 1/alpha``), divided by ``l_k`` and by its L1 norm, scaled by ``sqrt(l_k)``, centred in a
window of ``L = 2^ceil(log2 max l_k)`` samples (4,096 at 16 kHz). The audio is reflect-padded
by ``L//2`` on both sides and correlated with every kernel at stride ``hop = round(step_ms·sr/1000)``:
frame ``t`` is centred on sample ``t·hop``, ``T = n_samples // hop + 1`` frames. The output is
``20·log10(max(|VQT|, eps_float32))``.

The kernels depend on the sample rate, so any rate works (the top bin must stay below Nyquist).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.signal import get_window

from amt_jax import validate

DB_FLOOR = float(np.finfo(np.float32).eps)  # magnitudes are clamped here before the log


class VQTConfig(NamedTuple):
    """The transform's parameters (PESTO's ``hcqt_params``; harmonics [1] only)."""

    fmin: float = 27.5
    bins_per_semitone: int = 3
    n_bins: int = 251
    gamma: float = 7.0
    center_bins: bool = True


class VQTKernels(NamedTuple):
    """``weights [J·hop, 2·n_bins]`` float32 (real parts then imaginary parts of the conjugated,
    normalised kernels, zero-padded from ``width`` to a multiple of ``hop``), ``width`` L, ``hop``
    in samples and ``frequencies [n_bins]`` Hz."""

    weights: np.ndarray
    width: int
    hop: int
    frequencies: np.ndarray


def hop_length(sample_rate: int, step_ms: float) -> int:
    """Samples between frames: ``int(step_ms·sample_rate/1000 + 0.5)`` (PESTO's rounding)."""
    return int(step_ms * sample_rate / 1000 + 0.5)


def frequencies(config: VQTConfig = VQTConfig()) -> np.ndarray:
    """Centre frequencies ``[n_bins]`` Hz (float64)."""
    b = config.bins_per_semitone
    fmin = config.fmin / 2 ** ((b - 1) / (24 * b)) if config.center_bins else config.fmin
    return fmin * 2.0 ** (np.arange(config.n_bins) / (12.0 * b))


def _complex_kernels(config: VQTConfig, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """``(kernels [n_bins, L] complex64, lengths [n_bins])``: each bin's windowed exponential,
    L1-normalised and multiplied by ``sqrt(l_k)`` (librosa's normalisation), centred in L."""
    freqs = frequencies(config)
    if freqs[-1] > sample_rate / 2:
        raise ValueError(f"sample_rate must put the top VQT bin ({freqs[-1]:.1f} Hz) below Nyquist, got {sample_rate}")
    bins_per_octave = 12 * config.bins_per_semitone
    alpha = 2.0 ** (1.0 / bins_per_octave) - 1.0
    lengths = np.ceil((1.0 / alpha) * sample_rate / (freqs + config.gamma / alpha))
    width = 1 << (int(lengths.max()) - 1).bit_length()  # the next power of two >= the longest kernel
    kernels = np.zeros((config.n_bins, width), np.complex64)
    for k, (f, n) in enumerate(zip(freqs, lengths)):
        n_int = int(n)
        start = int(np.ceil(width / 2 - n / 2)) - (n_int % 2)  # odd lengths sit one sample left
        phase = np.arange(math.floor(-n / 2), math.floor(-n / 2) + n_int) * (2j * np.pi * f / sample_rate)
        sig = get_window("hann", n_int, fftbins=True) * np.exp(phase) / n
        kernels[k, start:start + n_int] = sig / np.abs(sig).sum()
    return kernels * np.sqrt(lengths.astype(np.float32))[:, None].astype(np.float32), lengths


@functools.lru_cache(maxsize=8)
def kernels(sample_rate: int, step_ms: float = 10.0, config: VQTConfig = VQTConfig()) -> VQTKernels:
    """The convolution weights for audio at ``sample_rate`` Hz and frames every ``step_ms`` ms (cached)."""
    validate.positive_int("sample_rate", sample_rate)
    if not (isinstance(step_ms, (int, float)) and step_ms > 0):
        raise ValueError(f"step_ms must be a positive number, got {step_ms!r}")
    hop = hop_length(sample_rate, step_ms)
    if hop < 1:
        raise ValueError(f"step_ms must give at least one sample per frame at {sample_rate} Hz, got {step_ms!r}")
    complex_kernels, _ = _complex_kernels(config, sample_rate)
    width = complex_kernels.shape[1]
    blocks = -(-width // hop)
    weights = np.zeros((blocks * hop, 2 * config.n_bins), np.float32)
    weights[:width, :config.n_bins] = complex_kernels.real.T
    weights[:width, config.n_bins:] = -complex_kernels.imag.T
    return VQTKernels(weights, width, hop, frequencies(config))


def n_frames(n_samples: int, hop: int) -> int:
    """Frames of ``n_samples`` samples: ``n_samples // hop + 1``."""
    return n_samples // hop + 1


def vqt_db(audio, k: VQTKernels) -> jax.Array:
    """The VQT magnitude in dB.

    Args:
        audio: [..., n_samples] float32 (n_samples > L/2: reflect padding needs it).
        k: :func:`kernels` for the audio's rate and step.

    Returns:
        X [..., n_bins, T] float32, ``20·log10(max(|VQT|, eps))`` dB, T = n_samples // hop + 1.
    """
    audio = jnp.asarray(audio, jnp.float32)
    n = audio.shape[-1]
    pad = k.width // 2
    if n <= pad:
        raise ValueError(f"audio must be longer than {pad} samples (half the VQT window), got {n}")
    lead = audio.shape[:-1]
    flat = audio.reshape((-1, n))
    padded = jnp.pad(flat, ((0, 0), (pad, pad)), mode="reflect")
    t = n_frames(n, k.hop)
    blocks = k.weights.shape[0] // k.hop
    total = (t + blocks - 1) * k.hop  # every frame's J blocks of hop samples
    padded = jnp.pad(padded, ((0, 0), (0, max(total - padded.shape[1], 0))))[:, :total]
    # frame t = sum_j block[t + j] @ W_j: a stride-1 convolution over blocks of hop samples
    x = padded.reshape((flat.shape[0], t + blocks - 1, k.hop))
    w = jnp.asarray(k.weights).reshape((blocks, k.hop, -1))
    y = jax.lax.conv_general_dilated(x, w, window_strides=(1,), padding="VALID",
                                     dimension_numbers=("NWC", "WIO", "NWC"))  # [N, T, 2·n_bins]
    f = y.shape[-1] // 2
    magnitude = jnp.sqrt(jnp.square(y[..., :f]) + jnp.square(y[..., f:]))
    db = 20.0 * jnp.log10(jnp.maximum(magnitude, DB_FLOOR))
    return jnp.swapaxes(db, -1, -2).reshape(lead + (f, t))
