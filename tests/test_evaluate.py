"""Evaluation: planted estimates whose mir_eval scores are known by construction, the CLI on a
tiny chorales corpus (oracle and Basic Pitch)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from amt_jax import __main__ as cli
from amt_jax import data
from amt_jax.transcription import evaluate
from amt_jax.models import registry
from amt_jax.constants import FRAMES_PER_SECOND
from amt_jax.data import labels


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("chorales_eval")
    data.build("chorales", data_dir=d, n_pieces=3)
    return d


def _planted(notes: labels.Notes, n_frames: int = 600) -> evaluate.Transcription:
    frames, _ = labels.rolls(notes, n_frames=n_frames)
    return evaluate.transcription(frames.T, notes)


def _shift(notes: labels.Notes, seconds: float, which=slice(None)) -> labels.Notes:
    onset, offset = notes.onset_s.copy(), notes.offset_s.copy()
    onset[which] += seconds
    offset[which] += seconds
    return dataclasses.replace(notes, onset_s=onset, offset_s=offset)


# Ten notes, 1 s long, 0.5 s apart, different pitches (no two overlap in pitch).
NOTES = labels.make_notes(np.arange(10) * 0.5 + 0.2, np.arange(10) * 0.5 + 1.2, 50 + 2 * np.arange(10), [80] * 10)


def test_oracle_scores_one():
    ref = _planted(NOTES)
    scores = evaluate.evaluate_piece(ref, ref)
    assert scores == {level: {"precision": 1.0, "recall": 1.0, "f1": 1.0} for level in evaluate.LEVELS}


def test_frame_scores_count_overlapping_frames():
    """One note of 100 frames against the same note 10 frames later: 90 of 100 frames agree."""
    ref_notes = labels.make_notes([1.0], [1.0 + 100 / FRAMES_PER_SECOND], [60], [80])
    est_notes = _shift(ref_notes, 10 / FRAMES_PER_SECOND)
    scores = evaluate.multipitch_scores(_planted(ref_notes), _planted(est_notes))
    assert scores["precision"] == pytest.approx(0.9) and scores["recall"] == pytest.approx(0.9)
    assert scores["f1"] == pytest.approx(0.9)


@pytest.mark.filterwarnings("ignore:Estimate frequencies are all empty")
def test_frame_threshold_applies_to_estimates():
    ref = _planted(NOTES)
    est = dataclasses.replace(ref, roll=ref.roll * 0.4)
    assert evaluate.multipitch_scores(ref, est, threshold=0.3)["f1"] == 1.0
    assert evaluate.multipitch_scores(ref, est, threshold=0.5)["recall"] == 0.0


def test_note_scores_follow_mir_eval_tolerances():
    """Onsets match within 50 ms; offsets within max(50 ms, 20 % of the reference duration)."""
    ref = _planted(NOTES)
    assert evaluate.note_scores(ref, _planted(_shift(NOTES, 0.03)), offsets=False)["f1"] == 1.0
    half = evaluate.note_scores(ref, _planted(_shift(NOTES, 0.07, slice(0, 5))), offsets=False)
    assert half == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    longer = dataclasses.replace(NOTES, offset_s=NOTES.offset_s + 0.5)  # 50 % of 1 s > 20 %
    assert evaluate.note_scores(ref, _planted(longer), offsets=False)["f1"] == 1.0
    assert evaluate.note_scores(ref, _planted(longer), offsets=True)["f1"] == 0.0
    slightly = dataclasses.replace(NOTES, offset_s=NOTES.offset_s + 0.15)
    assert evaluate.note_scores(ref, _planted(slightly), offsets=True)["f1"] == 1.0


def test_dropped_notes_lower_recall_only():
    keep = np.arange(10) % 2 == 0
    est = labels.Notes(*(getattr(NOTES, f.name)[keep] for f in dataclasses.fields(labels.Notes)))
    scores = evaluate.evaluate_piece(_planted(NOTES), _planted(est))
    for level in ("note_onset", "note"):
        assert scores[level]["precision"] == 1.0 and scores[level]["recall"] == 0.5
    assert scores["frame"]["precision"] == 1.0 and 0.4 < scores["frame"]["recall"] < 0.6


def test_negative_times_are_clipped():
    ref = _planted(labels.make_notes([0.0], [1.0], [60], [80]))
    est = evaluate.Transcription(ref.roll, ref.times - 0.02, np.array([[-0.02, 0.98], [-0.5, -0.1]]), np.array([60.0, 62.0]))
    scores = evaluate.evaluate_piece(ref, est)
    assert scores["note_onset"]["f1"] == 1.0 and scores["note"]["f1"] == 1.0


@pytest.mark.filterwarnings("ignore:Estimate frequencies are all empty")
def test_empty_estimate_scores_zero():
    ref = _planted(NOTES)
    est = evaluate.transcription(np.zeros_like(ref.roll, dtype=float), labels.make_notes([], [], [], []))
    scores = evaluate.evaluate_piece(ref, est)
    assert all(scores[level]["f1"] == 0.0 for level in evaluate.LEVELS)


def test_summarize_means_over_pieces():
    one = {level: {"precision": 1.0, "recall": 1.0, "f1": 1.0} for level in evaluate.LEVELS}
    half = {level: {"precision": 0.5, "recall": 0.25, "f1": 1 / 3} for level in evaluate.LEVELS}
    out = evaluate.summarize({"a": one, "b": half})
    assert out["note"] == {"precision": 0.75, "recall": 0.625, "f1": pytest.approx(2 / 3)}
    assert out["per_piece"] == {"a": one, "b": half}


def test_pieces_without_notes_have_no_note_scores():
    """A piece labelled by pitch tracks (frames, no notes) scores frames only; means skip it at note level."""
    ref = _planted(NOTES)
    tracks_only = evaluate.Transcription(ref.roll, ref.times, np.zeros((0, 2)), np.zeros(0))
    scores = evaluate.evaluate_piece(tracks_only, ref)
    assert scores["frame"]["f1"] == 1.0 and scores["note_onset"] is None and scores["note"] is None
    half = {level: {"precision": 0.5, "recall": 0.25, "f1": 1 / 3} for level in evaluate.LEVELS}
    out = evaluate.summarize({"a": scores, "b": half})
    assert out["note"] == half["note"] and out["frame"]["precision"] == 0.75
    assert evaluate.summarize({"a": scores})["note"] is None


def test_evaluate_examples_on_built_corpus(corpus):
    source = data.load("chorales", "train", data_dir=corpus)
    oracle = evaluate.evaluate_examples(source, evaluate.reference)
    assert all(oracle[level]["f1"] == 1.0 for level in evaluate.LEVELS)

    def every_other_note(example):
        n = example["notes"]
        keep = np.arange(len(n)) % 2 == 0
        kept = labels.Notes(*(getattr(n, f.name)[keep] for f in dataclasses.fields(labels.Notes)))
        return evaluate.transcription(example["frames"], kept)

    ex = source[0]
    scores = evaluate.evaluate_examples([ex], every_other_note)
    assert scores["note_onset"]["precision"] == 1.0
    assert scores["note_onset"]["recall"] == pytest.approx(np.ceil(len(ex["notes"]) / 2) / len(ex["notes"]))


def test_cli_oracle_json_and_errors(corpus, tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert cli.main(["evaluate", "--model", "oracle", "--data", "chorales:validation", "--data-dir", str(corpus), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    for level in evaluate.LEVELS:
        assert result[level] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    ids = [ex["id"] for ex in data.load("chorales", "validation", data_dir=corpus)]
    assert sorted(result["per_piece"]) == sorted(ids)
    env = result["environment"]  # what the scores depend on: device and the full version set
    assert env["device_kind"] and "jax_default_matmul_precision" in env
    assert {"jax", "mir_eval", "librosa", "tensorflow-datasets", "basic-pitch"} <= set(env["versions"])
    assert result["config"]["versions"] == env["versions"]
    assert "mean of 1 pieces" in capsys.readouterr().out

    assert cli.main(["evaluate", "--model", "nope", "--data", "chorales:test", "--data-dir", str(corpus)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown model 'nope'" in err and "basic-pitch" in err and "oracle" in err
    assert cli.main(["evaluate", "--model", "oracle", "--data", "mnist:test", "--data-dir", str(corpus)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "chorales, maestro" in err


def test_basic_pitch_transcribes_rendered_chorale_in_time(corpus, tmp_path):
    """Basic Pitch (weights no one here trained) agrees with our labels, and clearly less with the
    same labels moved by 70 ms: the labels sit on the audio."""
    out = tmp_path / "bp.json"
    assert cli.main(["evaluate", "--model", "basic-pitch", "--data", "chorales:test", "--data-dir", str(corpus), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) >= {"frame", "note_onset", "note", "per_piece"}
    assert result["frame"]["f1"] > 0.5 and result["note_onset"]["f1"] > 0.5

    ex = data.load("chorales", "test", data_dir=corpus)[0]
    est = evaluate.transcriber(registry.load("basic-pitch"))(ex)
    late = _shift(ex["notes"], 0.07)
    late_frames, _ = labels.rolls(late, n_frames=ex["frames"].shape[1])
    aligned = evaluate.evaluate_piece(evaluate.reference(ex), est)
    moved = evaluate.evaluate_piece(evaluate.transcription(late_frames.T, late), est)
    assert aligned["note_onset"]["f1"] == pytest.approx(result["note_onset"]["f1"])
    assert aligned["note_onset"]["f1"] > moved["note_onset"]["f1"] + 0.3
    assert aligned["frame"]["f1"] > moved["frame"]["f1"]
