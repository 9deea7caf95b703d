"""Held-out scores of one trained variant, per piece: mir_eval frame and note-onset F1 with both
decoding thresholds chosen on the validation pieces.

Data flow::

    piece audio [n] ─ heldout.posteriorgram (the training windowing, frames on the label grid) ─▶ note, onset [88, T]
    validation: frame threshold = argmax mean frame F1 (as ``train`` chooses it, over THRESHOLDS);
                onset threshold = argmax mean note-onset F1 at that frame threshold (over ONSET_THRESHOLDS)
    test: note events (Basic Pitch's decoding, frame t at t·256/22050 s) ─ mir_eval ─▶ per-piece scores

Frame t of the posteriorgram is centred on sample t·256 exactly as the labels are, so notes are
timed with ``t / FRAMES_PER_SECOND`` seconds (not ``notes.frame_times``, whose correction belongs to
Basic Pitch's own windowing).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax.constants import FRAMES_PER_SECOND
from amt_jax.data.labels import make_notes
from amt_jax.training.config import THRESHOLDS
from amt_jax.training.heldout import posteriorgram
from amt_jax.transcription import baseline, evaluate, notes

# onset thresholds tried on validation (the class-weighted onset loss, positive weight 0.95, runs high)
ONSET_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)
LEVELS = ("frame", "note_onset")  # the levels the grid reports (note with offsets is kept in eval.json too)


def note_onset_forward(model):
    """``forward(audio [N, S]) -> [N, 176, T]`` (note rows, then onset rows), jitted once, params bound."""

    @jax.jit
    def forward(params, audio):
        y = model.apply(params, model.frontend(audio))
        return jnp.concatenate([y["note"], y["onset"]], axis=-2)

    return functools.partial(forward, model.params)


def posteriorgrams(model, examples: Sequence[dict], *, window_samples: int, batch_size: int,
                   forward=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(note, onset)`` posteriorgrams ``[88, n // 256 + 1]`` (float32 in [0, 1]) of each example's
    audio [n] (22,050 Hz), for a registry model (``frontend``, ``apply`` returning ``note``, ``onset``);
    ``forward``: a :func:`note_onset_forward` of it to reuse (default: a new one)."""
    bound = note_onset_forward(model) if forward is None else forward
    out = []
    for ex in examples:
        both = posteriorgram(ex["audio"], bound, window_samples=window_samples, batch_size=batch_size)
        out.append((both[: both.shape[0] // 2], both[both.shape[0] // 2 :]))
    return out


def decode(note: np.ndarray, onset: np.ndarray, *, frame_threshold: float, onset_threshold: float) -> evaluate.Transcription:
    """Basic Pitch's note decoding of label-grid posteriorgrams ``note``, ``onset`` [88, T] as a
    :class:`~amt_jax.transcription.evaluate.Transcription` (roll = ``note``, times t / 86.13 s)."""
    events = notes.decode_note_frames(note, onset, onset_threshold=onset_threshold, frame_threshold=frame_threshold,
                                      min_note_frames=notes.min_note_frames(notes.MIN_NOTE_LENGTH_S))
    times = np.arange(note.shape[1]) / FRAMES_PER_SECOND
    est = make_notes([times[s] for s, _, _, _ in events], [times[e] for _, e, _, _ in events],
                     [p for _, _, p, _ in events], [min(127, max(1, round(127 * a))) for *_, a in events])
    return evaluate.transcription(note, est, times=times)


def piece_scores(post: tuple[np.ndarray, np.ndarray], example: dict, *, frame_threshold: float,
                 onset_threshold: float) -> dict:
    """mir_eval ``{"frame", "note_onset", "note"}`` precision / recall / F1 of one piece."""
    est = decode(*post, frame_threshold=frame_threshold, onset_threshold=onset_threshold)
    return evaluate.evaluate_piece(evaluate.reference(example), est, threshold=frame_threshold)


def choose_thresholds(posts: Sequence[tuple], examples: Sequence[dict], *, frame_thresholds: Sequence[float] = THRESHOLDS,
                      onset_thresholds: Sequence[float] = ONSET_THRESHOLDS) -> dict:
    """Decoding thresholds chosen on validation pieces: ``{"frame_threshold", "frame_f1",
    "onset_threshold", "note_onset_f1"}`` (F1 = the mean over those pieces; lowest threshold on ties)."""
    if len(posts) != len(examples) or not len(examples):
        raise ValueError(f"posts and examples must pair up and be non-empty, got {len(posts)} and {len(examples)}")
    frame_threshold, frame_f1 = baseline.best_threshold(
        [(note, np.asarray(ex["frames"])) for (note, _), ex in zip(posts, examples)], frame_thresholds)
    refs = [evaluate.reference(ex) for ex in examples]
    onset_f1 = [
        np.mean([evaluate.note_scores(ref, decode(*post, frame_threshold=frame_threshold, onset_threshold=o),
                                      offsets=False)["f1"] for post, ref in zip(posts, refs)])
        for o in onset_thresholds
    ]
    best = int(np.argmax(onset_f1))
    return {"frame_threshold": frame_threshold, "frame_f1": frame_f1,
            "onset_threshold": float(onset_thresholds[best]), "note_onset_f1": float(onset_f1[best])}


def heldout_scores(model, *, validation: Sequence[dict], test: Sequence[dict], window_samples: int, batch_size: int,
                   frame_thresholds: Sequence[float] = THRESHOLDS,
                   onset_thresholds: Sequence[float] = ONSET_THRESHOLDS) -> dict:
    """Held-out scores of ``model`` (a registry :class:`~amt_jax.models.Model`).

    Returns ``{"thresholds": choose_thresholds(...), "per_piece": {piece id: {"frame", "note_onset",
    "note"}: {"precision", "recall", "f1"}}, "mean": {level: {...}}}`` (means over test pieces).
    """
    validation, test = list(validation), list(test)
    ids = [ex["id"] for ex in test]
    if len(set(ids)) != len(ids):
        raise ValueError(f"test must hold distinct piece ids, got {ids}")
    run = functools.partial(posteriorgrams, model, window_samples=window_samples, batch_size=batch_size,
                            forward=note_onset_forward(model))  # one compilation for both splits
    chosen = choose_thresholds(run(validation), validation, frame_thresholds=frame_thresholds,
                               onset_thresholds=onset_thresholds)
    posts = run(test)
    per_piece = {ex["id"]: piece_scores(post, ex, frame_threshold=chosen["frame_threshold"],
                                        onset_threshold=chosen["onset_threshold"]) for post, ex in zip(posts, test)}
    summary = evaluate.summarize(per_piece)
    return {"thresholds": chosen, "per_piece": per_piece, "mean": {level: summary[level] for level in evaluate.LEVELS}}
