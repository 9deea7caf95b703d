"""Shared test setup: CPU JAX, highest matmul precision, small fixtures, and one ``tiny`` sweep
(every probe on the planted models) run once per session through the CLI, in two concurrent shards."""

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_default_matmul_precision", "highest")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def cli_env(cache_dir: Path) -> dict:
    """Subprocess environment: CPU JAX and a persistent compilation cache shared by the runs."""
    return {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_COMPILATION_CACHE_DIR": str(cache_dir),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "PYTHONPATH": str(REPO)}


def sweep_cmd(workdir: Path, *extra: str, config: str = "tiny") -> list[str]:
    return [sys.executable, "-m", "amt_jax", "sweep", config, "--workdir", str(workdir), "--no-progress", *extra]


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "jax-cache"


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory, jax_cache):
    """``(workdir, [stdout of shard 0, shard 1])``: the ``tiny`` sweep run by two concurrent shards
    into one workdir (tests may add figures and summaries to it, never change its cells)."""
    workdir = tmp_path_factory.mktemp("tiny") / "reference"
    env = cli_env(jax_cache)
    shards = [subprocess.Popen(sweep_cmd(workdir, "--shard", f"{i}/2"), cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=1200) for p in shards]
    for p, (_, err) in zip(shards, outputs):
        assert p.returncode == 0, err[-3000:]
    return workdir, [out for out, _ in outputs]


SESSION_FIXTURES = ("tiny_sweep",)  # expensive session fixtures: their test files share one xdist worker


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``./run.sh test`` runs ``--dist loadgroup``), each test file is one unit
    (its module fixtures computed once), and the files using a :data:`SESSION_FIXTURES` fixture
    form one unit, so that fixture runs once, not once per worker."""
    by_file: dict[str, list] = {}
    for item in items:
        by_file.setdefault(item.nodeid.split("::")[0], []).append(item)
    for path, mine in by_file.items():
        shared = any(f in item.fixturenames for item in mine for f in SESSION_FIXTURES)
        for item in mine:
            item.add_marker(pytest.mark.xdist_group("session-fixtures" if shared else path))
