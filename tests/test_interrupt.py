"""Ctrl-C and SIGTERM (issue 27 item 1): a real ``sweep`` and a real ``train`` subprocess signalled
midway stop at a safe point with one line and exit 130 (SIGINT) or 143 (SIGTERM), leave no partial
file, and a rerun resumes to the arrays of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from amt_jax import interrupt, sweep
from conftest import REPO, cli_env, sweep_cmd
from test_sweep import assert_no_partial_results, n_committed

WAIT_S = 600  # a bound on waiting for the first result, not a timing assertion


def _signal_when(proc: subprocess.Popen, ready, sig: int) -> tuple[int, str]:
    """Send ``sig`` once ``ready()``; the exit status and stderr."""
    deadline = time.monotonic() + WAIT_S
    while not ready():
        assert proc.poll() is None, f"ended before the signal: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "no result to interrupt after"
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=WAIT_S)
    return proc.returncode, err


def _assert_stopped_cleanly(status: int, err: str, sig: int, command: str) -> None:
    name = signal.Signals(sig).name
    assert status == 128 + sig, (status, err[-3000:])  # not -11 (a native crash), not 0 (the signal swallowed)
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"amt_jax {command}: interrupted ({name})") and "resume" in last, err[-2000:]
    assert "Traceback" not in err and "Fatal Python error" not in err, err[-3000:]


def test_a_signal_sets_a_flag_that_check_raises_at_a_safe_point():
    before = signal.getsignal(signal.SIGINT)
    with interrupt.deferred():
        interrupt.check()  # nothing received: no-op
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert interrupt.requested() == signal.SIGTERM
        with pytest.raises(interrupt.Interrupted) as info:
            interrupt.check()
        assert info.value.exit_status == 143 and info.value.name == "SIGTERM"
    assert signal.getsignal(signal.SIGINT) is before and interrupt.requested() is None


def test_sweep_sigint_then_sigterm_then_resume_equals_uninterrupted(tiny_sweep, jax_cache, tmp_path):
    reference, _ = tiny_sweep
    env = cli_env(jax_cache)
    workdir = tmp_path / "sweep"
    shard = ("--shard", "1/2")  # 18 of the 37 cells (test_sweep's SIGKILL test resumes the other shard)
    ids = [c.id for c in sweep.shard_cells(sweep.expand(sweep.load_config("tiny")), (1, 2))]
    done = 0
    for sig in (signal.SIGINT, signal.SIGTERM):  # each after at least one more cell than before
        proc = subprocess.Popen(sweep_cmd(workdir, *shard), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        status, err = _signal_when(proc, lambda: n_committed(workdir) > done, sig)
        _assert_stopped_cleanly(status, err, sig, "sweep")
        assert_no_partial_results(workdir)
        assert not [p for p in (workdir / "cells").iterdir() if p.name.startswith(".")], "a temporary was left"
        assert done < n_committed(workdir) < len(ids)
        done = n_committed(workdir)
    rerun = subprocess.run(sweep_cmd(workdir, *shard), cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=WAIT_S)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"{done} finished earlier" in rerun.stdout
    assert all(sweep.is_done(workdir, i) for i in ids)
    for cell_id in ids:
        _, ref_arrays = sweep.load_cell(reference, cell_id)
        _, arrays = sweep.load_cell(workdir, cell_id)
        assert sorted(arrays) == sorted(ref_arrays), cell_id
        for name in arrays:
            np.testing.assert_allclose(arrays[name], ref_arrays[name], rtol=1e-6, atol=1e-9, err_msg=f"{cell_id}: {name}")


TRAIN_FLAGS = ("--config", "tiny", "--steps", "12", "--config.batch_size=2", "--config.checkpoint_every=4",
               "--config.log_every=4")


def _train_cmd(workdir: Path, data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "amt_jax", "train", "--workdir", str(workdir), "--data-dir", str(data_dir), *TRAIN_FLAGS]


def test_train_sigint_stops_after_a_step_and_resumes_to_the_uninterrupted_weights(jax_cache, tmp_path, caplog):
    from amt_jax import data
    from amt_jax.models.trained import read_checkpoint

    data_dir = tmp_path / "data"
    data.build("chorales", data_dir=data_dir, n_pieces=3)
    env = cli_env(jax_cache)
    resumed = tmp_path / "resumed"
    proc = subprocess.Popen(_train_cmd(resumed, data_dir), cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    status, err = _signal_when(proc, lambda: (resumed / "checkpoints" / "4").is_dir(), signal.SIGINT)
    _assert_stopped_cleanly(status, err, signal.SIGINT, "train")
    saved = sorted(int(p.name) for p in (resumed / "checkpoints").iterdir() if p.name.isdigit())
    assert not [p.name for p in (resumed / "checkpoints").iterdir() if not p.name.isdigit()], "a partial checkpoint"
    assert not (resumed / "eval.json").exists() and 4 <= saved[-1] < 12, saved
    for line in (resumed / "metrics.jsonl").read_text().splitlines():
        json.loads(line)  # whole records only
    # the uninterrupted run starts once the train step is compiled (it reads that from the run's cache)
    whole = subprocess.Popen(_train_cmd(tmp_path / "whole", data_dir), cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        rerun = subprocess.run(_train_cmd(resumed, data_dir), cwd=REPO, env=env, capture_output=True, text=True,
                               timeout=WAIT_S)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert f"resumed from step {saved[-1]}" in rerun.stderr  # the interrupted step's checkpoint: no step lost
        assert "12/12" in rerun.stderr and "test frame" in rerun.stdout and "test frame" not in rerun.stderr  # bar / results
        out, err = whole.communicate(timeout=WAIT_S)
    finally:
        if whole.poll() is None:  # a failed assertion above: no orphan left training
            whole.kill()
            whole.communicate()
    assert whole.returncode == 0, err[-3000:]
    with caplog.at_level("INFO"):
        a, b = read_checkpoint(tmp_path / "whole"), read_checkpoint(resumed)
    assert not [r for r in caplog.records if "read only" in r.getMessage()]  # orbax's notice on a read-only open
    assert a.step == b.step == 12
    flat_a, flat_b = (dict(_leaves(c.variables)) for c in (a, b))
    assert flat_a.keys() == flat_b.keys()
    for name in flat_a:
        np.testing.assert_allclose(flat_b[name], flat_a[name], rtol=1e-6, atol=1e-6, err_msg=name)
    scores = [json.loads(p.read_text())["scores"]["model"] for p in (tmp_path / "whole" / "eval.json", resumed / "eval.json")]
    assert scores[1]["f1"] == pytest.approx(scores[0]["f1"], abs=1e-6)


def _leaves(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}/")
        else:
            yield f"{prefix}{key}", np.asarray(value)
