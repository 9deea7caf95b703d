"""Training: a toy config on synthetic harmonic tones with known rolls (loss falls, resume is exact,
NaN stops, one compile, donation), planted truths for the frontend layout, loss, held-out windowing
and threshold choice, the CLI's config errors, and the plateau stop on planted validation curves
(stops on a stall and says why, trains to the budget while F1 improves, resumes to the same stop)."""

from __future__ import annotations

import dataclasses
import functools
import json

import jax
import numpy as np
import pytest

from amt_jax import __main__ as cli
from amt_jax.transcription import baseline
from amt_jax import FrequencyLayout
from amt_jax import training as train
from amt_jax.constants import HOP_LENGTH, MIDI_OFFSET, N_PITCHES, SAMPLE_RATE, WINDOW_FRAMES, WINDOW_SAMPLES
from amt_jax.models.basic_pitch import BasicPitch, BasicPitchConfig
from amt_jax.training import convergence
from amt_jax.training.config import results_identity

# One config for every training test, so the train step compiles once per session.
TOY = train.TrainConfig(
    model=BasicPitchConfig(bins_per_semitone=1, harmonics=(1, 2, 3), n_filters_contour=4, n_filters_notes=4,
                           n_filters_onsets=4),
    window_samples=31 * HOP_LENGTH,  # 32 frames
    batch_size=4, steps=16, learning_rate=1e-2, warmup_steps=2, log_every=1, checkpoint_every=6, eval_batch_size=4,
)


def synthetic_piece(rng: np.random.Generator, *, seconds: float, n_notes: int) -> dict:
    """Random notes (MIDI 48–72) rendered as decaying 4-partial harmonic tones, with their rolls [88, T]."""
    n = int(seconds * SAMPLE_RATE)
    n_frames = n // HOP_LENGTH + 1
    audio = np.zeros(n)
    frames = np.zeros((N_PITCHES, n_frames), bool)
    onsets = np.zeros((N_PITCHES, n_frames), bool)
    for _ in range(n_notes):
        pitch = int(rng.integers(48, 73))
        start = int(rng.integers(0, n_frames - 10))
        stop = min(start + int(rng.integers(10, 40)), n_frames)
        t = np.arange(start * HOP_LENGTH, min(stop * HOP_LENGTH, n)) / SAMPLE_RATE - start * HOP_LENGTH / SAMPLE_RATE
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        partials = sum(0.5**k * np.sin(2 * np.pi * f0 * (k + 1) * t) for k in range(4))
        audio[start * HOP_LENGTH : start * HOP_LENGTH + len(t)] += 0.2 * np.exp(-2 * t) * np.minimum(1, t / 0.01) * partials
        frames[pitch - MIDI_OFFSET, start:stop] = True
        onsets[pitch - MIDI_OFFSET, start] = True
    return {"audio": audio.astype(np.float32), "frames": frames, "onsets": onsets}


@pytest.fixture(scope="module")
def pieces():
    rng = np.random.default_rng(0)
    return [synthetic_piece(rng, seconds=3.0, n_notes=12) for _ in range(8)]


@pytest.fixture(scope="module")
def uninterrupted(pieces, tmp_path_factory):
    """A full toy run: (workdir, final state, logged records, executables the train step gained)."""
    workdir = tmp_path_factory.mktemp("uninterrupted")
    records = []
    compiled = train.train_step._cache_size()
    state = train.train(TOY, workdir=workdir, examples=pieces[:6], log=records.append)
    return workdir, state, records, train.train_step._cache_size() - compiled


def _steps(workdir) -> list[int]:
    return [json.loads(line)["step"] for line in (workdir / train.METRICS_FILE).read_text().splitlines()]


def test_tone_lands_on_its_pitch_bin_for_every_bins_per_semitone():
    """The frontend puts pitch p on bin p·B + B//2: each tone's peak bin is its pitch's centre bin."""
    midis = np.array([45, 69, 90])
    t = np.arange(8192) / SAMPLE_RATE
    tones = np.sin(2 * np.pi * 440.0 * 2 ** ((midis[:, None] - 69) / 12) * t).astype(np.float32)
    for B in (1, 3, 5):
        x = np.asarray(train.frontend(tones, bins_per_semitone=B))[..., 16]  # [3, F], a frame mid-signal
        assert x.shape == (3, 103 * B)
        np.testing.assert_array_equal(np.argmax(x, axis=-1), (midis - MIDI_OFFSET) * B + B // 2)
        energy = np.asarray(baseline.fundamental_energy(x[..., None], layout=train.layout(B)))[..., 0]
        np.testing.assert_array_equal(np.argmax(energy, axis=-1), midis - MIDI_OFFSET)


def test_shapes_for_bins_per_semitone():
    for B in (1, 3, 5):
        config = train.get_config("default", bins_per_semitone=B)
        assert train.TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
        audio = jax.ShapeDtypeStruct((2, WINDOW_SAMPLES), np.float32)
        x = jax.eval_shape(lambda a: train.frontend(a, bins_per_semitone=B), audio)
        assert x.shape == (2, 103 * B, WINDOW_FRAMES)
        state = jax.eval_shape(lambda: train.init_state(config))
        y = jax.eval_shape(lambda v, x: BasicPitch(config.model).apply(v, x),
                           {"params": state.params, "batch_stats": state.batch_stats}, x)
        assert {k: v.shape for k, v in y.items()} == {
            "note": (2, 88, WINDOW_FRAMES), "onset": (2, 88, WINDOW_FRAMES), "contour": (2, 88 * B, WINDOW_FRAMES)}
        frames = np.zeros((2, 88, WINDOW_FRAMES), bool)
        frames[1, 40, 7] = True
        targets = train.make_targets(frames, frames, bins_per_semitone=B)
        assert targets["contour"].shape == (2, 88 * B, WINDOW_FRAMES)
        assert np.argwhere(np.asarray(targets["contour"])).tolist() == [[1, 40 * B + B // 2, 7]]


def test_weighted_bce_matches_a_reference():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.01, 0.99, (3, 88, 20)).astype(np.float32)
    y = (rng.uniform(size=p.shape) < 0.1).astype(np.float32)
    w, s = 0.95, 0.2
    t = y * (1 - s) + s / 2
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    expected = w * bce[y == 1].mean() + (1 - w) * bce[y == 0].mean()
    got = train.weighted_bce(p, y, positive_weight=w, label_smoothing=s)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    # no positive labels: only the negative term remains
    got = train.weighted_bce(p, np.zeros_like(y), positive_weight=w, label_smoothing=0.0)
    np.testing.assert_allclose(float(got), (1 - w) * -np.log(1 - p).mean(), rtol=1e-5)
    # unweighted: the plain mean (Keras' binary_crossentropy)
    got = train.weighted_bce(p, y, positive_weight=None, label_smoothing=s)
    np.testing.assert_allclose(float(got), bce.mean(), rtol=1e-5)


def test_loss_decreases_and_metrics_are_logged(uninterrupted):
    workdir, state, records, _ = uninterrupted
    assert int(state.step) == TOY.steps
    assert _steps(workdir) == list(range(1, TOY.steps + 1))
    losses = [r["loss"] for r in records]
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5])  # 1.46 vs 1.75 here; an untrained model stays flat
    assert {"loss", "loss_contour", "loss_note", "loss_onset", "grad_norm", "learning_rate"} <= set(records[0])


class Preempted(Exception):
    pass


def _preempt_at_step_9(pieces, workdir) -> None:
    """Train TOY in ``workdir`` until logging step 9 raises, as a preemption would (last checkpoint: 6)."""
    def log(record):
        if record.get("step") == 9:
            raise Preempted

    with pytest.raises(Preempted):
        train.train(TOY, workdir=workdir, examples=pieces[:6], log=log)


def test_resume_continues_at_the_checkpoint_and_matches_uninterrupted(pieces, uninterrupted, tmp_path):
    _preempt_at_step_9(pieces, tmp_path)
    with open(tmp_path / train.METRICS_FILE, "a") as f:
        f.write('{"step": 10, "lo')  # a line cut short by the crash
    records = []
    state = train.train(TOY, workdir=tmp_path, examples=pieces[:6], log=records.append)
    assert records[0] == {"resumed_from": 6}  # the last checkpoint before step 9
    assert records[1]["step"] == 7
    assert _steps(tmp_path) == list(range(1, TOY.steps + 1))  # steps 7..9 logged once, not twice
    reference = uninterrupted[1]
    for a, b in zip(jax.tree.leaves((state.params, state.batch_stats, state.opt_state)),
                    jax.tree.leaves((reference.params, reference.batch_stats, reference.opt_state))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    # a finished run resumes to nothing (also after a speed-only change); another config is refused
    assert int(train.train(TOY, workdir=tmp_path, examples=pieces[:6]).step) == TOY.steps
    faster = dataclasses.replace(TOY, model=dataclasses.replace(TOY.model, conv_blocks=(("contour_conv", 2),)))
    assert faster != TOY and int(train.train(faster, workdir=tmp_path, examples=pieces[:6]).step) == TOY.steps
    with pytest.raises(ValueError, match="another config.*learning_rate"):
        train.train(dataclasses.replace(TOY, learning_rate=1e-3), workdir=tmp_path, examples=pieces)


def test_resume_under_a_speed_only_change_matches_uninterrupted(pieces, uninterrupted, tmp_path):
    """Preempted under one conv_blocks, resumed under another (the convolution computed in frequency
    blocks): the run continues from its checkpoint and ends where the uninterrupted one does, up to
    float rounding (blocking reorders sums; Adam turns rounding-level differences of near-zero
    gradients into differences of up to its step size, so weights agree to 2e-3, losses to 1e-4)."""
    _preempt_at_step_9(pieces, tmp_path)
    faster = dataclasses.replace(TOY, model=dataclasses.replace(TOY.model, conv_blocks=(("contour_conv", 2), ("note_conv", 2))))
    records = []
    state = train.train(faster, workdir=tmp_path, examples=pieces[:6], log=records.append)
    assert records[0] == {"resumed_from": 6} and int(state.step) == TOY.steps
    _, reference, reference_records, _ = uninterrupted
    losses = {r["step"]: r["loss"] for r in reference_records}
    assert [r["step"] for r in records[1:]] == list(range(7, TOY.steps + 1))
    for r in records[1:]:
        assert r["loss"] == pytest.approx(losses[r["step"]], rel=1e-4), r["step"]
    leaves = jax.tree_util.tree_leaves_with_path(state.params)
    reference_leaves = dict(jax.tree_util.tree_leaves_with_path(reference.params))
    assert len(leaves) == len(reference_leaves)
    # A convolution's bias that feeds a train-mode BatchNorm has a gradient of exactly 0 (the batch
    # mean removes it): what it gets is rounding, which Adam normalises into steps of up to the
    # learning rate either way, on each run independently: the two runs differ by at most twice the
    # sum of the remaining steps' rates, not 2e-3.
    zero_gradient = {"contour_conv", "onset_conv"}
    adam_bound = 2 * sum(r["learning_rate"] for r in records[1:])
    loose = []
    for path, a in leaves:
        names = {getattr(k, "key", None) for k in path}
        if names & zero_gradient and "bias" in names:
            loose.append(path)
        tol = adam_bound if path in loose else 2e-3  # Adam's steps are ~1e-2 at this rate
        np.testing.assert_allclose(np.asarray(a), np.asarray(reference_leaves[path]), atol=tol, err_msg=str(path))
    assert len(loose) == 2, loose  # the two biases named, and nothing else, got the loose bound


def test_non_finite_loss_stops_with_a_clear_error(pieces, tmp_path):
    exploding = dataclasses.replace(TOY, learning_rate=1e30, warmup_steps=0)  # step 1 sends weights to ±1e30
    match = r"diverged at step 2: non-finite loss .*last good checkpoint: none"
    with pytest.raises(train.TrainingDiverged, match=match):
        train.train(exploding, workdir=tmp_path, examples=pieces[:6])
    assert not list((tmp_path / train.CHECKPOINT_DIR).glob("[0-9]*"))


def test_train_step_compiles_once_and_donates_state(pieces, uninterrupted):
    assert uninterrupted[3] == 1  # all steps of the toy run reused one executable
    state = train.init_state(TOY)
    batch = train.WindowSampler(pieces, window_samples=TOY.window_samples).batch(train.root_key(0), TOY.batch_size)
    compiled = train.train_step._cache_size()
    new_state, _ = train.train_step(state, batch, config=TOY)
    assert all(leaf.is_deleted() for leaf in jax.tree.leaves(state.params))
    assert int(new_state.step) == 1
    assert train.train_step._cache_size() == compiled


def test_load_trained_and_held_out_evaluation(pieces, uninterrupted):
    workdir, state, _, _ = uninterrupted
    model = train.load_trained(workdir)
    assert model.config == TOY
    for a, b in zip(jax.tree.leaves(model.params), jax.tree.leaves((state.batch_stats, state.params))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    y = model.apply(model.params, model.frontend(pieces[0]["audio"][: TOY.window_samples]))
    assert y["note"].shape == (88, TOY.window_frames)
    scores = train.evaluate(model, validation=pieces[6:7], test=pieces[7:])
    for name in ("model", "baseline"):
        assert scores[name]["threshold"] in train.THRESHOLDS
        assert 0 <= scores[name]["f1"] <= 1
    # pure harmonic tones: the fundamental's energy alone finds most frames
    assert scores["baseline"]["f1"] > 0.5


def test_posteriorgram_keeps_frames_on_the_label_grid():
    """Audio whose sample i holds i/256: a forward that reads each frame's centre sample returns
    the frame index, so the joined output must be 0, 1, ..., n_frames − 1 exactly."""
    def forward(windows):
        return windows[:, None, ::HOP_LENGTH]

    for n_samples in (100, 31 * HOP_LENGTH, 12_345, 40_000):
        audio = np.arange(n_samples, dtype=np.float32) / HOP_LENGTH
        for batch_size in (1, 3):
            out = train.posteriorgram(audio, forward, window_samples=31 * HOP_LENGTH, batch_size=batch_size)
            frames = np.arange(n_samples // HOP_LENGTH + 1)
            assert out.shape == (1, len(frames))
            np.testing.assert_array_equal(out[0], np.where(frames * HOP_LENGTH < n_samples, frames, 0))


def test_threshold_choice_and_scores_on_planted_rolls():
    rng = np.random.default_rng(2)
    ref = rng.uniform(size=(88, 50)) < 0.1
    est = np.where(ref, 0.7, np.where(rng.uniform(size=ref.shape) < 0.1, 0.41, 0.0))
    threshold, f1 = baseline.best_threshold([(est, ref)], train.THRESHOLDS)
    assert threshold == 0.42 and f1 == 1.0  # the first grid value above the false positives
    scores = baseline.mean_frame_scores([(est, ref)], 0.3)  # false positives in: precision n_ref / (n_ref + n_fp)
    n_fp = int(np.sum(est == 0.41))
    np.testing.assert_allclose(scores["precision"], ref.sum() / (ref.sum() + n_fp), rtol=1e-6)
    assert scores["recall"] == 1.0
    x = np.arange(12 * 3 * 20, dtype=np.float32).reshape(12 * 3 * 20, 1)
    layout = FrequencyLayout(n_bins=12 * 3 * 20, bins_per_semitone=3, center_offset=1, n_pitches=10)
    np.testing.assert_array_equal(baseline.fundamental_energy(x, layout=layout)[:, 0], np.arange(10) * 3 + 1)


def test_cli_rejects_an_unknown_config(tmp_path, capsys):
    assert cli.main(["train", "--config", "huge", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown train config 'huge'; valid: default, tiny" in err


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from amt_jax import data

    directory = tmp_path_factory.mktemp("chorales")
    data.build("chorales", data_dir=directory, n_pieces=3)
    return directory


def test_evaluate_cli_scores_a_training_workdir_at_its_recorded_threshold(uninterrupted, corpus, tmp_path):
    """``evaluate --model DIR`` loads the workdir's latest checkpoint and thresholds at the value its
    eval.json records; its frame scores equal mir_eval.multipitch on that model's posteriorgram."""
    import mir_eval

    from amt_jax import data
    from amt_jax.transcription import inference, notes

    workdir, *_ = uninterrupted
    example = data.load("chorales", "test", data_dir=corpus)[0]
    post = inference.transcribe_audio(example["audio"], model=train.load_trained(workdir), batch_size=8)
    threshold = float(np.quantile(post["note"], 0.95))  # some frames on, most off; may equal a value
    (workdir / "eval.json").write_text(json.dumps({"scores": {"model": {"threshold": threshold}}}))
    out = tmp_path / "scores.json"
    args = ["evaluate", "--model", str(workdir), "--data", "chorales:test", "--data-dir", str(corpus), "--json", str(out)]
    assert cli.main(args) == 0
    result = json.loads(out.read_text())
    assert result["config"]["frame_threshold"] == threshold

    def hz(roll):
        return [440.0 * 2 ** ((np.flatnonzero(column) + MIDI_OFFSET - 69) / 12) for column in np.asarray(roll).T]

    ref_times = np.arange(example["frames"].shape[1]) * HOP_LENGTH / SAMPLE_RATE
    expected = mir_eval.multipitch.evaluate(
        ref_times, hz(example["frames"]), notes.frame_times(post["note"].shape[1]),
        hz(np.asarray(post["note"], np.float64) >= threshold),  # the command's rule: a value at the threshold is on
    )
    assert expected["Precision"] > 0
    assert result["frame"]["precision"] == pytest.approx(expected["Precision"], abs=1e-6)
    assert result["frame"]["recall"] == pytest.approx(expected["Recall"], abs=1e-6)


def test_sweep_runs_a_trained_variant_with_its_semitone_layout(uninterrupted, corpus, tmp_path):
    """A ``trained:<dir>`` sweep model: loaded from its checkpoint, fed windows of the corpus, and
    its microtonal groups follow train.cqt_kwargs (pitch p on bin p·B + B//2)."""
    from amt_jax import sweep

    workdir, *_ = uninterrupted
    config_file = tmp_path / "trained_sweep.py"
    config_file.write_text(
        "from amt_jax.sweep import SweepConfig\n"
        "def get_config():\n"
        f"    return SweepConfig(name='trained', models=('trained:{workdir}',), data='chorales:test', n_clips=1,\n"
        "                       families=('microtonal',), n_permutations=4, n_permutations_semitone=4,\n"
        "                       chunk_size=4, example=False)\n"
    )
    out = tmp_path / "sweep"
    assert cli.main(["sweep", str(config_file), "--workdir", str(out), "--data-dir", str(corpus), "--no-progress"]) == 0
    config = sweep.load_config(str(config_file))
    cells = sweep.expand(config)
    assert cells and all(sweep.is_done(out, c.id) for c in cells)
    inputs = sweep.load_inputs(config.models[0], config, data_dir=corpus)
    assert inputs.features.shape[1] == 103 * TOY.model.bins_per_semitone
    assert inputs.layout.center_offset == TOY.model.bins_per_semitone // 2
    for cell in cells:
        record, arrays = sweep.load_cell(out, cell.id)
        assert arrays["importances"].shape == (4,)
        # B = 1: a semitone is a single bin, so shuffling inside semitones changes nothing
        np.testing.assert_allclose(arrays["importances"], 0.0, atol=1e-7)


# ------------------------------------------------------------------------------ the plateau stop


def _planted(curve: dict[int, float], calls: list[int]):
    """``evaluate(state)``: the planted F1 of the state's step (the steps asked for go to ``calls``)."""
    def evaluate(state) -> float:
        calls.append(int(state.step))
        return curve[int(state.step)]

    return evaluate


def test_plateau_rule_and_config_identity():
    rule = functools.partial(convergence.plateaued, patience=2, min_delta=0.01)
    assert not rule([0.3, 0.5])  # no more than `patience` evaluations: never
    assert rule([0.3, 0.5, 0.505, 0.50])  # the last 2 gain 0.005 <= δ over the best before them
    assert not rule([0.3, 0.5, 0.52, 0.50])  # one of the last 2 gains 0.02 > δ
    assert rule([0.5, 0.4, 0.45])  # falling counts as no gain
    assert convergence.stop_point([0.3, 0.5, 0.505, 0.5, 0.9], train.PlateauStop(2, 2, 0.01)) == 3
    for bad, match in ((dict(every=0), "plateau.every"), (dict(patience=1.5), "plateau.patience"),
                       (dict(min_delta=-0.1), "plateau.min_delta")):
        with pytest.raises(ValueError, match=match):
            train.PlateauStop(**{"every": 2, "patience": 2, **bad})
    # off by default and then left out of the config's dict: existing runs keep their identity
    assert "plateau" not in TOY.to_dict() and "plateau" not in train.get_config("default").to_dict()
    stopping = dataclasses.replace(TOY, plateau=train.PlateauStop(every=2, patience=2, min_delta=0.01))
    assert stopping.to_dict()["plateau"] == {"every": 2, "patience": 2, "min_delta": 0.01}
    assert train.TrainConfig.from_dict(json.loads(json.dumps(stopping.to_dict()))) == stopping
    assert results_identity(stopping.to_dict()) != results_identity(TOY.to_dict())
    assert results_identity({**TOY.to_dict(), "plateau": None}) == results_identity(TOY.to_dict())


def test_plateau_stops_before_the_budget_and_records_why(pieces, uninterrupted, tmp_path):
    """A planted curve that rises, then stalls within δ for `patience` evaluations, stops the run
    there (step 8 of a 16-step budget); the reason, the curve and the best step are recorded, the
    last state is checkpointed, a rerun stops at once, and a preempted run resumes to the same stop."""
    config = dataclasses.replace(TOY, plateau=train.PlateauStop(every=2, patience=2, min_delta=0.01))
    curve = {2: 0.30, 4: 0.50, 6: 0.505, 8: 0.50, 10: 0.90, 12: 0.95, 14: 0.97, 16: 0.99}  # stalls at 6–8
    calls, records = [], []
    workdir = tmp_path / "run"
    state = train.train(config, workdir=workdir, examples=pieces[:6], log=records.append,
                        evaluate=_planted(curve, calls))
    assert int(state.step) == 8 < config.steps and calls == [2, 4, 6, 8]
    stop = convergence.read_stop(workdir)
    assert stop == records[-1]["stopped"]
    assert stop["reason"] == "plateau" and stop["step"] == 8 and stop["budget"] == 16
    assert stop["curve"] == [[2, 0.30], [4, 0.50], [6, 0.505], [8, 0.50]]
    assert (stop["best_step"], stop["best_f1"]) == (6, 0.505)
    assert stop["criterion"] == {"every": 2, "patience": 2, "min_delta": 0.01, "metric": "validation frame F1"}
    assert _steps(workdir) == list(range(1, 9))
    assert [r["step"] for r in records if "validation_f1" in r] == [2, 4, 6, 8]
    assert train.load_trained(workdir).step == 8 and train.load_trained(workdir).config == config
    # the same steps as the run without the criterion: one compiled step for both, same losses
    losses = {r["step"]: r["loss"] for r in uninterrupted[2]}
    assert all(r["loss"] == pytest.approx(losses[r["step"]], rel=1e-6) for r in records if "loss" in r)
    # a rerun re-reads the curve and stops at once: no step, no evaluation
    calls.clear()
    again = []
    assert int(train.train(config, workdir=workdir, examples=pieces[:6], log=again.append,
                           evaluate=_planted(curve, calls)).step) == 8
    assert calls == [] and again == [{"resumed_from": 8}, {"stopped": stop}]
    # preempted at step 7 (last checkpoint at 6): the resumed run evaluates step 8 only and stops there
    resumed = tmp_path / "resumed"

    def preempt(record):
        if record.get("step") == 7 and "loss" in record:
            raise Preempted

    with pytest.raises(Preempted):
        train.train(config, workdir=resumed, examples=pieces[:6], log=preempt, evaluate=_planted(curve, []))
    calls.clear()
    final = train.train(config, workdir=resumed, examples=pieces[:6], evaluate=_planted(curve, calls))
    assert calls == [8] and convergence.read_stop(resumed) == stop
    for a, b in zip(jax.tree.leaves(final.params), jax.tree.leaves(state.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="validation pieces"):
        train.train(config, workdir=tmp_path / "none", examples=pieces[:6])


def test_an_improving_run_trains_to_its_budget(pieces, uninterrupted, tmp_path):
    """F1 that keeps gaining more than δ never stops the run early; the budget step is evaluated
    even off the `every` grid, and the reason is the budget."""
    config = dataclasses.replace(TOY, plateau=train.PlateauStop(every=5, patience=2, min_delta=0.01))
    calls = []
    state = train.train(config, workdir=tmp_path, examples=pieces[:6],
                        evaluate=_planted({s: 0.1 + 0.02 * s for s in range(1, 17)}, calls))
    assert int(state.step) == config.steps and calls == [5, 10, 15, 16]
    stop = convergence.read_stop(tmp_path)
    assert stop["reason"] == "budget" and stop["step"] == 16 and stop["best_step"] == 16
    assert [s for s, _ in stop["curve"]] == [5, 10, 15, 16]


def test_plateau_scores_validation_frame_f1(pieces, uninterrupted, tmp_path):
    """Without a planted function the criterion scores the validation pieces' frame F1, the number
    held-out evaluation reports for them (``validation_f1`` at the chosen threshold)."""
    config = dataclasses.replace(TOY, steps=8, plateau=train.PlateauStop(every=4, patience=1, min_delta=1.0))
    state = train.train(config, workdir=tmp_path, examples=pieces[:6], validation=pieces[6:7])
    stop = convergence.read_stop(tmp_path)
    assert stop["reason"] == "plateau" and int(state.step) == stop["step"] == 8  # any gain <= 1: stops at evaluation 2
    scores = train.evaluate(train.load_trained(tmp_path), validation=pieces[6:7], test=pieces[7:])
    assert stop["curve"][-1][1] == pytest.approx(scores["model"]["validation_f1"], abs=1e-9)
