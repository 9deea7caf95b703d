"""The example schema shared by every builder, and the checks that keep bad pieces out of it.

Each example holds ``audio`` (mono float32 at 22,050 Hz), ``frames`` and ``onsets``
(``bool [n_frames, 88]`` at hop 256, see :mod:`amt_jax.data.labels`), ``notes`` (onset/offset in
seconds, MIDI pitch, velocity), ``program`` (General MIDI number) and ``id``. Mistuned renders
(``features(tuning=True)``) also hold ``tuning``: per note its ``voice`` and fixed ``cents``, and per
voice the :class:`~amt_jax.data.tuning.Tuning` (``voice_cents``, ``vibrato_rate_hz``,
``vibrato_depth_cents``, ``vibrato_phase``); the labels stay on the nearest key. Recordings
(``features(recorded=True)``, the ``real`` dataset) also hold ``instruments`` (one name per voice,
comma-separated) and ``f0``: per voice the annotated F0 on the frame grid, float32
``[n_frames, n_voices]`` in Hz (0 = unvoiced; ``n_voices`` = 0 for pieces annotated with notes);
a piece annotated with pitch tracks has ``frames`` from them (nearest key), no notes and no onsets.

A piece that cannot give correct labels raises :class:`BadPiece`; builders skip it with a
warning naming it (:class:`SkipLog`) and fail only when nothing usable remains.
"""

from __future__ import annotations

import io
import logging
import os

import numpy as np

from amt_jax.constants import MIDI_OFFSET, N_PITCHES, SAMPLE_RATE
from amt_jax.data.labels import Notes, frame_count, rolls, voiced_notes_from_midi
from amt_jax.data.tuning import Tuning

SPLITS = ("train", "validation", "test")
# Tuning field -> stored name in an example's ``tuning`` (per voice)
TUNING_FIELDS = {
    "cents": "voice_cents", "vibrato_rate_hz": "vibrato_rate_hz",
    "vibrato_depth_cents": "vibrato_depth_cents", "vibrato_phase": "vibrato_phase",
}
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


def features(*, tuning: bool = False, recorded: bool = False):
    """The ``tfds.features.FeaturesDict`` of one example (imports tfds); ``tuning``: with the
    ``tuning`` entry of mistuned renders, ``recorded``: with the ``instruments`` and ``f0`` entries
    of recordings (other datasets keep the schema without them)."""
    import tensorflow_datasets as tfds

    t = tfds.features.Tensor
    extra = {}
    if tuning:
        extra["tuning"] = {
            "voice": t(shape=(None,), dtype=np.int32),
            "cents": t(shape=(None,), dtype=np.float64),
            **{name: t(shape=(None,), dtype=np.float64) for name in TUNING_FIELDS.values()},
        }
    if recorded:
        extra["instruments"] = tfds.features.Text()
        extra["f0"] = t(shape=(None, None), dtype=np.float32, encoding="zlib")  # tfds: two unknown dims need an encoding
    # the long arrays as raw bytes: tfds's default (a tf.train float/int64 list, one Python number per
    # element) made serialising them most of a chorale build's time (0.2 s vs 5 ms per 40 s piece)
    raw = "bytes"
    return tfds.features.FeaturesDict(
        {
            "audio": t(shape=(None,), dtype=np.float32, encoding=raw),
            "frames": t(shape=(None, N_PITCHES), dtype=np.bool_, encoding=raw),
            "onsets": t(shape=(None, N_PITCHES), dtype=np.bool_, encoding=raw),
            "notes": {
                "onset_s": t(shape=(None,), dtype=np.float64),
                "offset_s": t(shape=(None,), dtype=np.float64),
                "pitch": t(shape=(None,), dtype=np.int32),
                "velocity": t(shape=(None,), dtype=np.int32),
            },
            "program": t(shape=(), dtype=np.int32),
            "id": tfds.features.Text(),
            **extra,
        }
    )


def read_midi(source: str | os.PathLike | bytes, *, name: str, sustain: bool = False) -> Notes:
    """Notes of a MIDI file (path or bytes); ``BadPiece`` if unreadable, empty, too long or off the keys."""
    return read_voiced_midi(source, name=name, sustain=sustain)[0]


def read_voiced_midi(source: str | os.PathLike | bytes, *, name: str, sustain: bool = False) -> tuple[Notes, np.ndarray]:
    """:func:`read_midi` and each note's voice (``int32 [n_notes]``: the index of the MIDI track /
    part it came from, see :func:`amt_jax.data.labels.voiced_notes_from_midi`)."""
    import pretty_midi

    try:
        midi = pretty_midi.PrettyMIDI(io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source))
        notes, voice = voiced_notes_from_midi(midi, sustain=sustain)
    except Exception as exc:  # pretty_midi/mido raise many types on corrupt files
        raise BadPiece(f"unreadable MIDI {name} ({type(exc).__name__}: {exc})") from None
    if not len(notes):
        raise BadPiece(f"MIDI {name} has no pitched notes")
    if notes.end_s > MAX_DURATION_S:
        raise BadPiece(f"MIDI {name} lasts {notes.end_s:.0f} s (> {MAX_DURATION_S:.0f} s): corrupt timing")
    lo, hi = int(notes.pitch.min()), int(notes.pitch.max())
    if lo < MIDI_OFFSET or hi >= MIDI_OFFSET + N_PITCHES:
        raise BadPiece(f"MIDI {name} has pitches {lo}..{hi} outside the 88 keys")
    return notes, voice


def make_example(
    *, piece_id: str, audio: np.ndarray, notes: Notes, program: int,
    voice: np.ndarray | None = None, tuning: Tuning | None = None,
    frames: np.ndarray | None = None, f0: np.ndarray | None = None, instruments: tuple[str, ...] | None = None,
) -> dict:
    """One example dict in the schema of :func:`features`; ``BadPiece`` if labels would be wrong.

    ``audio``: mono float32 [n_samples] at 22,050 Hz; notes starting after the audio ends or silent
    audio are refused rather than stored with wrong labels. ``voice`` (``int [n_notes]``) and
    ``tuning``: a mistuned render's, stored as the ``tuning`` entry (``features(tuning=True)``).
    ``instruments`` (a name per voice) and ``f0`` (float [n_frames, n_voices] Hz, or None for
    none): a recording's (``features(recorded=True)``); ``frames`` (bool [n_frames, 88]): a roll
    given directly (from pitch tracks) instead of the notes' (notes may then be empty).
    """
    audio = _checked_audio(piece_id, audio)
    n_frames = frame_count(audio.size)
    if frames is None and not len(notes):
        raise BadPiece(f"{piece_id}: no notes")
    duration_s = audio.size / SAMPLE_RATE
    if len(notes) and notes.onset_s.max() >= duration_s:
        raise BadPiece(
            f"{piece_id}: a note starts at {notes.onset_s.max():.2f} s but the audio lasts {duration_s:.2f} s"
        )
    note_frames, onsets = rolls(notes, n_frames=n_frames)
    if frames is not None:
        frames = np.asarray(frames, dtype=bool)
        if frames.shape != (n_frames, N_PITCHES):
            raise ValueError(f"{piece_id}: frames must have shape [{n_frames}, {N_PITCHES}], got {frames.shape}")
        if not frames.any():
            raise BadPiece(f"{piece_id}: no labelled frame")
    out = {
        "audio": audio,
        "frames": note_frames if frames is None else frames,
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
    if tuning is not None:
        out["tuning"] = _tuning_entry(piece_id, notes, voice, tuning)
    elif voice is not None:
        raise ValueError("voice is only stored with tuning")
    if instruments is not None:
        out["instruments"] = ",".join(instruments)
        out["f0"] = np.zeros((n_frames, 0), np.float32) if f0 is None else np.asarray(f0, dtype=np.float32)
        want = (n_frames, 0 if f0 is None else len(instruments))
        if out["f0"].shape != want:
            raise ValueError(f"{piece_id}: f0 must have shape [{want[0]}, {want[1]}], got {out['f0'].shape}")
    return out


def _checked_audio(piece_id: str, audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise BadPiece(f"{piece_id}: audio must be mono and non-empty, got shape {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise BadPiece(f"{piece_id}: audio contains non-finite samples")
    if float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise BadPiece(f"{piece_id}: audio is silent")
    return audio


def _tuning_entry(piece_id: str, notes: Notes, voice, tuning: Tuning) -> dict:
    voice = np.asarray(voice, dtype=np.int32).reshape(-1)
    if voice.shape[0] != len(notes) or voice.min() < 0 or voice.max() >= tuning.n_voices:
        raise ValueError(f"{piece_id}: voice must give each of the {len(notes)} notes one of the tuning's {tuning.n_voices} voices")
    return {
        "voice": voice,
        "cents": tuning.cents[voice],
        **{stored: getattr(tuning, field) for field, stored in TUNING_FIELDS.items()},
    }


def read_tuning(stored: dict) -> tuple[np.ndarray, np.ndarray, Tuning]:
    """An example's stored ``tuning`` entry → ``(voice, cents, Tuning)`` (per note, per note, per voice)."""
    tuning = Tuning(**{field: np.asarray(stored[name]) for field, name in TUNING_FIELDS.items()})
    return np.asarray(stored["voice"], dtype=np.int32), np.asarray(stored["cents"], dtype=np.float64), tuning
