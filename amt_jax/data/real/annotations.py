"""Reading the recordings' annotations and putting them on the model's frame grid.

- Pitch tracks (``f0`` CSVs, ``;``-separated, a header then ``time_s;f0_hz`` rows, 0 Hz =
  unvoiced): :func:`read_f0_csv` → times [n] (s) and F0 [n] (Hz); :func:`f0_on_frames` samples
  a track at the frame centres ``t · 256 / 22050`` s (nearest sample, voiced only when that
  sample is voiced and lies within 1.5 track steps of the frame centre); :func:`frames_from_f0`
  turns per-voice F0 [n_frames, n_voices] into a frame roll on the nearest key.
- Note lists (``start;duration;pitch;velocity;label``, seconds and MIDI, velocity in [0, 1]):
  :func:`read_note_csv` → :class:`~amt_jax.data.labels.Notes` (velocity scaled to 1..127).
- A single recorded note with its pitch known from the file name: :func:`single_note` places it
  from the audio's envelope.
"""

from __future__ import annotations

import io

import numpy as np

from amt_jax.constants import FRAMES_PER_SECOND, HOP_LENGTH, MIDI_OFFSET, N_PITCHES, SAMPLE_RATE, hz_to_midi
from amt_jax.data.examples import BadPiece
from amt_jax.data.labels import Notes, make_notes

MAX_GAP_STEPS = 1.5  # a frame takes a track sample only within this many track steps of it
ONSET_FRACTION = 1e-2  # single note: the onset is the first sample above this fraction of the peak
OFFSET_DB = 50.0  # single note: the offset ends the last hop within this many dB of the loudest hop


def _table(data: bytes, *, name: str, n_columns: int) -> np.ndarray:
    try:
        table = np.loadtxt(io.StringIO(data.decode("utf-8")), delimiter=";", skiprows=1, usecols=range(n_columns), ndmin=2)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPiece(f"unreadable annotation {name} ({type(exc).__name__}: {exc})") from None
    if table.shape[0] == 0 or not np.all(np.isfinite(table)):
        raise BadPiece(f"annotation {name} is empty or holds non-finite numbers")
    return table


def read_f0_csv(data: bytes, *, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A pitch track: times [n] (s, increasing) and F0 [n] (Hz, 0 = unvoiced); ``BadPiece`` if malformed."""
    table = _table(data, name=name, n_columns=2)
    times, hz = table[:, 0], table[:, 1]
    if np.any(np.diff(times) <= 0) or np.any(hz < 0):
        raise BadPiece(f"pitch track {name} needs increasing times and F0 >= 0 Hz")
    if not np.any(hz > 0):
        raise BadPiece(f"pitch track {name} has no voiced sample")
    return times, hz


def read_note_csv(data: bytes, *, name: str) -> Notes:
    """A note list (``start;duration;pitch;velocity;label``) as :class:`Notes`; velocity 0..1 → 1..127."""
    table = _table(data, name=name, n_columns=4)
    start, duration, pitch, velocity = table.T
    try:
        return make_notes(start, start + duration, pitch, np.clip(np.round(velocity * 127), 1, 127))
    except ValueError as exc:
        raise BadPiece(f"note list {name}: {exc}") from None


def f0_on_frames(times: np.ndarray, hz: np.ndarray, n_frames: int) -> np.ndarray:
    """Track (times [n] s, F0 [n] Hz) sampled at frame centres: float32 [n_frames] Hz, 0 = unvoiced."""
    centres = np.arange(n_frames) * HOP_LENGTH / SAMPLE_RATE
    step = float(np.median(np.diff(times))) if times.size > 1 else 1.0 / FRAMES_PER_SECOND
    right = np.clip(np.searchsorted(times, centres), 1, max(times.size - 1, 1)) if times.size > 1 else np.zeros(n_frames, int)
    left = np.maximum(right - 1, 0)
    nearest = np.where(np.abs(times[left] - centres) <= np.abs(times[right] - centres), left, right)
    ok = np.abs(times[nearest] - centres) <= MAX_GAP_STEPS * step
    return np.where(ok, hz[nearest], 0.0).astype(np.float32)


def frames_from_f0(f0: np.ndarray) -> tuple[np.ndarray, int]:
    """Frame roll bool [n_frames, 88] of per-voice F0 float [n_frames, n_voices] (Hz, 0 = unvoiced):
    each voiced frame marks its nearest key. Also the count of voiced frames off the 88 keys (dropped)."""
    f0 = np.asarray(f0, dtype=np.float64)
    roll = np.zeros((f0.shape[0], N_PITCHES), dtype=bool)
    voiced = f0 > 0
    keys = np.full(f0.shape, -1, dtype=np.int64)
    keys[voiced] = np.round(hz_to_midi(f0[voiced])).astype(np.int64) - MIDI_OFFSET
    on = voiced & (keys >= 0) & (keys < N_PITCHES)
    frame_idx, _ = np.nonzero(on)
    roll[frame_idx, keys[on]] = True
    return roll, int(np.sum(voiced & ~on))


def single_note(audio: np.ndarray, *, pitch: int, name: str) -> Notes:
    """One note of MIDI ``pitch`` in mono ``audio`` at 22,050 Hz: onset at the first sample above
    1 % of the peak, offset at the end of the last 256-sample hop within 50 dB of the loudest hop."""
    audio = np.asarray(audio, dtype=np.float64)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        raise BadPiece(f"{name}: silent audio")
    onset = int(np.argmax(np.abs(audio) > ONSET_FRACTION * peak))
    n_hops = audio.size // HOP_LENGTH
    rms = np.sqrt(np.mean(audio[: n_hops * HOP_LENGTH].reshape(n_hops, HOP_LENGTH) ** 2, axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (-OFFSET_DB / 20))
    offset = (int(loud[-1]) + 1) * HOP_LENGTH
    return make_notes([onset / SAMPLE_RATE], [max(offset, onset + 1) / SAMPLE_RATE], [pitch], [100])
