"""What a researcher sees on the console (issue 27 items 4 and 6): no ``[nan, nan]`` (a cell with one
draw or one piece says why it has no interval), identity draws flagged, errors that name the flag
and come before any progress, and a corpus build that is one bar without tfds's false "Downloading"."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from amt_jax.__main__ import main
from amt_jax.sweep import compute, findings
from amt_jax.sweep.probes import PROBES
from conftest import REPO


def test_a_cell_with_one_draw_or_one_piece_says_why_it_has_no_interval():
    one = {"n_permutations": 1, "n_clusters": 1, "piece_mean": 0.25, "crossed_ci_low": None, "crossed_ci_high": None,
           "importances_mean": 0.25, "ci_low": None, "ci_high": None}
    line = compute.describe_importance(one)
    assert "nan" not in line and "1 draw and fewer than 2 pieces: no interval" in line and "1 draws" not in line
    few = {**one, "n_permutations": 32, "ci_low": float("nan"), "ci_high": float("nan")}
    assert "fewer than 2 pieces: no interval" in compute.describe_importance(few)
    crossed = {**one, "n_clusters": 4, "crossed_ci_low": 0.125, "crossed_ci_high": 0.375}
    assert compute.describe_importance(crossed) == "importance 0.25 [0.125, 0.375] crossed over 1 draw × 4 pieces"
    est = {"mean": 0.5, "crossed_ci_low": None, "crossed_ci_high": None, "n": 1, "n_pieces": 3}
    line = PROBES["harmonic_swap"].describe({"reliance": {"contrast": est}})
    assert "nan" not in line and "1 draw: no interval" in line
    row = {"model": "planted-b3", "setting": "h=2", "difference": 0.5, "difference_ci_low": None,
           "difference_ci_high": None, "p": None, "n_draws": 32, "n_pieces": 1, "n_pieces_total": 1}
    sentence = findings.reliance(row)
    assert "[nan" not in sentence and "fewer than 2 pieces: no interval" in sentence


def test_identity_draws_are_counted_and_left_out_of_the_moved_estimate():
    rng = np.random.default_rng(0)
    values = rng.normal(1.0, 0.1, (12, 6))
    change = np.abs(rng.normal(1.0, 0.1, (12, 6)))
    identity = np.array([0, 3, 7])
    values[identity], change[identity] = 0.0, 0.0  # the identity permutation: no input change, no output change
    result = SimpleNamespace(input_change=change, draw_clip_importances=values, clusters=np.repeat(np.arange(3), 2),
                             confidence=0.95)
    out = compute.moved_draws(result)
    assert out["n_identity_draws"] == 3
    moved = np.delete(values, identity, axis=0)
    assert out["moved_mean"] == pytest.approx(moved.mean(), abs=1e-12)
    assert out["moved_crossed_ci_low"] < out["moved_mean"] < out["moved_crossed_ci_high"]
    record = {"n_permutations": 12, "n_clusters": 3, "piece_mean": values.mean(), "crossed_ci_low": 0.5,
              "crossed_ci_high": 0.9, **out}
    assert "3 of 12 draws moved nothing (identity permutations): over the other" in compute.describe_importance(record)
    assert "over 9 draws × 3 pieces" in compute.describe_importance(record)
    assert compute.moved_draws(SimpleNamespace(**{**vars(result), "input_change": change + 1}))["n_identity_draws"] == 0


@pytest.mark.parametrize("argv, flag", [
    (["data", "build", "chorales", "--n-pieces", "2"], "--n-pieces"),
    (["data", "build", "chorales", "--n-pieces", "4", "--timeout", "0"], "--timeout"),
    (["train", "--config", "tiny", "--steps", "0"], "--steps"),
    (["demo", "--n-pieces", "1"], "--n-pieces"),
    (["sweep", "tiny", "--shard", "3/2"], "--shard"),
])
def test_errors_name_the_flag_and_come_before_any_work(argv, flag, tmp_path, capsys):
    where = ["--data-dir", str(tmp_path / "data")] if argv[0] == "data" else \
        ["--workdir", str(tmp_path / "w"), "--data-dir", str(tmp_path / "data")] if argv[0] == "train" else \
        ["--workdir", str(tmp_path / "w")] if argv[0] == "sweep" else ["--out", str(tmp_path / "out")]
    assert main(argv + where) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{flag} must be" in err and argv[-1] in err, err
    assert "n_pieces" not in err and "steps must" not in err.replace(flag, "")
    assert not list(tmp_path.iterdir()), "work started before the check"


def test_a_sweep_on_a_missing_corpus_fails_before_its_progress_bar(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["sweep", "demo", "--workdir", str(tmp_path / "w"), "--data-dir", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not built in" in err and "cell/s" not in err and "%|" not in err, err
    assert not (tmp_path / "w" / "cells").exists()


def test_corpus_build_is_one_bar_without_a_false_download_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "amt_jax", "data", "build", "chorales", "--data-dir", str(tmp_path),
                          "--n-pieces", "3"], cwd=REPO, capture_output=True, timeout=600)  # bytes: keep the \r
    out, err = run.stdout.decode(), run.stderr.decode()
    assert run.returncode == 0, err[-3000:]
    assert "Downloading" not in out + err and "Subsequent calls" not in out + err
    assert out.startswith("built chorales/tinysoundfont") and len(out.splitlines()) == 1, out
    assert len(err.strip().split("\n")) == 1 and "building chorales" in err, err  # one bar, redrawn in place with \r
