"""Note events from Basic Pitch posteriorgrams, decoded the way Basic Pitch decodes them.

A re-implementation of ``basic_pitch.note_creation.output_to_notes_polyphonic`` and
``model_frames_to_time`` (basic-pitch 0.4.0, Apache-2.0) on our ``[P, T]`` layout:

1. Onsets are also inferred from rises of the note activation (the smaller of its 1- and
   2-frame differences, rescaled to the onset maximum); the onset map is the larger of both.
2. Strict local maxima over time of that map, at or above ``onset_threshold``, are note starts,
   visited backwards in time (and from high to low pitch within a frame). A note lasts while the
   remaining energy at its pitch stays at or above ``frame_threshold``, tolerating fewer than
   ``energy_tolerance`` frames below it; it is kept if longer than ``min_note_frames``, and its
   energy at pitch ±1 is then removed.
3. "Melodia trick": from the largest remaining activation above ``frame_threshold``, a note is
   grown forwards and backwards the same way (removing energy as it goes) until nothing is left.

Pitch bends (:func:`pitch_bends`) follow ``get_pitch_bends``; MIDI is written in Basic Pitch's
default layout (``multiple_pitch_bends=False``). Two deliberate deviations, both for degenerate
inputs only: when the note activation never rises (Basic Pitch divides 0 by 0, its onset map
becomes NaN and the onset stage finds nothing) the inferred onsets are zero; and MIDI velocities
are clipped to [1, 127] (Basic Pitch writes round(127 · amplitude); 0 would read as a note-off).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pretty_midi
import scipy.signal

from amt_jax import validate
from amt_jax.constants import (
    AUDIO_WINDOW_S,
    BP_BINS_PER_SEMITONE,
    HOP_LENGTH,
    MIDI_OFFSET,
    SAMPLE_RATE,
    WINDOW_SAMPLES,
)

ONSET_THRESHOLD = 0.5  # Basic Pitch's default
FRAME_THRESHOLD = 0.3  # Basic Pitch's default
MIN_NOTE_LENGTH_S = 0.1277  # Basic Pitch's default (127.70 ms)
MIN_NOTE_FRAMES = int(np.round(MIN_NOTE_LENGTH_S * SAMPLE_RATE / HOP_LENGTH))  # 11
ENERGY_TOLERANCE_FRAMES = 11  # frames below frame_threshold tolerated inside a note
INFERRED_ONSET_DIFFS = 2  # onsets are inferred from 1- and 2-frame differences
# Basic Pitch's note-time correction counts windows of its nominal 86 frames/s x 2 s = 172 frames
# and shifts each by the 172-vs-171.27 frame mismatch plus an empirical 1.8 ms.
_TIME_WINDOW_FRAMES = (SAMPLE_RATE // HOP_LENGTH) * AUDIO_WINDOW_S
_TIME_WINDOW_OFFSET_S = (HOP_LENGTH / SAMPLE_RATE) * (_TIME_WINDOW_FRAMES - WINDOW_SAMPLES / HOP_LENGTH) + 0.0018
ELECTRIC_PIANO_PROGRAM = 4  # General MIDI "Electric Piano 1", as Basic Pitch writes
PITCH_BEND_TOLERANCE_BINS = 25  # contour bins searched either side of a note's own bin
PITCH_BEND_STD_BINS = 5  # std of the Gaussian weighting that search


class Note(NamedTuple):
    """One note event: onset and offset in seconds, MIDI pitch, mean note activation in [0, 1],
    and optionally its pitch bend per frame in contour bins (1/3 semitone), or None."""

    start_s: float
    end_s: float
    pitch: int
    amplitude: float
    bends: tuple[int, ...] | None = None


def min_note_frames(min_note_length_s: float) -> int:
    """Minimum note length in frames, rounded as Basic Pitch rounds it (0.1277 s -> 11)."""
    if not (np.isfinite(min_note_length_s) and min_note_length_s >= 0):
        raise ValueError(f"min_note_length_s must be a finite number >= 0, got {min_note_length_s!r}")
    return int(np.round(min_note_length_s * (SAMPLE_RATE / HOP_LENGTH)))


def frame_times(n_frames: int) -> np.ndarray:
    """Times in seconds [n_frames] of the frames of an unwrapped posteriorgram, as Basic Pitch
    assigns them (``note_creation.model_frames_to_time``): t · hop / sr, minus 10.33 ms for every
    172 frames. The windowing actually shifts frames by 188 samples (8.53 ms) every 142 frames, so
    these times differ from the frames' exact positions by −8.3 … +10.9 ms over the first 20 min
    (mean |error| ≈ 3 ms); reproduced to give Basic Pitch's note times."""
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 0:
        raise ValueError(f"n_frames must be an integer >= 0, got {n_frames!r}")
    frames = np.arange(n_frames)
    return frames * HOP_LENGTH / SAMPLE_RATE - _TIME_WINDOW_OFFSET_S * np.floor(frames / _TIME_WINDOW_FRAMES)


def inferred_onsets(onset: np.ndarray, note: np.ndarray) -> np.ndarray:
    """Onset map [P, T] (float64): the larger of ``onset`` and the note activation's rises.

    A rise at frame t is min over n = 1, 2 of note[t] − note[t − n] (frames before 0 count as 0),
    clipped at 0, zero at t < 2, then scaled so its maximum equals max(onset).
    """
    onset, note = _check_pair(onset, note)
    n_diff = INFERRED_ONSET_DIFFS
    n_frames = note.shape[1]
    padded = np.concatenate([np.zeros((note.shape[0], n_diff)), note.astype(np.float64)], axis=1)
    diffs = [padded[:, n_diff:] - padded[:, n_diff - n : n_diff - n + n_frames] for n in range(1, n_diff + 1)]
    rise = np.min(diffs, axis=0)
    rise[rise < 0] = 0
    rise[:, :n_diff] = 0
    peak = np.max(rise) if rise.size else 0.0
    if peak > 0:
        rise = np.max(onset) * rise / peak
    return np.maximum(onset.astype(np.float64), rise)


def check_options(
    *,
    onset_threshold: float,
    frame_threshold: float,
    min_note_frames: int,
    energy_tolerance: int = ENERGY_TOLERANCE_FRAMES,
) -> None:
    """Raise ``ValueError`` unless both thresholds are in (0, 1], ``min_note_frames`` >= 0 and
    ``energy_tolerance`` >= 1 (see :func:`decode_note_frames`)."""
    for name, value in (("onset_threshold", onset_threshold), ("frame_threshold", frame_threshold)):
        if isinstance(value, bool) or not (isinstance(value, (int, float, np.integer, np.floating)) and 0 < value <= 1):
            raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    if isinstance(min_note_frames, bool) or not isinstance(min_note_frames, (int, np.integer)) or min_note_frames < 0:
        raise ValueError(f"min_note_frames must be an integer >= 0, got {min_note_frames!r}")
    validate.positive_int("energy_tolerance", energy_tolerance)


def decode_note_frames(
    note: np.ndarray,
    onset: np.ndarray,
    *,
    onset_threshold: float = ONSET_THRESHOLD,
    frame_threshold: float = FRAME_THRESHOLD,
    min_note_frames: int = MIN_NOTE_FRAMES,
    infer_onsets: bool = True,
    melodia_trick: bool = True,
    energy_tolerance: int = ENERGY_TOLERANCE_FRAMES,
) -> list[tuple[int, int, int, float]]:
    """Note events in frames from note and onset posteriorgrams.

    Args:
        note: note activation [P, T] in [0, 1]; row p is MIDI pitch p + 21.
        onset: onset activation [P, T] in [0, 1].
        onset_threshold: minimum onset peak that starts a note.
        frame_threshold: minimum note activation for a note to continue.
        min_note_frames: notes must be longer than this many frames.
        infer_onsets: also start notes at rises of the note activation.
        melodia_trick: grow further notes from the remaining activation maxima.
        energy_tolerance: consecutive frames below ``frame_threshold`` that end a note.

    Returns:
        ``(start_frame, end_frame, midi_pitch, amplitude)`` tuples in Basic Pitch's order (onset
        stage backwards in time, then melodia stage); ``end_frame`` is exclusive and amplitude is
        the mean note activation over [start_frame, end_frame).
    """
    onset, note = _check_pair(onset, note)
    check_options(
        onset_threshold=onset_threshold,
        frame_threshold=frame_threshold,
        min_note_frames=min_note_frames,
        energy_tolerance=energy_tolerance,
    )
    n_pitches, n_frames = note.shape
    if n_frames == 0 or n_pitches == 0:
        return []

    onset_map = inferred_onsets(onset, note) if infer_onsets else onset.astype(np.float64)
    is_peak = np.zeros(onset_map.shape, dtype=bool)
    centre = onset_map[:, 1:-1]
    is_peak[:, 1:-1] = (centre > onset_map[:, :-2]) & (centre > onset_map[:, 2:])
    # Time-major order (frame, then pitch), visited backwards, as Basic Pitch does.
    start_frames, start_pitches = np.nonzero((is_peak & (onset_map >= onset_threshold)).T)

    energy = note.astype(np.float64)  # remaining energy, consumed by accepted notes
    events = []
    for start, p in zip(start_frames[::-1].tolist(), start_pitches[::-1].tolist()):
        if start >= n_frames - 1:
            continue
        run_start, _ = _scan_until_quiet(energy[p, start + 1 : n_frames - 1] < frame_threshold, energy_tolerance)
        end = start + 1 + run_start
        if end - start <= min_note_frames:
            continue
        energy[max(p - 1, 0) : p + 2, start:end] = 0
        events.append((start, end, p + MIDI_OFFSET, float(np.mean(note[p, start:end]))))

    if melodia_trick:
        events.extend(_melodia_notes(note, energy, frame_threshold, min_note_frames, energy_tolerance))
    return events


def decode_notes(
    note: np.ndarray,
    onset: np.ndarray,
    *,
    onset_threshold: float = ONSET_THRESHOLD,
    frame_threshold: float = FRAME_THRESHOLD,
    min_note_length_s: float = MIN_NOTE_LENGTH_S,
    infer_onsets: bool = True,
    melodia_trick: bool = True,
    contour: np.ndarray | None = None,
) -> list[Note]:
    """Note events in seconds from unwrapped Basic Pitch posteriorgrams ``note``, ``onset`` [P, T].

    Same decoding as :func:`decode_note_frames` (``min_note_length_s`` converted with
    :func:`min_note_frames`), frames converted to seconds with :func:`frame_times`. Notes are
    sorted by (start, end, pitch, amplitude), the order Basic Pitch writes them to MIDI. With
    ``contour`` [3·P, T], each note carries its :func:`pitch_bends`.
    """
    events = decode_note_frames(
        note,
        onset,
        onset_threshold=onset_threshold,
        frame_threshold=frame_threshold,
        min_note_frames=min_note_frames(min_note_length_s),
        infer_onsets=infer_onsets,
        melodia_trick=melodia_trick,
    )
    bends = [None] * len(events) if contour is None else pitch_bends(contour, events)
    times = frame_times(np.shape(note)[-1])
    found = [Note(float(times[s]), float(times[e]), int(p), a, b) for (s, e, p, a), b in zip(events, bends)]
    return sorted(found, key=lambda n: n[:4])


def pitch_bends(
    contour: np.ndarray, events: list[tuple[int, int, int, float]], *, tolerance_bins: int = PITCH_BEND_TOLERANCE_BINS
) -> list[tuple[int, ...]]:
    """Per-frame pitch bends of note events, as Basic Pitch's ``get_pitch_bends`` estimates them.

    For each frame of a note, the contour bin within ±``tolerance_bins`` of the note's own bin
    3·(pitch − 21) that maximises contour × Gaussian(std 5 bins), relative to the note's bin.

    Args:
        contour: contour posteriorgram [3·P, T] (1/3-semitone bins from A0).
        events: ``(start_frame, end_frame, midi_pitch, amplitude)`` from :func:`decode_note_frames`.

    Returns:
        one tuple of end_frame − start_frame bends (in 1/3 semitones) per event.
    """
    contour = np.asarray(contour)
    validate.exact_rank("contour", contour, 2, "[3·P, T]")
    validate.positive_int("tolerance_bins", tolerance_bins)
    n_bins = contour.shape[0]
    offsets = np.arange(-tolerance_bins, tolerance_bins + 1)
    weights = scipy.signal.windows.gaussian(2 * tolerance_bins + 1, std=PITCH_BEND_STD_BINS)
    out = []
    for start, end, pitch, _ in events:
        centre = BP_BINS_PER_SEMITONE * (pitch - MIDI_OFFSET)
        if not (0 <= start <= end <= contour.shape[1] and 0 <= centre < n_bins):
            raise ValueError(f"events has a note {(start, end, pitch)} outside the contour {contour.shape}")
        keep = (centre + offsets >= 0) & (centre + offsets < n_bins)
        window = contour[centre + offsets[keep], start:end] * weights[keep, None]  # [bins, frames]
        out.append(tuple((offsets[keep][np.argmax(window, axis=0)]).tolist()))
    return out


def notes_to_mir_eval(notes: list[Note]) -> tuple[np.ndarray, np.ndarray]:
    """``(intervals [N, 2] in seconds, pitches [N] in Hz)``, the inputs of ``mir_eval.transcription``."""
    intervals = np.array([(n.start_s, n.end_s) for n in notes], dtype=np.float64).reshape(-1, 2)
    pitches = np.array([440.0 * 2.0 ** ((n.pitch - 69) / 12) for n in notes], dtype=np.float64)
    return intervals, pitches


def notes_to_midi(
    notes: list[Note], *, program: int = ELECTRIC_PIANO_PROGRAM, tempo_bpm: float = 120.0
) -> pretty_midi.PrettyMIDI:
    """A one-instrument MIDI file of ``notes``; velocity = round(127 · amplitude), clipped to [1, 127].

    As Basic Pitch writes them (``multiple_pitch_bends=False``): the bends of a note that overlaps
    no other note become MIDI pitch-bend events spread evenly from its start to its end
    (4096/3 units per 1/3 semitone, clipped to ±2 semitones); overlapping notes get none. The
    instrument is present (with no notes) when ``notes`` is empty.
    """
    if isinstance(program, bool) or not isinstance(program, (int, np.integer)) or not 0 <= program <= 127:
        raise ValueError(f"program must be an integer in [0, 127], got {program!r}")
    validate.positive("tempo_bpm", tempo_bpm)
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    instrument = pretty_midi.Instrument(program=int(program))
    notes = sorted(notes, key=lambda n: n[:4])
    for n in notes:
        if not (0 <= n.pitch <= 127 and 0 <= n.start_s < n.end_s and math.isfinite(n.end_s)):
            raise ValueError(f"notes contains an invalid note {n[:4]!r}")
    starts = np.array([n.start_s for n in notes])
    ends = np.array([n.end_s for n in notes])
    # Sorted by start: a note overlaps a later one iff the next start is before its end, and an
    # earlier one iff some earlier end is after its start.
    overlaps_later = np.append(starts[1:] < ends[:-1], False) if notes else np.zeros(0, bool)
    earlier_end = np.maximum.accumulate(np.concatenate([[-np.inf], ends[:-1]])) if notes else np.zeros(0)
    overlaps = overlaps_later | (earlier_end > starts)
    for n, overlapping in zip(notes, overlaps):
        velocity = int(np.clip(np.round(127 * n.amplitude), 1, 127))
        instrument.notes.append(pretty_midi.Note(velocity=velocity, pitch=int(n.pitch), start=n.start_s, end=n.end_s))
        if n.bends and not overlapping:
            ticks = np.clip(np.round(np.array(n.bends) * 4096 / BP_BINS_PER_SEMITONE).astype(int), -8192, 8191)
            for t, tick in zip(np.linspace(n.start_s, n.end_s, len(n.bends)), ticks.tolist()):
                instrument.pitch_bends.append(pretty_midi.PitchBend(tick, float(t)))
    midi.instruments.append(instrument)
    return midi


def _check_pair(onset: np.ndarray, note: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    onset, note = np.asarray(onset), np.asarray(note)
    validate.exact_rank("note", note, 2, "[P, T]")
    if onset.shape != note.shape:
        raise ValueError(f"onset must have the shape of note {note.shape}, got {onset.shape}")
    validate.finite("note", note)
    validate.finite("onset", onset)
    return onset, note


def _scan_until_quiet(below: np.ndarray, tolerance: int) -> tuple[int, int]:
    """Walk ``below`` [n] (bool) in order, counting consecutive True, until ``tolerance`` of them
    or the end. Returns ``(run_start, stop)``: where the last run of True began and the index after
    the last element visited (Basic Pitch's ``i - k`` and ``i``, relative to the walk's start)."""
    n = below.shape[0]
    length = min(n, 4 * tolerance)
    while True:  # search growing prefixes: cost follows the note length, not the file length
        counts = np.concatenate([[0], np.cumsum(below[:length])])
        full = np.flatnonzero(counts[tolerance:] - counts[:-tolerance] == tolerance) if length >= tolerance else []
        if len(full):
            return int(full[0]), int(full[0]) + tolerance
        if length == n:  # no long run: the walk ends at n, after the trailing run of True
            above = np.flatnonzero(~below)
            return (int(above[-1]) + 1 if above.size else 0), n
        length = min(n, 2 * length)


def _melodia_notes(
    note: np.ndarray, energy: np.ndarray, frame_threshold: float, min_note_frames: int, tolerance: int
) -> list[tuple[int, int, int, float]]:
    """Basic Pitch's melodia stage on the remaining ``energy`` [P, T] (consumed in place)."""
    n_frames = energy.shape[1]
    # The largest remaining value, first in time-major order: the frame of the first maximal
    # frame maximum, then the first maximal pitch in it (= np.argmax of the [T, P] array).
    frame_max = energy.max(axis=0)
    events = []
    while frame_max.max() > frame_threshold:
        mid = int(np.argmax(frame_max))
        p = int(np.argmax(energy[:, mid]))
        energy[p, mid] = 0
        rows = slice(max(p - 1, 0), p + 2)

        ahead = energy[p, mid + 1 : n_frames - 1] < frame_threshold
        fwd_run, fwd_stop = _scan_until_quiet(ahead, tolerance)
        energy[rows, mid + 1 : mid + 1 + fwd_stop] = 0
        end = mid + fwd_run

        behind = energy[p, 1:mid][::-1] < frame_threshold
        bwd_run, bwd_stop = _scan_until_quiet(behind, tolerance)
        energy[rows, mid - bwd_stop : mid] = 0
        start = mid - bwd_run

        lo, hi = mid - bwd_stop, mid + 1 + fwd_stop
        frame_max[lo:hi] = energy[:, lo:hi].max(axis=0)
        if end - start <= min_note_frames:
            continue
        events.append((start, end, p + MIDI_OFFSET, float(np.mean(note[p, start:end]))))
    return events
