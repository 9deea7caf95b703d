"""One folder per kind of config (``sweep/``, ``train/``, ``grid/``), one module per config, each
defining ``get_config()`` (see ``experiments/__init__.py``); loaded by path by :mod:`amt_jax.configs`."""
