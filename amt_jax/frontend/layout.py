"""Where each piano key sits on a model's frequency axis: the one source of that fact.

A log-frequency feature ``X[..., F, T]`` with ``B`` bins per semitone puts key ``p`` (0 = the
lowest key, MIDI ``lowest_midi + p``) on bin ``p·B + center_offset``. Key p's *semitone* is the B
bins starting at ``p·B + center_offset − B//2`` (centred on the key for odd B), clipped to the
axis; harmonic k of key p sits at ``p·B + center_offset + round(12·B·log2 k)``.

Basic Pitch (nnAudio CQT from 27.5 Hz, B = 3): ``center_offset = 0``, so key 0 (A0) is bin 0 and
its semitone is bins −1..1 clipped to 0..1. Our trained variants lower fmin by ``B//2`` bins,
so key p sits on ``p·B + B//2`` and every semitone is whole.

Every model carries its layout (``model.layout``); perturbation families, baselines, training
targets, sweeps and figures read positions from it and never re-derive them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from amt_jax import validate
from amt_jax.constants import MIDI_OFFSET, SEMITONES_PER_OCTAVE


def harmonic_shift(harmonic: float, bins_per_octave: int) -> int:
    """Bins between harmonic ``harmonic`` (``k·f0``; 0.5 is an octave below) and the fundamental on a
    log-frequency axis: ``round(bins_per_octave·log2 k)``."""
    return int(round(bins_per_octave * math.log2(harmonic)))


def octave_bands(n_semitones: int) -> tuple[tuple[int, int], ...]:
    """Half-open semitone ranges of the octaves from the lowest semitone: ``(0, 12), (12, 24), ...``,
    the last clipped at ``n_semitones``."""
    validate.positive_int("n_semitones", n_semitones)
    return tuple((lo, min(lo + SEMITONES_PER_OCTAVE, n_semitones)) for lo in range(0, n_semitones, SEMITONES_PER_OCTAVE))


def _semitones_on_axis(n_bins: int, bins_per_semitone: int, center_offset: int) -> int:
    """Semitone groups whose bins start inside an axis of ``n_bins`` bins."""
    b = bins_per_semitone
    return -(-(n_bins - center_offset + b // 2) // b)


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class FrequencyLayout:
    """The frequency axis of a model's input (frozen, hashable: usable as a static jit argument).

    Attributes:
      n_bins: F, bins on the axis.
      bins_per_semitone: B.
      center_offset: bin of key 0's centre (key p's centre is ``p·B + center_offset``).
      n_pitches: P, keys the model outputs (88 for a piano).
      lowest_midi: MIDI number of key 0 (21 = A0).
    """

    n_bins: int
    bins_per_semitone: int
    center_offset: int
    n_pitches: int
    lowest_midi: int = MIDI_OFFSET

    def __post_init__(self):
        validate.positive_int("n_bins", self.n_bins)
        validate.positive_int("bins_per_semitone", self.bins_per_semitone)
        validate.positive_int("n_pitches", self.n_pitches)
        _int("center_offset", self.center_offset)
        _int("lowest_midi", self.lowest_midi)
        b = self.bins_per_semitone
        if not (b // 2 - b < self.center_offset < self.n_bins + b // 2):
            raise ValueError(
                f"center_offset must put key 0's semitone inside the axis ({b // 2 - b} < center_offset < "
                f"{self.n_bins + b // 2}), got {self.center_offset!r}"
            )
        for name in ("n_bins", "bins_per_semitone", "center_offset", "n_pitches", "lowest_midi"):
            object.__setattr__(self, name, int(getattr(self, name)))

    @classmethod
    def for_axis(cls, *, n_bins: int, bins_per_semitone: int, center_offset: int = 0) -> FrequencyLayout:
        """The layout of a bare log axis: every semitone whose bins start on it counts as a key."""
        validate.positive_int("n_bins", n_bins)
        validate.positive_int("bins_per_semitone", bins_per_semitone)
        if isinstance(center_offset, bool) or not isinstance(center_offset, (int, np.integer)):
            raise ValueError(f"center_offset must be an int, got {center_offset!r}")
        n = max(_semitones_on_axis(n_bins, bins_per_semitone, int(center_offset)), 1)
        return cls(n_bins=n_bins, bins_per_semitone=bins_per_semitone, center_offset=int(center_offset), n_pitches=n)

    # ----------------------------------------------------------------- derived sizes

    @property
    def bins_per_octave(self) -> int:
        """12·B."""
        return SEMITONES_PER_OCTAVE * self.bins_per_semitone

    @property
    def n_semitones(self) -> int:
        """Semitone groups whose bins start inside the axis (keys and the headroom above them)."""
        return _semitones_on_axis(self.n_bins, self.bins_per_semitone, self.center_offset)

    @property
    def key_bins(self) -> tuple[int, int]:
        """Half-open bin range of the keys' semitones (lowest key's first bin .. top key's last)."""
        return self.semitone_range(0, self.n_pitches)

    # ----------------------------------------------------------------- positions

    def pitch_bin(self, p):
        """Centre bin of key ``p`` (int or int array): ``p·B + center_offset`` (may lie off the axis)."""
        return np.asarray(p) * self.bins_per_semitone + self.center_offset if np.ndim(p) else int(
            p * self.bins_per_semitone + self.center_offset)

    def semitone_range(self, p_lo: int, p_hi: int) -> tuple[int, int]:
        """Half-open bins ``(lo, hi)`` of semitones ``p_lo .. p_hi − 1``, clipped to ``[0, n_bins]``
        (``lo >= hi`` when the range lies wholly off the axis)."""
        start = self.center_offset - self.bins_per_semitone // 2
        lo = min(max(p_lo * self.bins_per_semitone + start, 0), self.n_bins)
        hi = min(max(p_hi * self.bins_per_semitone + start, 0), self.n_bins)
        return lo, hi

    def semitone_bins(self, p: int) -> tuple[int, int]:
        """Half-open bins ``(lo, hi)`` of semitone ``p`` (key p for p < n_pitches), clipped."""
        return self.semitone_range(p, p + 1)

    def semitone_members(self) -> tuple[np.ndarray, np.ndarray]:
        """Every semitone's bins ``[n_semitones, B]`` (clipped rows shifted to start inside the
        axis) and their validity ``[n_semitones, B]`` (a prefix of each row)."""
        b = self.bins_per_semitone
        start = np.arange(self.n_semitones) * b + self.center_offset - b // 2
        lo, hi = np.maximum(start, 0), np.minimum(start + b, self.n_bins)
        members = lo[:, None] + np.arange(b)[None, :]
        return members.astype(np.int32), members < hi[:, None]

    def bin_pitch(self, f):
        """The key whose semitone holds bin ``f`` (int or int array), or −1 where that is no key
        (below the lowest key's semitone, above the top key's, or off the axis)."""
        f = np.asarray(f)
        s = np.floor_divide(f - (self.center_offset - self.bins_per_semitone // 2), self.bins_per_semitone)
        ok = (f >= 0) & (f < self.n_bins) & (s >= 0) & (s < self.n_pitches)
        out = np.where(ok, s, -1)
        return int(out) if out.ndim == 0 else out.astype(np.int64)

    def bin_weights(self, key_weights) -> np.ndarray:
        """``[n_bins]`` weights of the bins from weights of the keys ``[n_pitches]`` (e.g. frames
        each key sounds): each bin of key p's semitone gets p's weight, split over its bins; bins of
        no key get 0."""
        w = np.asarray(key_weights, np.float64)
        if w.shape != (self.n_pitches,):
            raise ValueError(f"key_weights must be [{self.n_pitches}] (one per key), got shape {w.shape}")
        p = self.bin_pitch(np.arange(self.n_bins))
        counts = np.bincount(p[p >= 0], minlength=self.n_pitches)
        return np.where(p >= 0, w[np.maximum(p, 0)] / np.maximum(counts[np.maximum(p, 0)], 1), 0.0)

    def harmonic_offsets(self, n_harmonics: int) -> tuple[int, ...]:
        """Bins between harmonic k and the fundamental, k = 1..h: ``round(12·B·log2 k)``."""
        validate.positive_int("n_harmonics", n_harmonics)
        return tuple(harmonic_shift(k, self.bins_per_octave) for k in range(1, n_harmonics + 1))

    def sham_offsets(self, n_harmonics: int) -> tuple[int, ...]:
        """Bins of an inharmonic "sham" comb from the fundamental, k = 2..h: ``round(12·B·log2(k + ½))``,
        between harmonics k and k + 1 (the sham control of harmonic reliance)."""
        validate.positive_int("n_harmonics", n_harmonics)
        return tuple(harmonic_shift(k + 0.5, self.bins_per_octave) for k in range(2, n_harmonics + 1))

    def octave_bands(self) -> tuple[tuple[int, int], ...]:
        """Semitone ranges of the keys' octaves from the lowest key (:func:`octave_bands` of the keys)."""
        return octave_bands(self.n_pitches)

    def harmonic_bins(self, p: int, n_harmonics: int) -> tuple[int, ...]:
        """Bins of harmonics 1..h of key ``p`` that lie on the axis (fundamental first)."""
        centre = self.pitch_bin(int(p))
        return tuple(centre + o for o in self.harmonic_offsets(n_harmonics) if 0 <= centre + o < self.n_bins)

    def midi(self, p):
        """MIDI number of key ``p``."""
        return np.asarray(p) + self.lowest_midi if np.ndim(p) else int(p) + self.lowest_midi

    def is_key(self, p):
        """Whether semitone ``p`` is one of the model's keys (0 <= p < n_pitches)."""
        p = np.asarray(p)
        out = (p >= 0) & (p < self.n_pitches)
        return bool(out) if out.ndim == 0 else out

    # ----------------------------------------------------------------- storage

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FrequencyLayout:
        """Inverse of :meth:`to_dict` (extra keys are ignored, so a result record can be passed)."""
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{k: d[k] for k in names if k in d})
