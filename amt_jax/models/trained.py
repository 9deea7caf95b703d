"""Trained variants (``trained:DIR``): Basic Pitch architectures trained by :mod:`amt_jax.training`,
read from the latest checkpoint of their work directory.

A workdir holds ``checkpoints/`` (orbax: the training state and the run's config as JSON) and, once
``python -m amt_jax train`` scored it, ``eval.json`` with the frame threshold its validation pieces
chose (the model's default threshold). Reading needs neither the optimiser nor the training code.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import orbax.checkpoint as ocp

from amt_jax.frontend.variants import frontend, layout
from amt_jax.io import params_digest
from amt_jax.models.basic_pitch import BasicPitchConfig
from amt_jax.models.bp_model import network_model
from amt_jax.models.model import DEFAULT_FRAME_THRESHOLD, Inverse, Model

CHECKPOINT_DIR = "checkpoints"
EVAL_FILE = "eval.json"  # written by ``python -m amt_jax train``: held-out scores and the chosen threshold


def _not_read_only_notice(record: logging.LogRecord) -> bool:
    """orbax warns "Given directory is read only" whenever a manager is opened read-only, as reading does on purpose."""
    return not str(record.msg).startswith("Given directory is read only")


logging.getLogger("absl").addFilter(_not_read_only_notice)  # orbax logs through absl's Python logger


class Checkpoint(NamedTuple):
    """The latest checkpoint of a workdir: the run's ``config`` (JSON dict), Flax ``variables``
    (``params``, ``batch_stats``) and the training ``step``."""

    config: dict
    variables: dict
    step: int

    @property
    def architecture(self) -> BasicPitchConfig:
        """The ``BasicPitchConfig`` the variables belong to (the config's ``model``)."""
        return BasicPitchConfig.from_dict(self.config["model"])


def read_checkpoint(workdir: str | os.PathLike, *, target: Callable[[dict], Any] | None = None) -> Checkpoint:
    """The latest checkpoint in ``workdir``. ``target(config) -> abstract state`` to restore into
    (the trainer's own state type); None: the arrays as saved, read without the optimiser."""
    directory = os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"no checkpoints in {workdir} (expected {directory}); train with: "
                                f"python -m amt_jax train --config tiny --workdir {workdir}")
    options = ocp.CheckpointManagerOptions(read_only=True, save_interval_steps=0, create=False)
    manager = ocp.CheckpointManager(directory, options=options, item_names=("state", "config"))
    try:
        step = manager.latest_step()
        if step is None:
            raise FileNotFoundError(f"no finished checkpoint in {directory}")
        config = manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]
        state = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(None if target is None else target(config))))["state"]
    finally:
        manager.close()
    get = (lambda name: state[name]) if isinstance(state, dict) else (lambda name: getattr(state, name))
    variables = {"params": get("params"), "batch_stats": get("batch_stats")}
    return Checkpoint(config, variables, int(np.asarray(get("step"))))


def recorded_threshold(workdir: str | os.PathLike) -> float | None:
    """The frame threshold the validation pieces chose for the model in ``workdir`` (recorded in its
    ``eval.json`` by ``python -m amt_jax train``), or None when there is no such file."""
    path = Path(workdir) / EVAL_FILE
    if not path.is_file():
        return None
    return float(json.loads(path.read_text())["scores"]["model"]["threshold"])


def _invert_librosa(bins_per_semitone: int) -> Inverse:
    def fn(audio, *, x_perm=None, idx=None, n_iter: int = 16, **_):
        from amt_jax.frontend import inverse
        from amt_jax.frontend.variants import cqt_kwargs

        return inverse.invert_cqt_librosa(audio, idx, n_iter=n_iter, **cqt_kwargs(bins_per_semitone))

    return Inverse("librosa", fn, needs_permutation=True)


def model_from(spec: str, checkpoint: Checkpoint, *, identity: dict, frame_threshold: float = DEFAULT_FRAME_THRESHOLD,
               source: Any = None) -> Model:
    """The :class:`Model` of a checkpoint's architecture and variables (``identity`` gets
    ``kind="trained"`` and the variables' digest)."""
    b = checkpoint.architecture.bins_per_semitone
    identity = {"kind": "trained", **identity, "params_sha256": params_digest(checkpoint.variables)}
    return network_model(spec, config=checkpoint.architecture, params=checkpoint.variables,
                         frontend=functools.partial(frontend, bins_per_semitone=b), layout=layout(b), identity=identity,
                         frame_threshold=frame_threshold, invert=_invert_librosa(b), source=source or checkpoint)


def load(match: re.Match, seed: int, load_spec) -> Model:
    """``trained:DIR``: the latest checkpoint of a training workdir, thresholded where its validation chose."""
    directory = match.group(1)
    checkpoint = read_checkpoint(directory)
    identity = {"dir": os.path.abspath(directory), "step": checkpoint.step}
    threshold = recorded_threshold(directory)
    return model_from(match.string, checkpoint, identity=identity,
                      frame_threshold=DEFAULT_FRAME_THRESHOLD if threshold is None else threshold)

