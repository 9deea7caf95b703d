"""Sweep configs and figure scripts of the study.

Each config lives in ``experiments/configs/<name>.py`` and defines ``get_config() ->
amt_jax.sweep.SweepConfig``; its module docstring gives the command, expected runtime and
expected outcome. Run one with ``python -m amt_jax sweep NAME --workdir DIR``.

The registry is this package; ``amt_jax.sweep.load_config`` imports it from the repository
(the folder next to ``amt_jax/``) by path, so the CLI finds it whatever the working directory.
"""

from __future__ import annotations

import importlib

CONFIGS = ("tiny", "demo", "paper")


def get_config(name: str):
    """The :class:`amt_jax.sweep.SweepConfig` registered as ``name``; ValueError listing the valid names."""
    if name not in CONFIGS:
        raise ValueError(
            f"unknown sweep config {name!r}; valid configs: {', '.join(CONFIGS)} (or a path to a .py file defining get_config())"
        )
    return importlib.import_module(f"{__name__}.configs.{name}").get_config()
