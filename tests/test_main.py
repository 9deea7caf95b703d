"""The CLI's entry point: where compiled programs are cached."""

from amt_jax import __main__ as cli


def test_compilation_cache_directory_follows_the_environment(monkeypatch, tmp_path):
    for name in ("JAX_COMPILATION_CACHE_DIR", "AMT_JAX_COMPILATION_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cli.compilation_cache_dir() == str(tmp_path / ".cache" / "amt_jax" / "jax")  # on by default
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cli.compilation_cache_dir() == str(tmp_path / "xdg" / "amt_jax" / "jax")
    monkeypatch.setenv("AMT_JAX_COMPILATION_CACHE", str(tmp_path / "mine"))
    assert cli.compilation_cache_dir() == str(tmp_path / "mine")
    for off in ("off", "0", "OFF"):
        monkeypatch.setenv("AMT_JAX_COMPILATION_CACHE", off)
        assert cli.compilation_cache_dir() is None  # the off switch
    monkeypatch.setenv("AMT_JAX_COMPILATION_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))
    assert cli.compilation_cache_dir() is None  # JAX's own variable wins: JAX reads it


_CTRL_C_SCRIPT = """
import importlib, os, signal, sys
from amt_jax import __main__ as cli
signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell's background job inherits SIGINT ignored
for name, argv, safe in (("figures", ["--workdir", "unused"], False), ("sweep", ["tiny", "--workdir", "unused"], True)):
    module = importlib.import_module(f"amt_jax.commands.{name}")
    ran = []
    def run(args, ran=ran):
        os.kill(os.getpid(), signal.SIGINT)
        ran.append("after the signal")
        return 0
    module.run = run
    print(name, cli.main([name, *argv]), ran, flush=True)
"""


def test_ctrl_c_stops_every_command_long_ones_at_a_safe_point():
    """A command without safe points (figures) stops where it is; a long one (sweep) finishes its unit
    of work and stops at the next check. Both exit 130 with one line; neither swallows the signal.
    In a fresh interpreter with Python's own SIGINT handler set: a suite started as a background job
    (``./run.sh test &``) inherits SIGINT ignored, and Python then installs no handler of its own."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _CTRL_C_SCRIPT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["figures 130 []", "sweep 130 ['after the signal']"], done.stdout
    for name in ("figures", "sweep"):
        assert f"amt_jax {name}: interrupted (SIGINT)" in done.stderr


def test_bench_cache_compares_every_array_and_nan_position(tmp_path):
    import numpy as np

    from amt_jax.bench import cache

    for name in ("a", "b"):
        (tmp_path / name / "cells").mkdir(parents=True)
    np.savez(tmp_path / "a" / "cells" / "c.npz", x=np.array([1.0, np.nan]), k=np.array([1, 2]))
    np.savez(tmp_path / "b" / "cells" / "c.npz", x=np.array([1.0 + 1e-9, np.nan]), k=np.array([1, 2]))
    assert 0 < cache._max_difference(tmp_path / "a", tmp_path / "b") < 1e-8
    np.savez(tmp_path / "b" / "cells" / "c.npz", x=np.array([1.0, 2.0]), k=np.array([1, 2]))  # NaN on one side
    assert cache._max_difference(tmp_path / "a", tmp_path / "b") == float("inf")
    np.savez(tmp_path / "b" / "cells" / "c.npz", x=np.array([1.0, np.nan]), k=np.array([1, 3]))
    assert cache._max_difference(tmp_path / "a", tmp_path / "b") == float("inf")
    np.savez(tmp_path / "b" / "cells" / "d.npz", x=np.array([1.0]))  # a cell only one run has
    assert cache._max_difference(tmp_path / "a", tmp_path / "b") == float("inf")
