"""Data layer: labels vs pretty_midi, rendering alignment, the chorales and maestro tfds builders.

A tiny chorales corpus and a fake MAESTRO download (planted notes, good and bad files) are built
once per module.
"""

from __future__ import annotations

import csv
import dataclasses
import shutil
import warnings
import zipfile

import librosa
import mido
import numpy as np
import pretty_midi
import pytest
import soundfile
import tensorflow_datasets as tfds

from amt_jax import __main__ as cli
from amt_jax import data
from amt_jax.constants import FRAMES_PER_SECOND, HOP_LENGTH, MIDI_OFFSET, SAMPLE_RATE
from amt_jax.data import examples, labels, render
from amt_jax.data.chorales import PROGRAMS
from amt_jax.data.chorales import chorales_dataset_builder as chorales_mod

N_PIECES = 4


@pytest.fixture(scope="module")
def chorales_dir(tmp_path_factory):
    """A 4-piece chorales corpus built through the public command."""
    d = tmp_path_factory.mktemp("chorales")
    assert cli.main(["data", "build", "chorales", "--data-dir", str(d), "--n-pieces", str(N_PIECES)]) == 0
    return d


def _random_notes(rng, n=60, end_s=8.0):
    onset = rng.uniform(0, end_s, n)
    return labels.make_notes(onset, onset + rng.uniform(0.005, 1.0, n), rng.integers(21, 109, n), rng.integers(1, 128, n))


# --- labels ----------------------------------------------------------------------------------


def test_rolls_match_pretty_midi_piano_roll(rng):
    """Frame t covers round(onset*fps) <= t < round(offset*fps): pretty_midi's int() roll of the
    notes shifted by half a frame gives exactly that (for notes at least one frame long)."""
    notes = labels.clean(_random_notes(rng))
    fps = FRAMES_PER_SECOND
    long_enough = np.round(notes.offset_s * fps) > np.round(notes.onset_s * fps)
    notes = labels.Notes(*(getattr(notes, f.name)[long_enough] for f in dataclasses.fields(labels.Notes)))
    inst = pretty_midi.Instrument(0)
    half = 0.5 / fps
    inst.notes = [
        pretty_midi.Note(int(v), int(p), a + half, b + half)
        for a, b, p, v in zip(notes.onset_s, notes.offset_s, notes.pitch, notes.velocity)
    ]
    ref = inst.get_piano_roll(fs=fps, pedal_threshold=None)[MIDI_OFFSET : MIDI_OFFSET + 88] > 0
    frames, onsets = labels.rolls(notes, n_frames=ref.shape[1])
    np.testing.assert_array_equal(frames.T, ref)
    starts = np.zeros_like(ref)
    starts[notes.pitch - MIDI_OFFSET, np.floor(notes.onset_s * fps + 0.5).astype(int)] = True
    np.testing.assert_array_equal(onsets.T, starts)


def test_clean_one_voice_per_pitch():
    notes = labels.make_notes(
        [0.0, 0.0, 1.0, 1.5, 3.0, 3.0, 5.0],
        [2.0, 1.0, 1.6, 2.5, 3.0, 4.0, 6.0],  # doubled, struck again inside, zero-length note
        [60, 60, 60, 64, 67, 67, 60],
        [50, 90, 70, 80, 10, 20, 30],
    )
    out = labels.clean(notes)
    got = sorted(zip(out.onset_s, out.offset_s, out.pitch, out.velocity))
    assert got == [(0.0, 1.0, 60, 90), (1.0, 2.0, 60, 70), (1.5, 2.5, 64, 80), (3.0, 4.0, 67, 20), (5.0, 6.0, 60, 30)]


def test_sustain_extends_offsets_to_pedal_release():
    notes = labels.make_notes([0.0, 1.0, 3.0], [0.8, 1.2, 3.5], [60, 62, 64], [80, 80, 80])
    out = labels.extend_by_sustain(notes, np.array([[0.5, 2.0], [4.0, 5.0]]))
    np.testing.assert_allclose(out.offset_s, [2.0, 2.0, 3.5])


def test_rolls_reject_off_keyboard_pitch():
    with pytest.raises(ValueError, match="88 keys"):
        labels.rolls(labels.make_notes([0.0], [1.0], [12], [80]), n_frames=100)


# --- rendering ---------------------------------------------------------------------------------


@pytest.mark.parametrize("program", [p for p, _ in PROGRAMS])
def test_rendered_single_notes_land_on_pitch_and_onset_frame(program):
    """Each program sounds the labelled key (no strong partial below it) from the labelled onset on
    (slow attacks reach -60 dB up to one hop late)."""
    for pitch, frame in ((36, 20), (60, 31), (84, 45)):
        onset_s = (frame + 0.2) / FRAMES_PER_SECOND
        notes = labels.make_notes([onset_s], [onset_s + 0.5], [pitch], [100])
        audio = render.render(notes, program=program)
        ex = examples.make_example(piece_id="note", audio=audio, notes=notes, program=program)
        first = int(np.argmax(np.abs(audio) > 1e-3 * np.abs(audio).max()))
        assert 0 <= first - round(onset_s * SAMPLE_RATE) < HOP_LENGTH  # sound starts within one hop
        assert int(np.argmax(ex["onsets"][:, pitch - MIDI_OFFSET])) == frame
        assert np.flatnonzero(ex["frames"].any(axis=0)).tolist() == [pitch - MIDI_OFFSET]
        cqt = np.abs(librosa.cqt(audio, sr=SAMPLE_RATE, hop_length=HOP_LENGTH, fmin=27.5, n_bins=88, bins_per_octave=12))
        body = cqt[:, frame + 2 : frame + 40].sum(axis=1)
        body /= body.max()
        key = pitch - MIDI_OFFSET
        assert body[key] > 0.25, (program, pitch, body[key])
        assert body[: key - 1].max() < 0.5, (program, pitch, "energy below the labelled pitch")


def test_render_is_bounded_in_time():
    notes = labels.make_notes([0.0], [600.0], [60], [80])
    with pytest.raises(render.RenderError, match="longer than"):
        render.render(notes, program=0, timeout_s=0.05)


@pytest.mark.skipif(shutil.which("fluidsynth") is not None, reason="fluidsynth is installed")
def test_fluidsynth_missing_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="fluidsynth"):
        render.render(labels.make_notes([0.0], [1.0], [60], [80]), program=0, renderer="fluidsynth")


# --- chorales ----------------------------------------------------------------------------------


def test_chorales_read_back_through_tfds_data_source(chorales_dir):
    raw = {s: tfds.data_source("chorales", split=s, data_dir=str(chorales_dir)) for s in data.SPLITS}
    ids = {s: sorted(ex["id"].decode() for ex in src) for s, src in raw.items()}
    assert all(ids.values()), ids
    all_ids = sum(ids.values(), [])
    assert len(set(all_ids)) == len(all_ids) == N_PIECES
    order = [n.split("/")[-1] for n in chorales_mod.chorale_names()[:N_PIECES]]
    for i, piece in enumerate(order):  # deterministic split by position in the build order
        assert piece in ids[chorales_mod.split_of(i)]
    ex = raw["test"][0]
    assert ex["audio"].dtype == np.float32 and ex["audio"].ndim == 1
    assert ex["frames"].shape == ex["onsets"].shape == (ex["audio"].size // HOP_LENGTH + 1, 88)
    assert ex["frames"].dtype == ex["onsets"].dtype == np.bool_


def test_chorales_labels_are_the_rendered_notes(chorales_dir):
    """Stored audio is exactly the render of the stored notes, stored rolls exactly their rolls;
    with the single-note tests above this pins labels to the audio frame by frame."""
    programs = set()
    for split in data.SPLITS:
        for ex in data.load("chorales", split, data_dir=chorales_dir):
            programs.add(ex["program"])
            np.testing.assert_array_equal(ex["audio"], render.render(ex["notes"], program=ex["program"]))
            frames, onsets = labels.rolls(ex["notes"], n_frames=ex["frames"].shape[1])
            np.testing.assert_array_equal(ex["frames"], frames.T)
            np.testing.assert_array_equal(ex["onsets"], onsets.T)
            assert ex["onsets"].sum() == len(ex["notes"]) > 50
            assert ex["notes"].end_s + render.TAIL_S == pytest.approx(ex["audio"].size / SAMPLE_RATE, abs=1e-3)
    assert programs == {p for p, _ in PROGRAMS[:N_PIECES]}


def test_chorales_skip_bad_piece_and_fail_when_nothing_usable(tmp_path, monkeypatch, caplog):
    names = chorales_mod.chorale_names()
    real_export = chorales_mod.export_notes

    def export(name):
        if name == names[1]:
            raise examples.BadPiece(f"unreadable MIDI {name} (planted)")
        return real_export(name)

    monkeypatch.setattr(chorales_mod, "export_notes", export)
    report = data.build("chorales", data_dir=tmp_path / "a", n_pieces=3)
    assert report.skipped == ((names[1], f"unreadable MIDI {names[1]} (planted)"),)
    assert names[1] in caplog.text
    built = {ex["id"] for s in data.SPLITS for ex in data.load("chorales", s, data_dir=tmp_path / "a")}
    assert built == {n.split("/")[-1] for n in (names[0], names[2], names[3])}

    with pytest.raises(ValueError, match="has no usable piece.*longer than"):
        data.build("chorales", data_dir=tmp_path / "b", n_pieces=3, timeout_s=1e-9)
    monkeypatch.setattr(chorales_mod, "export_notes", lambda name: (_ for _ in ()).throw(examples.BadPiece("bad")))
    with pytest.raises(ValueError, match="only 0 usable"):
        data.build("chorales", data_dir=tmp_path / "c", n_pieces=3)


def test_parallel_export_gives_the_serial_outcomes_in_order():
    """Spawned workers export ahead; what comes out, and in what order, is what this process gives."""
    names = chorales_mod.chorale_names()[:5]
    serial = list(chorales_mod.exported_in_order("voiced", names, workers=0))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        exports = chorales_mod.exported_in_order("voiced", names, workers=2)
        first = [next(exports) for _ in range(3)]
        exports.close()  # the workers of the pieces not taken stop
    assert not [w for w in said if "export workers failed" in str(w.message)]  # the workers did it
    assert [n for n, _ in first] == names[:3] == [n for n, _ in serial[:3]]
    for (_, (notes, voice)), (_, (ref_notes, ref_voice)) in zip(first, serial):
        for field in ("onset_s", "offset_s", "pitch", "velocity"):
            np.testing.assert_array_equal(getattr(notes, field), getattr(ref_notes, field))
        np.testing.assert_array_equal(voice, ref_voice)
    assert chorales_mod.export_workers(chorales_mod.PARALLEL_EXPORT_MIN_PIECES - 1) == 0


class _BreakingPool:
    """An executor that runs exports here, until its ``break_at``-th submit: that submit raises
    BrokenProcessPool (``where="submit"``) or its future does (``where="result"``)."""

    def __init__(self, break_at: int, where: str):
        import concurrent.futures

        self.break_at, self.where, self.n, self.futures = break_at, where, 0, concurrent.futures
        self.shut = False

    def submit(self, fn, *args):
        from concurrent.futures.process import BrokenProcessPool

        self.n += 1
        future = self.futures.Future()
        if self.n >= self.break_at:
            if self.where == "submit":
                raise BrokenProcessPool("planted: the pool broke at submit")
            future.set_exception(BrokenProcessPool("planted: a worker died"))
        else:
            future.set_result(fn(*args))
        return future

    def shutdown(self, **_):
        self.shut = True


@pytest.mark.parametrize("break_at, where", [(2, "result"), (5, "submit"), (1, "submit")])
def test_export_falls_back_in_order_when_the_pool_breaks(break_at, where):
    """A pool broken at a result, at a refill submit or at the first submit: every piece still
    comes out once, in order, as this process exports it, with one warning."""
    names = chorales_mod.chorale_names()[:6]
    serial = [(n, o[0].pitch.tolist()) for n, o in chorales_mod.exported_in_order("notes", names, workers=0)]
    pool = _BreakingPool(break_at, where)
    with pytest.warns(UserWarning, match="export workers failed .*planted"):
        got = [(n, o[0].pitch.tolist()) for n, o in chorales_mod.exported_in_order("notes", names, workers=2, pool=pool)]
    assert got == serial and pool.shut


def test_chorales_rejects_too_few_pieces(tmp_path):
    with pytest.raises(ValueError, match="n_pieces"):
        data.build("chorales", data_dir=tmp_path, n_pieces=2)


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="valid datasets: chorales, maestro"):
        data.load("mnist", "test", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="data build chorales"):
        data.load("chorales", "test", data_dir=tmp_path)
    version = data.builder_class("chorales").VERSION
    older = tmp_path / "chorales" / "tinysoundfont" / "1.0.0"  # a build by an amt_jax that stored another schema
    older.mkdir(parents=True)
    (older / "dataset_info.json").write_text("{}")
    unfinished = tmp_path / "chorales" / "tinysoundfont" / f"incomplete.X1_{version}"  # tfds's leftover: no version
    unfinished.mkdir()
    (unfinished / "dataset_info.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=rf"only as version 1\.0\.0 \(this amt_jax reads {version}; the older build's folder .* may be deleted\).*data build chorales"):
        data.load("chorales", "test", data_dir=tmp_path)


# --- maestro ------------------------------------------------------------------------------------

ROOT = "maestro-v3.0.0"


def _piece(k: int) -> pretty_midi.PrettyMIDI:
    """Three isolated piano notes (pitch depends on k) and a sustain pedal holding the second."""
    midi = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(90, 48 + k, 0.31, 0.6), pretty_midi.Note(90, 60 + k, 1.52, 1.8), pretty_midi.Note(90, 72 + k, 3.1, 3.4)]
    inst.control_changes = [pretty_midi.ControlChange(64, 127, 1.6), pretty_midi.ControlChange(64, 0, 2.5)]
    midi.instruments.append(inst)
    return midi


def _render(midi, sr):
    notes = labels.notes_from_midi(midi)
    return render.render(notes, program=0, sample_rate=sr, tail_s=0.6)


@pytest.fixture(scope="module")
def maestro_download(tmp_path_factory):
    """A MAESTRO-format folder: CSV, year folder, good pieces and one of each kind of bad file."""
    root = tmp_path_factory.mktemp("maestro_download") / ROOT
    (root / "2018").mkdir(parents=True)
    rows = []

    def add(name, split, midi_bytes=None, audio=None, sr=44100, header_sr=None, duration=None):
        midi_path, wav_path = f"2018/{name}.midi", f"2018/{name}.wav"
        (root / midi_path).write_bytes(midi_bytes)
        if isinstance(audio, bytes):
            (root / wav_path).write_bytes(audio)
        else:
            soundfile.write(root / wav_path, audio, header_sr or sr, subtype="PCM_16")
        rows.append({
            "canonical_composer": "Test", "canonical_title": name, "split": split, "year": 2018,
            "midi_filename": midi_path, "audio_filename": wav_path,
            "duration": duration if duration is not None else len(audio) / sr,
        })

    def midi_bytes(midi):
        path = root / "tmp.mid"
        midi.write(str(path))
        out = path.read_bytes()
        path.unlink()
        return out

    good = (("good_a", "train", 44100), ("good_b", "train", 48000), ("good_c", "validation", 44100), ("good_d", "test", 44100))
    for k, (name, split, sr) in enumerate(good):
        add(name, split, midi_bytes(_piece(k)), _render(_piece(k), sr), sr=sr)
    audio = _render(_piece(0), 44100)
    add("corrupt_midi", "train", b"MThd\x00\x00\x00\x06garbage", audio)
    absurd = mido.MidiFile()
    track = mido.MidiTrack([mido.Message("note_on", note=60, velocity=80, time=0), mido.Message("note_off", note=60, time=10**8)])
    absurd.tracks.append(track)
    path = root / "absurd.mid"
    absurd.save(str(path))
    add("absurd_ticks", "train", path.read_bytes(), audio)
    path.unlink()
    add("empty_piece", "train", midi_bytes(pretty_midi.PrettyMIDI()), audio)
    add("corrupt_audio", "validation", midi_bytes(_piece(0)), b"RIFF\x10\x00\x00\x00WAVEjunk")
    add("low_rate", "test", midi_bytes(_piece(0)), _render(_piece(0), 16000), sr=16000)
    add("rate_mismatch", "test", midi_bytes(_piece(0)), audio, sr=44100, header_sr=22050)  # header lies
    with open(root / f"{ROOT}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


BAD = {"corrupt_midi", "absurd_ticks", "empty_piece", "corrupt_audio", "low_rate", "rate_mismatch"}


def test_maestro_folder_skips_bad_files_and_aligns_labels(maestro_download, tmp_path, capsys):
    argv = ["data", "build", "maestro", "--data-dir", str(tmp_path), "--manual-dir", str(maestro_download.parent)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "train 2, validation 1, test 1; skipped 6" in out
    for name in BAD:
        assert f"skipped {name}:" in out
    assert "absurd_ticks: unreadable MIDI" in out and "largest tick" in out
    assert "empty_piece: MIDI 2018/empty_piece.midi has no pitched notes" in out
    assert "below 22050 Hz" in out and "sample-rate mismatch" in out
    for split in data.SPLITS:
        for ex in data.load("maestro", split, data_dir=tmp_path):
            k = "abcd".index(ex["id"][-1])
            inst = pretty_midi.PrettyMIDI(str(maestro_download / f"2018/{ex['id']}.midi")).instruments[0]
            ref, release = inst.notes, inst.control_changes[1].time
            np.testing.assert_allclose(ex["notes"].onset_s, [n.start for n in ref])
            np.testing.assert_allclose(ex["notes"].offset_s, [ref[0].end, release, ref[2].end])  # pedal holds note 2
            assert ex["program"] == 0
            assert ex["audio"].size == pytest.approx((3.4 + 0.6) * SAMPLE_RATE, abs=2)
            start = int(np.round(0.31 * SAMPLE_RATE))
            first = int(np.argmax(np.abs(ex["audio"]) > 1e-2 * np.abs(ex["audio"]).max()))
            assert abs(first - start) < HOP_LENGTH // 2  # after resampling, the sound starts in the labelled frame
            assert ex["onsets"][48 + k - MIDI_OFFSET, round(0.31 * FRAMES_PER_SECOND)]


def test_maestro_zip_and_nothing_usable(maestro_download, tmp_path):
    zdir = tmp_path / "zip"
    zdir.mkdir()
    with zipfile.ZipFile(zdir / f"{ROOT}.zip", "w") as zf:
        for path in sorted(maestro_download.rglob("*")):
            if path.is_file() and ("good" in path.name or path.suffix == ".csv"):
                zf.write(path, f"{ROOT}/{path.relative_to(maestro_download)}")
    report = data.build("maestro", data_dir=tmp_path / "out", manual_dir=zdir)
    assert report.examples == {"train": 2, "validation": 1, "test": 1}
    assert {r for r, _ in report.skipped} == BAD  # their files are not in the zip

    broken = tmp_path / "broken" / ROOT
    shutil.copytree(maestro_download, broken)
    rows = list(csv.DictReader(open(broken / f"{ROOT}.csv")))
    rows = [r for r in rows if r["split"] != "test" or "good" not in r["midi_filename"]]
    with open(broken / f"{ROOT}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(ValueError, match="split 'test' has no usable piece.*low_rate"):
        data.build("maestro", data_dir=tmp_path / "out2", manual_dir=broken.parent)
    with pytest.raises(FileNotFoundError, match="no MAESTRO download"):
        data.build("maestro", data_dir=tmp_path / "out3", manual_dir=tmp_path / "out")


def test_maestro_subset_keeps_csv_splits():
    from amt_jax.data.maestro.maestro_dataset_builder import take

    rows = [{"split": s} for s in ["train"] * 80 + ["validation"] * 10 + ["test"] * 10]
    assert {s: len(v) for s, v in take(rows, 20).items()} == {"train": 16, "validation": 2, "test": 2}
    assert {s: len(v) for s, v in take(rows, 3).items()} == {"train": 2, "validation": 1, "test": 1}
    assert {s: len(v) for s, v in take(rows, None).items()} == {"train": 80, "validation": 10, "test": 10}


@pytest.mark.parametrize("kind", ["empty", "wrong", "missing", "bad_zip"])
def test_maestro_manual_dir_without_a_download_is_one_line(tmp_path, capsys, kind):
    """Issue 26 item 5: no traceback, one line naming the folder and what it lacks, exit status 2."""
    manual = tmp_path / "manual"
    if kind != "missing":
        manual.mkdir()
    if kind == "wrong":
        (manual / "notes.txt").write_text("not MAESTRO")
        (manual / "other").mkdir()
    if kind == "bad_zip":
        (manual / f"{ROOT}.zip").write_bytes(b"not a zip")
    code = cli.main(["data", "build", "maestro", "--data-dir", str(tmp_path / "out"), "--manual-dir", str(manual)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert str(manual) in err and "Traceback" not in err
    expected = {"empty": "maestro-v*.zip", "wrong": "maestro-v*.csv", "missing": "does not exist", "bad_zip": "unreadable"}[kind]
    assert expected in err, err
    assert not (tmp_path / "out" / "maestro").exists()
