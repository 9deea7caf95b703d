"""Training configs: :class:`TrainConfig` (everything that defines a run) and :func:`get_config`.

The named ones are files ``experiments/configs/train/<name>.py`` (:mod:`amt_jax.configs`):
``tiny`` fits in minutes on 2 CPU cores; ``default`` is Basic Pitch's recipe.

Fields added after runs were recorded (:data:`LATER_FIELDS`, e.g. ``plateau``) are left out of
``to_dict`` at their default, so every config that does not use them keeps the dict, and with it
the identity (:func:`results_identity`), of its existing checkpoints and grid records.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence

import numpy as np

from amt_jax import configs, validate
from amt_jax.constants import HOP_LENGTH, WINDOW_SAMPLES
from amt_jax.models.basic_pitch import BasicPitchConfig

HEADS = ("contour", "note", "onset")
THRESHOLDS = tuple(np.round(np.arange(0.02, 0.99, 0.02), 2).tolist())  # frame thresholds tried on validation


@dataclasses.dataclass(frozen=True)
class PlateauStop:
    """Stop training once validation frame F1 has plateaued (:mod:`amt_jax.training.convergence`).

    Every ``every`` steps the state is scored on the validation pieces handed to ``train``
    (mean frame F1 at the threshold, of :data:`THRESHOLDS`, that maximises it). Training stops at the
    first evaluation n > ``patience`` where none of the last ``patience`` evaluations improved on
    the best before them by more than ``min_delta``; else it runs to ``TrainConfig.steps`` (the
    budget). The run records the curve and why it stopped.

    Attributes:
        every: steps between validation evaluations.
        patience: k, evaluations without an improvement > ``min_delta`` before stopping.
        min_delta: δ, the smallest F1 gain that counts as an improvement.
    """

    every: int
    patience: int
    min_delta: float = 0.0

    def __post_init__(self):
        validate.positive_int("plateau.every", self.every)
        validate.positive_int("plateau.patience", self.patience)
        if isinstance(self.min_delta, bool) or not isinstance(self.min_delta, (int, float)) or not 0 <= self.min_delta < math.inf:
            raise ValueError(f"plateau.min_delta must be a finite number >= 0, got {self.min_delta!r}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (hashable: the jitted step is cached on it).

    Attributes:
        model: architecture; ``model.bins_per_semitone`` also sets the CQT (12·B bins/octave).
        window_samples: audio samples per training and evaluation window (43,844 → 172 frames).
        batch_size: windows per step.
        steps: total optimiser steps (the schedule spans them).
        learning_rate: Adam's peak learning rate.
        warmup_steps: linear warmup from 0, then cosine decay to ``learning_rate · final_lr_fraction``.
        final_lr_fraction: learning rate at the last step, as a fraction of the peak.
        grad_clip_norm: global gradient norm clip.
        label_smoothing: targets squeezed towards 0.5 (Keras' convention, Basic Pitch uses 0.2).
        positive_weights: per head, ordered as :data:`HEADS` (contour, note, onset): the weight w of
            the positive-label mean in a class-weighted BCE (the negative mean gets 1 − w), or None
            for the plain mean BCE, whose outputs keep the label prior (so the decoding thresholds
            0.3 / 0.5 of ``amt_jax.notes`` stay meaningful).
        loss_weights: weight of each head's loss in the total, ordered as :data:`HEADS`.
        log_every: steps per line of ``metrics.jsonl`` (metrics averaged over those steps).
        checkpoint_every: steps between checkpoints (the last step is always saved).
        max_checkpoints: checkpoints kept (oldest deleted first).
        eval_batch_size: windows per forward pass in held-out evaluation.
        seed: root of every random draw (:func:`root_key`; initialisation: fold_in(key, 0); the batch
            of step i: fold_in(fold_in(key, 1), i)).
        dataset: tfds dataset the command-line trains on (``amt_jax.data`` name).
        plateau: stop early once validation F1 plateaus (:class:`PlateauStop`; ``steps`` is then
            the budget and the schedule still spans it), or None (default): train ``steps`` steps.
    """

    model: BasicPitchConfig = BasicPitchConfig()
    window_samples: int = WINDOW_SAMPLES
    batch_size: int = 16
    steps: int = 50_000
    learning_rate: float = 1e-3
    warmup_steps: int = 500
    final_lr_fraction: float = 0.01
    grad_clip_norm: float = 1.0
    label_smoothing: float = 0.2
    positive_weights: tuple[float | None, float | None, float | None] = (None, None, 0.95)
    loss_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    log_every: int = 100
    checkpoint_every: int = 1000
    max_checkpoints: int = 3
    eval_batch_size: int = 8
    seed: int = 0
    dataset: str = "chorales"
    plateau: PlateauStop | None = None

    def __post_init__(self):
        for name in ("window_samples", "batch_size", "steps", "log_every", "checkpoint_every",
                     "max_checkpoints", "eval_batch_size"):
            validate.positive_int(name, getattr(self, name))
        if self.window_samples < HOP_LENGTH:
            raise ValueError(f"window_samples must be >= the hop ({HOP_LENGTH}), got {self.window_samples}")
        validate.positive("learning_rate", self.learning_rate)
        validate.positive("grad_clip_norm", self.grad_clip_norm)
        warmup = self.warmup_steps
        if isinstance(warmup, bool) or not isinstance(warmup, int) or not 0 <= warmup < self.steps:
            raise ValueError(f"warmup_steps must be an integer in [0, steps={self.steps}), got {self.warmup_steps!r}")
        if not 0 <= self.final_lr_fraction <= 1:
            raise ValueError(f"final_lr_fraction must be in [0, 1], got {self.final_lr_fraction!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if len(self.positive_weights) != len(HEADS) or not all(w is None or 0 <= w <= 1 for w in self.positive_weights):
            raise ValueError(f"positive_weights must be {len(HEADS)} weights in [0, 1] or None ({', '.join(HEADS)}), "
                             f"got {self.positive_weights!r}")
        if len(self.loss_weights) != len(HEADS) or not all(0 <= w < math.inf for w in self.loss_weights):
            raise ValueError(f"loss_weights must be {len(HEADS)} finite weights >= 0 ({', '.join(HEADS)}), "
                             f"got {self.loss_weights!r}")
        if self.plateau is not None and not isinstance(self.plateau, PlateauStop):
            raise ValueError(f"plateau must be a PlateauStop or None, got {self.plateau!r}")

    @property
    def window_frames(self) -> int:
        """Frames T of one window: ``window_samples // hop + 1``."""
        return self.window_samples // HOP_LENGTH + 1

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists; :data:`LATER_FIELDS` at their default left out);
        inverse of :meth:`from_dict`."""
        return _without_later_fields(json.loads(json.dumps(dataclasses.asdict(self))))

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        def tuples(v):  # JSON lists back to (nested) tuples
            return tuple(map(tuples, v)) if isinstance(v, list) else v

        model = BasicPitchConfig.from_dict(d["model"])
        plateau = None if d.get("plateau") is None else PlateauStop(**d["plateau"])
        return cls(model=model, plateau=plateau, **{k: tuples(v) for k, v in d.items() if k not in ("model", "plateau")})


def get_config(name: str, *, bins_per_semitone: int | None = None, steps: int | None = None,
               overrides: Sequence[str] = ()) -> TrainConfig:
    """A train config (``tiny``, ``default``: ``experiments/configs/train/``, or a ``.py`` file
    defining ``get_config()``; :func:`amt_jax.configs.load`) with ``overrides`` (``FIELD=VALUE``,
    e.g. ``model.bins_per_semitone=5``) applied, then optionally another B or step count (the
    warmup shortened to fit the steps)."""
    config = configs.load("train", name, overrides, expected=TrainConfig)
    if bins_per_semitone is not None:
        model = dataclasses.replace(config.model, bins_per_semitone=bins_per_semitone)
        config = dataclasses.replace(config, model=model)
    if steps is not None:
        validate.positive_int("steps", steps)
        config = dataclasses.replace(config, steps=steps, warmup_steps=min(config.warmup_steps, steps - 1))
    return config


SPEED_ONLY_MODEL_FIELDS = ("conv_blocks",)  # BasicPitchConfig fields that change how, not what, it computes
# fields added after runs were recorded, with the default at which they are left out of a config's dict
# (TrainConfig's and GridConfig's): a config not using them keeps its dict and identity
LATER_FIELDS = {"plateau": None, "target_parameters": None}


def _without_later_fields(d: dict) -> dict:
    return {k: v for k, v in d.items() if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}


def results_identity(config: dict) -> dict:
    """A grid's or a run's config dict (``GridConfig.to_dict`` / ``TrainConfig.to_dict``) without the
    model's speed-only fields (:data:`SPEED_ONLY_MODEL_FIELDS`; results equal up to float rounding,
    tests/test_basic_pitch.py) and without :data:`LATER_FIELDS` at their default: what decides whether a checkpoint resumes
    and whether a grid's finished run still counts."""
    def strip(train: dict) -> dict:
        model = {k: v for k, v in train.get("model", {}).items() if k not in SPEED_ONLY_MODEL_FIELDS}
        return {**_without_later_fields(train), "model": model}

    if not isinstance(config, dict):
        return config
    return {**_without_later_fields(config), "base": strip(config["base"])} if "base" in config else strip(config)
