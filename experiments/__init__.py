"""Sweep configs and figure scripts of the study.

Each config lives in ``experiments/configs/<name>.py`` and defines ``get_config() ->
amt_jax.sweep.SweepConfig``; its module docstring gives the command, expected runtime and
expected outcome. Run one with ``python -m amt_jax sweep NAME --workdir DIR``.

``amt_jax.sweep.load_config`` finds these files by path (no import of this package), so the CLI
finds them from any working directory.
"""
