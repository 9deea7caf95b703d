"""Pitch-tracker evaluation (``mir_eval.melody``) and the ``chorales/solo`` corpus it runs on.

Planted trackers whose answers are known by construction: one that reads the reference F0 (raw
pitch ≈ 1), the same an octave up (raw pitch ≈ 0, raw chroma ≈ 1) and one always voiced on C4
(low). Every score is compared with ``mir_eval.melody.evaluate`` called here on the same arrays.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

import numpy as np
import pytest

from amt_jax import __main__ as cli
from amt_jax import data
from amt_jax.constants import FRAMES_PER_SECOND, HOP_LENGTH, SAMPLE_RATE, hz_to_midi, midi_to_hz
from amt_jax.data import labels, render
from amt_jax.data.chorales import chorales_dataset_builder as chorales_mod
from amt_jax.data.chorales import solo
from amt_jax.data.examples import BadPiece
from amt_jax.data.real import annotations
from amt_jax.models import registry
from amt_jax.models.model import Model, Output
from amt_jax.transcription import melody
from test_detune import fundamental_cents

N_PIECES = 3
N_BINS = 384  # a distribution over MIDI 0 .. 127 2/3 at 3 bins per semitone, as PESTO's
MIRROR = {"Raw Pitch Accuracy": "raw_pitch", "Raw Chroma Accuracy": "raw_chroma", "Overall Accuracy": "overall_accuracy",
          "Voicing Recall": "voicing_recall", "Voicing False Alarm": "voicing_false_alarm"}


# --- planted trackers ---------------------------------------------------------------------------


def _key(audio) -> str:
    return hashlib.sha1(np.asarray(audio, np.float32).tobytes()).hexdigest()


def planted_tracker(references: dict, *, semitones: float = 0.0, constant_midi: float | None = None) -> Model:
    """A pitch tracker that knows the answer: its frontend looks the audio up in ``references``
    (audio key -> the reference F0 on the labels' grid, Hz) and writes, on its own frame grid, a
    one-hot distribution at the reference pitch (held from the last labels' frame) shifted by
    ``semitones`` (or always ``constant_midi``), plus a confidence row: 1 where the reference is voiced
    (always 1 for ``constant_midi``)."""

    def frontend_at(sample_rate, step_ms):
        hop = round(step_ms * sample_rate / 1000)

        def frontend(audio):
            ref_hz = references[_key(audio)]
            t = np.arange(np.asarray(audio).size // hop + 1) * hop / sample_rate
            k = np.minimum(np.floor(t * SAMPLE_RATE / HOP_LENGTH + 1e-9).astype(int), ref_hz.size - 1)
            hz = ref_hz[k]
            voiced = hz > 0
            midi = np.where(voiced, hz_to_midi(np.where(voiced, hz, 1.0)) + semitones, 60.0)
            if constant_midi is not None:
                midi, voiced = np.full(t.size, float(constant_midi)), np.ones(t.size, bool)
            x = np.zeros((N_BINS + 1, t.size), np.float32)
            x[np.round(3 * midi).astype(int), np.arange(t.size)] = 1.0
            x[N_BINS] = voiced
            return x

        return frontend

    def apply(params, x):
        return {"pitch": x[..., :N_BINS, :], "confidence": x[..., N_BINS, :]}

    return Model(spec="planted-tracker", apply=apply, params={}, layout=None, identity={"kind": "planted-tracker"},
                 outputs=(Output("pitch", kind="pitch_distribution", bins_per_semitone=3, confidence="confidence"),),
                 output="pitch", frontend=frontend_at(SAMPLE_RATE, 10.0), frontend_at=frontend_at)


def mir_eval_scores(example: dict, model: Model, *, threshold: float = melody.VOICING_THRESHOLD, step_ms=melody.STEP_MS) -> dict:
    """The scores computed here with ``mir_eval.melody.evaluate`` on the model's own outputs."""
    import mir_eval

    hop = round(step_ms * SAMPLE_RATE / 1000)
    midi, conf = model.pitch_track(model.params, model.frontend_at(SAMPLE_RATE, 1000 * hop / SAMPLE_RATE)(example["audio"]))
    midi, conf = np.asarray(midi, np.float64), np.asarray(conf)
    f0 = example["f0"][np.flatnonzero((example["f0"] > 0).any(axis=1))[0]]
    scores = mir_eval.melody.evaluate(
        np.arange(f0.size) * HOP_LENGTH / SAMPLE_RATE, f0.astype(np.float64), np.arange(midi.size) * hop / SAMPLE_RATE,
        midi_to_hz(midi), est_voicing=(conf >= threshold).astype(float), hop=hop / SAMPLE_RATE,
    )
    return {MIRROR[k]: float(v) for k, v in scores.items()}


# --- scores on hand-made tracks -----------------------------------------------------------------


def _example(example_id: str, f0_rows, instruments=None) -> dict:
    f0 = np.asarray(f0_rows, np.float32)
    seed = int(hashlib.sha1(example_id.encode()).hexdigest()[:8], 16)
    audio = np.random.default_rng(seed).standard_normal(f0.shape[1] * HOP_LENGTH).astype(np.float32)
    return {"id": example_id, "audio": audio, "f0": f0,
            "instruments": tuple(instruments or (f"v{i}" for i in range(f0.shape[0])))}


def _melody_line(n_frames: int = 900) -> np.ndarray:
    """A melody on the labels' grid: notes of 40 frames stepping through a scale, a rest every fifth."""
    pitch = 60 + np.array([0, 2, 4, 5, 7, 9, 11, 12])[(np.arange(n_frames) // 40) % 8]
    hz = midi_to_hz(pitch.astype(np.float64))
    hz[(np.arange(n_frames) // 40) % 5 == 4] = 0.0
    hz[:10] = 0.0
    return hz.astype(np.float32)


def test_planted_trackers_score_as_built_and_as_mir_eval_says():
    """Reads the answer: raw pitch ≈ 1; an octave up: raw pitch ≈ 0, chroma ≈ 1; C4 always: low."""
    ex = _example("tune/0", [_melody_line()])
    refs = {_key(ex["audio"]): ex["f0"][0]}
    results = {}
    for name, model in (("exact", planted_tracker(refs)), ("octave", planted_tracker(refs, semitones=12)),
                        ("constant", planted_tracker(refs, constant_midi=60))):
        track, hop_s = melody.pitch_tracker(model)
        got = melody.evaluate_tracks([ex], track, hop_s=hop_s)
        assert got["n_pieces"] == 1 and got["skipped"] == {}
        results[name] = got["per_piece"]["tune"]["voices"]["tune/0"]
        want = mir_eval_scores(ex, model)
        assert results[name] == pytest.approx(want, abs=1e-12), name
        assert got["melody"] == pytest.approx(want, abs=1e-12)
    exact, octave, constant = results["exact"], results["octave"], results["constant"]
    assert exact["raw_pitch"] > 0.97 and exact["raw_chroma"] > 0.97 and exact["overall_accuracy"] > 0.95
    assert exact["voicing_recall"] > 0.97 and exact["voicing_false_alarm"] < 0.05
    assert octave["raw_pitch"] < 0.02 and octave["raw_chroma"] == pytest.approx(exact["raw_chroma"], abs=1e-12)
    assert constant["raw_pitch"] < 0.3 and constant["voicing_recall"] == 1.0 and constant["voicing_false_alarm"] == 1.0
    assert constant["overall_accuracy"] < 0.3


def test_the_voicing_threshold_decides_voicing_only():
    ex = _example("tune/0", [_melody_line()])
    model = planted_tracker({_key(ex["audio"]): ex["f0"][0]})
    track, hop_s = melody.pitch_tracker(model)
    est = track(ex["audio"])
    halved = melody.PitchTrack(est.times, est.hz, est.confidence * 0.4)
    times, hz = melody.reference_track(ex)
    full = melody.melody_scores(times, hz, est, hop_s=hop_s)
    low = melody.melody_scores(times, hz, halved, hop_s=hop_s, threshold=0.3)
    high = melody.melody_scores(times, hz, halved, hop_s=hop_s, threshold=0.5)
    assert low == full
    assert high["raw_pitch"] == full["raw_pitch"] and high["voicing_recall"] == 0.0 and high["overall_accuracy"] < 0.3
    with pytest.raises(ValueError, match=r"threshold must be a confidence in \[0, 1\], got 1.5"):
        melody.melody_scores(times, hz, est, hop_s=hop_s, threshold=1.5)


def test_voices_average_per_piece_and_pieces_without_one_track_are_skipped():
    line = _melody_line()
    examples = [_example("p/0", [line]), _example("p/1", [np.roll(line, 40)]), _example("q", [line]),
                _example("duo", [line, np.roll(line, 40)], ("violin", "cello")), _example("noted", np.zeros((0, 900)))]
    refs = {_key(ex["audio"]): ex["f0"][np.flatnonzero((ex["f0"] > 0).any(1))[0]] for ex in examples if ex["f0"].shape[0] == 1}
    model = planted_tracker(refs, semitones=0.7)  # 70 cents sharp: every voiced frame wrong
    track, hop_s = melody.pitch_tracker(model)
    seen = []
    got = melody.evaluate_tracks(examples, track, hop_s=hop_s, progress=lambda ex, s: seen.append(ex["id"]))
    assert seen == [ex["id"] for ex in examples]
    assert got["skipped"] == {"duo": "2 voiced pitch tracks (violin, cello): melody metrics need one voice",
                              "noted": "labelled with notes, no pitch track (f0)"}
    assert sorted(got["per_piece"]) == ["p", "q"] and got["n_voices"] == 3
    voices = got["per_piece"]["p"]["voices"]
    for metric in melody.METRICS:
        assert got["per_piece"]["p"][metric] == pytest.approx(np.mean([voices[v][metric] for v in voices]))
        assert got["melody"][metric] == pytest.approx(np.mean([got["per_piece"][p][metric] for p in ("p", "q")]))
    assert got["melody"]["raw_pitch"] < 0.05
    with pytest.raises(ValueError, match="no example has exactly one voiced pitch track"):
        melody.evaluate_tracks(examples[3:], track, hop_s=hop_s)


def test_bad_steps_and_thresholds_are_one_line_errors():
    with pytest.raises(ValueError, match="--step-ms must be a positive number of milliseconds, got 0"):
        melody.step_hop(0)
    with pytest.raises(ValueError, match="--voicing-threshold must be a confidence in .0, 1., got -0.1"):
        melody.check_threshold(-0.1)
    assert melody.step_hop(10.0) == 220 and melody.step_hop(10.0, 16000) == 160
    with pytest.raises(ValueError, match="melody metrics need a pitch tracker"):
        melody.pitch_tracker(registry.load("oracle"))


# --- the solo corpus ----------------------------------------------------------------------------


def test_voice_f0_follows_the_frame_roll_and_refuses_chords():
    notes = labels.make_notes([0.1, 0.5, 1.0], [0.5, 0.9, 1.6], [60, 62, 67], [80, 80, 80])
    n_frames = 200
    f0 = solo.voice_f0(notes, n_frames, name="x")
    frames, _ = labels.rolls(notes, n_frames=n_frames)
    np.testing.assert_array_equal(frames, annotations.frames_from_f0(f0[:, None])[0])
    assert f0[round(0.7 * FRAMES_PER_SECOND)] == pytest.approx(midi_to_hz(62)) and f0[round(0.95 * FRAMES_PER_SECOND)] == 0
    chord = labels.make_notes([0.1, 0.1], [0.5, 0.5], [60, 64], [80, 80])
    with pytest.raises(BadPiece, match="x: 2 notes sound at frame 9; a solo voice needs one"):
        solo.voice_f0(chord, n_frames, name="x")


@pytest.fixture(scope="module")
def solo_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("solo")
    assert cli.main(["data", "build", "chorales", "--config", "solo", "--data-dir", str(d), "--n-pieces", str(N_PIECES)]) == 0
    return d


def _midi_parts(name: str):
    """The piece's MIDI tracks as music21 writes them, read here with pretty_midi (sorted notes)."""
    import pretty_midi
    from music21 import corpus

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "p.mid")
        corpus.parse(name).write("midi", fp=path)
        midi = pretty_midi.PrettyMIDI(path)
    return [(inst.name, sorted((n.start, n.end, n.pitch) for n in inst.notes)) for inst in midi.instruments if inst.notes]


def test_solo_voices_carry_their_part_notes_and_f0(solo_dir):
    """One example per (piece, voice), ``<piece>/<voice>``, in the piece's split with its program;
    notes are the MIDI part's; f0 is the notes' frequency on their frames; the audio is the render
    of those notes alone and its fundamental sits on the note."""
    names = chorales_mod.chorale_names()[:N_PIECES]
    by_piece = {}
    for split in data.SPLITS:
        for ex in data.load("chorales/solo", split, data_dir=solo_dir):
            by_piece.setdefault(ex["piece"], []).append((split, ex))
    assert sorted(by_piece) == sorted(n.split("/")[-1] for n in names)
    for position, name in enumerate(names):
        piece = name.split("/")[-1]
        parts = _midi_parts(name)
        voices = sorted(by_piece[piece], key=lambda item: item[1]["id"])
        assert [ex["id"] for _, ex in voices] == [f"{piece}/{v}" for v in range(len(parts))]
        for (split, ex), (part_name, part) in zip(voices, parts):
            assert split == chorales_mod.split_of(position) and ex["program"] == chorales_mod.PROGRAMS[position][0]
            assert ex["instruments"] == (part_name,)
            notes = ex["notes"]
            np.testing.assert_allclose(np.column_stack([notes.onset_s, notes.offset_s, notes.pitch]), np.array(part))
            n_frames = ex["frames"].shape[1]
            assert ex["f0"].shape == (1, n_frames)
            want = np.zeros(n_frames)
            for on, off, pitch in part:
                want[round(on * FRAMES_PER_SECOND): max(round(off * FRAMES_PER_SECOND), round(on * FRAMES_PER_SECOND) + 1)] = midi_to_hz(pitch)
            np.testing.assert_allclose(ex["f0"][0], want, rtol=1e-6)
            np.testing.assert_array_equal(ex["frames"], annotations.frames_from_f0(ex["f0"].T)[0].T)
            np.testing.assert_array_equal(ex["audio"], render.render(notes, program=ex["program"]))
            long = [(on, off, p) for on, off, p in part if off - on >= 0.4][:3]
            for on, off, pitch in long:
                assert abs(fundamental_cents(ex["audio"], pitch, on + 0.05, off - 0.02)) < 50, (ex["id"], pitch)  # its key


def test_cli_scores_a_planted_tracker_on_the_solo_split(solo_dir, tmp_path, capsys, monkeypatch):
    """``evaluate`` on chorales/solo:test takes the pitch-tracker path by ``tracks_pitch``: per voice,
    per piece and overall, as mir_eval computes them here; flags are checked in one line."""
    examples = list(data.load("chorales/solo", "test", data_dir=solo_dir))
    model = planted_tracker({_key(ex["audio"]): ex["f0"][0] for ex in examples}, semitones=12)
    monkeypatch.setattr(registry, "load", lambda spec, **kw: model)
    out = tmp_path / "melody.json"
    argv = ["evaluate", "--model", "py:planted.py:tracker", "--data", "chorales/solo:test", "--data-dir", str(solo_dir)]
    assert cli.main([*argv, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    piece = examples[0]["piece"]
    assert list(result["per_piece"]) == [piece] and result["n_voices"] == len(examples)
    for ex in examples:
        want = mir_eval_scores(ex, model)
        assert result["per_piece"][piece]["voices"][ex["id"]] == pytest.approx(want, abs=1e-12)
        assert want["raw_pitch"] < 0.02 and want["raw_chroma"] > 0.95
    assert result["config"]["voicing_threshold"] == 0.5 and result["config"]["step_ms"] == pytest.approx(1000 * 220 / 22050)
    printed = capsys.readouterr().out
    assert "mean of 1 pieces" in printed and all(ex["id"] in printed for ex in examples)

    for extra, message in ((["--voicing-threshold", "1.5"], "--voicing-threshold must be a confidence in [0, 1], got 1.5"),
                           (["--step-ms", "-3"], "--step-ms must be a positive number of milliseconds, got -3.0"),
                           (["--frame-threshold", "0.4"], "--frame-threshold applies to note models")):
        assert cli.main([*argv, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
    monkeypatch.undo()
    assert cli.main(["evaluate", "--model", "oracle", "--data", "chorales/solo:test", "--data-dir", str(solo_dir),
                     "--voicing-threshold", "0.4"]) == 2
    assert "--voicing-threshold applies to pitch trackers; model 'oracle' transcribes notes" in capsys.readouterr().err
