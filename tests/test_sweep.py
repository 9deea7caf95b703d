"""Sweep runner: grid expansion, shards, config registry, atomic files, and the preemption
test — a ``tiny`` sweep SIGKILLed midway and resumed gives the same per-draw results as an
uninterrupted run (here split into two shards running concurrently into one workdir)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from amt_jax import sweep
from amt_jax.__main__ import main

REPO = Path(__file__).resolve().parents[1]


def cli_env(cache_dir: Path) -> dict:
    """Subprocess environment: CPU JAX and a persistent compilation cache shared by the runs."""
    return {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "JAX_COMPILATION_CACHE_DIR": str(cache_dir),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "PYTHONPATH": str(REPO),
    }


def sweep_cmd(workdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "amt_jax", "sweep", "tiny", "--workdir", str(workdir), "--no-progress", *extra]


def n_committed(workdir: Path) -> int:
    return len(list((workdir / "cells").glob("*.json"))) if (workdir / "cells").exists() else 0


def cell_files(workdir: Path) -> list[Path]:
    return sorted((workdir / "cells").glob("*")) if (workdir / "cells").exists() else []


def assert_no_partial_results(workdir: Path) -> None:
    """Every result file parses; every JSON (the commit marker) has its NPZ."""
    for path in cell_files(workdir):
        if path.name.startswith("."):  # a temporary of a killed write: never read
            assert path.name.endswith(".tmp"), path
        elif path.suffix == ".json":
            record = json.loads(path.read_text())
            assert record["cell"]["id"] == path.stem
            assert path.with_suffix(".npz").exists(), f"{path.name} committed without its NPZ"
        else:
            assert path.suffix == ".npz", path
            with np.load(path) as arrays:
                assert len(arrays.files) > 0


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """(reference workdir from two concurrent shards, workdir killed midway and resumed, info)."""
    base = tmp_path_factory.mktemp("sweep")
    env = cli_env(tmp_path_factory.getbasetemp() / "jax-cache")
    n_cells = len(sweep.expand(sweep.load_config("tiny")))

    reference = base / "reference"
    shards = [subprocess.Popen(sweep_cmd(reference, "--shard", f"{i}/2"), cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=600) for p in shards]
    for p, (out, err) in zip(shards, outputs):
        assert p.returncode == 0, err

    resumed = base / "resumed"
    proc = subprocess.Popen(sweep_cmd(resumed), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while n_committed(resumed) == 0:
        assert proc.poll() is None and time.monotonic() < deadline, "sweep ended before a cell finished"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_at_kill = n_committed(resumed)
    assert_no_partial_results(resumed)
    rerun = subprocess.run(sweep_cmd(resumed), cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    return reference, resumed, {"n_cells": n_cells, "done_at_kill": done_at_kill, "rerun_stdout": rerun.stdout,
                                "shard_stdout": [o for o, _ in outputs]}


def test_sigkill_midway_then_resume_equals_uninterrupted(tiny_runs):
    reference, resumed, info = tiny_runs
    assert 0 < info["done_at_kill"] < info["n_cells"], info["done_at_kill"]
    assert f"{info['done_at_kill']} finished earlier" in info["rerun_stdout"]
    assert not [p for p in cell_files(resumed) if p.name.startswith(".")], "stale temporaries left after resume"
    ids = [c.id for c in sweep.expand(sweep.load_config("tiny"))]
    for cell_id in ids:
        ref_record, ref_arrays = sweep.load_cell(reference, cell_id)
        record, arrays = sweep.load_cell(resumed, cell_id)
        assert sorted(arrays) == sorted(ref_arrays)
        for name in arrays:
            np.testing.assert_array_equal(arrays[name], ref_arrays[name], err_msg=f"{cell_id}: {name}")
        assert record["cell"] == ref_record["cell"] and record["result"].get("key") == ref_record["result"].get("key")
        assert record["seed"] == 0 and record["environment"]["device_kind"] and record["environment"]["versions"]["jax"]


def test_shards_split_cells_into_one_workdir(tiny_runs):
    reference, _, info = tiny_runs
    cells = sweep.expand(sweep.load_config("tiny"))
    per_shard = [sweep.shard_cells(cells, (i, 2)) for i in range(2)]
    assert sorted(c.id for s in per_shard for c in s) == sorted(c.id for c in cells)
    for out, shard in zip(info["shard_stdout"], per_shard):
        assert out.count(" cells computed") == 1 and f"{len(shard)} cells computed" in out
        assert sum(c.id + ":" in out for c in cells) == len(shard)  # one summary line per own cell
    assert all(sweep.is_done(reference, c.id) for c in cells)


def test_rerun_skips_finished_cells(tiny_runs):
    reference, _, info = tiny_runs
    before = {p.name: p.stat().st_mtime_ns for p in cell_files(reference)}
    statuses = sweep.run_sweep(sweep.load_config("tiny"), workdir=reference, progress=False, log=lambda _: None)
    assert [s.status for s in statuses] == ["skipped"] * info["n_cells"]
    assert {p.name: p.stat().st_mtime_ns for p in cell_files(reference)} == before


def test_other_config_in_same_workdir_is_refused(tiny_runs):
    reference, _, _ = tiny_runs
    other = sweep.SweepConfig(name="tiny", models=("planted-b3",), n_permutations=8)
    with pytest.raises(ValueError, match="different config"):
        sweep.run_sweep(other, workdir=reference, progress=False)


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "cells" / "x.npz"
    target.parent.mkdir()
    sweep.atomic_write(target, b"old")

    def die(self, other):
        raise KeyboardInterrupt  # the process dies between writing the temporary and the rename

    monkeypatch.setattr(type(sweep.epath.Path(target)), "replace", die)
    with pytest.raises(KeyboardInterrupt):
        sweep.atomic_write(target, b"new" * 1000)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.npz"]


def test_shards_partition_cells():
    cells = sweep.expand(sweep.load_config("demo"))
    for n in (1, 2, 3, 7, len(cells) + 2):
        parts = [sweep.shard_cells(cells, (i, n)) for i in range(n)]
        ids = [c.id for p in parts for c in p]
        assert sorted(ids) == sorted(c.id for c in cells) and len(set(ids)) == len(cells)
    assert sweep.parse_shard("2/5") == (2, 5)
    for bad in ("5/5", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(ValueError, match="shard"):
            sweep.parse_shard(bad)


def test_cells_pair_harmonic_with_control_and_have_unique_ids():
    cells = sweep.expand(sweep.load_config("paper"))
    assert len({c.id for c in cells}) == len(cells)
    by_id = {c.id: c for c in cells}
    h4, ctl = by_id["basic-pitch__harmonic_h4"], by_id["basic-pitch__harmonic_control_h4"]
    assert h4.key_tag() == ctl.key_tag()  # same key: draw i of both targets the same fundamental
    assert len({c.key_tag() for c in cells if c.kind != "harmonic_control"}) == len(cells) - len(sweep.load_config("paper").harmonics)


def test_unknown_config_is_one_line_error_listing_valid_ones(tmp_path, capsys):
    assert main(["sweep", "nope", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'nope'" in err
    for name in ("tiny", "demo", "paper"):
        assert name in err


def test_registry_found_from_another_working_directory(tmp_path):
    out = subprocess.run([sys.executable, "-c", "from amt_jax import sweep; print(sweep.load_config('tiny').name)"],
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "tiny", out.stderr


def test_bad_models_and_data_are_refused():
    with pytest.raises(ValueError, match="unknown model"):
        sweep.SweepConfig(name="x", models=("planted-b0",))
    with pytest.raises(ValueError, match="audio dataset"):
        sweep.load_inputs("basic-pitch", sweep.SweepConfig(name="x", models=("basic-pitch",)))
