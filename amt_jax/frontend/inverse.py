"""Audio whose features are a given target, e.g. a permuted πX: inverses of the frontends.

Three routes, one per kind of frontend:

* :func:`invert_basic_pitch` — Basic Pitch's frontend (nnAudio's CQT2010v2 + NormalizedLog) has no
  closed-form inverse. Gradient descent on the waveform, starting from the original audio ``y0``:
  ``y = y0 + s·Aᴴ(m ⊙ z)``, where ``A`` is the complex CQT2010 analysis (:func:`cqt2010_complex`,
  whose magnitude is exactly ``cqt2010``), ``Aᴴ`` its adjoint (synthesis atoms on the CQT grid),
  ``s`` a scalar making ``z`` read in units of |C|, and ``m`` a mask of the rows whose target
  differs from the original (± ``neighbourhood`` rows), so nothing else moves. ``z`` starts at 0
  (``y = y0``) and Adam (cosine-decayed learning rate) minimises the mean squared difference
  between ``normalized_log(cqt2010(y))`` and the target features themselves (NormalizedLog
  normalises per window, so the target is matched as features, not as magnitudes). The loop is
  one jitted ``while_loop``: at most ``n_steps`` steps, stopping early once the loss is below
  ``tol``; the best iterate is returned. The parameterisation is a preconditioner: plain Adam on
  the samples moves every sample, raising the many −100 dB floor bins of a rendered window far
  above their target (measured: the feature error grows instead of shrinking).
* :func:`invert_cqt_librosa` — the librosa-compatible CQT of the trained variants: the permuted
  magnitudes ``|C|[idx]`` with phases from the original (moved bins: the source bin's phase
  transposed by a phase vocoder to the destination frequency), refined by fast Griffin–Lim
  with ``librosa.cqt``/``librosa.icqt``.
* :func:`oscillator_bank` — features without audio (the planted models' synthetic features):
  one sinusoid per bin at its centre frequency, amplitude interpolated between frames.

A single-bin permutation (the harmonic family) asks for a row unlike its neighbours, which no
audio produces (neighbouring CQT filters overlap), so the achievable feature error is not 0:
judge a resynthesis by the model's output (:mod:`amt_jax.report.sonify` reports both distances).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from amt_jax import validate
from amt_jax.constants import SAMPLE_RATE
from amt_jax.frontend import cqt2010 as c2010
from amt_jax.frontend.features import normalized_log

CHANGE_ATOL = 1e-6  # a feature row counts as changed where |target − X| exceeds this anywhere


class Inversion(NamedTuple):
    """Result of :func:`invert_basic_pitch`.

    Attributes:
      audio: resynthesised audio ``[..., n_samples]`` float32 (22,050 Hz), same shape as the input audio.
      loss_start: mean squared feature error of the original audio, ``[...]``.
      loss: mean squared feature error of the returned audio (the best iterate), ``[...]``.
      n_steps: optimiser steps taken (all examples step together).
      changed_rows: ``[F]`` bool, the rows whose target differs from the original's features.
    """

    audio: np.ndarray
    loss_start: np.ndarray
    loss: np.ndarray
    n_steps: int
    changed_rows: np.ndarray


def cqt2010_complex(y: jax.Array, config: c2010.CQT2010Config = c2010.CQT2010Config()) -> tuple[jax.Array, jax.Array]:
    """Real and imaginary parts ``([B, F, T], [B, F, T])`` of the CQT2010v2 of ``y [B, n_samples]``,
    linear in ``y``; ``sqrt(re² + im²)`` is :func:`amt_jax.frontend.cqt2010.cqt2010` (same kernels,
    decimation and scaling)."""
    const = c2010.filter_constants(config)
    n_samples = y.shape[-1]
    n_frames = config.n_frames(n_samples)
    x, hop, frames = y, config.hop_length, []
    for octave in range(config.n_octaves):
        if octave:
            x = c2010.decimate(x, const)
            hop //= 2
        frames.append(c2010.frame_windows(x, n_fft=const.n_fft, hop=hop, n_frames=n_frames))
    frames = jnp.stack(frames[::-1], axis=1)  # [B, n_octaves, T, n_fft], lowest octave first
    out = jnp.einsum("botn,nk->botk", frames, jnp.asarray(const.kernels), precision=jax.lax.Precision.HIGHEST)
    scale = jnp.asarray(const.scale)[:, None, :]

    def rows(part):  # [B, n_octaves, T, n_filters] -> [B, F, T]
        part = jnp.swapaxes(part * scale, -1, -2).reshape(-1, config.n_octaves * const.n_filters, n_frames)
        return part[:, -config.n_bins:]

    return rows(out[..., : const.n_filters]), rows(out[..., const.n_filters:])


def _check_pair(target, audio, config: c2010.CQT2010Config) -> tuple[np.ndarray, np.ndarray]:
    target, audio = np.asarray(target, np.float32), np.asarray(audio, np.float32)
    validate.min_rank("audio", audio, 1, "[..., n_samples]")
    validate.finite("audio", audio)
    validate.finite("target", target)
    if audio.shape[-1] < config.min_samples():
        raise ValueError(f"audio must have at least {config.min_samples()} samples, got shape {audio.shape}")
    want = (*audio.shape[:-1], config.n_bins, config.n_frames(audio.shape[-1]))
    if target.shape != want:
        raise ValueError(f"target must have shape {list(want)} (the features of audio {list(audio.shape)}), "
                         f"got {list(target.shape)}")
    return target, audio


def invert_basic_pitch(target, audio, *, config: c2010.CQT2010Config = c2010.CQT2010Config(), n_steps: int = 600,
                       learning_rate: float = 1e-2, tol: float = 1e-6, neighbourhood: int | None = 2) -> Inversion:
    """Audio near ``audio`` whose Basic Pitch features approach ``target`` (see the module docstring).

    Args:
      target: target features ``[..., F, T]`` (NormalizedLog CQT2010, e.g. ``x[..., idx, :]``).
      audio: the original audio ``[..., n_samples]`` at ``config.sr`` Hz, the starting point.
      config: the CQT2010 settings (Basic Pitch's by default).
      n_steps: most Adam steps (the cosine learning-rate schedule spans them).
      learning_rate: peak step of ``z`` as a fraction of the window's peak |C| (measured on three
        harmonic draws of a chorale window: 1e-2 beats 1e-3 and 3e-2).
      tol: stop once every example's mean squared feature error is at most this.
      neighbourhood: rows of ``z`` kept on each side of a changed row; None: all rows.
    """
    target, audio = _check_pair(target, audio, config)
    validate.positive_int("n_steps", n_steps)
    validate.positive("learning_rate", learning_rate)
    if not (isinstance(tol, (int, float)) and tol >= 0):
        raise ValueError(f"tol must be a number >= 0, got {tol!r}")
    if neighbourhood is not None and (isinstance(neighbourhood, bool) or not isinstance(neighbourhood, int)
                                      or neighbourhood < 0):
        raise ValueError(f"neighbourhood must be an int >= 0 or None, got {neighbourhood!r}")
    batch_shape, n = audio.shape[:-1], audio.shape[-1]
    y0 = jnp.asarray(audio.reshape(-1, n))
    t = jnp.asarray(target.reshape(y0.shape[0], *target.shape[-2:]))
    x0 = normalized_log(c2010.cqt2010(y0, **_cqt_kwargs(config)))
    changed = np.asarray(jnp.max(jnp.abs(t - x0), axis=(0, 2))) > CHANGE_ATOL
    rows = np.ones_like(changed) if neighbourhood is None else (
        np.convolve(changed, np.ones(2 * neighbourhood + 1), "same") > 0)
    if not changed.any():  # nothing to move: the original is exact
        loss0 = np.asarray(jnp.mean((x0 - t) ** 2, axis=(-2, -1))).reshape(batch_shape)
        return Inversion(audio.copy(), loss0, loss0, 0, changed)
    y, loss0, loss, steps = _descend(y0, t, jnp.asarray(rows, jnp.float32), jnp.float32(learning_rate),
                                     jnp.float32(tol), config=config, n_steps=int(n_steps))
    return Inversion(np.asarray(y).reshape(audio.shape), np.asarray(loss0).reshape(batch_shape),
                     np.asarray(loss).reshape(batch_shape), int(steps), changed)


def _cqt_kwargs(config: c2010.CQT2010Config) -> dict:
    return dict(sr=config.sr, hop_length=config.hop_length, fmin=config.fmin, n_bins=config.n_bins,
                bins_per_octave=config.bins_per_octave, filter_scale=config.filter_scale)


@functools.partial(jax.jit, static_argnames=("config", "n_steps"))
def _descend(y0, target, rows, learning_rate, tol, *, config, n_steps):
    """The jitted loop of :func:`invert_basic_pitch`: ``(audio [B, n], loss_start [B], loss [B], steps)``."""
    analysis = functools.partial(cqt2010_complex, config=config)
    parts, adjoint = jax.vjp(analysis, y0)
    magnitude = jnp.sqrt(parts[0] ** 2 + parts[1] ** 2)
    back = adjoint(parts)[0]  # AᴴA y0: s makes s·AᴴA y0 the least-squares fit of y0
    s = jnp.sum(y0 * back, axis=-1) / jnp.maximum(jnp.sum(back * back, axis=-1), 1e-30)
    peak = jnp.max(magnitude)

    def synth(z):
        return y0 + s[:, None] * adjoint((z[0] * rows[:, None], z[1] * rows[:, None]))[0]

    def losses(z):
        return jnp.mean((normalized_log(c2010.cqt2010(synth(z), **_cqt_kwargs(config))) - target) ** 2, axis=(-2, -1))

    opt = optax.adam(optax.cosine_decay_schedule(learning_rate * peak, n_steps))
    def total(z):
        per_example = losses(z)
        return jnp.sum(per_example), per_example

    value_and_grad = jax.value_and_grad(total, has_aux=True)
    z0 = jnp.zeros((2, *magnitude.shape), jnp.float32)

    def cond(state):
        step, _, _, _, best_loss = state
        return (step < n_steps) & (jnp.max(best_loss) > tol)

    def body(state):  # evaluates z, keeps it if best, then steps
        step, z, opt_state, best_z, best_loss = state
        (_, current), g = value_and_grad(z)
        better = current < best_loss
        best_z = jnp.where(better[None, :, None, None], z, best_z)
        updates, opt_state = opt.update(g, opt_state, z)
        return step + 1, optax.apply_updates(z, updates), opt_state, best_z, jnp.minimum(current, best_loss)

    inf = jnp.full(y0.shape[:1], jnp.inf, jnp.float32)
    steps, _, _, best_z, best_loss = jax.lax.while_loop(cond, body, (0, z0, opt.init(z0), z0, inf))
    return synth(best_z), losses(z0), best_loss, steps


# --------------------------------------------------------------------------- librosa's CQT


def _librosa_kwargs(sr, hop_length, fmin, bins_per_octave) -> dict:
    validate.positive("sr", sr)
    validate.positive_int("hop_length", hop_length)
    validate.positive("fmin", fmin)
    validate.positive_int("bins_per_octave", bins_per_octave)
    return dict(sr=float(sr), hop_length=int(hop_length), fmin=float(fmin), bins_per_octave=int(bins_per_octave))


def check_permutation(name: str, idx, n_bins: int) -> np.ndarray:
    """``idx`` as int ``[n_bins]`` if it is a permutation of ``arange(n_bins)``; ValueError otherwise."""
    idx = np.asarray(idx)
    if idx.shape != (n_bins,) or not np.issubdtype(idx.dtype, np.integer) or not np.array_equal(np.sort(idx), np.arange(n_bins)):
        raise ValueError(f"{name} must be a permutation of range({n_bins}) (int [{n_bins}]), got {idx!r}")
    return idx.astype(np.int64)


def transposed_phase(phase: np.ndarray, idx: np.ndarray, frequencies: np.ndarray, *, sr: float,
                     hop_length: int) -> np.ndarray:
    """Phases ``[F, T]`` for the permuted coefficients: row f keeps ``phase[f]`` where ``idx[f] == f``;
    a moved row takes the source row's instantaneous frequency (phase vocoder) scaled by
    ``frequencies[f] / frequencies[idx[f]]`` and accumulates it from the source's first phase."""
    out = np.array(phase, np.float64)
    moved = np.flatnonzero(idx != np.arange(len(idx)))
    if not len(moved):
        return out
    src = idx[moved]
    expected = 2 * np.pi * frequencies[src, None] * hop_length / sr  # phase advance per frame at the bin centre
    deviation = np.angle(np.exp(1j * (np.diff(phase[src], axis=1) - expected)))
    advance = (expected + deviation) * (frequencies[moved] / frequencies[src])[:, None]
    out[moved] = phase[src, :1] + np.concatenate([np.zeros((len(moved), 1)), np.cumsum(advance, axis=1)], axis=1)
    return out


def invert_cqt_librosa(audio, idx, *, sr: float = SAMPLE_RATE, hop_length: int, fmin: float, n_bins: int,
                       bins_per_octave: int, n_iter: int = 16, momentum: float = 0.99) -> np.ndarray:
    """Audio whose librosa CQT magnitude approaches ``|C|[idx]``, ``C = librosa.cqt(audio)``.

    Since NormalizedLog's min and max are invariant under a permutation of the bins, these
    magnitudes give exactly the permuted features ``normalized_log(|C|)[idx]``.

    Args:
      audio: original audio ``[n_samples]`` at ``sr`` Hz.
      idx: the permutation, int ``[n_bins]`` (row f of the result holds row ``idx[f]``).
      sr, hop_length, fmin, n_bins, bins_per_octave: the CQT (as in ``amt_jax.frontend.cqt.cqt``).
      n_iter: fast Griffin–Lim iterations (0: the initial phases only).
      momentum: Griffin–Lim momentum (librosa's default 0.99).

    Returns:
      audio ``[n_samples]`` float32.
    """
    import librosa

    kw = _librosa_kwargs(sr, hop_length, fmin, bins_per_octave)
    validate.positive_int("n_bins", n_bins)
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 0:
        raise ValueError(f"n_iter must be an int >= 0, got {n_iter!r}")
    audio = np.asarray(audio, np.float32)
    validate.exact_rank("audio", audio, 1, "[n_samples]")
    validate.finite("audio", audio)
    idx = check_permutation("idx", idx, n_bins)
    n = audio.shape[0]
    spectrum = librosa.cqt(audio, n_bins=n_bins, **kw)
    magnitude = np.abs(spectrum)[idx]
    frequencies = kw["fmin"] * 2.0 ** (np.arange(n_bins) / kw["bins_per_octave"])
    angles = np.exp(1j * transposed_phase(np.angle(spectrum), idx, frequencies, sr=kw["sr"], hop_length=kw["hop_length"]))
    previous = 0.0
    for _ in range(n_iter):  # librosa.griffinlim_cqt's update, from our initial phases
        rebuilt = librosa.cqt(librosa.icqt(magnitude * angles, length=n, **kw), n_bins=n_bins, **kw)
        angles = rebuilt - (momentum / (1 + momentum)) * previous
        angles = angles / (np.abs(angles) + 1e-16)
        previous = rebuilt
    return librosa.icqt(magnitude * angles, length=n, **kw).astype(np.float32)


# --------------------------------------------------------------------------- features only


def oscillator_bank(magnitude, frequencies, *, sr: float = SAMPLE_RATE, hop_length: int, seed: int = 0) -> np.ndarray:
    """One sinusoid per bin: ``Σ_f a_f(n) · sin(2π f_f n / sr + φ_f)``.

    Args:
      magnitude: amplitudes ``[F, T]`` (linear), frame t centred on sample ``t·hop_length``.
      frequencies: centre frequency of each bin in Hz ``[F]``, below ``sr / 2``.
      sr: sample rate in Hz.
      hop_length: samples between frames.
      seed: the phases φ_f are uniform from ``numpy.random.default_rng(seed)`` (a fixed sum of
        zero-phase sines would click).

    Returns:
      audio ``[T·hop_length]`` float32; ``a_f(n)`` interpolates the frames linearly.
    """
    magnitude = np.asarray(magnitude, np.float64)
    frequencies = np.asarray(frequencies, np.float64)
    validate.exact_rank("magnitude", magnitude, 2, "[F, T]")
    validate.finite("magnitude", magnitude)
    validate.positive("sr", sr)
    validate.positive_int("hop_length", hop_length)
    if frequencies.shape != magnitude.shape[:1] or not np.all((frequencies > 0) & (frequencies < sr / 2)):
        raise ValueError(f"frequencies must be [{magnitude.shape[0]}] values in (0, sr/2 = {sr / 2}) Hz, "
                         f"got {frequencies!r}")
    n_frames = magnitude.shape[1]
    n = np.arange(n_frames * hop_length)
    phases = np.random.default_rng(seed).uniform(0, 2 * np.pi, len(frequencies))
    out = np.zeros(len(n))
    for f in np.flatnonzero(np.any(magnitude != 0, axis=1)):
        envelope = np.interp(n, np.arange(n_frames) * hop_length, magnitude[f])
        out += envelope * np.sin(2 * np.pi * frequencies[f] * n / sr + phases[f])
    return out.astype(np.float32)
