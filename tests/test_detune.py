"""Mistuned chorales (issue 24, item 2): per-voice detuning and vibrato rendered with pitch bend.

The bend is measured on rendered notes (a long FFT peak for fixed offsets, the analytic signal's
instantaneous frequency for vibrato), the in-tune render is pinned to a copy of the original
note-by-note render, and tiny in-tune / ``detune25`` / ``vibrato`` corpora (3 pieces) built
through the public command are compared piece by piece.
"""

from __future__ import annotations


import numpy as np
import pretty_midi
import pytest

from amt_jax import __main__ as cli
from amt_jax import data
from amt_jax.constants import SAMPLE_RATE, midi_to_hz
from amt_jax.data import labels, render, tuning
from amt_jax.data.chorales import chorales_dataset_builder as chorales_mod

N_PIECES = 3
ORGAN = 20  # Reed Organ: a steady pitch (no vibrato of its own in TimGM6mb)
PIANO = 0


# --- measuring pitch ---------------------------------------------------------------------------


def fundamental_cents(audio: np.ndarray, pitch: int, start_s: float, stop_s: float) -> float:
    """Fundamental of ``audio[start_s:stop_s]`` in cents from equal-tempered ``pitch``: the peak of a
    Hann-windowed FFT zero-padded to 2^20 points (0.02 Hz bins) within a semitone of the key,
    refined by a parabola through the log magnitudes."""
    x = audio[int(start_s * SAMPLE_RATE) : int(stop_s * SAMPLE_RATE)]
    nfft = 1 << 20
    mag = np.abs(np.fft.rfft(x * np.hanning(x.size), nfft))
    f = midi_to_hz(pitch)
    lo, hi = (int(f * 2 ** (s / 12) * nfft / SAMPLE_RATE) for s in (-1, 1))
    k = lo + int(np.argmax(mag[lo:hi]))
    a, b, c = np.log(mag[k - 1 : k + 2])
    peak_bin = k + 0.5 * (a - c) / (a - 2 * b + c)
    return float(1200 * np.log2(peak_bin * SAMPLE_RATE / nfft / f))


def f0_track_cents(audio: np.ndarray, pitch: int, reference_hz: float) -> np.ndarray:
    """Instantaneous frequency of the fundamental (the band within 150 cents of ``pitch``, as an
    analytic signal), in cents from ``reference_hz``, smoothed over 5 ms; one value per sample."""
    spectrum = np.fft.fft(audio)
    freqs = np.fft.fftfreq(audio.size, 1 / SAMPLE_RATE)
    f = midi_to_hz(pitch)
    band = (freqs > f * 2 ** (-150 / 1200)) & (freqs < f * 2 ** (150 / 1200))
    analytic = np.fft.ifft(np.where(band, spectrum, 0))
    inst_hz = np.diff(np.unwrap(np.angle(analytic))) * SAMPLE_RATE / (2 * np.pi)
    cents = 1200 * np.log2(np.maximum(np.abs(inst_hz), 1.0) / reference_hz)  # silence before the note: no f0
    width = int(0.005 * SAMPLE_RATE)
    return np.convolve(cents, np.ones(width) / width, mode="same")


def fit_sinusoid(t: np.ndarray, y: np.ndarray, rates_hz: np.ndarray) -> tuple[float, float]:
    """Least-squares ``y ≈ A sin(2π r t + φ) + c`` over a grid of rates → ``(r, A)`` of the best."""
    best = (np.inf, 0.0, 0.0)
    for r in rates_hz:
        basis = np.stack([np.sin(2 * np.pi * r * t), np.cos(2 * np.pi * r * t), np.ones_like(t)], axis=1)
        coef = np.linalg.lstsq(basis, y, rcond=None)[0]
        err = float(np.sum((basis @ coef - y) ** 2))
        if err < best[0]:
            best = (err, float(r), float(np.hypot(coef[0], coef[1])))
    return best[1], best[2]


def reference_render(notes, program: int) -> np.ndarray:
    """The in-tune render as it was before mistuned configs existed (a copy of the original
    ``render.render`` with tinysoundfont: one channel, note by note, chunks cut at events)."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=SAMPLE_RATE)
    sfid = synth.sfload(str(render.default_soundfont()))
    synth.program_select(0, sfid, 0, int(program))
    on = np.round(notes.onset_s * SAMPLE_RATE).astype(np.int64)
    off = np.round(notes.offset_s * SAMPLE_RATE).astype(np.int64)
    events = sorted(
        [(int(t), 0, int(p), 0) for t, p in zip(off, notes.pitch)]
        + [(int(t), 1, int(p), int(v)) for t, p, v in zip(on, notes.pitch, notes.velocity)]
    )
    n_samples = int(off.max()) + int(round(render.TAIL_S * SAMPLE_RATE))
    out = np.zeros(n_samples, dtype=np.float32)
    pos = 0
    for t, kind, pitch, velocity in events + [(n_samples, 0, -1, 0)]:
        while pos < t:
            n = min(t - pos, 1 << 16)
            out[pos : pos + n] = np.frombuffer(synth.generate(n), dtype=np.float32).reshape(n, 2).mean(axis=1)
            pos += n
        if pitch < 0:
            break
        if kind:
            synth.noteon(0, pitch, velocity)
        else:
            synth.noteoff(0, pitch)
    return (out / max(1.0, float(np.max(np.abs(out))) / 0.99)).astype(np.float32)


# --- the bend on one note ----------------------------------------------------------------------


@pytest.mark.parametrize("program", [ORGAN, PIANO])
@pytest.mark.parametrize("cents", [25.0, -50.0, 10.0])
def test_fixed_bend_moves_the_fundamental_by_the_offset(program, cents):
    """A note on voice 2 of a 4-voice tuning sounds ``cents`` away from the in-tune render of the
    same note (within 3 cents), and the other voices' offsets do not reach it."""
    pitch = 62
    notes = labels.make_notes([0.1], [2.1], [pitch], [100])
    plain = render.render(notes, program=program)
    bent = render.render(notes, program=program, voice=[2], tuning=tuning.Tuning.fixed([-50.0, 50.0, cents, 50.0]))
    shift = fundamental_cents(bent, pitch, 0.3, 1.9) - fundamental_cents(plain, pitch, 0.3, 1.9)
    assert shift == pytest.approx(cents, abs=3.0), (program, cents, shift)


def test_zero_cents_and_in_tune_render_are_unchanged(rng):
    """The in-tune render equals the original note-by-note render bit for bit, and so does a
    mistuned render whose voices are all at 0 cents, whichever channels the voices use."""
    onset = np.sort(rng.uniform(0, 4.0, 40))
    notes = labels.clean(labels.make_notes(onset, onset + rng.uniform(0.05, 0.8, 40), rng.integers(36, 90, 40), rng.integers(40, 128, 40)))
    voice = rng.integers(0, 4, len(notes))
    for program in (PIANO, 48):
        ref = reference_render(notes, program)
        np.testing.assert_array_equal(render.render(notes, program=program), ref)
        np.testing.assert_array_equal(render.render(notes, program=program, voice=voice, tuning=tuning.Tuning.fixed(np.zeros(4))), ref)
    detuned = render.render(notes, program=PIANO, voice=voice, tuning=tuning.Tuning.fixed([0, 0, 0, 25.0]))
    assert detuned.shape == ref.shape and not np.array_equal(detuned, reference_render(notes, PIANO))


@pytest.mark.parametrize("voice", [0, 2])  # drawn phases 0.64 and 2.01 rad
def test_vibrato_f0_oscillates_at_the_drawn_rate_and_depth(voice):
    """One 3-s note with a piece's drawn vibrato: its f0 track's fitted rate is the drawn rate
    (±0.3 Hz), its amplitude the drawn depth (±20 %), and the track follows the drawn curve in
    time (phase included), not just in rate."""
    tun = tuning.draw("bwv269", 4, vibrato=True)
    pitch, onset = 67, 0.37
    notes = labels.make_notes([onset], [onset + 3.0], [pitch], [100])
    plain = render.render(notes, program=ORGAN)
    bent = render.render(notes, program=ORGAN, voice=[voice], tuning=tun)
    sl = slice(int((onset + 0.3) * SAMPLE_RATE), int((onset + 2.8) * SAMPLE_RATE))
    ref_hz = midi_to_hz(pitch) * 2 ** (fundamental_cents(plain, pitch, onset + 0.3, onset + 2.8) / 1200)
    track = f0_track_cents(bent, pitch, ref_hz)[sl][::8]
    t = (np.arange(bent.size - 1)[sl][::8] + 0.5) / SAMPLE_RATE
    rate, depth = fit_sinusoid(t, track, np.arange(4.0, 7.0, 0.01))
    assert rate == pytest.approx(tun.vibrato_rate_hz[voice], abs=0.3)
    assert depth == pytest.approx(tun.vibrato_depth_cents[voice], rel=0.2)
    phase = 2 * np.pi * tun.vibrato_rate_hz[voice] * t + tun.vibrato_phase[voice]  # the documented curve
    drawn = tun.cents[voice] + tun.vibrato_depth_cents[voice] * np.sin(phase)
    assert np.sqrt(np.mean((track - drawn) ** 2)) < 0.2 * tun.vibrato_depth_cents[voice]


def test_vibrato_block_size_is_checked_and_detune_needs_tinysoundfont():
    notes = labels.make_notes([0.0], [0.5], [60], [80])
    with pytest.raises(ValueError, match="bend_block"):
        render.render(notes, program=0, tuning=tuning.draw("x", 1, vibrato=True), bend_block=0)
    with pytest.raises(ValueError, match="tinysoundfont"):
        render.render(notes, program=0, renderer="fluidsynth", tuning=tuning.Tuning.fixed([10.0]))
    with pytest.raises(ValueError, match="voice must hold"):
        render.render(notes, program=0, voice=[1], tuning=tuning.Tuning.fixed([10.0]))
    with pytest.raises(ValueError, match="bend range"):
        tuning.Tuning.fixed([250.0])


def test_bend_values_map_cents_as_tinysoundfont_plays_them():
    cents = np.array([-150.0, -50.0, -25.0, -10.0, 0.0, 10.0, 25.0, 50.0, 150.0])
    wheel = tuning.bend_value(cents)
    assert wheel[4] == 8192 and np.all(np.diff(wheel) > 0)
    np.testing.assert_allclose(tuning.bend_cents(wheel), cents, atol=100 * 2 * 2 / 16383 / 2)


# --- the draws ----------------------------------------------------------------------------------


def test_draws_are_reproducible_and_signs_independent_per_voice():
    """The same piece draws the same tuning; signs are fair coins drawn per voice (a sign shared
    by a piece's voices, or fixed per voice, would fail), the same for every D; vibrato parameters
    lie in their ranges and differ between voices."""
    ids = [f"bwv{k}" for k in range(600)]
    signs = np.stack([tuning.detune_signs(p, 4) for p in ids])
    for p in ids[:20]:
        a, b = tuning.draw(p, 4, detune_cents=25), tuning.draw(p, 4, detune_cents=25)
        np.testing.assert_array_equal(a.cents, b.cents)
        np.testing.assert_array_equal(tuning.draw(p, 4, detune_cents=50).cents, 2 * a.cents)
        np.testing.assert_array_equal(tuning.draw(p, 6, detune_cents=25).cents[:4], a.cents)  # voice v's sign ignores n_voices
    assert set(np.unique(signs)) == {-1.0, 1.0}
    np.testing.assert_allclose((signs > 0).mean(axis=0), 0.5, atol=0.07)  # each voice a fair coin
    agree = [(signs[:, i] == signs[:, j]).mean() for i in range(4) for j in range(i + 1, 4)]
    np.testing.assert_allclose(agree, 0.5, atol=0.07)  # voices independent of one another
    assert np.mean(np.abs(signs.sum(axis=1)) == 4) == pytest.approx(1 / 8, abs=0.04)  # all four alike
    vib = [tuning.draw(p, 4, vibrato=True) for p in ids[:50]]
    rates = np.stack([v.vibrato_rate_hz for v in vib])
    depths = np.stack([v.vibrato_depth_cents for v in vib])
    assert rates.min() >= 5.0 and rates.max() <= 6.0 and depths.min() >= 20.0 and depths.max() <= 50.0
    assert all(len(np.unique(v.vibrato_rate_hz)) == 4 and np.all(v.cents == 0) for v in vib)
    np.testing.assert_array_equal(tuning.draw("bwv1", 4, vibrato=True).vibrato_phase, vib[1].vibrato_phase)


def test_voices_come_from_the_midi_parts():
    """Each note's voice is its track; a unison of two parts merges into the lower-numbered voice;
    the notes are exactly notes_from_midi's."""
    midi = pretty_midi.PrettyMIDI()
    for k, pitches in enumerate(([72, 74, 67], [67, 65], [55, 53])):
        inst = pretty_midi.Instrument(0, name=f"part{k}")
        inst.notes = [pretty_midi.Note(80, p, i * 0.5, i * 0.5 + 0.5) for i, p in enumerate(pitches)]
        midi.instruments.append(inst)
    notes, voice = labels.voiced_notes_from_midi(midi)
    plain = labels.notes_from_midi(midi)
    for a, b in zip((notes.onset_s, notes.offset_s, notes.pitch, notes.velocity), (plain.onset_s, plain.offset_s, plain.pitch, plain.velocity)):
        np.testing.assert_array_equal(a, b)
    got = sorted(zip(notes.onset_s.tolist(), notes.pitch.tolist(), voice.tolist()))
    assert got == [(0.0, 55, 2), (0.0, 67, 1), (0.0, 72, 0), (0.5, 53, 2), (0.5, 65, 1), (0.5, 74, 0), (1.0, 67, 0)]
    # part 0's 67 at 1.0 s and part 1's 67 at 0.0 s: distinct notes; add a true unison
    midi.instruments[1].notes.append(pretty_midi.Note(90, 67, 1.0, 1.4))
    notes, voice = labels.voiced_notes_from_midi(midi)
    assert voice[(notes.onset_s == 1.0) & (notes.pitch == 67)].tolist() == [0]


# --- the built corpora --------------------------------------------------------------------------


def _build(d, config=None):
    extra = [] if config is None else ["--config", config]
    assert cli.main(["data", "build", "chorales", *extra, "--data-dir", str(d), "--n-pieces", str(N_PIECES)]) == 0


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """In-tune, detune25 and vibrato builds of the same 3 pieces, in one data directory."""
    d = tmp_path_factory.mktemp("tuning")
    for config in (None, "detune25", "vibrato"):
        _build(d, config)
    return d


def _by_id(name, d):
    return {ex["id"]: (split, ex) for split in data.SPLITS for ex in data.load(name, split, data_dir=d)}


def test_mistuned_configs_keep_splits_programs_notes_and_rolls(corpora):
    """Same pieces in the same splits with the same programs, notes and rolls; the audio has the
    same length but differs; the in-tune examples carry no tuning and equal the original render."""
    plain = _by_id("chorales", corpora)
    assert len(plain) == N_PIECES
    for ex_split, ex in plain.values():
        assert "tuning" not in ex and "voice" not in ex
        np.testing.assert_array_equal(ex["audio"], reference_render(ex["notes"], ex["program"]))
    for config in ("detune25", "vibrato"):
        mistuned = _by_id(f"chorales/{config}", corpora)
        assert mistuned.keys() == plain.keys()
        for piece, (split, ex) in mistuned.items():
            split0, ex0 = plain[piece]
            assert split == split0 and ex["program"] == ex0["program"]
            for field in ("onset_s", "offset_s", "pitch", "velocity"):
                np.testing.assert_array_equal(getattr(ex["notes"], field), getattr(ex0["notes"], field))
            np.testing.assert_array_equal(ex["frames"], ex0["frames"])
            np.testing.assert_array_equal(ex["onsets"], ex0["onsets"])
            assert ex["audio"].shape == ex0["audio"].shape and not np.array_equal(ex["audio"], ex0["audio"])


def test_stored_tuning_is_the_drawn_one_per_voice(corpora):
    """Each note carries its part as voice (soprano 0 above bass 3) and its voice's offset as cents;
    the per-voice tuning is the piece's draw; re-rendering from the stored fields gives the audio."""
    names = {n.split("/")[-1]: n for n in chorales_mod.chorale_names()[: N_PIECES + 2]}
    for config, d_cents in (("detune25", 25.0), ("vibrato", 0.0)):
        for piece, (split, ex) in _by_id(f"chorales/{config}", corpora).items():
            tun, voice = ex["tuning"], ex["voice"]
            assert tun.n_voices == 4 and set(voice.tolist()) == {0, 1, 2, 3}
            mean_pitch = [ex["notes"].pitch[voice == v].mean() for v in range(4)]
            assert mean_pitch == sorted(mean_pitch, reverse=True)  # S, A, T, B
            expect = tuning.draw(piece, 4, detune_cents=d_cents, vibrato=config == "vibrato")
            for field in ("cents", "vibrato_rate_hz", "vibrato_depth_cents", "vibrato_phase"):
                np.testing.assert_array_equal(getattr(tun, field), getattr(expect, field))
            np.testing.assert_array_equal(ex["cents"], tun.cents[voice])
            np.testing.assert_array_equal(voice, chorales_mod.export_voiced(names[piece])[1])
            again = render.render(ex["notes"], program=ex["program"], voice=voice, tuning=tun)
            np.testing.assert_array_equal(again, ex["audio"])


def test_a_rebuild_gives_the_same_audio(corpora, tmp_path):
    """The same pieces build to the same audio twice (seeds come from the piece ids)."""
    _build(tmp_path, "detune25")
    first, second = _by_id("chorales/detune25", corpora), _by_id("chorales/detune25", tmp_path)
    assert first.keys() == second.keys()
    for piece in first:
        np.testing.assert_array_equal(first[piece][1]["audio"], second[piece][1]["audio"])


def test_specs_name_configs_and_evaluate_reads_them(corpora, capsys):
    assert data.parse_spec("chorales/detune25:test") == ("chorales/detune25", "test")
    assert data.parse_spec("chorales/vibrato") == ("chorales/vibrato", "test")
    with pytest.raises(ValueError, match="unknown config 'detune33'.*detune25"):
        data.parse_spec("chorales/detune33:test")
    with pytest.raises(FileNotFoundError, match="--config detune50"):
        data.load("chorales/detune50", "test", data_dir=corpora)
    argv = ["evaluate", "--model", "oracle", "--data", "chorales/detune25:test", "--data-dir", str(corpora)]
    assert cli.main(argv) == 0
    assert "mean of 1 pieces" in capsys.readouterr().out
    argv = ["data", "build", "maestro", "--config", "detune25", "--data-dir", str(corpora), "--manual-dir", str(corpora)]
    assert cli.main(argv) != 0
    assert "--config is for chorales" in capsys.readouterr().err
