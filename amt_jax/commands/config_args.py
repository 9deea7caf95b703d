"""The ``--config.FIELD=VALUE`` overrides of the commands that load a config (``sweep``, ``train``,
``grid run``): :func:`add_override_argument` documents them in a command's ``--help`` and gives
its arguments a ``config_overrides`` tuple; ``amt_jax.__main__`` takes the words out of the
command line (:func:`amt_jax.configs.split_overrides`) before argparse sees them, since argparse
cannot match an option by prefix. Not a command itself."""

from __future__ import annotations

import argparse

DEST = "config_overrides"


def add_override_argument(parser: argparse.ArgumentParser) -> None:
    """``--config.FIELD VALUE`` in ``parser``'s help; the parsed arguments get ``config_overrides``
    (the ``FIELD=VALUE`` strings in order, empty by default)."""
    parser.add_argument(
        "--config.FIELD", dest=DEST, metavar="VALUE", default=(),
        help="set a field of the config, repeatable: --config.FIELD=VALUE or --config.FIELD VALUE, a.b for a "
             "field of a nested config (e.g. --config.n_permutations=48, --config.harmonics='[2, 4]', "
             "--config.model.bins_per_semitone=5); VALUE is a Python literal or else a plain string",
    )


def takes_overrides(args: argparse.Namespace) -> bool:
    """Whether the parsed command loads a config (so accepts ``--config.FIELD`` overrides)."""
    return hasattr(args, DEST)
