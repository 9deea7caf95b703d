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
