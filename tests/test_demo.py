"""The demo's findings: one sentence per model and setting (a control model never hides the model
it controls), and the architecture-vs-learning verdict follows the sizes."""

from pathlib import Path

import pytest

from amt_jax.commands import demo


def _row(model, family, setting, difference, low, high, **extra):
    return {"model": model, "family": family, "setting": setting, "difference": difference,
            "difference_ci_low": low, "difference_ci_high": high, "n_pieces": 8, "p": 0.01, **extra}


EVALUATION = {"frame": {"f1": 0.8}, "note_onset": {"f1": 0.7}}
PROBE = {"detected": {"n_detected": [], "n_probed": [], "recall_threshold": 0.5}, "timbres": [], "levels_dbfs": []}


def test_both_models_reliance_is_reported_and_a_small_control_means_learned():
    rows = [_row("basic-pitch", "harmonic_swap", "h=2", 0.05, 0.04, 0.06),
            _row("random:basic-pitch", "harmonic_swap", "h=2", 0.0003, 0.0002, 0.0004)]
    lines = demo.findings(rows, PROBE, EVALUATION)
    reliance = [line for line in lines if line.startswith("Harmonic reliance")]
    assert len(reliance) == 2 and any("h=2, Basic Pitch)" in line for line in reliance)
    assert any("random weights (same architecture)" in line for line in reliance)
    assert "is learned, not built in" in lines[-1] and "within 1%" in lines[-1]


def test_the_control_is_compared_on_its_own_scale_not_the_raw_one():
    """Planted numbers like the study's: the random network's raw contrast is 1 % of the trained
    model's, but it also reacts 16× less to anything (its whole-axis shuffle importance), so on
    its own scale its interval reaches 13 % of the trained model's: not called learned."""
    rows = [_row("basic-pitch", "harmonic_swap", "h=2", 0.05, 0.04, 0.06, whole_axis=0.057),
            _row("random:basic-pitch", "harmonic_swap", "h=2", 0.0003, 0.0002, 0.0004, whole_axis=0.0035)]
    line = demo.findings(rows, PROBE, EVALUATION)[-1]
    assert "own scale" in line and "may be architecture" in line and "sign of the control: positive" in line
    raw = [{k: v for k, v in r.items() if k != "whole_axis"} for r in rows]
    line = demo.findings(raw, PROBE, EVALUATION)[-1]
    assert "raw output scale" in line and "is learned, not built in" in line
    # a control of the opposite sign, however large on its own scale, cannot make the contrast
    rows[1].update(difference=-0.003, difference_ci_low=-0.004, difference_ci_high=-0.002)
    line = demo.findings(rows, PROBE, EVALUATION)[-1]
    assert "sign of the control: negative" in line and "is learned, not built in" in line


def test_a_control_as_large_as_the_model_is_called_architecture():
    rows = [_row("basic-pitch", "harmonic_swap", "h=2", 0.05, 0.04, 0.06),
            _row("random:basic-pitch", "harmonic_swap", "h=2", 0.04, 0.03, 0.05)]
    assert "may be architecture, not learning" in demo.findings(rows, PROBE, EVALUATION)[-1]


def test_pooling_verdict_follows_its_interval():
    row = dict(model="basic-pitch", family="pooling_all", setting="all", difference=None, difference_ci_low=None,
               difference_ci_high=None, n_pieces=8, p=None, mean=0.001, piece_mean=0.001, piece_ci_low=0.0005,
               piece_ci_high=0.0015, crossed_ci_low=-0.001, crossed_ci_high=0.003, relative=0.02)
    assert "no evidence that the output depends on sub-semitone detail" in demo.findings([row], PROBE, EVALUATION)[-1]
    row.update(crossed_ci_low=0.0005, crossed_ci_high=0.0015)  # the verdict reads the crossed interval
    line = demo.findings([row], PROBE, EVALUATION)[-1]
    assert ": the output depends on sub-semitone detail (a divergence, not a cost" in line


def test_an_f1_cost_is_read_with_its_sign():
    row = dict(model="basic-pitch", family="pooling_all_f1", setting="every key, F1 cost", n_pieces=8, p=None,
               mean=-0.0135, crossed_ci_low=-0.029, crossed_ci_high=-0.002)
    assert demo.findings([row], PROBE, EVALUATION)[-1] == (
        "Semitone pooling (every key): frame F1 drops by -0.0135 [-0.029, -0.002] (crossed) over 8 pieces at the "
        "model's threshold — a gain (F1 per clip window, mean over pieces; not the whole-piece F1 of evaluate).")
    row.update(family="shift_down", mean=0.13, crossed_ci_low=0.07, crossed_ci_high=0.18)
    assert "— a cost (F1 per clip window" in demo.findings([row], PROBE, EVALUATION)[-1]


def test_a_wide_control_interval_or_no_effect_is_not_called_learned():
    wide = [_row("basic-pitch", "harmonic_swap", "h=2", 0.05, 0.04, 0.06),
            _row("random:basic-pitch", "harmonic_swap", "h=2", 0.0003, -0.02, 0.02)]
    assert "may be architecture" in demo.findings(wide, PROBE, EVALUATION)[-1]
    none = [_row("basic-pitch", "harmonic_swap", "h=2", 0.001, -0.01, 0.012),
            _row("random:basic-pitch", "harmonic_swap", "h=2", 0.0003, 0.0002, 0.0004)]
    assert "shows no reliance contrast" in demo.findings(none, PROBE, EVALUATION)[-1]
    undefined = [_row("basic-pitch", "harmonic_swap", "h=2", 0.05, 0.04, 0.06),
                 _row("random:basic-pitch", "harmonic_swap", "h=2", None, None, None)]
    assert "undefined" in demo.findings(undefined, PROBE, EVALUATION)[-1]


def test_probe_tones_are_reported_as_the_weakest_keys_f1_not_a_count_of_detected_keys():
    weakest = [{"midi": 108, "f1": 0.31, "f1_energy": 0.9, "f1_argmax": 1.0}, {"midi": 21, "f1": 0.4, "f1_energy": 0.5,
                                                                            "f1_argmax": 0.6}]
    probe = {"detected": {"n_detected": [[88]], "n_probed": [88], "recall_threshold": 0.5}, "timbres": ["1/k"],
             "levels_dbfs": [-20.0], "config": {"baselines": {"energy_threshold": {"alone": 0.6}}},
             "key_f1": {"alone": {"weakest": [weakest], "flagged": [[True, False, False]], "below": [[True, True, False]],
                                  "n": [[4, 4, 0]], "advantage": {"ci_low": [[-0.5, 0.1, None]],
                                                                  "ci_high": [[-0.1, 0.3, None]]}}}}
    lines = [line for line in demo.findings([], probe, EVALUATION) if line.startswith("Probe tones")]
    assert lines == ["Probe tones (1/k, alone, -20 dBFS over a −60 dBFS noise floor), F1 per key with false positives "
                     "counted: weakest MIDI 108 0.31 (baselines: energy 0.90, argmax 1.00), MIDI 21 0.40 (baselines: "
                     "energy 0.50, argmax 0.60); mean F1 below 0.5 on 2 of 2 keys scored (interval wholly below on 1); "
                     "above the better baseline per window (fundamental-bin energy >= 0.6, or its argmax) on 1 keys, "
                     "below it on 1."]


def test_real_recordings_step_says_why_when_the_split_cannot_be_built(tmp_path, monkeypatch, capsys):
    """Step 5 needs the libsoni sdist from the package index: when it cannot be had, the step says so in
    one line and the demo's findings say the real-audio check was not made (never a false "holds")."""
    from amt_jax import data

    def unreachable(*args, **kwargs):
        raise RuntimeError("no package index reachable\nsecond line")

    monkeypatch.setattr(data, "load", lambda *a, **k: (_ for _ in ()).throw(FileNotFoundError("absent")))
    monkeypatch.setattr(data, "build", unreachable)
    lines = demo._real_recordings(tmp_path, progress=False)
    assert lines == ["Real recordings: not checked (RuntimeError while building the real split)."]
    assert capsys.readouterr().out.strip().splitlines()[-1] == "real recordings skipped: RuntimeError: no package index reachable"


def test_real_reliance_sentence_reads_the_h4_cell_or_says_why_not():
    from types import SimpleNamespace

    def results(cells):
        return SimpleNamespace(of=lambda model, kind: [(c, r, {}) for c, r in cells])

    def cell(h, sham, variant=None):
        params = {"n_harmonics": h, **({"variant": variant} if variant else {})}
        return params and ({"params": params}, {"result": {"reliance": {"real_minus_sham": sham}}})

    good = {"mean": 0.23, "crossed_ci_low": 0.11, "crossed_ci_high": 0.35}
    wide = {"mean": 0.05, "crossed_ci_low": -0.02, "crossed_ci_high": 0.12}
    assert "holds on real audio" in demo._real_reliance(results([cell(8, wide), cell(4, good)]))
    assert "is not confirmed" in demo._real_reliance(results([cell(4, good, "width1"), cell(4, wide)]))
    assert demo._real_reliance(results([cell(4, None)])).endswith("not checked (no sham comb fitted).")
    assert demo._real_reliance(results([cell(8, good)])).endswith("not checked (no h = 4 reliance cell).")


def test_beside_runs_a_function_in_another_process_and_returns_or_raises_its_outcome():
    """Steps 4 and 5 run in a spawned process beside the sweep: its return value comes back, an
    exception it raised is raised here, and leaving the block early stops it at once."""
    import operator
    import os
    import time

    from amt_jax.commands.beside import Beside

    with Beside(os.getpid) as beside:
        assert beside.result() != os.getpid()  # another process ran it
    with Beside(divmod, 7, 2) as beside:
        assert beside.result() == (3, 1)
    with pytest.raises(ZeroDivisionError):
        with Beside(operator.truediv, 1, 0) as beside:
            beside.result()
    start = time.monotonic()
    with pytest.raises(KeyError):
        with Beside(time.sleep, 60):
            raise KeyError("an interrupt or an error in this process")
    assert time.monotonic() - start < 30  # stopped, not waited for
    with pytest.raises(RuntimeError, match="ended without a result .exit code 3"):
        with Beside(os._exit, 3) as beside:  # dies unheard (as after a native crash): no hang
            beside.result()


def test_an_interrupt_in_the_beside_process_is_raised_here_as_that_interrupt():
    """An :class:`~amt_jax.interrupt.Interrupted` crosses the pipe with its signal, so the CLI exits 130."""
    import pickle
    import signal

    from amt_jax import interrupt

    again = pickle.loads(pickle.dumps(interrupt.Interrupted(signal.SIGINT)))
    assert isinstance(again, interrupt.Interrupted) and again.exit_status == 130 and again.name == "SIGINT"


class _NotBack(Exception):
    """Pickles, but does not unpickle (its __init__ needs two arguments, its args hold one)."""

    def __init__(self, a, b):
        super().__init__(a)


def test_steps_4_and_5_report_the_step_that_failed_with_what_came_before(monkeypatch, capsys):
    """Step 5 fails in the other process: step 4's printout is shown at step 4, step 5's partial
    printout at step 5, and the error (with the child's traceback as a note) is raised there."""
    import amt_jax.__main__ as cli
    from amt_jax.commands import demo

    monkeypatch.setattr(cli, "set_matmul_precision", lambda: None)
    monkeypatch.setattr(cli, "set_compilation_cache", lambda: None)
    monkeypatch.setattr(demo, "_probe_keys", lambda out, progress: print("probe tones said this") or {})

    def real(out, progress):
        print("building the real split")
        raise FileExistsError("planted in step 5")

    monkeypatch.setattr(demo, "_real_recordings", real)
    said = demo._model_only_steps(Path("unused"))
    assert said.failed_step == 5 and said.real == []
    said.show(4)
    assert capsys.readouterr().out == "probe tones said this\n"
    with pytest.raises(FileExistsError, match="planted in step 5") as raised:
        said.show(5)
    assert capsys.readouterr().out == "building the real split\n"
    assert "in the process beside" in "".join(raised.value.__notes__)
    assert ", in real\n" in "".join(raised.value.__notes__)  # the child's traceback


def test_an_exception_that_does_not_come_back_from_a_pickle_crosses_as_its_text():
    import pickle

    from amt_jax.commands.beside import portable as _portable

    kept = _portable(ValueError("plain"))
    assert isinstance(pickle.loads(pickle.dumps(kept)), ValueError)
    text = _portable(_NotBack("a", "b"))
    assert isinstance(text, RuntimeError) and "_NotBack" in str(text)
    assert isinstance(pickle.loads(pickle.dumps(text)), RuntimeError)
