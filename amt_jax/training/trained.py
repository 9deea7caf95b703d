"""Trained variants as models: the latest checkpoint of a workdir, with the interface of
``pretrained.basic_pitch()`` (``frontend``, ``apply``, ``params``, ``layout``)."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import orbax.checkpoint as ocp

from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.models.basic_pitch import BasicPitch
from amt_jax.training.config import TrainConfig
from amt_jax.training.inputs import frontend, layout
from amt_jax.training.loop import CHECKPOINT_DIR, _abstract_state, _restore_config
from amt_jax.training.step import TrainState

EVAL_FILE = "eval.json"  # written by ``python -m amt_jax train``: held-out scores and the chosen threshold


class Trained(NamedTuple):
    """A trained model with the interface of ``pretrained.basic_pitch()``."""

    frontend: Callable[[jax.Array], jax.Array]  # audio [..., n_samples] -> X [..., 103·B, T]
    apply: Callable[[Any, jax.Array], dict[str, jax.Array]]  # (params, X) -> {"note", "onset", "contour"}
    params: Any  # Flax variables {"params": ..., "batch_stats": ...}
    config: TrainConfig
    step: int | None = None  # training step of the state (the checkpoint's, from load_trained)

    @property
    def layout(self) -> FrequencyLayout:
        """Where each key sits on the frontend's axis (key p on bin p·B + B//2)."""
        return layout(self.config.model.bins_per_semitone)


def model_of(config: TrainConfig, state: TrainState) -> Trained:
    """The :class:`Trained` model of a state (inference mode: running batch statistics)."""
    return Trained(
        frontend=functools.partial(frontend, bins_per_semitone=config.model.bins_per_semitone),
        apply=BasicPitch(config.model).apply,
        params={"params": state.params, "batch_stats": state.batch_stats},
        config=config,
        step=int(state.step),
    )


def load_trained(workdir: str | os.PathLike) -> Trained:
    """The model of the latest checkpoint in ``workdir`` (written by :func:`train`)."""
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
        config = _restore_config(manager, step)
        state = manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(_abstract_state(config))))["state"]
    finally:
        manager.close()
    return model_of(config, state)


def recorded_threshold(workdir: str | os.PathLike) -> float | None:
    """The frame threshold the validation pieces chose for the model in ``workdir`` (recorded in its
    ``eval.json`` by ``python -m amt_jax train``), or None when there is no such file."""
    path = Path(workdir) / EVAL_FILE
    if not path.is_file():
        return None
    return float(json.loads(path.read_text())["scores"]["model"]["threshold"])
