"""Trained variants as training sees them: a state's model (:func:`model_of`) and the latest
checkpoint of a workdir with its :class:`~amt_jax.training.TrainConfig` (:func:`load_trained`;
the checkpoint is read by :mod:`amt_jax.models.trained`, which ``registry.load("trained:DIR")`` uses)."""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, NamedTuple

import jax

from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.frontend.variants import frontend, layout
from amt_jax.models.bp_model import apply_fn
from amt_jax.models.model import Model
from amt_jax.models.trained import Checkpoint, model_from, read_checkpoint
from amt_jax.training.config import TrainConfig
from amt_jax.training.loop import abstract_state
from amt_jax.training.step import TrainState


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
        apply=apply_fn(config.model),
        params={"params": state.params, "batch_stats": state.batch_stats},
        config=config,
        step=int(state.step),
    )


def load_trained(workdir: str | os.PathLike) -> Trained:
    """The model of the latest checkpoint in ``workdir`` (written by :func:`amt_jax.training.train`)."""
    checkpoint = read_checkpoint(workdir, target=lambda config: abstract_state(TrainConfig.from_dict(config)))
    config = TrainConfig.from_dict(checkpoint.config)
    return Trained(functools.partial(frontend, bins_per_semitone=config.model.bins_per_semitone),
                   apply_fn(config.model), checkpoint.variables, config, checkpoint.step)


def as_model(trained: Trained, spec: str, **identity) -> Model:
    """``trained`` as a :class:`~amt_jax.models.Model`, as ``registry.load("trained:DIR")`` gives a
    checkpoint (``identity``: recorded beside ``kind="trained"`` and the params' digest)."""
    checkpoint = Checkpoint(trained.config.to_dict(), trained.params, trained.step or 0)
    return model_from(spec, checkpoint, identity=identity, source=trained)
