"""The thin CLI: every command is registered and documents itself; the bench dispatcher's errors."""

import pytest

from amt_jax import __main__ as cli
from amt_jax.bench import __main__ as bench


@pytest.mark.parametrize("command", cli.COMMANDS)
def test_every_command_is_registered_and_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m amt_jax {command}")


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_bench_rejects_an_unknown_benchmark_in_one_line(capsys):
    assert bench.main(["nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'nope'" in err and "cqt, model, importance" in err
    assert bench.main(["--help"]) == 0


def test_a_missing_package_is_a_one_line_error(monkeypatch, capsys):
    from amt_jax.commands import figures

    def run(args):
        raise ImportError("gs:// paths need gcsfs: pip install gcsfs")

    monkeypatch.setattr(figures, "run", run)
    assert cli.main(["figures", "--workdir", "gs://bucket/run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gcsfs" in err and err.startswith("amt_jax figures: error:")


def test_commands_run_at_highest_matmul_precision_unless_the_user_chose(monkeypatch):
    import jax

    monkeypatch.delenv("JAX_DEFAULT_MATMUL_PRECISION", raising=False)
    before = jax.config.jax_default_matmul_precision
    try:
        jax.config.update("jax_default_matmul_precision", None)
        cli.set_matmul_precision()
        assert jax.config.jax_default_matmul_precision == "highest"
        jax.config.update("jax_default_matmul_precision", "bfloat16")
        monkeypatch.setenv("JAX_DEFAULT_MATMUL_PRECISION", "bfloat16")
        cli.set_matmul_precision()
        assert jax.config.jax_default_matmul_precision == "bfloat16"
    finally:
        jax.config.update("jax_default_matmul_precision", before)


def test_pip_install_gives_an_amt_jax_command_equal_to_python_m(tmp_path):
    """``pip install -e .`` (into a prefix, build-isolated: pip fetches setuptools from PyPI) writes an
    ``amt-jax`` script; run through the editable install it behaves as ``python -m amt_jax``.
    ``--ignore-installed``: without it pip first uninstalls the venv's own editable install (./run.sh
    setup's), and the README test that runs after it skips."""
    import os
    import subprocess
    import sys
    import sysconfig
    from pathlib import Path

    import shutil

    repo = Path(__file__).resolve().parents[1]
    egg_info = repo / "amt_jax.egg-info"  # setuptools writes it into the source tree (git-ignored)
    had_egg_info = egg_info.exists()
    prefix = tmp_path / "prefix"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", "--prefix", str(prefix), "-e", str(repo)],
                             capture_output=True, text=True, timeout=600, cwd=tmp_path)
    if not had_egg_info:
        shutil.rmtree(egg_info, ignore_errors=True)
    assert install.returncode == 0, install.stderr[-3000:]
    script = prefix / "bin" / "amt-jax"
    assert script.is_file()
    site_packages = sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)})
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # process the editable install's .pth (as site-packages would), then run the generated script itself
    runner = f"import runpy, site, sys; site.addsitedir({site_packages!r}); sys.argv[0] = {str(script)!r}; " \
             f"runpy.run_path({str(script)!r}, run_name='__main__')"

    def run(*argv, installed):
        cmd = [sys.executable, "-c", runner, *argv] if installed else [sys.executable, "-m", "amt_jax", *argv]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path if installed else repo, env=env)

    def same(text):  # the program name differs, and with it argparse's line wrapping
        return " ".join(text.replace("amt-jax", "python -m amt_jax").split())

    for argv in (["--help"], ["sweep", "--help"], ["sweep", "no-such-config", "--workdir", str(tmp_path / "w")]):
        ours, module = run(*argv, installed=True), run(*argv, installed=False)
        assert ours.returncode == module.returncode, (argv, ours.stderr)
        assert same(ours.stdout) == same(module.stdout) and same(ours.stderr) == same(module.stderr), argv
    assert "usage: amt-jax" in run("--help", installed=True).stdout
