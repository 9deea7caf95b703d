"""Configs and figure scripts of the study.

Every config is a file ``experiments/configs/<kind>/<name>.py`` defining ``get_config()``, which
returns a dataclass: ``sweep/`` (:class:`amt_jax.sweep.SweepConfig`; run one with ``python -m
amt_jax sweep NAME --workdir DIR``), ``train/`` (:class:`amt_jax.training.TrainConfig`; ``python -m
amt_jax train --config NAME ...``) and ``grid/`` (:class:`amt_jax.training.grid.GridConfig`;
``python -m amt_jax grid run NAME ...``). Each file's docstring gives its command, expected
runtime and expected outcome; files starting with ``_`` are helpers, not configs.

:mod:`amt_jax.configs` finds these files by path (no import of this package), so the CLI finds
them from any working directory, and applies ``--config.FIELD=VALUE`` overrides.
"""
