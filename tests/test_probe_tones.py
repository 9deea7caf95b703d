"""Probe tones per key (issue 12): synthesis (envelopes, levels, seeds), the planted proof (a model
blind below MIDI 30 is found blind exactly there), confusions, CIs, the JSON record, the plot
primitive and the ``probe-keys`` command.

The planted audio model is test-local: frontend = the librosa-compatible CQT (A0 = 27.5 Hz, one
bin per semitone, so key p sits on bin p), output = sigmoid(0.5 · (dB of its key's bin − (−20 dB))),
times a per-key mask (0 below MIDI 30 for the "cut" model).
"""

import json

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.stats  # noqa: E402

from amt_jax import __main__ as cli  # noqa: E402
from amt_jax.constants import SAMPLE_RATE, WINDOW_SAMPLES, midi_to_hz  # noqa: E402
from amt_jax import tones as pt  # noqa: E402
from amt_jax.frontend import cqt  # noqa: E402
from amt_jax.frontend.layout import FrequencyLayout  # noqa: E402
from amt_jax.models import Model, Output, registry  # noqa: E402
from amt_jax.report import plots_keys  # noqa: E402

CUT_MIDI = 30
LAYOUT = FrequencyLayout(n_bins=88, bins_per_semitone=1, center_offset=0, n_pitches=88)


def _frontend(audio):
    return cqt.cqt(audio, sr=SAMPLE_RATE, hop_length=256, fmin=27.5, n_bins=88, bins_per_octave=12)


def _apply(params, x):
    y = jax.nn.sigmoid(params["gain"] * (20 * jnp.log10(x + 1e-6) - params["threshold_db"]))
    return jnp.einsum("qp,...pt->...qt", params["route"], y)


def planted_audio(cut_midi: int = 0, shift: int = 0, harmonics=None) -> Model:
    """Keys below ``cut_midi`` never fire; ``shift`` moves every key's activation up by that many keys;
    ``harmonics`` (e.g. (2, 3, 4)): key q reads the mean of the bins of those harmonics of q, not its own bin."""
    route = np.eye(88, k=-shift) * (LAYOUT.midi(np.arange(88)) >= cut_midi)[:, None]  # route[q, q - shift] = 1
    if harmonics is not None:
        route = sum(np.eye(88, k=int(round(12 * np.log2(h)))) for h in harmonics) / len(harmonics)
    params = {"gain": jnp.float32(0.5), "threshold_db": jnp.float32(-20.0), "route": jnp.asarray(route, jnp.float32)}
    return Model(f"planted-audio-cut{cut_midi}", _apply, params, LAYOUT, {"kind": "planted-audio", "cut_midi": cut_midi,
                 "shift": shift, "harmonics": harmonics}, outputs=(Output(None),), output=None, frame_threshold=0.5,
                 frontend=_frontend)


@pytest.fixture(scope="module")
def proof():
    """The cut model on all 88 keys and its positive control (no cut) on the keys around the cut
    (above them the two models are the same), 1/k at −20 dBFS, 2 repetitions."""
    kwargs = dict(timbres=("1/k",), levels_dbfs=(-20.0,), n_repeats=2, seed=0, batch_size=32)
    return (pt.probe_tones(planted_audio(CUT_MIDI), **kwargs),
            pt.probe_tones(planted_audio(0), keys=range(21, CUT_MIDI + 3), **kwargs))


# --------------------------------------------------------------------------- synthesis


def test_harmonics_reach_nyquist_with_the_envelope_amplitudes_and_phases():
    for midi in range(21, 109):
        k = pt.n_harmonics(midi)
        assert k * midi_to_hz(midi) < SAMPLE_RATE / 2 <= (k + 1) * midi_to_hz(midi)
    midi, n = 96, 4096  # f0 = 2093 Hz: 5 harmonics below Nyquist
    phases = np.random.default_rng(1).uniform(0, 2 * np.pi, pt.n_harmonics(midi))
    t = np.arange(n) / SAMPLE_RATE
    w = 2 * np.pi * midi_to_hz(midi) * np.arange(1, len(phases) + 1)[:, None] * t  # [K, n]
    design = np.concatenate([np.sin(w), np.cos(w)]).T
    for power in (1.0, 2.0):
        x = pt.harmonic_tone(midi, phases, power=power, n_samples=n)
        coef = np.linalg.lstsq(design, x, rcond=None)[0].reshape(2, -1)  # A cos φ, A sin φ
        np.testing.assert_allclose(np.hypot(*coef), np.arange(1, 6) ** -power, atol=1e-9)
        np.testing.assert_allclose(np.arctan2(coef[1], coef[0]) % (2 * np.pi), phases, atol=1e-8)
    # Horner's scheme equals the direct sum for a key with many harmonics
    phases = np.random.default_rng(2).uniform(0, 2 * np.pi, pt.n_harmonics(33))
    w = 2 * np.pi * midi_to_hz(33) * np.arange(1, len(phases) + 1)[:, None] * np.arange(2000) / SAMPLE_RATE
    direct = (np.arange(1, len(phases) + 1)[:, None] ** -1.0 * np.sin(w + phases[:, None])).sum(0)
    np.testing.assert_allclose(pt.harmonic_tone(33, phases, power=1.0, n_samples=2000), direct, atol=1e-9)


def test_levels_are_dbfs_rms_re_a_full_scale_sine():
    sine = np.sin(2 * np.pi * 1000 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)
    assert abs(pt.rms_dbfs(sine)) < 1e-6  # the definition: a full-scale sine is 0 dBFS
    levels = (-40.0, -20.0, -6.0)
    for timbre in ("1/k", "1/k2", "program:0"):
        w = pt.tone_windows(45, timbre, levels_dbfs=levels, n_repeats=2, seed=0, noise_dbfs=None)
        assert w.shape == (3, 2, WINDOW_SAMPLES) and w.dtype == np.float32
        np.testing.assert_allclose(pt.rms_dbfs(w), np.repeat(np.array(levels)[:, None], 2, 1), atol=1e-4)
    floor = pt.noise(45, n_repeats=3, seed=0, noise_dbfs=-60.0)
    np.testing.assert_allclose(pt.rms_dbfs(floor), -60.0, atol=0.15)  # sd of the estimate ~0.03 dB
    noisy = pt.tone_windows(45, "1/k", levels_dbfs=(-40.0,), n_repeats=3, seed=0, noise_dbfs=-60.0)
    clean = pt.tone_windows(45, "1/k", levels_dbfs=(-40.0,), n_repeats=3, seed=0, noise_dbfs=None)
    np.testing.assert_allclose(noisy - clean, floor[None], atol=1e-6)  # the same noise, added


def test_tones_are_reproducible_by_seed_and_differ_across_repetitions():
    a = pt.tone_windows(60, "1/k", levels_dbfs=(-20.0,), n_repeats=3, seed=3)
    np.testing.assert_array_equal(a, pt.tone_windows(60, "1/k", levels_dbfs=(-20.0,), n_repeats=3, seed=3))
    assert not np.allclose(a, pt.tone_windows(60, "1/k", levels_dbfs=(-20.0,), n_repeats=3, seed=4), atol=1e-3)
    assert not np.allclose(a[0, 0], a[0, 1], atol=1e-3)  # repetitions draw new phases and noise
    # the first repetitions of a longer run are the shorter run's
    np.testing.assert_array_equal(a, pt.tone_windows(60, "1/k", levels_dbfs=(-20.0,), n_repeats=5, seed=3)[:, :3])
    p = pt.tone_windows(60, "program:73", levels_dbfs=(-20.0,), n_repeats=2, seed=3, noise_dbfs=None)
    assert not np.allclose(p[0, 0], p[0, 1], atol=1e-3)  # rendered tones start at random offsets


def test_a_1_over_k_tone_peaks_on_its_keys_centre_bin():
    """On the trained variants' B = 3 axis (key p on bin 3p + 1). (Basic Pitch's frontend passes
    too, but its compilation takes 15 s.)"""
    from amt_jax.frontend import variants

    fn, lay = (lambda a: variants.frontend(a, bins_per_semitone=3)), variants.layout(3)
    keys = np.array([21, 22, 45, 69, 100, 108])
    audio = np.stack([pt.tone_windows(int(m), "1/k", levels_dbfs=(-20.0,), n_repeats=2, seed=0)[0, 0] for m in keys])
    x = np.asarray(fn(audio))[..., pt.EDGE_FRAMES : -pt.EDGE_FRAMES].mean(-1)  # [K, F], mean over the tone's frames
    np.testing.assert_array_equal(np.argmax(x, axis=1), lay.pitch_bin(keys - lay.lowest_midi))


# --------------------------------------------------------------------------- the planted proof


def test_a_model_blind_below_midi_30_is_found_blind_exactly_there(proof):
    cut, control = proof
    recall, below = cut.summary("recall")["mean"][0, 0], cut.midi < CUT_MIDI
    np.testing.assert_array_equal(recall[below], 0.0)
    assert recall[~below].min() > 0.9
    np.testing.assert_array_equal(cut.summary("output")["mean"][0, 0][below], 0.0)
    rng = cut.detected_range()
    assert (rng["lowest"][0, 0], rng["highest"][0, 0], rng["n_detected"][0, 0]) == (CUT_MIDI, 108, 108 - CUT_MIDI + 1)
    # positive control: the same model without the cut detects the keys below it
    assert control.summary("recall")["mean"].min() > 0.9
    assert (control.detected_range()["lowest"][0, 0], control.detected_range()["n_detected"][0, 0]) == (21, len(control.midi))


def test_a_model_that_answers_an_octave_up_shows_as_false_positives():
    keys = [40, 50, 60]
    res = pt.probe_tones(planted_audio(0, shift=12), timbres=("1/k2",), levels_dbfs=(-20.0,), n_repeats=2, keys=keys)
    conf = res.confusions()
    assert res.summary("recall")["mean"].max() < 0.1
    assert res.summary("false_positive")["mean"].min() > 0.9
    assert conf["octave_up_rate"].min() > 0.9 and conf["octave_down_rate"].max() < 0.1
    np.testing.assert_array_equal(conf["top_other_rate"], conf["octave_up_rate"])  # (neighbours may tie: B = 1)
    assert np.all(np.abs(conf["top_other_midi"][0, 0] - (np.array(keys) + 12)) <= 1)


def test_missing_fundamental_tones_have_harmonics_2_to_8_and_the_complete_tones_phases():
    midi, n = 45, 8192
    missing = pt.unit_tones(midi, "missing:1/k2", n_repeats=2, seed=5, n_samples=n)
    k = np.arange(2, 9)
    t = np.arange(n) / SAMPLE_RATE
    for r in range(2):
        phases = pt.rng_for(5, midi, r, 0).uniform(0, 2 * np.pi, pt.n_harmonics(midi))  # the complete tone's
        direct = (k[:, None] ** -2.0 * np.sin(2 * np.pi * midi_to_hz(midi) * k[:, None] * t + phases[1:8, None])).sum(0)
        np.testing.assert_allclose(missing[r], direct / np.sqrt(np.mean(direct**2)), atol=1e-9)
    assert pt.unit_tones(106, "missing:1/k", n_repeats=2, seed=0) is not None  # harmonic 2 at 7.5 kHz
    assert pt.unit_tones(108, "missing:1/k2", n_repeats=2, seed=0) is not None
    with pytest.raises(ValueError, match="timbre"):
        pt.parse_timbre("missing:1/k3")


def test_missing_fundamental_separates_a_fundamental_reader_from_a_harmonic_reader():
    """Planted: a model that reads its key's own bin (needs the fundamental) answers a tone without
    its fundamental at the octave (harmonic 2's key), never at the fundamental's key; a model that
    reads harmonics 2, 3 and 4 of its key answers at the fundamental's key."""
    keys = [40, 52, 64]
    kwargs = dict(timbres=("missing:1/k", "missing:1/k2", "1/k"), levels_dbfs=(-20.0,), n_repeats=2, keys=keys)
    needs_f0 = pt.probe_tones(planted_audio(0), **kwargs)
    reads_harmonics = pt.probe_tones(planted_audio(0, harmonics=(2, 3, 4)), **kwargs)
    for timbre in ("missing:1/k", "missing:1/k2"):
        a, b = needs_f0.missing_fundamental()[timbre], reads_harmonics.missing_fundamental()[timbre]
        assert a["f0_recall"].max() < 0.05 and a["octave_rate"].min() > 0.9
        assert b["f0_recall"].min() > 0.9
        assert a["harmonic_rates"].shape == (1, len(keys), 7)
    assert set(needs_f0.missing_fundamental()) == {"missing:1/k", "missing:1/k2"}  # complete tones are not read
    assert needs_f0.summary("recall")["mean"][2].min() > 0.9  # with its fundamental, the reader hears it


def _always_on(params, x):
    return jnp.ones((x.shape[0], 88, x.shape[-1]))


def _argmax_reader(params, x):
    """The loudest bin per frame (B = 1: bin p is key p), times a per-key mask."""
    return (jnp.arange(88)[None, :, None] == jnp.argmax(x, axis=1)[:, None, :]) * params["mask"][None, :, None]


def trivial_model(kind: str, cut_midi: int = 0) -> Model:
    apply = {"always-on": _always_on, "argmax": _argmax_reader}[kind]
    params = {"mask": jnp.asarray(LAYOUT.midi(np.arange(88)) >= cut_midi, jnp.float32)}
    return Model(f"{kind}-cut{cut_midi}", apply, params, LAYOUT, {"kind": kind, "cut_midi": cut_midi},
                 outputs=(Output(None),), output=None, frame_threshold=0.5, frontend=_frontend)


@pytest.fixture(scope="module")
def edge_proof():
    """Three planted models on keys at the low end, the chord and the top, 1/k and 1/k² alone and on the
    chord, at −40 and −20 dBFS."""
    keys = [21, 25, 29, 30, 34, 60, 100]
    kwargs = dict(timbres=("1/k", "1/k2", "1/k+chord", "1/k2+chord"), levels_dbfs=(-40.0, -20.0), n_repeats=2, keys=keys)
    return {name: pt.probe_tones(m, **kwargs) for name, m in (
        ("always-on", trivial_model("always-on")), ("energy", planted_audio(0)), ("blind", trivial_model("argmax", 30)))}


def test_an_always_on_model_fails_every_key_in_every_context(edge_proof):
    res = edge_proof["always-on"]
    assert res.contexts() == ("alone", "chord")
    for context in res.contexts():
        f = res.key_f1(context)
        n_false = 87 - (len(pt.CHORD_MIDI) if context == "chord" else 0)  # the chord's keys are not false positives
        np.testing.assert_allclose(f["f1"]["mean"][..., :5], 2 / (2 + n_false), rtol=1e-6)
        scored = f["n"] > 0  # on the chord, keys on its partials are not scored
        assert scored[:, :5].all() and res.flagged(context)[scored].all()
        assert np.all(f["advantage"]["ci_high"][:, :5] < 0)  # below the baselines at the low end
    assert np.nanmin(res.summary("recall")["mean"]) == 1.0  # recall alone: "detected" on every key


def test_an_energy_detector_never_beats_the_baselines_and_fails_where_harmonics_are_loud(edge_proof):
    """The planted energy detector (its key's bin above −20 dB) is "detected" on every key at −20 dBFS,
    yet with false positives counted it fails every key below C4 there (their harmonics fire), alone
    and on the chord, and alone it beats the better baseline nowhere."""
    res = edge_proof["energy"]
    assert res.summary("recall")["mean"][:2, 1].min() > 0.9  # the old criterion passes it
    for context in res.contexts():
        assert res.below(context)[1, res.midi < 60].all()  # −20 dBFS (mean F1; 2 timbres give a wide interval)
    assert not np.any(res.key_f1("alone")["advantage"]["ci_low"] > 0)
    # on the chord, its absolute threshold can beat the per-window-scaled baselines at the top (C7),
    # where the louder chord hides the tone from them: the baselines are references, not oracles


def test_a_partly_failing_key_is_counted_by_its_mean_and_flagged_only_when_its_interval_is_below():
    """Planted: keys whose detections are thinned to about a third of the frames (F1 ≈ 0.5 with
    spread over timbres) count as below 0.5 by their mean; the interval is over the timbres' means
    (not timbres × repetitions), so one noisy key is not flagged on two windows' worth of evidence."""
    keys = [40, 50, 60]
    model = trivial_model("argmax")

    def thinned(params, x):  # the argmax reader, on in 1 frame of 3 (an F1 of 0.5 on the tone's key)
        y = _argmax_reader(params, x)
        return y * (jnp.arange(y.shape[-1]) % 3 == 0)

    res = pt.probe_tones(model._replace(apply=thinned) if hasattr(model, "_replace") else
                         __import__("dataclasses").replace(model, apply=thinned),
                         timbres=("1/k", "1/k2", "program:0"), levels_dbfs=(-20.0,), n_repeats=3, keys=keys)
    f = res.key_f1("alone")
    assert f["interval_over"] == "timbres" and np.all(f["n"] == 3)
    np.testing.assert_allclose(f["f1"]["mean"], 0.5, atol=0.03)
    one = pt.probe_tones(__import__("dataclasses").replace(model, apply=thinned), timbres=("1/k",),
                         levels_dbfs=(-20.0,), n_repeats=3, keys=keys).key_f1("alone")
    assert one["interval_over"] == "repetitions"


def test_keys_on_the_chords_partials_are_not_scored_on_the_chord(edge_proof):
    """A probe on a chord note or on one of its harmonics interferes with it at random phase: those
    keys are left out of the chord context (NaN), not scored as misses."""
    assert {60, 64, 67, 72, 76, 79, 84} <= set(pt.CHORD_OVERLAP) and 61 not in pt.CHORD_OVERLAP
    res = edge_proof["blind"]
    on = np.isin(res.midi, pt.CHORD_OVERLAP)
    assert on.any() and (~on).any()
    f = res.key_f1("chord")
    assert np.all(np.isnan(f["f1"]["mean"][:, on])) and np.all(np.isfinite(f["f1"]["mean"][:, ~on]))
    assert np.all(f["n"][:, on] == 0) and res.config["chord_overlap_midi"] == list(pt.CHORD_OVERLAP)
    assert np.all(np.isfinite(res.key_f1("alone")["f1"]["mean"]))  # alone, every key is scored


def test_a_model_blind_below_midi_30_is_flagged_exactly_there(edge_proof):
    res = edge_proof["blind"]
    flagged = res.flagged("alone")
    np.testing.assert_array_equal(flagged, np.broadcast_to(res.midi < 30, flagged.shape))
    f = res.key_f1("alone")["f1"]
    np.testing.assert_array_equal(f["mean"][:, res.midi < 30], 0.0)
    assert f["mean"][:, res.midi >= 30].min() > 0.95
    assert [w["midi"] for w in res.weakest("alone", n=3)[0]] == [21, 25, 29]


def test_f1_counts_hits_misses_and_false_positives_but_not_the_context_keys():
    on = np.zeros((1, 6, 4), bool)
    on[0, 2, :3] = True  # the key: 3 hits, 1 miss
    on[0, 4, :] = True  # a context key: ignored
    on[0, 5, 0] = on[0, 0, 1] = True  # 2 false positives
    others = np.zeros((1, 6), bool)
    others[0, 4] = True
    f1 = float(pt.f1_counts(jnp.asarray(on), jnp.array([2]), jnp.asarray(others))[0])
    assert f1 == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    threshold, curve = pt.scoring.energy_threshold(np.array([[0.2, 0.9, 0.5], [0.4, 0.7, 0.9], [np.nan, 0, 0]]))
    assert threshold == pt.ENERGY_THRESHOLDS[1] and curve == pytest.approx([0.3, 0.8, 0.7])


def test_chord_context_and_velocities():
    tone = pt.unit_tones(40, "1/k", n_repeats=2, seed=1)
    on_chord = pt.unit_tones(40, "1/k+chord", n_repeats=2, seed=1)
    chord = sum(pt.synth._unit(c, "1/k", n_repeats=2, seed=1, stream=(3, 4), n_samples=WINDOW_SAMPLES, soundfont=None)
                for c in pt.CHORD_MIDI)
    np.testing.assert_allclose(on_chord, tone + chord, atol=1e-12)
    np.testing.assert_allclose(pt.rms_dbfs(chord), 20 * np.log10(np.sqrt(2 * 3)), atol=0.3)  # 3 notes at RMS 1
    assert pt.context_keys("program:0@40+chord") == pt.CHORD_MIDI and pt.context_keys("1/k") == ()
    assert pt.parse_timbre("program:0@40+chord") == ("program", (0, 40)) and pt.parse_timbre("program:5") == ("program", (5, 100))
    soft, loud = (pt.render_note(33, 0, velocity=v) for v in (30, 120))
    assert pt.rms_dbfs(loud) > pt.rms_dbfs(soft) + 3  # the SoundFont's velocity reaches the audio
    for bad in ("missing:1/k+chord", "program:0@0", "program:0@128"):
        with pytest.raises(ValueError, match="timbre"):
            pt.parse_timbre(bad)


def test_rendered_programs_are_probed_and_silent_renders_are_left_out(monkeypatch, tmp_path):
    render = pt.render_note
    from amt_jax.tones import synth  # where unit_tones looks render_note up

    monkeypatch.setattr(synth, "render_note", lambda midi, program, **kw: render(midi, program, **kw) * (midi != 72))
    res = pt.probe_tones(planted_audio(0), timbres=("program:73", "1/k"), levels_dbfs=(-20.0,), n_repeats=2, keys=[60, 72])
    np.testing.assert_array_equal(res.valid, [[True, False], [True, True]])
    recall = res.summary("recall")["mean"]
    assert recall[0, 0, 0] > 0.9 and np.isnan(recall[0, 0, 1]) and recall[1, 0].min() > 0.9
    assert res.detected_range()["n_probed"].tolist() == [1, 2] and res.config["soundfont"]["sha256"]
    pt.write_json(res, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["metrics"]["recall"]["mean"][0][0][1] is None


def test_intervals_shrink_with_more_repetitions_and_runs_repeat_exactly():
    model, keys = planted_audio(0), list(range(96, 109))
    kwargs = dict(timbres=("1/k",), levels_dbfs=(-40.0,), noise_dbfs=-45.0, keys=keys, seed=5)
    few = pt.probe_tones(model, n_repeats=3, **kwargs)
    many = pt.probe_tones(model, n_repeats=12, **kwargs)
    width = {n: r.summary("output")["ci_high"] - r.summary("output")["ci_low"] for n, r in ((3, few), (12, many))}
    assert np.all(width[3] > 0) and np.median(width[12] / width[3]) < 0.4  # here ≈ 0.24
    x = many.samples["output"]
    low, high = scipy.stats.t.interval(0.95, 11, loc=x.mean(-1), scale=scipy.stats.sem(x, axis=-1))
    np.testing.assert_allclose(many.summary("output")["ci_low"], low, rtol=1e-12)
    np.testing.assert_allclose(many.summary("output")["ci_high"], high, rtol=1e-12)
    np.testing.assert_allclose(many.samples["output"][..., :3], few.samples["output"], atol=1e-6)
    again = pt.probe_tones(model, n_repeats=3, **kwargs)
    for metric in pt.METRICS:
        np.testing.assert_array_equal(again.samples[metric], few.samples[metric])
    other = pt.probe_tones(model, n_repeats=3, **{**kwargs, "seed": 6})
    assert not np.allclose(other.samples["output"], few.samples["output"])


def test_bad_arguments_name_themselves():
    model = planted_audio(0)
    cases = [({"n_repeats": 1}, "n_repeats"), ({"keys": [20]}, "keys"), ({"timbres": ("program:200",)}, "timbre"),
             ({"levels_dbfs": (np.nan,)}, "levels_dbfs"), ({"seed": -1}, "seed"), ({"noise_dbfs": "loud"}, "noise_dbfs"),
             ({"timbres": ("1/k", "1/k")}, "timbres")]
    for kwargs, name in cases:
        with pytest.raises(ValueError, match=name):
            pt.probe_tones(model, **{"timbres": ("1/k",), "keys": [60], **kwargs})
    with pytest.raises(ValueError, match="reads no audio"):
        pt.probe_tones(registry.load("planted-b3"), timbres=("1/k",))


def test_the_json_record_is_strict_and_carries_provenance(proof, tmp_path):
    cut, _ = proof
    pt.write_json(cut, tmp_path / "probe.json")
    pt.write_npz(cut, tmp_path / "probe.npz")
    record = json.loads((tmp_path / "probe.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert record["config"]["model_identity"] == {"kind": "planted-audio", "cut_midi": CUT_MIDI, "shift": 0, "harmonics": None}
    assert record["config"]["seed"] == 0 and record["config"]["layout"]["lowest_midi"] == 21
    assert record["environment"]["versions"]["jax"] == jax.__version__
    assert record["detected"]["lowest"] == [[CUT_MIDI]]
    np.testing.assert_array_equal(record["metrics"]["recall"]["samples"], cut.samples["recall"])
    with np.load(tmp_path / "probe.npz") as npz:
        np.testing.assert_array_equal(npz["rates"], cut.rates)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe.json", "probe.npz"]  # no temporaries left


def test_plot_marks_the_keyboard_ends_and_draws_one_line_per_level(proof):
    cut, _ = proof
    s = cut.summary("recall")
    fig, ax = plt.subplots()
    out = plots_keys.detection_vs_key(cut.midi, s["mean"][0], s["ci_low"][0], s["ci_high"][0], labels=["-20 dBFS"], ax=ax)
    assert out is ax and len([l for l in ax.lines if l.get_label() == "-20 dBFS"]) == 1
    verticals = {l.get_xdata()[0] for l in ax.lines if len(set(l.get_xdata())) == 1}
    assert {21, 108} <= verticals
    with pytest.raises(ValueError, match="labels"):
        plots_keys.detection_vs_key(cut.midi, s["mean"][0], s["ci_low"][0], s["ci_high"][0], labels=["a", "b"], ax=ax)
    plt.close(fig)


# --------------------------------------------------------------------------- the command


def planted_audio_cut30() -> Model:
    """The planted audio model blind below MIDI 30, as a user's own model: ``py:<this file>:planted_audio_cut30``."""
    return planted_audio(30)


CUT30 = f"py:{__file__}:planted_audio_cut30"


def test_probe_keys_command_writes_json_and_figure_and_prints_the_range(tmp_path, capsys):
    argv = ["probe-keys", "--model", CUT30, "--out", str(tmp_path / "out"), "--keys", "21-40",
            "--levels", "-20", "--envelopes", "1/k", "--missing", "1/k", "--programs", "none", "--repeats", "2"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "F#1(30)" in out and "E2(40)" in out and "summary:" in out
    assert "missing fundamental (1/k, harmonics 2..8, -20 dBFS): the absent fundamental's key fires in 0% of frames" in out
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    slug = registry.slug(CUT30)
    assert names == sorted([f"probe_keys_{slug}.{e}" for e in ("json", "npz", "pdf", "png")]
                           + [f"probe_keys_{slug}_f1_{c}.{e}" for c in ("alone", "chord") for e in ("pdf", "png")])
    assert "F1 per key (alone, -20 dBFS; intervals over repetitions): weakest A0(21) 0.00" in out
    assert "F1 per key (chord, -20 dBFS" in out and "summary: " in out and "weakest key alone -20 dBFS A0(21) 0.00" in out
    assert registry.slug(CUT30) == "py-test-probe-tones-planted-audio-cut30"
    record = json.loads((tmp_path / "out" / names[0]).read_text())
    assert record["config"]["keys_midi"] == list(range(21, 41))
    assert record["config"]["timbres"] == ["1/k", "missing:1/k", "1/k+chord"]
    assert record["key_f1"]["alone"]["flagged"][0][:9] == [True] * 9
    assert record["missing_fundamental"]["missing:1/k"]["f0_recall"][0][:9] == [0.0] * 9  # blind below 30


@pytest.mark.parametrize("args, name", [
    (["--levels", "-40", "loud"], "--levels"), (["--envelopes", "1/k3"], "--envelopes"),
    (["--programs", "200"], "--programs"), (["--repeats", "1"], "--repeats"), (["--seed", "-1"], "--seed"),
    (["--noise-dbfs", "loud"], "--noise-dbfs"), (["--detect", "0"], "--detect"), (["--keys", "10-20"], "--keys"),
    (["--envelopes", "none", "--missing", "none", "--programs", "none"], "--envelopes"), (["--missing", "1/k9"], "--missing"),
    (["--velocities", "0"], "--velocities"), (["--contexts", "duet"], "--contexts"),
    (["--model", "planted-b3"], "--model"),
    (["--model", "nope"], "unknown model"),
])
def test_probe_keys_bad_arguments_are_one_line_errors(tmp_path, capsys, args, name):
    argv = ["probe-keys", "--model", CUT30, "--out", str(tmp_path), "--programs", "none", *args]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("amt_jax probe-keys: error:") and name in err
