"""``python -m amt_jax transcribe``: errors, degenerate inputs, and agreement with the original
Basic Pitch pipeline (``basic_pitch.inference.predict`` with onnxruntime on nmp.onnx), scored with
``mir_eval.transcription``."""

import contextlib
import importlib.resources
import io
import os
import subprocess
import sys
import types
from pathlib import Path

import mir_eval
import numpy as np
import pretty_midi
import pytest
import soundfile

from amt_jax.__main__ import main

sys.modules.setdefault("resampy", types.ModuleType("resampy"))  # only for basic_pitch's sonification
import basic_pitch.inference as bp_inference  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BATCH = ["--batch-size", "2"]  # one batch size for the whole module: the model compiles once


def harmonic_notes(events, duration_s, sr, *, n_harmonics=5):
    """Decaying harmonic tones ``(onset_s, offset_s, midi)`` at ``sr`` Hz, [n] float32."""
    y = 1e-4 * np.random.default_rng(0).standard_normal(int(duration_s * sr))
    for t0, t1, midi in events:
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        n0, n1 = int(t0 * sr), int(t1 * sr)
        t = np.arange(n1 - n0) / sr
        env = np.exp(-2 * t) * np.minimum(1, t / 0.005)
        y[n0:n1] += 0.2 * env * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, n_harmonics + 1) if k * f0 < sr / 2)
    return y.astype(np.float32)


def midi_notes(path):
    midi = pretty_midi.PrettyMIDI(str(path))
    return sorted((n.start, n.end, n.pitch) for i in midi.instruments for n in i.notes)


def midi_bends(path):
    return sorted((b.time, b.pitch) for i in pretty_midi.PrettyMIDI(str(path)).instruments for b in i.pitch_bends)


def original_basic_pitch(path, midi_path=None):
    """Note events (start_s, end_s, pitch) of basic-pitch 0.4.0's ``predict`` with nmp.onnx; its
    MIDI file is written to ``midi_path`` if given."""
    model_path = importlib.resources.files("basic_pitch") / "saved_models/icassp_2022/nmp.onnx"
    with contextlib.redirect_stdout(io.StringIO()):
        _, midi, events = bp_inference.predict(path, bp_inference.Model(str(model_path)))
    if midi_path is not None:
        midi.write(str(midi_path))
    return sorted((float(s), float(e), int(p)) for s, e, p, *_ in events)


def mir_eval_notes(notes):
    intervals = np.array([(s, e) for s, e, _ in notes], dtype=float).reshape(-1, 2)
    return intervals, 440.0 * 2 ** ((np.array([p for *_, p in notes], dtype=float) - 69) / 12)


def corrupt_wav(path):
    path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200)))


def corrupt_mp3(path):
    path.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + np.random.default_rng(1).bytes(3000))


def directory(path):
    path.mkdir()


def no_samples(path):
    soundfile.write(path, np.zeros(0, np.float32), 22050)


@pytest.mark.parametrize(
    "make, name, message",
    [
        (None, "missing.wav", "not found"),
        (lambda p: p.write_bytes(b""), "empty.wav", "empty"),
        (no_samples, "no_samples.wav", "no samples"),
        (corrupt_wav, "corrupt.wav", "cannot decode"),
        (corrupt_mp3, "corrupt.mp3", "cannot decode"),
        (directory, "folder.wav", "directory"),
    ],
)
def test_unreadable_input_is_one_line_error(tmp_path, capfd, make, name, message):
    source = tmp_path / name
    if make is not None:
        make(source)
    out = tmp_path / "out.mid"
    assert main(["transcribe", str(source), "-o", str(out)]) == 2
    captured = capfd.readouterr()  # file-descriptor level: C decoders' messages would show here
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(source) in lines[0], captured.err
    assert not out.exists() and os.listdir(tmp_path) == ([name] if make is not None else [])


@pytest.mark.parametrize(
    "options, message",
    [
        (["--onset-threshold", "0"], "onset_threshold"),
        (["--frame-threshold", "2"], "frame_threshold"),
        (["--min-note-length", "-1"], "min_note_length_s"),
        (["--batch-size", "0"], "batch-size"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, capfd, options, message):
    source = tmp_path / "x.wav"
    soundfile.write(source, np.zeros(1000, np.float32), 22050)
    assert main(["transcribe", str(source), "-o", str(tmp_path / "x.mid"), *options]) == 2
    lines = capfd.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_missing_output_directory(tmp_path, capfd):
    source = tmp_path / "x.wav"
    soundfile.write(source, np.zeros(1000, np.float32), 22050)
    assert main(["transcribe", str(source), "-o", str(tmp_path / "nowhere" / "x.mid")]) == 2
    assert "output directory" in capfd.readouterr().err


def test_exit_status_of_the_module(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "amt_jax", "transcribe", str(tmp_path / "missing.flac"), "-o", str(tmp_path / "o.mid")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "missing.flac" in result.stderr


@pytest.mark.parametrize(
    "name, audio, sr",
    [
        ("silence_stereo_16k.wav", np.zeros((16000, 2), np.float32), 16000),
        ("tiny_44k.flac", 0.1 * np.sin(np.arange(100) / 3.0).astype(np.float32), 44100),  # < 1 frame
        ("silence_22k.mp3", np.zeros(22050 * 3, np.float32), 22050),
    ],
)
def test_silence_and_tiny_clips_give_midi_without_notes(tmp_path, capsys, name, audio, sr):
    source, out = tmp_path / name, tmp_path / "out.mid"
    soundfile.write(source, audio, sr)
    assert main(["transcribe", str(source), "-o", str(out), *BATCH]) == 0
    assert "wrote 0 notes" in capsys.readouterr().out
    assert midi_notes(out) == []
    assert sorted(os.listdir(tmp_path)) == sorted([name, "out.mid"])  # no temporary file left


def test_matches_original_basic_pitch(tmp_path, capsys):
    """Stereo 44.1 kHz, 5.5 s (3 windows): same notes as the original pipeline."""
    events = [(0.3, 1.2, 60), (0.3, 1.2, 64), (1.0, 1.6, 72), (1.9, 3.0, 55), (2.5, 3.2, 79), (3.4, 5.2, 67), (4.0, 4.6, 48)]
    mono = harmonic_notes(events, 5.5, 44100)
    source, out = tmp_path / "tones.wav", tmp_path / "tones.mid"
    soundfile.write(source, np.stack([mono, 0.5 * mono], axis=1), 44100)
    assert main(["transcribe", str(source), "-o", str(out), *BATCH]) == 0
    ours, original = midi_notes(out), original_basic_pitch(source)
    assert len(original) >= 5
    ref_i, ref_p = mir_eval_notes(original)
    est_i, est_p = mir_eval_notes(ours)
    onset_f1 = mir_eval.transcription.precision_recall_f1_overlap(ref_i, ref_p, est_i, est_p, offset_ratio=None)[2]
    full_f1 = mir_eval.transcription.precision_recall_f1_overlap(ref_i, ref_p, est_i, est_p)[2]
    assert onset_f1 == 1.0 and full_f1 == 1.0
    # Beyond mir_eval's tolerances: same pitches, times equal up to MIDI tick rounding (1/440 s).
    assert [p for *_, p in ours] == [p for *_, p in original]
    np.testing.assert_allclose(est_i, ref_i, atol=1.2 / 440)


def test_clip_shorter_than_a_window(tmp_path):
    """1.5 s: one window, one note with pitch bends, as the original pipeline writes them."""
    source, out, ref = tmp_path / "a4.flac", tmp_path / "a4.mid", tmp_path / "ref.mid"
    soundfile.write(source, harmonic_notes([(0.2, 1.3, 69)], 1.5, 22050, n_harmonics=1), 22050)
    assert main(["transcribe", str(source), "-o", str(out), *BATCH]) == 0
    ours, original = midi_notes(out), original_basic_pitch(source, ref)
    assert [p for *_, p in ours] == [p for *_, p in original] and 69 in [p for *_, p in ours]
    np.testing.assert_allclose(mir_eval_notes(ours)[0], mir_eval_notes(original)[0], atol=1.2 / 440)
    assert midi_bends(out) == midi_bends(ref) and len(midi_bends(out)) > 10
    assert main(["transcribe", str(source), "-o", str(out), "--no-pitch-bends", *BATCH]) == 0
    assert midi_notes(out) == ours and midi_bends(out) == []
