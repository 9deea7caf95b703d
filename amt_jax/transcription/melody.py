"""Pitch-tracker scores with ``mir_eval.melody``: raw pitch accuracy, raw chroma accuracy, overall
accuracy, voicing recall and voicing false alarm, per voice and per piece.

A tracker (a model with a pitch distribution, :attr:`amt_jax.models.model.Model.tracks_pitch`) runs
on the whole file at its own frame grid: ``model.frontend_at(sample_rate, step_ms)`` with a step of
a whole number of samples, ``hop = round(step_ms · sample_rate / 1000)`` (10 ms at 22,050 Hz is 220
samples, 9.977 ms), frame ``t`` at ``t · hop / sample_rate`` seconds. Its estimate is a frequency on
every frame (:meth:`~amt_jax.models.model.Model.pitch_track`), voiced where the confidence is at
least the voicing threshold (:data:`VOICING_THRESHOLD`). The reference is an example's ``f0`` on the
labels' frame grid (``t · 256 / 22050`` s, 0 Hz = unvoiced); ``mir_eval.melody.to_cent_voicing``
resamples it to the tracker's grid (``hop=`` the tracker's step: pitch linear in cents, voicing held).

Raw pitch and raw chroma count reference-voiced frames whose estimate is within 50 cents (chroma:
modulo octaves), whatever the estimate's voicing; overall accuracy also counts unvoiced frames
called unvoiced. Only pieces with exactly one voiced pitch track are scored (a monophonic split such
as ``chorales/solo``, or ``real``'s singer); the others are skipped with the reason.
A piece's score is the mean over its scored voices (the ``chorales/solo`` examples ``<piece>/<v>``),
the overall score the mean over pieces.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Iterable

import numpy as np

from amt_jax.constants import HOP_LENGTH, SAMPLE_RATE

STEP_MS = 10.0  # the tracker's frame step (PESTO's default)
VOICING_THRESHOLD = 0.5  # confidence at or above which a frame is called voiced
CENT_TOLERANCE = 50.0  # mir_eval's default
METRICS = ("raw_pitch", "raw_chroma", "overall_accuracy", "voicing_recall", "voicing_false_alarm")


class NotApplicable(ValueError):
    """An example melody metrics cannot score (no pitch track, or more than one voiced track)."""


@dataclasses.dataclass(frozen=True)
class PitchTrack:
    """A tracker's estimate: ``times`` [T] s, ``hz`` [T] (> 0 on every frame) and ``confidence`` [T]."""

    times: np.ndarray
    hz: np.ndarray
    confidence: np.ndarray


def check_threshold(threshold: float, flag: str = "--voicing-threshold") -> float:
    """``threshold`` as a float in [0, 1]; ValueError (one line naming ``flag``) otherwise."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"{flag} must be a confidence in [0, 1], got {threshold!r}")
    return float(threshold)


def step_hop(step_ms: float, sample_rate: int = SAMPLE_RATE, flag: str = "--step-ms") -> int:
    """The tracker's hop in samples, ``round(step_ms · sample_rate / 1000)`` (at least 1)."""
    if isinstance(step_ms, bool) or not isinstance(step_ms, (int, float)) or not (0 < step_ms < math.inf):
        raise ValueError(f"{flag} must be a positive number of milliseconds, got {step_ms!r}")
    hop = round(step_ms * sample_rate / 1000.0)
    if hop < 1:
        raise ValueError(f"{flag} {step_ms:g} is shorter than one sample at {sample_rate} Hz")
    return hop


def reference_track(example: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(times [n_frames] s, hz [n_frames])``: the example's only voiced pitch track (``f0``
    ``[n_voices, n_frames]``, frame ``t`` at ``t · 256 / 22050`` s); :class:`NotApplicable` (its
    message: why) when it has none or several."""
    f0 = example.get("f0")
    if f0 is None or np.asarray(f0).shape[0] == 0:
        raise NotApplicable("labelled with notes, no pitch track (f0)")
    f0 = np.asarray(f0, dtype=np.float64)
    voiced = [v for v in range(f0.shape[0]) if np.any(f0[v] > 0)]
    if len(voiced) != 1:
        names = example.get("instruments") or ()
        which = f" ({', '.join(names)})" if len(names) == f0.shape[0] else ""
        raise NotApplicable(f"{len(voiced)} voiced pitch tracks{which}: melody metrics need one voice")
    return np.arange(f0.shape[1]) * HOP_LENGTH / SAMPLE_RATE, f0[voiced[0]]


def melody_scores(ref_times, ref_hz, est: PitchTrack, *, hop_s: float, threshold: float = VOICING_THRESHOLD) -> dict:
    """``mir_eval.melody`` scores (:data:`METRICS`) of ``est`` against the reference track, both on
    the tracker's grid (``hop_s``: its step in seconds); frames with ``confidence >= threshold``
    are voiced."""
    import mir_eval

    threshold = check_threshold(threshold, "threshold")
    ref_times, ref_hz = np.asarray(ref_times, np.float64), np.asarray(ref_hz, np.float64)
    voicing = (np.asarray(est.confidence) >= threshold).astype(np.float64)
    with warnings.catch_warnings():  # empty voicing is scored as mir_eval documents (0 or 1), no warning
        warnings.filterwarnings("ignore", message=".*(melody has no voiced frames|voicing array)")
        ref_v, ref_c, est_v, est_c = mir_eval.melody.to_cent_voicing(
            ref_times, ref_hz, np.asarray(est.times, np.float64), np.asarray(est.hz, np.float64),
            est_voicing=voicing, hop=hop_s,
        )
        args = (ref_v, ref_c, est_v, est_c)
        return {
            "raw_pitch": float(mir_eval.melody.raw_pitch_accuracy(*args, cent_tolerance=CENT_TOLERANCE)),
            "raw_chroma": float(mir_eval.melody.raw_chroma_accuracy(*args, cent_tolerance=CENT_TOLERANCE)),
            "overall_accuracy": float(mir_eval.melody.overall_accuracy(*args, cent_tolerance=CENT_TOLERANCE)),
            "voicing_recall": float(mir_eval.melody.voicing_recall(ref_v, est_v)),
            "voicing_false_alarm": float(mir_eval.melody.voicing_false_alarm(ref_v, est_v)),
        }


def pitch_tracker(model, *, sample_rate: int = SAMPLE_RATE, step_ms: float = STEP_MS) -> tuple[Callable, float]:
    """``(track, hop_s)``: ``track(audio [n_samples] at sample_rate) -> PitchTrack`` runs ``model``
    (a pitch tracker with ``frontend_at``) on the whole file at a step of ``hop`` samples
    (:func:`step_hop`), ``hop_s`` that step in seconds."""
    import jax

    if not model.tracks_pitch:
        raise ValueError(f"model {model.spec!r} gives no pitch distribution; melody metrics need a pitch tracker")
    hop = step_hop(step_ms, sample_rate)
    frontend = model.require("frontend_at", "evaluate's pitch tracks")(sample_rate, 1000.0 * hop / sample_rate)
    decode = jax.jit(model.pitch_track)  # the frontend runs eagerly: a model's may hold host-side steps

    def track(audio) -> PitchTrack:
        midi, confidence = decode(model.params, frontend(np.asarray(audio, np.float32)))
        midi, confidence = np.asarray(midi, np.float64).reshape(-1), np.asarray(confidence, np.float64).reshape(-1)
        return PitchTrack(np.arange(midi.size) * hop / sample_rate, 440.0 * 2.0 ** ((midi - 69.0) / 12.0), confidence)

    return track, hop / sample_rate


def piece_scores(voices: dict[str, dict]) -> dict:
    """A piece's score: the mean over its voices (``id -> scores``) of each metric, and ``voices``."""
    return {**{m: float(np.mean([s[m] for s in voices.values()])) for m in METRICS}, "voices": voices}


def evaluate_tracks(
    examples: Iterable[dict],
    track: Callable[[np.ndarray], PitchTrack],
    *,
    hop_s: float,
    threshold: float = VOICING_THRESHOLD,
    progress: Callable[[dict, dict | str], None] | None = None,
) -> dict:
    """Score ``track(example["audio"])`` on every example with one voiced pitch track.

    Returns ``{"melody": mean over pieces of each metric, "per_piece": {piece: piece_scores},
    "skipped": {example id: reason}, "n_pieces", "n_voices"}``; ``progress(example, scores or the
    reason it was skipped)`` is called after each example. ValueError when nothing was scored.
    """
    from amt_jax.data import piece_of

    threshold = check_threshold(threshold, "threshold")
    by_piece: dict[str, dict[str, dict]] = {}
    skipped = {}
    for example in examples:
        piece = example.get("piece") or piece_of(example["id"])
        try:
            ref_times, ref_hz = reference_track(example)
        except NotApplicable as exc:
            skipped[example["id"]] = str(exc)
            if progress is not None:
                progress(example, str(exc))
            continue
        scores = melody_scores(ref_times, ref_hz, track(example["audio"]), hop_s=hop_s, threshold=threshold)
        voices = by_piece.setdefault(piece, {})
        if example["id"] in voices:
            raise ValueError(f"examples hold id {example['id']!r} twice")
        voices[example["id"]] = scores
        if progress is not None:
            progress(example, scores)
    if not by_piece:
        raise ValueError(f"no example has exactly one voiced pitch track (skipped: {len(skipped)}); melody metrics "
                         "need a monophonic split such as chorales/solo")
    per_piece = {p: piece_scores(v) for p, v in sorted(by_piece.items())}
    return {
        "melody": {m: float(np.mean([s[m] for s in per_piece.values()])) for m in METRICS},
        "per_piece": per_piece, "skipped": skipped,
        "n_pieces": len(per_piece), "n_voices": sum(len(v) for v in by_piece.values()),
    }
