"""Basic Pitch's frontend: nnAudio's CQT2010v2 (as ported to Keras by Spotify), in pure JAX.

One bank of complex kernels covers the top octave; every lower octave reuses it on the
signal low-passed and decimated by 2 (Schörkhuber & Klapuri 2010)::

    x_0 = y                    x_k = (zero-pad 127 | 256-tap firwin2 low-pass | stride 2)(x_{k-1})
    C_k = |reflect-pad(x_k, n_fft/2) ⋆ kernels|, stride hop / 2^k, octaves stacked lowest first

then the top ``n_bins`` rows are kept and bin k is scaled by sqrt(ceil(Q·sr/f_k)) (librosa-like
normalisation). The even-length low-pass delays each octave by half an input sample relative to
the one above; this is reproduced on purpose, as the pretrained weights were trained on it.

This is CQT2010v2 with ``earlydownsample=False``; for Basic Pitch's configuration nnAudio's
early-downsampling count is 0, so both coincide. The constants (kernels, low-pass, scaling) are
regenerated with numpy/scipy on the host and cached per configuration.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import scipy.signal

from amt_jax import validate
from amt_jax.constants import BP_BINS_PER_OCTAVE, BP_N_BINS, FMIN_HZ, HOP_LENGTH, SAMPLE_RATE

LOWPASS_TAPS = 256  # length of the anti-aliasing FIR between octaves
LOWPASS_BAND_CENTER = 0.5  # cutoff as a fraction of the Nyquist frequency before decimation
LOWPASS_TRANSITION = 0.001  # relative transition half-width around the cutoff
DECIMATION_BLOCK = 128  # outputs per matmul row in the polyphase decimator (a speed knob only)


@dataclasses.dataclass(frozen=True)
class CQT2010Config:
    """Static CQT2010v2 settings (hashable: the kernels are cached on it).

    Attributes:
        sr: sample rate in Hz.
        hop_length: frame hop in samples at ``sr``; must be divisible by 2**(n_octaves - 1).
        fmin: centre frequency of the lowest bin in Hz.
        n_bins: number of bins F.
        bins_per_octave: bins per octave.
        filter_scale: multiplies Q = 1 / (2**(1/bins_per_octave) - 1).
    """

    sr: float = SAMPLE_RATE
    hop_length: int = HOP_LENGTH
    fmin: float = FMIN_HZ
    n_bins: int = BP_N_BINS
    bins_per_octave: int = BP_BINS_PER_OCTAVE
    filter_scale: float = 1.0

    def __post_init__(self):
        validate.spectrogram_settings(**dataclasses.asdict(self))
        top_hz = self.fmin * 2.0 ** ((self.n_bins - 1) / self.bins_per_octave)
        if top_hz > self.sr / 2:
            raise ValueError(
                f"n_bins={self.n_bins} puts the top bin at {top_hz:.1f} Hz, above the Nyquist "
                f"frequency {self.sr / 2} Hz of sr={self.sr}; reduce n_bins"
            )
        decimation = 2 ** (self.n_octaves - 1)
        if self.hop_length % decimation:
            raise ValueError(
                f"hop_length must be divisible by 2**(n_octaves - 1) = {decimation} "
                f"({self.n_octaves} octaves), got {self.hop_length}"
            )

    @property
    def n_octaves(self) -> int:
        return math.ceil(self.n_bins / self.bins_per_octave)

    @property
    def q(self) -> float:
        return float(self.filter_scale) / (2.0 ** (1.0 / self.bins_per_octave) - 1.0)

    @property
    def frequencies(self) -> np.ndarray:
        """Bin centre frequencies in Hz, [n_bins]."""
        return self.fmin * 2.0 ** (np.arange(self.n_bins) / float(self.bins_per_octave))

    def min_samples(self) -> int:
        """Shortest input: the lowest octave must exceed the reflect padding (n_fft // 2)."""
        return (filter_constants(self).n_fft // 2 + 1) * 2 ** (self.n_octaves - 1)

    def n_frames(self, n_samples: int) -> int:
        """Frames produced from ``n_samples`` samples (centred frames)."""
        return n_samples // self.hop_length + 1


@dataclasses.dataclass(frozen=True)
class FilterConstants:
    kernels: np.ndarray  # [n_fft, 2 * n_filters] float32: real parts then imaginary parts
    lowpass: np.ndarray  # [LOWPASS_TAPS] float32
    decimator: np.ndarray  # [q · 2·DECIMATION_BLOCK, DECIMATION_BLOCK] float32, see decimate
    scale: np.ndarray  # [n_octaves, n_filters] float32, sqrt of the kernel lengths (1 for dropped bins)
    n_fft: int
    n_filters: int


def lowpass_filter() -> np.ndarray:
    """The 256-tap firwin2 half-band low-pass used between octaves, float32 [256]."""
    passband = LOWPASS_BAND_CENTER / (1 + LOWPASS_TRANSITION)
    stopband = LOWPASS_BAND_CENTER * (1 + LOWPASS_TRANSITION)
    taps = scipy.signal.firwin2(LOWPASS_TAPS, [0.0, passband, stopband, 1.0], [1.0, 1.0, 0.0, 0.0])
    return taps.astype(np.float32)


def top_octave_kernels(config: CQT2010Config) -> tuple[np.ndarray, int]:
    """Complex top-octave kernels as nnAudio builds them: [n_filters, n_fft] complex64, and n_fft.

    Kernel k has length l_k = ceil(Q·sr/f_k), a periodic Hann window times e^{2πi f_k n / sr}
    (n from -⌈l/2⌉ on), is L1-normalised and sits centred (extra zero on the right) in n_fft taps.
    """
    n_filters = min(config.bins_per_octave, config.n_bins)
    remainder = config.n_bins % config.bins_per_octave
    top_index = (config.bins_per_octave if remainder == 0 else remainder) - 1
    fmax_t = config.fmin * 2 ** (config.n_octaves - 1) * 2 ** (top_index / config.bins_per_octave)
    fmin_t = fmax_t / 2 ** (1 - 1 / config.bins_per_octave)
    q, sr = config.q, config.sr
    n_fft = int(2 ** math.ceil(math.log2(math.ceil(q * sr / fmin_t))))
    freqs = fmin_t * 2.0 ** (np.r_[0:n_filters] / float(config.bins_per_octave))
    kernels = np.zeros((n_filters, n_fft), dtype=np.complex64)
    for k, freq in enumerate(freqs):
        length = np.ceil(q * sr / freq)
        start = int(np.ceil(n_fft / 2.0 - length / 2.0)) - int(length % 2)
        sig = (
            scipy.signal.get_window("hann", int(length), fftbins=True)
            * np.exp(np.r_[-length // 2 : length // 2] * 1j * 2 * np.pi * freq / sr)
            / length
        )
        kernels[k, start : start + int(length)] = sig / np.linalg.norm(sig, 1)
    return kernels, n_fft


def _polyphase_matrix(taps: np.ndarray, block: int) -> np.ndarray:
    """W [q · 2·block, block] with W[(j, u), r] = taps[2·block·j + u − 2r] (0 outside), for decimate."""
    s_in = 2 * block
    q = -(-(2 * (block - 1) + taps.shape[0]) // s_in)
    index = np.arange(q)[:, None, None] * s_in + np.arange(s_in)[None, :, None] - 2 * np.arange(block)[None, None, :]
    inside = (index >= 0) & (index < taps.shape[0])
    return np.where(inside, taps[np.clip(index, 0, taps.shape[0] - 1)], 0).astype(np.float32).reshape(q * s_in, block)


@functools.lru_cache(maxsize=16)
def filter_constants(config: CQT2010Config) -> FilterConstants:
    kernels, n_fft = top_octave_kernels(config)
    n_filters = kernels.shape[0]
    lengths = np.ceil(config.q * config.sr / config.frequencies)
    scale = np.ones(config.n_octaves * n_filters, np.float32)
    scale[-config.n_bins :] = np.sqrt(lengths.astype(np.float32))
    lowpass = lowpass_filter()
    return FilterConstants(
        kernels=np.concatenate([kernels.real, kernels.imag], axis=0).T.astype(np.float32),
        lowpass=lowpass,
        decimator=_polyphase_matrix(lowpass, DECIMATION_BLOCK),
        scale=scale.reshape(config.n_octaves, n_filters),
        n_fft=n_fft,
        n_filters=n_filters,
    )


def decimate(x: jax.Array, const: FilterConstants) -> jax.Array:
    """Zero-pad (taps-1)//2 each side, low-pass, keep every 2nd sample: [B, n] -> [B, n // 2].

    Computed polyphase: the padded signal is cut into rows of 2·block samples, q consecutive
    rows are concatenated, and one matmul with ``const.decimator`` yields ``block`` outputs per row.
    """
    taps, block = const.lowpass.shape[0], DECIMATION_BLOCK
    s_in = 2 * block
    q = const.decimator.shape[0] // s_in
    batch, n = x.shape
    n_out = n // 2
    n_rows = -(-n_out // block)
    pad = (taps - 1) // 2
    rows = jnp.pad(x, ((0, 0), (pad, s_in * (n_rows + q - 1) - n - pad))).reshape(batch, n_rows + q - 1, s_in)
    windows = jnp.concatenate([rows[:, j : j + n_rows] for j in range(q)], axis=-1)  # [B, n_rows, q·s_in]
    out = jnp.matmul(windows, jnp.asarray(const.decimator), precision=jax.lax.Precision.HIGHEST)
    return out.reshape(batch, n_rows * block)[:, :n_out]


def frame_windows(x: jax.Array, *, n_fft: int, hop: int, n_frames: int) -> jax.Array:
    """Reflect-pad n_fft//2 each side and cut frames: [B, n] -> [B, n_frames, n_fft]."""
    padded = jnp.pad(x, ((0, 0), (n_fft // 2, n_fft // 2)), mode="reflect")
    index = np.arange(n_frames)[:, None] * hop + np.arange(n_fft)[None, :]
    return padded[:, index]


def _safe_sqrt(x: jax.Array) -> jax.Array:
    """sqrt with a zero (not NaN) gradient at 0."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def cqt2010(
    y,
    *,
    sr: float = SAMPLE_RATE,
    hop_length: int = HOP_LENGTH,
    fmin: float = FMIN_HZ,
    n_bins: int = BP_N_BINS,
    bins_per_octave: int = BP_BINS_PER_OCTAVE,
    filter_scale: float = 1.0,
) -> jax.Array:
    """Magnitude CQT2010v2 of ``y``; defaults are Basic Pitch's (22,050 Hz, hop 256, 309 bins from A0).

    Args:
        y: audio [..., n_samples] at ``sr`` Hz, at least ``CQT2010Config.min_samples()`` long
            (33,024 samples with the defaults).
        sr, hop_length, fmin, n_bins, bins_per_octave, filter_scale: see ``CQT2010Config``.

    Returns:
        |C| [..., n_bins, n_samples // hop_length + 1] float32; frame t is centred on sample
        t·hop_length of the top octave (lower octaves lag by the low-pass half-sample delays).

    Safe under ``jit``/``vmap``/``grad`` (zero gradient where |C| = 0); under ``jit`` fix the
    keyword arguments with ``functools.partial`` (they are static: the kernels depend on them).
    """
    config = CQT2010Config(
        sr=sr, hop_length=hop_length, fmin=fmin, n_bins=n_bins,
        bins_per_octave=bins_per_octave, filter_scale=filter_scale,
    )
    validate.min_rank("y", y, 1, "[..., n_samples]")
    n_samples = np.shape(y)[-1]
    if n_samples < config.min_samples():
        raise ValueError(
            f"y must have at least {config.min_samples()} samples for {config.n_octaves} octaves "
            f"(the lowest octave must exceed the reflect padding), got {n_samples}"
        )
    validate.finite("y", y)
    const = filter_constants(config)
    batch_shape = np.shape(y)[:-1]
    x = jnp.asarray(y, jnp.float32).reshape(-1, n_samples)
    n_frames = config.n_frames(n_samples)
    frames = []
    hop = config.hop_length
    for octave in range(config.n_octaves):
        if octave:
            x = decimate(x, const)
            hop //= 2
        frames.append(frame_windows(x, n_fft=const.n_fft, hop=hop, n_frames=n_frames))
    frames = jnp.stack(frames[::-1], axis=1)  # [B, n_octaves, T, n_fft], lowest octave first
    out = jnp.einsum("botn,nk->botk", frames, jnp.asarray(const.kernels), precision=jax.lax.Precision.HIGHEST)
    scale = jnp.asarray(const.scale)[:, None, :]  # [n_octaves, 1, n_filters]
    re, im = out[..., : const.n_filters] * scale, out[..., const.n_filters :] * scale  # [B, n_octaves, T, n_filters]
    magnitude = _safe_sqrt(re * re + im * im)
    magnitude = jnp.swapaxes(magnitude, -1, -2).reshape(-1, config.n_octaves * const.n_filters, n_frames)
    return magnitude[:, -config.n_bins :].reshape(*batch_shape, config.n_bins, n_frames)
