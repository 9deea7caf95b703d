"""Note lists and the frame / onset rolls derived from them.

A note list is a :class:`Notes` of parallel arrays (onset and offset in seconds, MIDI pitch,
MIDI velocity). Rolls are stored time-major, ``[n_frames, 88]`` (``bool``), with frame ``t``
centred on ``t * HOP_LENGTH / SAMPLE_RATE`` seconds, the frame grid of Basic Pitch (a window of
43,844 samples gives ``43,844 // 256 + 1 = 172`` frames). A note covers the frames
``round(onset * fps) <= t < round(offset * fps)`` (at least one frame) and marks an onset at
``round(onset * fps)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from amt_jax.constants import FRAMES_PER_SECOND, HOP_LENGTH, MIDI_OFFSET, N_PITCHES

SUSTAIN_CC = 64  # MIDI controller number of the damper (sustain) pedal
SUSTAIN_THRESHOLD = 64  # controller value at or above which the pedal counts as down


@dataclasses.dataclass(frozen=True)
class Notes:
    """A note list of parallel arrays, each of length ``n_notes``.

    ``onset_s``, ``offset_s``: float64 seconds; ``pitch``: int32 MIDI numbers; ``velocity``:
    int32 MIDI velocities (1..127).
    """

    onset_s: np.ndarray
    offset_s: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray

    def __len__(self) -> int:
        return int(self.pitch.shape[0])

    @property
    def end_s(self) -> float:
        """Time in seconds of the last offset (0 for an empty list)."""
        return float(self.offset_s.max()) if len(self) else 0.0


def make_notes(onset_s, offset_s, pitch, velocity) -> Notes:
    """Build a :class:`Notes` from four sequences of equal length, checking units and ranges."""
    onset = np.asarray(onset_s, dtype=np.float64).reshape(-1)
    offset = np.asarray(offset_s, dtype=np.float64).reshape(-1)
    pitch_a = np.asarray(pitch).reshape(-1)
    vel = np.asarray(velocity).reshape(-1)
    n = onset.shape[0]
    for name, arr in (("offset_s", offset), ("pitch", pitch_a), ("velocity", vel)):
        if arr.shape[0] != n:
            raise ValueError(f"{name} has {arr.shape[0]} entries but onset_s has {n}")
    if n and not (np.all(np.isfinite(onset)) and np.all(np.isfinite(offset))):
        raise ValueError("onset_s and offset_s must be finite seconds")
    if n and onset.min() < 0:
        raise ValueError(f"onset_s must be >= 0 seconds, got {onset.min()}")
    if n and np.any(offset < onset):
        i = int(np.argmax(offset < onset))
        raise ValueError(f"offset_s must be >= onset_s, got note {i} from {onset[i]} s to {offset[i]} s")
    if n and (np.any(pitch_a != np.round(pitch_a)) or pitch_a.min() < 0 or pitch_a.max() > 127):
        raise ValueError("pitch must hold integer MIDI numbers in 0..127")
    if n and (np.any(vel != np.round(vel)) or vel.min() < 0 or vel.max() > 127):
        raise ValueError("velocity must hold integer MIDI velocities in 0..127")
    return Notes(onset, offset, pitch_a.astype(np.int32), vel.astype(np.int32))


def notes_from_midi(midi, *, sustain: bool = False) -> Notes:
    """All pitched notes of a ``pretty_midi.PrettyMIDI`` (drum tracks dropped), then :func:`clean`.

    With ``sustain=True`` each instrument's damper pedal (CC64 >= 64) extends its notes' offsets
    to the pedal release, as the MAESTRO / Onsets-and-Frames labels do.
    """
    return voiced_notes_from_midi(midi, sustain=sustain)[0]


def voiced_notes_from_midi(midi, *, sustain: bool = False) -> tuple[Notes, np.ndarray]:
    """:func:`notes_from_midi` and each note's voice: ``int32 [n_notes]``, the index of the pitched
    instrument (track / part, in file order, drums and empty ones skipped) it came from.

    The notes are exactly those of :func:`notes_from_midi`. A note :func:`clean` merged from voices
    doubling it (same pitch and onset) belongs to the lowest-numbered of them.
    """
    parts = []
    for inst in midi.instruments:
        if inst.is_drum or not inst.notes:
            continue
        notes = make_notes(
            [n.start for n in inst.notes], [n.end for n in inst.notes],
            [n.pitch for n in inst.notes], [n.velocity for n in inst.notes],
        )
        if sustain:
            notes = extend_by_sustain(notes, _pedal_intervals(inst.control_changes, notes.end_s))
        parts.append(notes)
    if not parts:
        return make_notes([], [], [], []), np.zeros(0, dtype=np.int32)
    notes = clean(make_notes(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Notes))))
    return notes, voices_of(notes, parts)


def voices_of(notes: Notes, parts: list[Notes]) -> np.ndarray:
    """Voice of each note of ``notes`` (a :func:`clean` of the concatenated ``parts``): the index
    of the first part holding a note of the same pitch and onset, ``int32 [n_notes]``."""
    first: dict[tuple[float, int], int] = {}
    for k, part in reversed(list(enumerate(parts))):
        for onset, pitch in zip(part.onset_s.tolist(), part.pitch.tolist()):
            first[(onset, pitch)] = k
    try:
        return np.asarray(
            [first[key] for key in zip(notes.onset_s.tolist(), notes.pitch.tolist())], dtype=np.int32
        ).reshape(-1)
    except KeyError as exc:
        raise ValueError(f"note (onset, pitch) {exc.args[0]} is in no part") from None


def _pedal_intervals(control_changes, end_s: float) -> np.ndarray:
    """``[n, 2]`` seconds during which the sustain pedal is down (an unreleased pedal ends at ``end_s``)."""
    out, down_at = [], None
    for cc in sorted((c for c in control_changes if c.number == SUSTAIN_CC), key=lambda c: c.time):
        down = cc.value >= SUSTAIN_THRESHOLD
        if down and down_at is None:
            down_at = cc.time
        elif not down and down_at is not None:
            out.append((down_at, cc.time))
            down_at = None
    if down_at is not None:
        out.append((down_at, max(end_s, down_at)))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def extend_by_sustain(notes: Notes, pedal: np.ndarray) -> Notes:
    """Move each offset that falls inside a pedal-down interval ``pedal`` [n, 2] (s) to its release.

    A sustained note is then cut by the next onset of the same pitch in :func:`clean`.
    """
    offset = notes.offset_s.copy()
    for down, up in np.asarray(pedal, dtype=np.float64).reshape(-1, 2):
        inside = (offset >= down) & (offset < up)
        offset[inside] = up
    return dataclasses.replace(notes, offset_s=offset)


def clean(notes: Notes) -> Notes:
    """One voice per pitch: what a single synthesiser channel (or a piano key) can sound.

    Sorted by onset (then pitch); zero-length notes are dropped; notes of the same pitch starting
    together (doubled voices) merge (latest offset, loudest velocity); a note still sounding when
    its pitch is struck again ends at that onset and the new note inherits the longer offset, so
    the union of sounding time is kept.
    """
    order = np.lexsort((notes.onset_s, notes.pitch))
    on, off = notes.onset_s[order], notes.offset_s[order]
    pitch, vel = notes.pitch[order], notes.velocity[order]
    keep_on, keep_off, keep_p, keep_v = [], [], [], []
    for i in np.flatnonzero(off > on):
        same_pitch = bool(keep_p) and keep_p[-1] == pitch[i]
        if same_pitch and on[i] == keep_on[-1]:  # doubled voice
            keep_off[-1] = max(keep_off[-1], off[i])
            keep_v[-1] = max(keep_v[-1], vel[i])
            continue
        off_i = off[i]
        if same_pitch and on[i] < keep_off[-1]:  # struck again while sounding
            off_i = max(off_i, keep_off[-1])
            keep_off[-1] = on[i]
        keep_on.append(on[i])
        keep_off.append(off_i)
        keep_p.append(pitch[i])
        keep_v.append(vel[i])
    out = make_notes(keep_on, keep_off, keep_p, keep_v)
    order = np.lexsort((out.pitch, out.onset_s))
    return Notes(out.onset_s[order], out.offset_s[order], out.pitch[order], out.velocity[order])


def frame_count(n_samples: int) -> int:
    """Frames covering ``n_samples`` audio samples at hop 256: ``n_samples // 256 + 1``."""
    return int(n_samples) // HOP_LENGTH + 1


def rolls(notes: Notes, *, n_frames: int, frame_rate: float = FRAMES_PER_SECOND) -> tuple[np.ndarray, np.ndarray]:
    """Frame and onset rolls of ``notes``: two ``bool`` arrays ``[n_frames, 88]`` (A0 = column 0).

    Notes outside the 88 keys raise ``ValueError``; frames past ``n_frames`` are cut.
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 0:
        raise ValueError(f"n_frames must be an integer >= 0, got {n_frames!r}")
    if len(notes) and (notes.pitch.min() < MIDI_OFFSET or notes.pitch.max() >= MIDI_OFFSET + N_PITCHES):
        raise ValueError(
            f"notes must lie on the 88 keys (MIDI {MIDI_OFFSET}..{MIDI_OFFSET + N_PITCHES - 1}), "
            f"got pitches {notes.pitch.min()}..{notes.pitch.max()}"
        )
    frames = np.zeros((n_frames, N_PITCHES), dtype=bool)
    onsets = np.zeros((n_frames, N_PITCHES), dtype=bool)
    start = np.round(notes.onset_s * frame_rate).astype(np.int64)
    stop = np.maximum(np.round(notes.offset_s * frame_rate).astype(np.int64), start + 1)
    for a, b, p in zip(start, stop, notes.pitch - MIDI_OFFSET):
        frames[a:b, p] = True
        if a < n_frames:
            onsets[a, p] = True
    return frames, onsets
