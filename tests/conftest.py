"""Shared test setup: CPU JAX, highest matmul precision, small fixtures, and one ``tiny`` sweep
(every probe on the planted models) run once per session through the CLI, in two concurrent shards."""

import contextlib
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Commands called in-process (``main([...])``) keep no compilation cache in the user's home; CLI
# subprocesses get the run's own cache (cli_env below).
os.environ.setdefault("AMT_JAX_COMPILATION_CACHE", "off")
# The suite's XLA CPU compiler flags, for this process and the CLI subprocesses it starts (they inherit
# the environment). XLA's classic loop emitters instead of its MLIR fusion emitters (XLA's default):
# compilation is about half of the suite's CPU time, and this flag cuts the whole suite's CPU time on
# 2 cores by 12-28 % (two side-by-side runs: 1166 -> 1025 and 1274 -> 921 CPU-seconds). The CLI, the demo
# and the benchmarks keep XLA's defaults outside the suite; tests/test_pretrained.py checks Basic Pitch's outputs and
# gradients under both. AMT_JAX_TEST_XLA_FLAGS= (empty) runs the suite with XLA's defaults: do that
# first after upgrading jaxlib (XLA aborts at start on a flag it no longer knows).
SUITE_XLA_FLAGS = os.environ.get("AMT_JAX_TEST_XLA_FLAGS", "--xla_cpu_use_fusion_emitters=false").strip()
# the user's own XLA_FLAGS, kept once (pytest-xdist workers inherit the controller's environment)
USER_XLA_FLAGS = os.environ.setdefault("AMT_JAX_USER_XLA_FLAGS", os.environ.get("XLA_FLAGS", "")).strip()
os.environ["XLA_FLAGS"] = f"{USER_XLA_FLAGS} {SUITE_XLA_FLAGS}".strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_default_matmul_precision", "highest")

REPO = Path(__file__).resolve().parents[1]

# The fast tier for the edit loop (``./run.sh test -m "not slow"``) leaves out these files: their
# fixtures train, sweep, compile Basic Pitch or run subprocesses (per-file totals measured with
# ``pytest --durations=0``: each over ~20 s of a worker's time). The full suite runs them all.
SLOW_FILES = frozenset({
    "test_attribution.py", "test_baselines.py", "test_basic_pitch.py", "test_bench.py", "test_cka.py", "test_cli.py", "test_evaluate.py",
    "test_layout.py", "test_pretrained.py", "test_registry.py",
    "test_cross_method.py", "test_demo.py", "test_grid.py", "test_html.py", "test_lrp.py", "test_pesto_lrp.py", "test_multihost.py",
    "test_interrupt.py", "test_noise.py", "test_planner.py", "test_readme.py", "test_planted_family.py", "test_randomize.py", "test_reliance.py",
    "test_report.py", "test_sonify.py", "test_stack.py", "test_sweep.py", "test_train.py",
})


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: left out of the fast tier (-m 'not slow'); see tests/conftest.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def cli_env(cache_dir: Path) -> dict:
    """Subprocess environment: CPU JAX and a persistent compilation cache shared by the runs."""
    return {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_COMPILATION_CACHE_DIR": str(cache_dir),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "PYTHONPATH": str(REPO)}


def sweep_cmd(workdir: Path, *extra: str, config: str = "tiny") -> list[str]:
    return [sys.executable, "-m", "amt_jax", "sweep", config, "--workdir", str(workdir), "--no-progress", *extra]


def _run_root(tmp_path_factory) -> tuple[Path, str]:
    """``(directory, run id)`` shared by every pytest-xdist worker of this run (their common base
    directory, above each worker's own), or this process's base directory when serial."""
    root, run = tmp_path_factory.getbasetemp(), "serial"
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root, run = root.parent, os.environ.get("PYTEST_XDIST_TESTRUNUID", "xdist")
    return root, run


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory) -> Path:
    """The CLI subprocesses' persistent compilation cache, one per test run, shared by the workers
    (a sweep interrupted in one worker reads what the ``tiny`` sweep compiled in another)."""
    root, run = _run_root(tmp_path_factory)
    return root / f"jax-cache-{run}"


@contextlib.contextmanager
def _exclusive(path: Path):
    """An exclusive lock on ``path`` (POSIX ``flock``), held while the block runs."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory, jax_cache):
    """``(workdir, [stdout of shard 0, shard 1])``: the ``tiny`` sweep run by two concurrent shards
    into one workdir (tests may add figures and summaries to it, never change its cells).

    Run once per test run: under pytest-xdist the workers share it through their common base
    directory (the first computes it under a lock, the others wait and read it)."""
    root, run = _run_root(tmp_path_factory)
    record = root / f"tiny-sweep-{run}.json"
    with _exclusive(root / f"tiny-sweep-{run}.lock"):
        if record.exists():  # computed (or failed) by another worker of this run
            saved = json.loads(record.read_text())
            if "error" in saved:
                pytest.fail(f"the tiny sweep failed in another worker: {saved['error']}")
            return Path(saved["workdir"]), saved["stdout"]
        workdir = root / f"tiny-sweep-{run}" / "reference"
        env = cli_env(jax_cache)
        shards = [subprocess.Popen(sweep_cmd(workdir, "--shard", f"{i}/2"), cwd=REPO, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for i in range(2)]
        try:
            outputs = [p.communicate(timeout=1200) for p in shards]
            errors = [err[-3000:] for p, (_, err) in zip(shards, outputs) if p.returncode != 0]
        except BaseException as exc:  # a timeout or an interrupt: no shard left running, the others told
            for p in shards:
                p.kill()
            record.write_text(json.dumps({"error": repr(exc)}))
            raise
        if errors:
            record.write_text(json.dumps({"error": errors[0]}))
            pytest.fail(f"the tiny sweep failed: {errors[0]}")
        stdout = [out for out, _ in outputs]
        record.write_text(json.dumps({"workdir": str(workdir), "stdout": stdout}))
        return workdir, stdout
