"""Mistuned renderings: per-voice detuning and vibrato, drawn reproducibly from the piece's name.

A :class:`Tuning` holds, per voice (MIDI track / part), a fixed offset in cents and a sinusoidal
vibrato; voice ``v`` deviates from equal temperament by
``cents[v] + vibrato_depth_cents[v] * sin(2π · vibrato_rate_hz[v] · t + vibrato_phase[v])`` cents
at time ``t`` (seconds from the start of the piece). :func:`draw` gives a piece its tuning:

- detuning by ``D`` cents: each voice gets ``+D`` or ``-D``, the sign drawn per voice from a seed
  derived from the piece's id (stream ``"detune"``), so the signs are the same for every ``D``;
- vibrato: each voice gets a rate drawn uniformly in :data:`VIBRATO_RATE_HZ`, a depth (the peak
  deviation: the pitch swings between ``-depth`` and ``+depth``) uniformly in
  :data:`VIBRATO_DEPTH_CENTS` and a phase uniformly in ``[0, 2π)`` (stream ``"vibrato"``).

:func:`amt_jax.data.render.render` realises a tuning with the synthesiser's pitch bend, one MIDI
channel per voice (a light module: numpy only).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

DETUNE_CENTS = (10, 25, 50)  # the detuned configs of the chorales corpus
VIBRATO_RATE_HZ = (5.0, 6.0)  # rate drawn uniformly in this range
VIBRATO_DEPTH_CENTS = (20.0, 50.0)  # peak deviation drawn uniformly in this range
BEND_RANGE_SEMITONES = 2.0  # pitch-bend range set on every channel (the General MIDI default, set explicitly)
BEND_BLOCK = 128  # samples between vibrato pitch-bend updates (5.8 ms at 22,050 Hz)
MAX_VOICES = 16  # one MIDI channel per voice


@dataclasses.dataclass(frozen=True)
class Tuning:
    """Per-voice pitch deviation (float64 arrays of length ``n_voices`` holding float32 values, the
    precision an example stores; see the module doc).

    ``cents``: fixed offset; ``vibrato_rate_hz`` (0 = none), ``vibrato_depth_cents`` (peak
    deviation) and ``vibrato_phase`` (radians at ``t = 0``).
    """

    cents: np.ndarray
    vibrato_rate_hz: np.ndarray
    vibrato_depth_cents: np.ndarray
    vibrato_phase: np.ndarray

    def __post_init__(self):
        n = None
        for f in dataclasses.fields(self):
            # rounded to float32, the precision a stored example keeps (tfds stores floats as float32)
            arr = np.asarray(getattr(self, f.name), dtype=np.float32).astype(np.float64).reshape(-1)
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"Tuning.{f.name} must be finite, got {arr}")
            if n is not None and arr.size != n:
                raise ValueError(f"Tuning.{f.name} has {arr.size} voices, Tuning.cents has {n}")
            n = arr.size
            object.__setattr__(self, f.name, arr)
        if n == 0 or n > MAX_VOICES:
            raise ValueError(f"a Tuning needs 1..{MAX_VOICES} voices (one MIDI channel each), got {n}")
        if np.any(self.vibrato_rate_hz < 0):
            raise ValueError(f"vibrato_rate_hz must be >= 0, got {self.vibrato_rate_hz}")
        peak = np.abs(self.cents) + np.abs(self.vibrato_depth_cents)
        if peak.max() >= 100 * BEND_RANGE_SEMITONES:
            raise ValueError(f"deviations up to {peak.max():.0f} cents exceed the ±{100 * BEND_RANGE_SEMITONES:.0f}-cent bend range")

    @property
    def n_voices(self) -> int:
        return int(self.cents.size)

    @property
    def has_vibrato(self) -> bool:
        return bool(np.any((self.vibrato_depth_cents != 0) & (self.vibrato_rate_hz > 0)))

    def deviation_cents(self, t_s) -> np.ndarray:
        """Deviation from equal temperament in cents, ``[n_voices, *t.shape]``, at times ``t_s`` (s)."""
        t = np.asarray(t_s, dtype=np.float64)
        shape = (-1,) + (1,) * t.ndim
        arg = 2 * np.pi * self.vibrato_rate_hz.reshape(shape) * t + self.vibrato_phase.reshape(shape)
        return self.cents.reshape(shape) + self.vibrato_depth_cents.reshape(shape) * np.sin(arg)

    @classmethod
    def fixed(cls, cents) -> "Tuning":
        """Fixed offsets ``cents`` (one per voice), no vibrato."""
        cents = np.asarray(cents, dtype=np.float64).reshape(-1)
        zero = np.zeros_like(cents)
        return cls(cents, zero, zero, zero)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def piece_rng(piece_id: str, stream: str) -> np.random.Generator:
    """A generator seeded from ``stream`` and the piece's id (SHA-256), the same on every machine."""
    digest = hashlib.sha256(f"amt_jax.tuning/{stream}/{piece_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def detune_signs(piece_id: str, n_voices: int) -> np.ndarray:
    """``±1.0`` per voice, drawn independently (a fair coin each) from the piece's id; voice ``v``'s
    sign does not depend on ``n_voices``."""
    return np.where(piece_rng(piece_id, "detune").random(n_voices) < 0.5, -1.0, 1.0)


def draw(piece_id: str, n_voices: int, *, detune_cents: float = 0.0, vibrato: bool = False) -> Tuning:
    """The tuning of piece ``piece_id`` with ``n_voices`` voices (see the module doc)."""
    if isinstance(n_voices, bool) or not isinstance(n_voices, (int, np.integer)) or not 1 <= n_voices <= MAX_VOICES:
        raise ValueError(f"n_voices must be an integer in 1..{MAX_VOICES}, got {n_voices!r}")
    if not detune_cents >= 0:
        raise ValueError(f"detune_cents must be >= 0, got {detune_cents!r}")
    cents = float(detune_cents) * detune_signs(piece_id, n_voices) + 0.0  # no -0.0
    zero = np.zeros(n_voices)
    if not vibrato:
        return Tuning(cents, zero, zero, zero)
    rng = piece_rng(piece_id, "vibrato")
    # one row per voice, so voice v's draws do not depend on n_voices
    u = rng.random((n_voices, 3))
    rate = VIBRATO_RATE_HZ[0] + (VIBRATO_RATE_HZ[1] - VIBRATO_RATE_HZ[0]) * u[:, 0]
    depth = VIBRATO_DEPTH_CENTS[0] + (VIBRATO_DEPTH_CENTS[1] - VIBRATO_DEPTH_CENTS[0]) * u[:, 1]
    return Tuning(cents, rate, depth, 2 * np.pi * u[:, 2])


def bend_value(cents, *, bend_range_semitones: float = BEND_RANGE_SEMITONES) -> np.ndarray:
    """14-bit pitch-wheel values (0..16383) for deviations ``cents``.

    TinySoundFont maps wheel ``w`` to ``w / 16383 · 2r − r`` semitones (range ``r``), except the
    centre 8192, which is exactly 0; so ``w = round((c/100 + r) / (2r) · 16383)`` and 0 cents gives
    8192. The step is ``2r / 16383`` semitones (0.024 cents at r = 2).
    """
    c = np.asarray(cents, dtype=np.float64)
    r = float(bend_range_semitones)
    w = np.round((c / 100.0 + r) / (2 * r) * 16383).astype(np.int64)
    return np.where(c == 0, 8192, np.clip(w, 0, 16383))


def bend_cents(value, *, bend_range_semitones: float = BEND_RANGE_SEMITONES) -> np.ndarray:
    """The deviation in cents TinySoundFont plays for wheel ``value`` (inverse of :func:`bend_value`)."""
    v = np.asarray(value, dtype=np.float64)
    r = float(bend_range_semitones)
    return np.where(v == 8192, 0.0, (v / 16383 * 2 * r - r) * 100.0)
