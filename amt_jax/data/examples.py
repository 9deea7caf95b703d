"""The example schema shared by every builder, and the checks that keep bad pieces out of it.

Each example holds ``audio`` (mono float32 at 22,050 Hz), ``frames`` and ``onsets``
(``bool [n_frames, 88]`` at hop 256, see :mod:`amt_jax.data.labels`), ``notes`` (onset/offset in
seconds, MIDI pitch, velocity), ``program`` (General MIDI number) and ``id``.

A piece that cannot give correct labels raises :class:`BadPiece`; builders skip it with a
warning naming it (:class:`SkipLog`) and fail only when nothing usable remains.
"""

from __future__ import annotations

import io
import logging
import os

import numpy as np

from amt_jax.constants import MIDI_OFFSET, N_PITCHES, SAMPLE_RATE
from amt_jax.data.labels import Notes, frame_count, notes_from_midi, rolls

SPLITS = ("train", "validation", "test")
MAX_DURATION_S = 3600.0  # longer pieces are taken for corrupt (e.g. absurd MIDI tick counts)
SILENCE_PEAK = 1e-4  # audio whose peak is below this is taken for silent

log = logging.getLogger("amt_jax.data")


class BadPiece(ValueError):
    """One piece cannot give correct labels (corrupt file, empty, wrong sample rate, ...)."""


class SkipLog:
    """Collects skipped pieces; each skip is logged as a warning naming the piece."""

    def __init__(self) -> None:
        self.skipped: list[tuple[str, str]] = []

    def skip(self, piece: str, reason: str) -> None:
        self.skipped.append((piece, reason))
        log.warning("skipping %s: %s", piece, reason)

    def summary(self) -> str:
        return "; ".join(f"{p}: {r}" for p, r in self.skipped) or "none"


def features():
    """The ``tfds.features.FeaturesDict`` of one example (imports tfds)."""
    import tensorflow_datasets as tfds

    t = tfds.features.Tensor
    return tfds.features.FeaturesDict(
        {
            "audio": t(shape=(None,), dtype=np.float32),
            "frames": t(shape=(None, N_PITCHES), dtype=np.bool_),
            "onsets": t(shape=(None, N_PITCHES), dtype=np.bool_),
            "notes": {
                "onset_s": t(shape=(None,), dtype=np.float64),
                "offset_s": t(shape=(None,), dtype=np.float64),
                "pitch": t(shape=(None,), dtype=np.int32),
                "velocity": t(shape=(None,), dtype=np.int32),
            },
            "program": t(shape=(), dtype=np.int32),
            "id": tfds.features.Text(),
        }
    )


def read_midi(source: str | os.PathLike | bytes, *, name: str, sustain: bool = False) -> Notes:
    """Notes of a MIDI file (path or bytes); ``BadPiece`` if unreadable, empty, too long or off the keys."""
    import pretty_midi

    try:
        midi = pretty_midi.PrettyMIDI(io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source))
        notes = notes_from_midi(midi, sustain=sustain)
    except Exception as exc:  # pretty_midi/mido raise many types on corrupt files
        raise BadPiece(f"unreadable MIDI {name} ({type(exc).__name__}: {exc})") from None
    if not len(notes):
        raise BadPiece(f"MIDI {name} has no pitched notes")
    if notes.end_s > MAX_DURATION_S:
        raise BadPiece(f"MIDI {name} lasts {notes.end_s:.0f} s (> {MAX_DURATION_S:.0f} s): corrupt timing")
    lo, hi = int(notes.pitch.min()), int(notes.pitch.max())
    if lo < MIDI_OFFSET or hi >= MIDI_OFFSET + N_PITCHES:
        raise BadPiece(f"MIDI {name} has pitches {lo}..{hi} outside the 88 keys")
    return notes


def make_example(*, piece_id: str, audio: np.ndarray, notes: Notes, program: int) -> dict:
    """One example dict in the schema of :func:`features`; ``BadPiece`` if labels would be wrong.

    ``audio``: mono float32 [n_samples] at 22,050 Hz; notes starting after the audio ends or silent
    audio are refused rather than stored with wrong labels.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise BadPiece(f"{piece_id}: audio must be mono and non-empty, got shape {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise BadPiece(f"{piece_id}: audio contains non-finite samples")
    if float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise BadPiece(f"{piece_id}: audio is silent")
    if not len(notes):
        raise BadPiece(f"{piece_id}: no notes")
    duration_s = audio.size / SAMPLE_RATE
    if notes.onset_s.max() >= duration_s:
        raise BadPiece(
            f"{piece_id}: a note starts at {notes.onset_s.max():.2f} s but the audio lasts {duration_s:.2f} s"
        )
    frames, onsets = rolls(notes, n_frames=frame_count(audio.size))
    return {
        "audio": audio,
        "frames": frames,
        "onsets": onsets,
        "notes": {
            "onset_s": notes.onset_s,
            "offset_s": notes.offset_s,
            "pitch": notes.pitch,
            "velocity": notes.velocity,
        },
        "program": np.int32(program),
        "id": piece_id,
    }
