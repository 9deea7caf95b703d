"""Training configs: :class:`TrainConfig` (everything that defines a run) and :func:`get_config`.

The named ones are files ``experiments/configs/train/<name>.py`` (:mod:`amt_jax.configs`):
``tiny`` fits in minutes on 2 CPU cores; ``default`` is Basic Pitch's recipe.
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

    @property
    def window_frames(self) -> int:
        """Frames T of one window: ``window_samples // hop + 1``."""
        return self.window_samples // HOP_LENGTH + 1

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists); inverse of :meth:`from_dict`."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        def tuples(v):  # JSON lists back to (nested) tuples
            return tuple(map(tuples, v)) if isinstance(v, list) else v

        model = BasicPitchConfig.from_dict(d["model"])
        return cls(model=model, **{k: tuples(v) for k, v in d.items() if k != "model"})


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


def results_identity(config: dict) -> dict:
    """A grid's or a run's config dict (``GridConfig.to_dict`` / ``TrainConfig.to_dict``) without the
    model's speed-only fields (:data:`SPEED_ONLY_MODEL_FIELDS`; results equal up to float rounding,
    tests/test_basic_pitch.py): what decides whether a checkpoint resumes
    and whether a grid's finished run still counts."""
    def strip(train: dict) -> dict:
        model = {k: v for k, v in train.get("model", {}).items() if k not in SPEED_ONLY_MODEL_FIELDS}
        return {**train, "model": model}

    if not isinstance(config, dict):
        return config
    return {**config, "base": strip(config["base"])} if "base" in config else strip(config)
