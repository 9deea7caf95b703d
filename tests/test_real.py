"""The ``real`` dataset (recordings read from PyPI source archives) and Basic Pitch's parity on real audio.

The archives (libsoni 1.1.0, basic-pitch 0.4.0) are fetched once through pip into the amt_jax
cache (``$AMT_JAX_CACHE/sdists``, else ``~/.cache/amt_jax/sdists``) and reused by later sessions;
tests needing them are skipped, saying why, when pip cannot get them (offline). The annotation
helpers are tested on planted data and need nothing.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from amt_jax import __main__ as cli
from amt_jax import data
from amt_jax.constants import HOP_LENGTH, MIDI_OFFSET, SAMPLE_RATE
from amt_jax.data import labels
from amt_jax.data.real import annotations, archives, sources

PARITY_ATOL = 1e-4  # max |ours - basic-pitch's saved output|, the tolerance basic-pitch's own test uses
FETCH_TIMEOUT_S = 20.0


# --- annotation helpers (no archive needed) -----------------------------------------------------


def test_f0_on_frames_takes_the_nearest_voiced_sample():
    times = np.arange(0, 1.0, 0.01)  # a 10 ms track
    hz = np.where(times < 0.5, 220.0, 0.0)
    hz[20] = 0.0  # one unvoiced sample
    got = annotations.f0_on_frames(times, hz, 100)
    centres = np.arange(100) * HOP_LENGTH / SAMPLE_RATE
    nearest = np.abs(times[None, :] - centres[:, None]).argmin(axis=1)
    inside = np.abs(times[nearest] - centres) <= 0.015
    np.testing.assert_array_equal(got, np.where(inside, hz[nearest], 0.0).astype(np.float32))
    assert got[int(round(0.2 * SAMPLE_RATE / HOP_LENGTH))] == 0.0  # the unvoiced sample stays unvoiced
    assert got[0] == 220.0 and got[-1] == 0.0 and not np.any(got[np.flatnonzero(centres > 1.0 + 0.015)])


def test_frames_from_f0_marks_the_nearest_key():
    f0 = np.array([[440.0, 0.0], [440 * 2 ** (49 / 1200), 110.0], [440 * 2 ** (51 / 1200), 20.0]])  # +49, +51 cents
    roll, dropped = annotations.frames_from_f0(f0)
    a4 = 69 - MIDI_OFFSET
    assert roll.shape == (3, 88) and dropped == 1  # 20 Hz is below A0
    assert np.flatnonzero(roll[0]).tolist() == [a4]
    assert np.flatnonzero(roll[1]).tolist() == [45 - MIDI_OFFSET, a4]
    assert np.flatnonzero(roll[2]).tolist() == [a4 + 1]


def test_note_csv_and_bad_annotations():
    notes = annotations.read_note_csv(b"start;duration;pitch;velocity;label\n0.5;0.25;60;1;piano\n1.0;0.5;64;0.5;piano\n", name="x")
    np.testing.assert_allclose(notes.onset_s, [0.5, 1.0])
    np.testing.assert_allclose(notes.offset_s, [0.75, 1.5])
    assert notes.pitch.tolist() == [60, 64] and notes.velocity.tolist() == [127, 64]
    with pytest.raises(data.examples.BadPiece, match="unreadable annotation bad.csv"):
        annotations.read_f0_csv(b"time;f0\n0;abc\n", name="bad.csv")
    with pytest.raises(data.examples.BadPiece, match="no voiced sample"):
        annotations.read_f0_csv(b"time;f0\n0;0\n0.01;0\n", name="silent.csv")


def test_single_note_timing_from_the_envelope():
    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    audio = np.where((t >= 0.25) & (t < 1.5), np.sin(2 * np.pi * 261.6 * t) * np.exp(-(t - 0.25)), 0.0)
    note = annotations.single_note(audio, pitch=60, name="planted")
    assert note.onset_s[0] == pytest.approx(0.25, abs=1 / SAMPLE_RATE)
    assert note.offset_s[0] == pytest.approx(1.5, abs=HOP_LENGTH / SAMPLE_RATE)
    assert note.pitch.tolist() == [60]


# --- archives -----------------------------------------------------------------------------------


def _fetch(package):
    try:
        return archives.fetch_sdist(*package, cache_dir=archives.default_cache_dir(), timeout_s=FETCH_TIMEOUT_S)
    except archives.ArchiveUnavailable as exc:
        pytest.skip(f"{'=='.join(package)} sdist not obtainable offline: {exc}")


@pytest.fixture(scope="session")
def libsoni_sdist():
    return _fetch(sources.LIBSONI)


@pytest.fixture(scope="session")
def basic_pitch_sdist():
    return _fetch(sources.BASIC_PITCH)


@pytest.fixture(scope="module")
def real_build(tmp_path_factory, libsoni_sdist):
    """``(data_dir, stdout, stderr)``: the ``real`` dataset built through the public command from the
    cached archive (given as --manual-dir)."""
    d = tmp_path_factory.mktemp("real")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["data", "build", "real", "--data-dir", str(d), "--manual-dir", str(libsoni_sdist.parent)])
    assert code == 0, err.getvalue()
    return d, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def real_dir(real_build):
    return real_build[0]


def test_build_console_and_card(real_build):
    real_dir, out, err = real_build
    assert "built real" in out and "test 5; skipped 0" in out
    assert "Downloading and preparing" not in out + err and "Generating" not in err  # no tfds noise
    progress = [state for state in err.splitlines() if state.strip()]  # one bar, redrawn once per recording
    assert all(state.startswith("building real") for state in progress), err
    assert f"{len(sources.RECORDINGS)}step" in progress[-1] and "test " in progress[-1], err
    info = json.loads((real_dir / "real" / str(data.builder_class("real").VERSION) / "dataset_info.json").read_text())
    assert "every piece is in the ``test`` split" in info["description"]
    metadata = json.loads((real_dir / "real" / str(data.builder_class("real").VERSION) / "metadata.json").read_text())
    assert metadata["splits"] == "test only"
    for rec in sources.RECORDINGS:
        entry = metadata["recordings"][rec.piece_id]
        assert entry["package"] == "libsoni==1.1.0" and entry["licence"] == rec.licence and entry["dataset"] == rec.dataset


def test_load_and_labels(real_dir, libsoni_sdist):
    name, split = data.parse_spec("real:test")
    source = data.load(name, split, data_dir=real_dir)
    archive = archives.Archive(libsoni_sdist)
    by_id = {r.piece_id: r for r in sources.RECORDINGS}
    assert sorted(ex["id"] for ex in source) == sorted(by_id)
    for ex in source:
        rec = by_id[ex["id"]]
        n_frames = labels.frame_count(ex["audio"].size)
        assert ex["audio"].dtype == np.float32 and ex["frames"].shape == (88, n_frames)
        assert ex["instruments"] == rec.instruments and ex["program"] == rec.program
        if rec.kind == "f0":
            assert ex["f0"].shape == (len(rec.instruments), n_frames) and len(ex["notes"]) == 0
            for voice, path in enumerate(rec.annotations):  # F0 per voice: the track's nearest sample
                times, hz = annotations.read_f0_csv(archive.read(path), name=path)
                centres = np.arange(n_frames) * HOP_LENGTH / SAMPLE_RATE
                nearest = np.abs(times[None, :] - centres[:, None]).argmin(axis=1)
                near = np.abs(times[nearest] - centres) <= 1.5 * np.median(np.diff(times))
                np.testing.assert_allclose(ex["f0"][voice], np.where(near, hz[nearest], 0), rtol=1e-6)
            np.testing.assert_array_equal(ex["frames"], annotations.frames_from_f0(ex["f0"].T)[0].T)
            assert ex["frames"].sum() > 0.5 * n_frames and not ex["onsets"].any()
        else:
            assert ex["f0"].shape == (0, n_frames)
            frames, onsets = labels.rolls(ex["notes"], n_frames=n_frames)
            np.testing.assert_array_equal(ex["frames"], frames.T)
            np.testing.assert_array_equal(ex["onsets"], onsets.T)
    schubert = next(ex for ex in source if by_id[ex["id"]].kind == "notes")
    assert len(schubert["notes"]) == 48  # the CSV's rows
    piano = next(ex for ex in source if by_id[ex["id"]].kind == "single_note")
    assert piano["notes"].pitch.tolist() == [60] and piano["notes"].onset_s[0] == pytest.approx(0.1, abs=0.005)


def test_only_a_test_split(real_dir):
    with pytest.raises(ValueError, match="split in 'real:train' must be one of test"):
        data.parse_spec("real:train")
    with pytest.raises(ValueError, match="split of 'real' must be one of test"):
        data.load("real", "validation", data_dir=real_dir)


def test_a_missing_file_is_skipped_in_one_line(tmp_path, libsoni_sdist, monkeypatch, caplog):
    bad = sources.Recording("missing_audio", sources.LIBSONI, "data_audio/nowhere.wav", "notes", ("x.csv",), ("piano",), 0, "-", "-")
    monkeypatch.setattr(sources, "RECORDINGS", (bad, *sources.RECORDINGS[:2]))
    lines = []
    report = data.build("real", data_dir=tmp_path, archive_dir=str(libsoni_sdist.parent), progress=lines.append)
    assert report.examples == {"test": 2}
    assert report.skipped == (("missing_audio", "libsoni-1.1.0.tar.gz has no data_audio/nowhere.wav"),)
    assert "skipping missing_audio: libsoni-1.1.0.tar.gz has no data_audio/nowhere.wav" in caplog.text
    assert len(lines) == 2


def test_evaluate_prints_per_piece_scores(real_dir, capsys):
    assert cli.main(["evaluate", "--model", "basic-pitch", "--data", "real:test", "--data-dir", str(real_dir)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in
            {r.piece_id for r in sources.RECORDINGS}}
    assert len(rows) == len(sources.RECORDINGS)
    bach = rows["bach10_ach_gott_und_herr"]
    assert "violin, clarinet, saxophone, bassoon (mixed)" in bach and bach.split()[2:4] == ["-", "-"]
    assert float(bach.split()[1].split("/")[2]) > 0.85  # Basic Pitch measured 0.903 here
    assert "piano (program 0)" in rows["swd_d911-11_sc06"] and rows["swd_d911-11_sc06"].split()[2] != "-"
    assert "mean of the 2 piece(s) labelled with notes" in out


# --- parity on real audio -----------------------------------------------------------------------


def test_basic_pitch_parity_on_vocadito(basic_pitch_sdist):
    """Whole-file inference (6 windows: windowing and unwrapping exercised) on vocadito_10 matches the
    outputs basic-pitch 0.4.0 saved for it (``inference.predict``: librosa.load at 22,050 Hz, i.e.
    soxr HQ; unwrapped, time-major [782, C]) and its note events."""
    import soundfile
    import soxr

    from amt_jax.models import registry
    from amt_jax.transcription import inference, notes

    archive = archives.Archive(basic_pitch_sdist)
    files = sources.VOCADITO["vocadito_10"]
    audio, sr = soundfile.read(io.BytesIO(archive.read(files["audio"])), dtype="float32")
    audio = soxr.resample(audio, sr, SAMPLE_RATE, quality="HQ").astype(np.float32)  # librosa 0.11's default
    saved = np.load(io.BytesIO(archive.read(files["model_output"])), allow_pickle=True)["arr_0"].item()
    assert inference.n_windows(audio.size) >= 3
    post = inference.transcribe_audio(audio, model=registry.load("basic-pitch"), batch_size=4)
    assert set(saved) == {"note", "onset", "contour"}
    for name, ref in saved.items():
        ours = post[name].T
        assert ours.shape == ref.shape, name
        err = float(np.abs(ours - ref).max())
        assert err < PARITY_ATOL, f"{name}: max |ours - saved| = {err:.2e}"
        assert float(np.abs(np.roll(ours, 1, axis=0) - ref).max()) > 100 * PARITY_ATOL  # a one-frame slip is caught

    events = np.load(io.BytesIO(archive.read(files["note_events"])), allow_pickle=True)["arr_0"]
    ours = sorted((n.start_s, n.end_s, n.pitch, n.amplitude) for n in notes.decode_notes(post["note"], post["onset"]))
    theirs = sorted((float(e[0]), float(e[1]), int(e[2]), float(e[3])) for e in events)
    assert len(ours) == len(theirs) > 10
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), atol=PARITY_ATOL, rtol=0)
