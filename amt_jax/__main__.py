"""Command-line entry point: ``python -m amt_jax <command> [--help]`` (or ``amt-jax <command>``
once installed with ``pip install -e .``).

The CLI is thin: each command lives in ``amt_jax/commands/<name>.py`` and defines
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``; commands that load a
config also take ``--config.FIELD=VALUE`` overrides (:mod:`amt_jax.configs`). Library errors
(``ValueError``, missing files, a missing optional package such as gcsfs for ``gs://``) become
one line on stderr and exit status 2. SIGINT (Ctrl-C) or SIGTERM stops a long command (a module
with ``SAFE_POINTS = True``: demo, data, train, grid, sweep, probe-keys) at its next safe point
(:mod:`amt_jax.interrupt`) with one line and exit status 130 or 143; rerunning it resumes. Other
commands stop where they are, as Python does.

Unless ``JAX_DEFAULT_MATMUL_PRECISION`` is set, commands run at ``"highest"`` matmul precision
(float32-exact; the CPU's default anyway, so accelerators give results comparable to CPU);
results record the precision in effect.

Compiled programs are kept in JAX's persistent compilation cache, so a rerun (or another command
on the same model and shapes) reads them instead of compiling again: in ``$AMT_JAX_COMPILATION_CACHE``
if set (``off`` or ``0``: no cache), else ``$XDG_CACHE_HOME/amt_jax/jax`` (``~/.cache/amt_jax/jax``).
``JAX_COMPILATION_CACHE_DIR``, when set, wins (JAX reads it itself). The cache holds compiled code
only; results do not depend on it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import sys

from amt_jax import interrupt

# Order is the order shown by --help; modules that do not exist yet are skipped.
COMMANDS = ("demo", "transcribe", "data", "evaluate", "train", "grid", "sweep", "figures", "plan", "probe-keys")


def _load(name: str):
    modname = f"amt_jax.commands.{name.replace('-', '_')}"  # probe-keys -> probe_keys
    if importlib.util.find_spec(modname) is None:
        return None
    return importlib.import_module(modname)


def program_name() -> str:
    """``amt-jax`` when run as the installed command (``pip install -e .``), else ``python -m amt_jax``."""
    return "amt-jax" if os.path.basename(sys.argv[0]) == "amt-jax" else "python -m amt_jax"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name(),
        description="Permutation importance of spectral features for automatic music transcription.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        mod = _load(name)
        if mod is None:
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _safe_points=getattr(mod, "SAFE_POINTS", False))
    return parser


def set_matmul_precision() -> None:
    """``jax_default_matmul_precision = "highest"`` unless the user set JAX_DEFAULT_MATMUL_PRECISION."""
    if "JAX_DEFAULT_MATMUL_PRECISION" not in os.environ:
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")


CACHE_VARIABLE = "AMT_JAX_COMPILATION_CACHE"
CACHE_OFF = ("0", "off", "false", "no")


def compilation_cache_dir() -> str | None:
    """Where the CLI keeps compiled programs (see the module docstring); None when switched off or
    when ``JAX_COMPILATION_CACHE_DIR`` is set (JAX then uses that)."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    chosen = os.environ.get(CACHE_VARIABLE)
    if chosen is not None:
        return None if chosen.strip().lower() in CACHE_OFF else os.path.expanduser(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "amt_jax", "jax")


def set_compilation_cache() -> None:
    """Turn on JAX's persistent compilation cache in :func:`compilation_cache_dir` (if any)."""
    path = compilation_cache_dir()
    if path is not None:
        import jax

        jax.config.update("jax_compilation_cache_dir", path)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The parsed command line, with a config-loading command's ``--config.FIELD=VALUE`` overrides
    in ``args.config_overrides`` (:mod:`amt_jax.commands.config_args`); ValueError for an override
    without a value or given to a command that loads no config."""
    from amt_jax import configs
    from amt_jax.commands import config_args

    words, overrides = configs.split_overrides(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(words)
    if overrides and not config_args.takes_overrides(args):
        command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
        raise ValueError(f"{command} loads no config, so it takes no --config.FIELD overrides, got {', '.join(overrides)}")
    if overrides:
        setattr(args, config_args.DEST, overrides)
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse(argv)
    except ValueError as exc:
        print(f"amt_jax: error: {exc}", file=sys.stderr)
        return 2
    set_matmul_precision()
    set_compilation_cache()
    # SIGINT/SIGTERM stop a long command at its next safe point; the others stop where they are
    with interrupt.deferred() if args._safe_points else contextlib.nullcontext():
        try:
            status = int(args._run(args) or 0)
            interrupt.check()  # a signal after the last safe point: still reported as an interrupt
            return status
        except (ValueError, FileNotFoundError, IsADirectoryError, PermissionError, ImportError) as exc:
            print(f"amt_jax {args.command}: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as exc:  # Interrupted at a safe point (or a KeyboardInterrupt from elsewhere)
            interrupt.settle()
            name, status = (exc.name, exc.exit_status) if isinstance(exc, interrupt.Interrupted) else ("SIGINT", 130)
            print(f"amt_jax {args.command}: interrupted ({name}); finished results are kept and nothing partial was "
                  "written: run the same command again to resume", file=sys.stderr)
            return status


if __name__ == "__main__":
    sys.exit(main())
