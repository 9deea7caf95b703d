"""experiments/tuning.py: F1 against mistuning, grouped into variants over seeds, Δ against in tune."""

import json

import numpy as np
import pytest
import scipy.stats

from amt_jax import stats
from experiments import tuning


def _record(spec, rendering, frame, onset=None):
    pieces = [f"p{i}" for i in range(len(frame))]
    onset = frame if onset is None else onset
    return {"spec": spec, "rendering": rendering,
            "per_piece": {p: {"frame": float(f), "note_onset": None if o is None else float(o)}
                          for p, f, o in zip(pieces, frame, onset)}}


def test_variant_of_groups_grid_runs_by_seed_and_keeps_other_specs_alone():
    assert tuning.variant_of("trained:/g/runs/b3_full_s1") == ("b3_full", 1)
    assert tuning.variant_of("trained:/somewhere/run") == ("trained:/somewhere/run", None)
    assert tuning.variant_of("basic-pitch") == ("basic-pitch", None)


def test_delta_is_paired_per_piece_with_a_t_interval_over_pieces():
    rng = np.random.default_rng(0)
    tuned = rng.uniform(0.7, 0.9, 8)
    detuned = tuned - 0.1 + 0.02 * rng.standard_normal(8)
    s = tuning.summarize([_record("basic-pitch", "tinysoundfont", tuned), _record("basic-pitch", "detune50", detuned)])
    d = s["basic-pitch"]["renderings"]["detune50"]["frame"]["delta"]
    diff = detuned - tuned
    low, high = scipy.stats.t.interval(0.95, len(diff) - 1, loc=diff.mean(), scale=scipy.stats.sem(diff))
    np.testing.assert_allclose([d["mean"], d["ci_low"], d["ci_high"]], [diff.mean(), low, high], rtol=1e-10)
    assert d["crossed"] is None  # one model: no seeds to treat as random
    assert s["basic-pitch"]["renderings"]["tinysoundfont"]["frame"]["delta"] is None


def test_seeds_of_a_variant_give_the_crossed_interval_of_the_differences():
    rng = np.random.default_rng(1)
    tuned = rng.uniform(0.7, 0.9, (3, 6))
    detuned = tuned + rng.normal(0, 0.05, (3, 6)) + np.array([[-0.1], [0.0], [0.1]])  # seeds disagree
    records = [r for s in range(3) for r in (_record(f"trained:/g/runs/b1_full_s{s}", "tinysoundfont", tuned[s]),
                                             _record(f"trained:/g/runs/b1_full_s{s}", "detune25", detuned[s]))]
    d = tuning.summarize(records)["b1_full"]["renderings"]["detune25"]["frame"]["delta"]
    crossed = stats.crossed_ci(detuned - tuned)
    assert d["n_seeds"] == 3 and d["n_pieces"] == 6
    np.testing.assert_allclose([d["crossed"]["ci_low"], d["crossed"]["ci_high"]], [crossed["ci_low"], crossed["ci_high"]])
    fixed_width = d["ci_high"] - d["ci_low"]
    assert d["crossed"]["ci_high"] - d["crossed"]["ci_low"] > fixed_width  # the seeds' spread widens it


def test_pieces_without_notes_leave_the_note_level_only():
    tuned, detuned = [0.8, 0.7, 0.9], [0.6, 0.5, 0.8]
    s = tuning.summarize([_record("m", "tinysoundfont", tuned, [0.5, None, 0.4]),
                          _record("m", "vibrato", detuned, [0.2, 0.3, 0.1])])
    row = s["m"]["renderings"]["vibrato"]
    assert row["frame"]["delta"]["n_pieces"] == 3 and row["note_onset"]["delta"]["n_pieces"] == 2
    np.testing.assert_allclose(row["note_onset"]["delta"]["mean"], np.mean([0.2 - 0.5, 0.1 - 0.4]))


def test_other_pieces_or_no_in_tune_control_is_an_error():
    with pytest.raises(ValueError, match="in-tune"):
        tuning.summarize([_record("m", "detune10", [0.5, 0.6])])
    bad = _record("m", "detune10", [0.5, 0.6])
    bad["per_piece"] = {"q0": bad["per_piece"]["p0"], "q1": bad["per_piece"]["p1"]}
    with pytest.raises(ValueError, match="other pieces"):
        tuning.summarize([_record("m", "tinysoundfont", [0.5, 0.6]), bad])


def test_the_table_names_each_rendering_and_its_control(tmp_path):
    s = tuning.summarize([_record("m", "tinysoundfont", [0.8, 0.7, 0.9]), _record("m", "detune50", [0.4, 0.3, 0.5])])
    table = tuning.format_table(s)
    assert "| m | ±50 cents | 0.400" in table and "−0.400" in table and "in tune" in table


@pytest.mark.parametrize("argv, message", [
    (["--renderings", "detune10"], "in-tune control"),
    (["--renderings", "tinysoundfont", "detune33"], "detune33"),
    (["--limit", "1"], "--limit"),
])
def test_bad_arguments_name_the_argument(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        tuning.main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "o"), *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_a_grid_run_is_checked_against_its_own_test_scores(tmp_path):
    run = tmp_path / "runs" / "b3_full_s0"
    run.mkdir(parents=True)
    per_piece = {"a": {"frame": {"f1": 0.8}, "note_onset": {"f1": 0.5}}, "b": {"frame": {"f1": 0.7}, "note_onset": {"f1": 0.4}}}
    (run / "eval.json").write_text(json.dumps({"thresholds": {"frame_threshold": 0.5, "onset_threshold": 0.8},
                                               "config": {}, "per_piece": per_piece}))
    spec = f"trained:{run}"
    assert tuning.grid_run(spec)["thresholds"]["onset_threshold"] == 0.8
    same = {"spec": spec, "rendering": "tinysoundfont",
            "per_piece": {"a": {"frame": 0.8, "note_onset": 0.5}, "b": {"frame": 0.7, "note_onset": 0.4}}}
    assert tuning.agreement_with_grid(same) == 0.0
    other = {**same, "per_piece": {**same["per_piece"], "b": {"frame": 0.7, "note_onset": 0.3}}}
    with pytest.raises(ValueError, match="differs from its eval.json by 0.1"):
        tuning.agreement_with_grid(other)
    assert tuning.agreement_with_grid({**other, "rendering": "detune25"}) is None
    assert tuning.grid_run("basic-pitch") is None and tuning.grid_run(f"trained:{tmp_path}") is None
