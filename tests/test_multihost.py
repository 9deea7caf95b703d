"""Multi-host for real: two local processes joined by ``jax.distributed.initialize`` (coordinator on
127.0.0.1, gloo CPU collectives, 2 CPU devices each: a 4-device mesh across processes) run one
importance cell and one shard of a tiny planted sweep together.

Proves: per-draw results equal a single-process run (floats to rtol 1e-5 / atol 1e-7 — other batch
shapes per device block the matmuls differently; group ids exactly); only process 0 writes (process
1 is handed its own, empty workdir, which must stay empty); and SIGKILLing the writer mid-sweep
leaves a workdir that a single-process rerun completes, equal to an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from amt_jax import sweep

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 240  # every subprocess wait is bounded by this

SWEEP_CONFIG = """
from amt_jax.sweep import SweepConfig

def get_config():
    return SweepConfig(name="multihost", models=("planted-b3",), data="synthetic", n_clips=4, clips_per_piece=2,
                       families=("harmonic",), harmonics=(2, 3), n_permutations=24, chunk_size=8,
                       example=False)
"""
SHARD = (0, 2)  # units: [harmonic h2 + its control], [h3 + its control] -> shard 0: 2 cells, a target and its control

WORKER = """
import json, sys, time
start = time.perf_counter()
process_id, port, workdir, config_path, importance_cell = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", coordinator_bind_address=f"127.0.0.1:{port}",
                           num_processes=2, process_id=int(process_id), initialization_timeout=120,
                           heartbeat_timeout_seconds=10, shutdown_timeout_seconds=10)
jax.config.update("jax_default_matmul_precision", "highest")
print(f"initialized at {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
from test_multihost import importance_cell_result, SHARD
from amt_jax import sweep
assert jax.process_count() == 2 and jax.device_count() == 4 and jax.local_device_count() == 2, jax.devices()
if importance_cell == "1":
    mesh = jax.make_mesh((jax.device_count(),), ("draws",))
    print("RESULT " + json.dumps(importance_cell_result(mesh)), flush=True)
print(f"importance done at {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
statuses = sweep.run_sweep(sweep.load_config(config_path), workdir=workdir, shard=SHARD, progress=False, log=lambda s: None)
print("SWEEP " + json.dumps([[s.cell.id, s.status] for s in statuses]), flush=True)
print(f"sweep done at {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
"""


def importance_cell_result(mesh=None) -> dict:
    """One importance cell on a tiny tanh model ``[F=27 bins] -> [P=8]`` over 4 clips of 2 pieces:
    per-draw importances and group ids, draw × clip values and the piece-level interval."""
    import jax.numpy as jnp

    from amt_jax import importance
    from amt_jax import permutations

    rng = np.random.default_rng(0)
    w = rng.normal(size=(27, 8)).astype(np.float32) / np.sqrt(27)
    x = rng.normal(size=(4, 27, 6)).astype(np.float32)
    family = permutations.harmonic(n_bins=27, bins_per_octave=12, n_harmonics=4, f0_range=(0, 12))
    res = importance.permutation_importance(
        lambda w, x: jnp.tanh(jnp.einsum("fp,bft->bpt", w, x)), w, x, family=family, n_permutations=40,
        key=jax.random.key(7), chunk_size=8, mesh=mesh, clusters=np.array([0, 0, 1, 1]))
    return {"importances": res.importances.tolist(), "groups": res.group_ids.tolist(),
            "draw_clip": res.draw_clip_importances.tolist(), "n_devices": res.config["n_devices"],
            "piece": [float(res.clip_ci_low), float(res.clip_ci_high)]}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_pair(workdirs: tuple[Path, Path], config_path: Path, *, importance_cell: bool) -> list[subprocess.Popen]:
    """Processes 0 and 1 of a 2-process job; process i runs the sweep shard into ``workdirs[i]`` (the
    pairs share a persistent compilation cache beside the config)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2",
           "JAX_COMPILATION_CACHE_DIR": str(config_path.parent / "jax-cache"), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])}
    port = str(free_port())
    return [subprocess.Popen([sys.executable, "-c", WORKER, str(i), port, str(workdirs[i]), str(config_path),
                              "1" if importance_cell else "0"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for i in range(2)]


def finish(procs: list[subprocess.Popen], timeout: float = TIMEOUT_S) -> list[tuple[int, str, str]]:
    """Wait (bounded) for every process; kill the ones still running at the deadline."""
    deadline = time.monotonic() + timeout
    out = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            p.kill()
            stdout, stderr = p.communicate(timeout=30)
        out.append((p.returncode, stdout, stderr))
    return out


def tagged(stdout: str, tag: str):
    return json.loads(next(line for line in stdout.splitlines() if line.startswith(tag + " "))[len(tag) + 1:])


def assert_same_cells(workdir: Path, reference: Path, ids: list[str]) -> None:
    for cell_id in ids:
        record, arrays = sweep.load_cell(workdir, cell_id)
        ref_record, ref_arrays = sweep.load_cell(reference, cell_id)
        assert record["cell"] == ref_record["cell"] and sorted(arrays) == sorted(ref_arrays)
        for name, a in arrays.items():
            if np.issubdtype(a.dtype, np.floating):
                np.testing.assert_allclose(a, ref_arrays[name], rtol=1e-5, atol=1e-7, err_msg=f"{cell_id}: {name}")
            else:
                np.testing.assert_array_equal(a, ref_arrays[name], err_msg=f"{cell_id}: {name}")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("multihost")
    config_path = base / "multihost_sweep.py"
    config_path.write_text(SWEEP_CONFIG)
    config = sweep.load_config(str(config_path))
    ids = [c.id for c in sweep.shard_cells(sweep.expand(config), SHARD)]
    reference = base / "single"  # the uninterrupted single-process run of the shard (1 device)
    sweep.run_sweep(config, workdir=reference, shard=SHARD, progress=False, log=lambda s: None)
    return base, config_path, config, ids, reference


def test_two_processes_equal_one_and_only_process_zero_writes(setup):
    base, config_path, _, ids, reference = setup
    assert ids == ["planted-b3__harmonic_h2", "planted-b3__harmonic_control_h2"]
    workdirs = (base / "writer", base / "process1")
    results = finish(start_pair(workdirs, config_path, importance_cell=True))
    for i, (code, stdout, stderr) in enumerate(results):
        assert code == 0, f"process {i}: {stderr[-3000:]}"
    single = importance_cell_result()
    for _, stdout, _ in results:
        multi = tagged(stdout, "RESULT")
        assert multi["n_devices"] == 4
        np.testing.assert_array_equal(multi["groups"], single["groups"])
        np.testing.assert_allclose(multi["importances"], single["importances"], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(multi["draw_clip"], single["draw_clip"], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(multi["piece"], single["piece"], rtol=1e-5, atol=1e-7)
        assert tagged(stdout, "SWEEP") == [[cell_id, "done"] for cell_id in ids]
    assert not workdirs[1].exists() or not any(workdirs[1].rglob("*"))  # process 1 wrote nothing
    assert_same_cells(workdirs[0], reference, ids)
    for cell_id in ids:  # computed across 2 processes x 2 devices
        record, _ = sweep.load_cell(workdirs[0], cell_id)
        assert record["environment"]["process_count"] == 2 and record["environment"]["device_count"] == 4
        assert record["result"]["n_devices"] == 4


def test_killing_a_process_leaves_a_workdir_a_rerun_completes(setup):
    base, config_path, config, ids, reference = setup
    shared = base / "shared"
    procs = start_pair((shared, shared), config_path, importance_cell=False)
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not list((shared / "cells").glob("*.json")) if (shared / "cells").exists() else True:
            assert all(p.poll() is None for p in procs) and time.monotonic() < deadline, \
                [p.communicate(timeout=30)[1][-2000:] for p in procs if p.poll() is not None]
            time.sleep(0.02)
        procs[0].send_signal(signal.SIGKILL)  # the writer, mid-sweep
    finally:
        results = finish(procs, timeout=60)  # process 1 cannot go on without its peer: it fails or is killed
    assert results[0][0] == -signal.SIGKILL
    assert results[1][0] != 0
    done_at_kill = sorted(p.stem for p in (shared / "cells").glob("*.json"))
    assert 0 < len(done_at_kill) < len(ids), done_at_kill
    statuses = sweep.run_sweep(config, workdir=shared, shard=SHARD, progress=False, log=lambda s: None)
    assert sorted(s.cell.id for s in statuses if s.status == "skipped") == done_at_kill
    assert all(s.status in ("skipped", "done") for s in statuses)
    assert_same_cells(shared, reference, ids)


def test_engine_accepts_the_mesh_jax_make_mesh_builds():
    """jax.make_mesh gives Explicit axes (jax 0.10); the engine's sharding constraints need Auto ones,
    so the spec rebuilds the mesh (before the fix: ValueError 'can only refer to Auto axes')."""
    mesh = jax.make_mesh((jax.device_count(),), ("draws",))
    assert any(t != jax.sharding.AxisType.Auto for t in mesh.axis_types)
    with_mesh, without = importance_cell_result(mesh), importance_cell_result()
    np.testing.assert_array_equal(with_mesh["groups"], without["groups"])
    np.testing.assert_allclose(with_mesh["importances"], without["importances"], rtol=1e-6)
