"""Note decoding against Basic Pitch's own ``note_creation`` on the same posteriorgrams.

References: basic_pitch 0.4.0's Python code (``output_to_notes_polyphonic``,
``model_output_to_notes``, ``model_frames_to_time``, ``note_events_to_midi``) run on posteriorgrams
from onnxruntime on the wheel's ``nmp.onnx`` and on random smooth posteriorgrams; pretty_midi for
the written MIDI.
"""

import importlib.resources
import sys
import types
import warnings

import numpy as np
import pretty_midi
import pytest
import scipy.ndimage

from amt_jax.transcription import notes

# basic_pitch.note_creation imports resampy only for sonify_salience (unused here, not installed).
sys.modules.setdefault("resampy", types.ModuleType("resampy"))
import basic_pitch.inference as bp_inference  # noqa: E402
import basic_pitch.note_creation as bp_notes  # noqa: E402

SR = 22050


def harmonic_notes(events, duration_s, *, seed=0):
    """Decaying 5-harmonic tones ``(onset_s, offset_s, midi)`` plus faint noise, [n] float32."""
    rng = np.random.default_rng(seed)
    y = 1e-4 * rng.standard_normal(int(duration_s * SR))
    for t0, t1, midi in events:
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        n0, n1 = int(t0 * SR), int(t1 * SR)
        t = np.arange(n1 - n0) / SR
        env = np.exp(-2 * t) * np.minimum(1, t / 0.005)
        y[n0:n1] += 0.2 * env * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6) if k * f0 < SR / 2)
    return y.astype(np.float32)


def random_events(rng, n, duration_s):
    starts = rng.uniform(0, duration_s - 0.8, n)
    return [(s, s + rng.uniform(0.1, 0.8), int(rng.integers(36, 96))) for s in starts]


@pytest.fixture(scope="module")
def onnx_posteriorgrams():
    """Basic Pitch's unwrapped outputs {name: [T, C]} (its time-major layout) for three clips."""
    path = importlib.resources.files("basic_pitch") / "saved_models/icassp_2022/nmp.onnx"
    model = bp_inference.Model(str(path))
    rng = np.random.default_rng(0)
    clips = {
        "melody": harmonic_notes(random_events(rng, 30, 6.0), 6.0, seed=1),
        "chords": harmonic_notes(
            [(t, t + 0.9, m) for t in (0.2, 1.2, 2.2) for m in rng.choice(np.arange(48, 84), 4, replace=False)], 3.5
        ),
        "silence": np.zeros(30000, np.float32),
    }
    out = {}
    for name, audio in clips.items():
        padded = np.concatenate([np.zeros(3840, np.float32), audio])
        pred = model.predict(np.stack([w for w, _ in bp_inference.window_audio_file(padded, 36164)]))
        out[name] = {k: bp_inference.unwrap_output(v, len(audio), 30) for k, v in pred.items()}
    return out


def reference_frames(note_tp, onset_tp, **kw):
    """basic_pitch's frame-level decoding of time-major [T, 88] posteriorgrams."""
    with warnings.catch_warnings():  # it divides 0 by 0 when the activation never rises
        warnings.simplefilter("ignore", RuntimeWarning)
        return bp_notes.output_to_notes_polyphonic(
            note_tp.copy(), onset_tp.copy(), max_freq=None, min_freq=None, **kw
        )


@pytest.mark.parametrize("clip", ["melody", "chords", "silence"])
def test_decoding_equals_basic_pitch_on_model_outputs(onnx_posteriorgrams, clip):
    out = onnx_posteriorgrams[clip]
    ref = reference_frames(out["note"], out["onset"], onset_thresh=0.5, frame_thresh=0.3, min_note_len=11, infer_onsets=True)
    ours = notes.decode_note_frames(out["note"].T, out["onset"].T)
    assert ours == [(int(s), int(e), int(p), float(a)) for s, e, p, a in ref]  # same notes, same order
    if clip != "silence":
        assert len(ours) >= 10
    else:
        assert ours == []


@pytest.mark.parametrize("clip", ["melody", "chords"])
def test_notes_in_seconds_equal_model_output_to_notes(onnx_posteriorgrams, clip):
    out = onnx_posteriorgrams[clip]
    _, ref = bp_notes.model_output_to_notes(dict(out), onset_thresh=0.5, frame_thresh=0.3, min_note_len=11)
    ours = notes.decode_notes(out["note"].T, out["onset"].T)
    assert [n[:4] for n in ours] == sorted((float(s), float(e), int(p), float(a)) for s, e, p, a, _ in ref)
    assert all(n.bends is None for n in ours)
    with_bends = notes.decode_notes(out["note"].T, out["onset"].T, contour=out["contour"].T)
    assert [n[:4] for n in with_bends] == [n[:4] for n in ours]
    ref_bends = {(float(s), float(e), int(p)): tuple(int(b) for b in bends) for s, e, p, _, bends in ref}
    assert {n[:3]: n.bends for n in with_bends} == ref_bends


def smooth_posteriorgram(rng, n_frames, levels):
    """Sigmoid of smoothed noise, [T, 88] float32; quantised to ``levels`` steps (ties) if > 0."""
    x = scipy.ndimage.gaussian_filter(rng.standard_normal((n_frames, 88)), (rng.uniform(1, 6), rng.uniform(0.3, 2)))
    x = 1 / (1 + np.exp(-(1.5 * x / x.std() - 1.0)))
    return (np.round(x * levels) / levels if levels else x).astype(np.float32)


@pytest.mark.parametrize("seed", range(12))
def test_decoding_equals_basic_pitch_on_random_posteriorgrams(seed):
    rng = np.random.default_rng(seed)
    n_frames = int(rng.choice([3, 13, 200, 700]))
    levels = int(rng.choice([0, 4, 16]))
    note, onset = smooth_posteriorgram(rng, n_frames, levels), smooth_posteriorgram(rng, n_frames, levels)
    kw = dict(
        onset_thresh=float(rng.choice([0.5, 0.3, 0.7])),
        frame_thresh=float(rng.choice([0.3, 0.25, 0.5])),
        min_note_len=int(rng.choice([0, 3, 11])),
        infer_onsets=bool(rng.integers(2)),
        melodia_trick=bool(rng.integers(2)),
    )
    ref = reference_frames(note, onset, **kw)
    ours = notes.decode_note_frames(
        note.T,
        onset.T,
        onset_threshold=kw["onset_thresh"],
        frame_threshold=kw["frame_thresh"],
        min_note_frames=kw["min_note_len"],
        infer_onsets=kw["infer_onsets"],
        melodia_trick=kw["melodia_trick"],
    )
    assert ours == [(int(s), int(e), int(p), float(a)) for s, e, p, a in ref]


def test_inferred_onsets_equal_basic_pitch(rng):
    note, onset = smooth_posteriorgram(rng, 300, 0), smooth_posteriorgram(rng, 300, 0)
    ref = bp_notes.get_infered_onsets(onset.copy(), note.copy())
    np.testing.assert_array_equal(notes.inferred_onsets(onset.T, note.T), ref.T)


def test_activation_that_never_rises_keeps_predicted_onsets(rng):
    """Deliberate deviation: Basic Pitch's inferred-onset map is then NaN (0/0) and its onset stage
    finds nothing; ours keeps the predicted onsets, i.e. decodes as Basic Pitch without inference."""
    note = np.tile(np.linspace(0.9, 0.35, 100, dtype=np.float32), (88, 1)).T  # [T, 88], falling
    onset = np.zeros_like(note)
    onset[[20, 50], [30, 60]] = 0.8
    ref = reference_frames(note, onset, onset_thresh=0.5, frame_thresh=0.3, min_note_len=11, infer_onsets=False)
    assert len(ref) >= 2
    ours = notes.decode_note_frames(note.T, onset.T, infer_onsets=True)
    assert ours == [(int(s), int(e), int(p), float(a)) for s, e, p, a in ref]


@pytest.mark.parametrize("n_frames", [0, 1, 171, 172, 173, 5000])
def test_frame_times_equal_model_frames_to_time(n_frames):
    np.testing.assert_array_equal(notes.frame_times(n_frames), bp_notes.model_frames_to_time(n_frames))


def test_min_note_frames_rounds_like_predict():
    # basic_pitch.inference.predict: int(np.round(minimum_note_length_ms / 1000 * (sr / hop)))
    for ms in (127.70, 0.0, 50.0, 300.0):
        expected = int(np.round(ms / 1000 * (bp_notes.AUDIO_SAMPLE_RATE / bp_notes.FFT_HOP)))
        assert notes.min_note_frames(ms / 1000) == expected
    assert notes.min_note_frames(notes.MIN_NOTE_LENGTH_S) == 11


@pytest.mark.parametrize("clip", ["melody", "chords"])
@pytest.mark.parametrize("bends", [True, False])
def test_midi_equals_basic_pitchs(onnx_posteriorgrams, tmp_path, clip, bends):
    out = onnx_posteriorgrams[clip]
    ours = notes.decode_notes(out["note"].T, out["onset"].T, contour=out["contour"].T if bends else None)
    ref_midi, _ = bp_notes.model_output_to_notes(
        dict(out), onset_thresh=0.5, frame_thresh=0.3, min_note_len=11, include_pitch_bends=bends
    )
    ours_midi = notes.notes_to_midi(ours)
    # Both through a MIDI file: same program, note ticks, pitches, velocities and pitch bends.
    read = {}
    for name, midi in (("ours", ours_midi), ("ref", ref_midi)):
        midi.write(str(tmp_path / f"{name}.mid"))
        (inst,) = pretty_midi.PrettyMIDI(str(tmp_path / f"{name}.mid")).instruments
        read[name] = (
            inst.program,
            sorted((n.start, n.end, n.pitch, n.velocity) for n in inst.notes),
            sorted((b.time, b.pitch) for b in inst.pitch_bends),
        )
    assert read["ours"] == read["ref"]
    if clip == "melody":  # some of its notes overlap no other and keep their bends
        assert bool(read["ours"][2]) == bends


def test_empty_note_list_gives_valid_midi(tmp_path):
    path = tmp_path / "empty.mid"
    notes.notes_to_midi([]).write(str(path))
    read = pretty_midi.PrettyMIDI(str(path))
    assert sum(len(i.notes) for i in read.instruments) == 0


def test_notes_to_mir_eval_units():
    intervals, pitches = notes.notes_to_mir_eval([notes.Note(0.5, 1.0, 69, 0.8), notes.Note(1.0, 2.0, 57, 0.4)])
    np.testing.assert_array_equal(intervals, [[0.5, 1.0], [1.0, 2.0]])
    np.testing.assert_allclose(pitches, pretty_midi.note_number_to_hz(np.array([69, 57])))
    intervals, pitches = notes.notes_to_mir_eval([])
    assert intervals.shape == (0, 2) and pitches.shape == (0,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(note=np.zeros((88, 10)), onset=np.zeros((88, 9))), "onset"),
        (dict(note=np.zeros(10), onset=np.zeros(10)), "note"),
        (dict(note=np.full((88, 10), np.nan), onset=np.zeros((88, 10))), "note"),
        (dict(note=np.zeros((88, 10)), onset=np.zeros((88, 10)), onset_threshold=0.0), "onset_threshold"),
        (dict(note=np.zeros((88, 10)), onset=np.zeros((88, 10)), frame_threshold=1.5), "frame_threshold"),
        (dict(note=np.zeros((88, 10)), onset=np.zeros((88, 10)), min_note_frames=-1), "min_note_frames"),
        (dict(note=np.zeros((88, 10)), onset=np.zeros((88, 10)), energy_tolerance=0), "energy_tolerance"),
    ],
)
def test_decode_validates_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        notes.decode_note_frames(**kwargs)


def test_midi_validates_notes():
    with pytest.raises(ValueError, match="notes"):
        notes.notes_to_midi([notes.Note(1.0, 0.5, 60, 0.5)])
    with pytest.raises(ValueError, match="events"):
        notes.pitch_bends(np.zeros((264, 10)), [(0, 11, 60, 0.5)])
    with pytest.raises(ValueError, match="program"):
        notes.notes_to_midi([], program=128)
