"""Transcription scores with mir_eval: frame level (``mir_eval.multipitch``) and note level
(``mir_eval.transcription``, onset only and onset + offset), per piece and overall.

Inputs are :class:`Transcription` s: a pitch roll ``[88, T]`` on frame times ``[T]`` (seconds)
and a note list (intervals in seconds, MIDI pitches). Pitches go to mir_eval in Hz; negative
times are clipped at 0 (mir_eval refuses them) and notes that end at or before 0 s are dropped.
Every score is a plain dict ``{"precision", "recall", "f1"}``; overall scores are the mean over
pieces of each number (as reported for MAESTRO), not pooled counts.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterable

import numpy as np

from amt_jax import validate
from amt_jax.constants import FRAMES_PER_SECOND, MIDI_OFFSET, N_PITCHES, SAMPLE_RATE
from amt_jax.data.labels import Notes

FRAME_THRESHOLD = 0.3  # Basic Pitch's default frame threshold (amt_jax.notes), applied to estimated rolls
ONSET_TOLERANCE_S = 0.05  # mir_eval's default
OFFSET_RATIO = 0.2  # mir_eval's default for onset + offset matching
LEVELS = ("frame", "note_onset", "note")


@dataclasses.dataclass(frozen=True)
class Transcription:
    """What a model says about one piece (or the reference labels).

    ``roll``: [88, T] activations in [0, 1] or bool (A0 = row 0); ``times``: [T] seconds of
    each frame; ``intervals``: [N, 2] note onsets and offsets in seconds; ``pitches``: [N] MIDI.
    """

    roll: np.ndarray
    times: np.ndarray
    intervals: np.ndarray
    pitches: np.ndarray


def transcription(roll, notes: Notes, *, times=None) -> Transcription:
    """A :class:`Transcription` from a roll [88, T] and :class:`Notes`; ``times`` default t · 256 / 22050 s."""
    roll = np.asarray(roll)
    validate.exact_rank("roll", roll, 2, "[88, T]")
    if roll.shape[0] != N_PITCHES:
        raise ValueError(f"roll must have shape [88, T], got {roll.shape}")
    times = np.arange(roll.shape[1]) / FRAMES_PER_SECOND if times is None else np.asarray(times, dtype=np.float64)
    if times.shape != (roll.shape[1],):
        raise ValueError(f"times must have shape [T] = ({roll.shape[1]},), got {times.shape}")
    intervals = np.stack([notes.onset_s, notes.offset_s], axis=-1).astype(np.float64).reshape(-1, 2)
    return Transcription(roll, times, intervals, np.asarray(notes.pitch, dtype=np.float64))


def reference(example: dict) -> Transcription:
    """The ground truth of a loaded example (``frames`` [88, T], ``notes``) as a :class:`Transcription`."""
    return transcription(example["frames"], example["notes"])


def _hz(midi: np.ndarray) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def _prf(precision: float, recall: float, f1: float | None = None) -> dict:
    import mir_eval

    f1 = mir_eval.util.f_measure(precision, recall) if f1 is None else f1
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def _multipitch(t: Transcription, threshold: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """Frame times (clipped at 0) and per-frame active frequencies in Hz for mir_eval."""
    active = np.asarray(t.roll, dtype=np.float64) >= threshold
    keys_hz = _hz(np.arange(N_PITCHES) + MIDI_OFFSET)
    return np.maximum(t.times, 0.0), [keys_hz[active[:, i]] for i in range(active.shape[1])]


def multipitch_scores(ref: Transcription, est: Transcription, *, threshold: float = FRAME_THRESHOLD) -> dict:
    """``mir_eval.multipitch`` precision / recall / F1; ``est.roll >= threshold`` is active, ref >= 0.5.

    The estimate is resampled onto the reference frame times by mir_eval.
    """
    import mir_eval

    validate.positive("threshold", threshold)
    ref_t, ref_f = _multipitch(ref, 0.5)
    est_t, est_f = _multipitch(est, threshold)
    with warnings.catch_warnings():  # "Resampling to common time base" is the documented behaviour
        warnings.filterwarnings("ignore", message="Estimate times not equal to reference times")
        scores = mir_eval.multipitch.evaluate(ref_t, ref_f, est_t, est_f)
    return _prf(scores["Precision"], scores["Recall"])


def _notes_for_mir_eval(t: Transcription) -> tuple[np.ndarray, np.ndarray]:
    intervals = np.maximum(np.asarray(t.intervals, dtype=np.float64).reshape(-1, 2), 0.0)
    keep = intervals[:, 1] > 0
    intervals, pitches = intervals[keep], np.asarray(t.pitches, dtype=np.float64)[keep]
    if np.any(intervals[:, 1] <= intervals[:, 0]):
        i = int(np.argmax(intervals[:, 1] <= intervals[:, 0]))
        raise ValueError(f"notes must have positive durations, got interval {intervals[i].tolist()} s")
    return intervals, _hz(pitches)


def note_scores(ref: Transcription, est: Transcription, *, offsets: bool) -> dict:
    """``mir_eval.transcription`` precision / recall / F1: onsets within 50 ms and same pitch
    (±50 cents); with ``offsets=True`` also offsets within max(50 ms, 20 % of the note length)."""
    import mir_eval

    ref_i, ref_p = _notes_for_mir_eval(ref)
    est_i, est_p = _notes_for_mir_eval(est)
    if len(ref_p) == 0 or len(est_p) == 0:  # mir_eval warns and scores 0; say so without the warning
        return _prf(0.0, 0.0, 0.0)
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_i, ref_p, est_i, est_p, onset_tolerance=ONSET_TOLERANCE_S,
        offset_ratio=OFFSET_RATIO if offsets else None,
    )
    return _prf(p, r, f)


def evaluate_piece(ref: Transcription, est: Transcription, *, threshold: float = FRAME_THRESHOLD) -> dict:
    """``{"frame": ..., "note_onset": ..., "note": ...}``, each ``{"precision", "recall", "f1"}``;
    the note levels are None when the reference has no notes (a piece labelled by pitch tracks)."""
    noted = len(ref.pitches) > 0
    return {
        "frame": multipitch_scores(ref, est, threshold=threshold),
        "note_onset": note_scores(ref, est, offsets=False) if noted else None,
        "note": note_scores(ref, est, offsets=True) if noted else None,
    }


def summarize(per_piece: dict[str, dict]) -> dict:
    """Overall scores (mean over pieces of each number, over the pieces that have the level: a
    level no piece has is None) plus ``per_piece`` (piece id → scores)."""
    if not per_piece:
        raise ValueError("per_piece must hold at least one piece")
    overall = {}
    for level in LEVELS:
        scored = [s[level] for s in per_piece.values() if s[level] is not None]
        overall[level] = {k: float(np.mean([s[k] for s in scored])) for k in ("precision", "recall", "f1")} if scored else None
    return {**overall, "per_piece": per_piece}


def evaluate_examples(
    examples: Iterable[dict],
    model: Callable[[dict], Transcription],
    *,
    threshold: float = FRAME_THRESHOLD,
    progress: Callable[[str, dict], None] | None = None,
) -> dict:
    """Score ``model(example)`` against each example's labels → :func:`summarize` of all pieces.

    ``examples``: dicts as :func:`amt_jax.data.load` gives them (``id``, ``frames`` [88, T],
    ``notes``, ``audio``); ``progress(piece_id, scores)`` is called after each piece.
    """
    per_piece = {}
    for example in examples:
        scores = evaluate_piece(reference(example), model(example), threshold=threshold)
        if example["id"] in per_piece:
            raise ValueError(f"examples hold piece id {example['id']!r} twice")
        per_piece[example["id"]] = scores
        if progress is not None:
            progress(example["id"], scores)
    return summarize(per_piece)


def transcriber(model, *, batch_size: int = 8, frame_threshold: float | None = None) -> Callable[[dict], Transcription]:
    """``transcribe(example) -> Transcription`` for a registry model (``amt_jax.models.registry.load``):
    the labels themselves for the oracle; else whole-file inference (Basic Pitch's windowing) and
    Basic Pitch's note decoding at ``frame_threshold`` (default: the model's own)."""
    if model.apply is None:  # the oracle: the labels themselves
        return reference
    model.require_sample_rate(SAMPLE_RATE, "transcription")
    model.require_outputs(("note", "onset"), "Basic Pitch's note decoding")
    from amt_jax.data.labels import make_notes
    from amt_jax.transcription import inference, notes

    threshold = model.frame_threshold if frame_threshold is None else frame_threshold

    def transcribe(example: dict) -> Transcription:
        post = inference.transcribe_audio(example["audio"], model=model, batch_size=batch_size)
        events = notes.decode_notes(post["note"], post["onset"], frame_threshold=threshold)
        est = make_notes(
            [max(n.start_s, 0.0) for n in events], [max(n.end_s, 0.0) for n in events],
            [n.pitch for n in events], [min(127, max(1, round(127 * n.amplitude))) for n in events],
        )
        return transcription(post["note"], est, times=notes.frame_times(post["note"].shape[1]))

    return transcribe
