"""Training Basic Pitch variants (any bins per semitone B, harmonics, widths) from audio + rolls.

Data flow of one step (all inside one jitted, state-donating function)::

    audio windows [N, S] ─ CQT (B bins/semitone, librosa-compatible) ─ NormalizedLog ─▶ X [N, 103·B, T]
    X ─ BasicPitch(config.model) ─▶ {"note", "onset": [N, 88, T], "contour": [N, 88·B, T]}
    frames, onsets [N, 88, T] ─▶ targets (contour = frames on each semitone's centre bin)
    (class-weighted) BCE per head, Basic Pitch's loss ─ grad ─ clip ─ Adam (warmup + cosine) ─▶ new state

Windows of ``config.window_samples`` samples (43,844 = 172 frames, Basic Pitch's window) start on
the label frame grid (multiples of the hop), drawn uniformly over all train frames with key
``fold_in(fold_in(root_key(seed), 1), step)``, so a resumed run sees the same batches as an
uninterrupted one.

A run lives in a work directory: ``checkpoints/`` (orbax; every ``checkpoint_every`` steps and at
the end, each holding the state and the config) and ``metrics.jsonl`` (one JSON object per
``log_every`` steps). :func:`train` resumes from the latest checkpoint, stops with
:class:`TrainingDiverged` on a non-finite loss or gradient, and :func:`load_trained` turns a work
directory into a model with the interface of ``pretrained.basic_pitch()``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp

from amt_jax import baseline, cqt, features, validate
from amt_jax.io import atomic_write
from amt_jax.constants import (
    BP_N_SEMITONES,
    FMIN_HZ,
    HOP_LENGTH,
    N_PITCHES,
    OVERLAP_FRAMES,
    SAMPLE_RATE,
    SEMITONES_PER_OCTAVE,
    WINDOW_SAMPLES,
)
from amt_jax.models.basic_pitch import BasicPitch, BasicPitchConfig

HEADS = ("contour", "note", "onset")
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
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

        model = BasicPitchConfig(**{k: tuples(v) for k, v in d["model"].items()})
        return cls(model=model, **{k: tuples(v) for k, v in d.items() if k != "model"})


CONFIGS: dict[str, TrainConfig] = {
    # Basic Pitch's architecture at B = 3 and its training recipe: Adam 1e-3, batch 16, label smoothing
    # 0.2, 500 epochs × 100 steps, plain BCE on contour and note, class-weighted BCE on onsets (0.95).
    "default": TrainConfig(),
    # Fits in ~10 min on 2 CPU cores: B = 1 (the contour convolution costs B² less), narrower heads,
    # 250 steps. Class-balanced BCE on every head: it learns sparse rolls in far fewer steps than
    # the plain BCE (test frame F1 0.89 vs 0.71 on 20 chorales), but its posteriors run high, so
    # threshold them near the validation-chosen value in eval.json (≈ 0.7), not at 0.3.
    "tiny": TrainConfig(
        model=BasicPitchConfig(bins_per_semitone=1, n_filters_contour=8, n_filters_notes=16, n_filters_onsets=16),
        batch_size=8, steps=250, learning_rate=3e-3, warmup_steps=20, positive_weights=(0.5, 0.5, 0.95),
        log_every=10, checkpoint_every=100, eval_batch_size=8,
    ),
}


def get_config(name: str, *, bins_per_semitone: int | None = None, steps: int | None = None) -> TrainConfig:
    """Named config (``tiny`` or ``default``), optionally with another B or step count."""
    if name not in CONFIGS:
        raise ValueError(f"unknown config {name!r}; valid configs: {', '.join(CONFIGS)}")
    config = CONFIGS[name]
    if bins_per_semitone is not None:
        model = dataclasses.replace(config.model, bins_per_semitone=bins_per_semitone)
        config = dataclasses.replace(config, model=model)
    if steps is not None:
        validate.positive_int("steps", steps)
        config = dataclasses.replace(config, steps=steps, warmup_steps=min(config.warmup_steps, steps - 1))
    return config


# --------------------------------------------------------------------------- frontend and targets


def cqt_kwargs(bins_per_semitone: int) -> dict:
    """``cqt.cqt`` settings for B bins per semitone: 12·B bins/octave, 103 semitones, fmin
    27.5 Hz lowered by B // 2 bins so pitch p (0 = A0) sits on bin p·B + B // 2."""
    validate.positive_int("bins_per_semitone", bins_per_semitone)
    bins_per_octave = SEMITONES_PER_OCTAVE * bins_per_semitone
    return dict(
        sr=SAMPLE_RATE,
        hop_length=HOP_LENGTH,
        fmin=FMIN_HZ * 2.0 ** (-(bins_per_semitone // 2) / bins_per_octave),
        n_bins=BP_N_SEMITONES * bins_per_semitone,
        bins_per_octave=bins_per_octave,
    )


def frontend(audio, *, bins_per_semitone: int) -> jax.Array:
    """NormalizedLog CQT of audio [..., n_samples] (22,050 Hz) → X [..., 103·B, n_samples // 256 + 1]."""
    return features.normalized_log(cqt.cqt(audio, **cqt_kwargs(bins_per_semitone)))


def make_targets(frames, onsets, *, bins_per_semitone: int) -> dict[str, jax.Array]:
    """Float targets from rolls frames, onsets [..., 88, T]: note, onset [..., 88, T] and contour
    [..., 88·B, T] (each active pitch on its centre bin p·B + B // 2, zeros elsewhere)."""
    frames = jnp.asarray(frames, jnp.float32)
    B = bins_per_semitone
    contour = jnp.zeros((*frames.shape[:-2], frames.shape[-2], B, frames.shape[-1]), jnp.float32)
    contour = contour.at[..., B // 2, :].set(frames)
    return {
        "contour": contour.reshape(*frames.shape[:-2], frames.shape[-2] * B, frames.shape[-1]),
        "note": frames,
        "onset": jnp.asarray(onsets, jnp.float32),
    }


# --------------------------------------------------------------------------- loss, state, step


def weighted_bce(
    y_prob, target, *, positive_weight: float | None, label_smoothing: float, eps: float = 1e-7
) -> jax.Array:
    """Basic Pitch's (class-weighted) binary cross-entropy in nats, a scalar.

    ``w · mean(BCE over positive labels) + (1 − w) · mean(BCE over negative labels)``, or the mean
    over all labels when ``positive_weight`` is None. Labels are smoothed (``t·(1 − s) + s/2``)
    after the split; a class with no labels in the batch adds 0. Probabilities are clipped to
    [eps, 1 − eps] as Keras does.
    """
    p = jnp.clip(y_prob, eps, 1 - eps)
    positive = target > 0
    t = target * (1 - label_smoothing) + 0.5 * label_smoothing
    bce = -(t * jnp.log(p) + (1 - t) * jnp.log1p(-p))
    if positive_weight is None:
        return jnp.mean(bce)

    def masked_mean(mask):
        return jnp.sum(jnp.where(mask, bce, 0.0)) / jnp.maximum(jnp.sum(mask), 1)

    return positive_weight * masked_mean(positive) + (1 - positive_weight) * masked_mean(~positive)


def loss_terms(outputs: dict, targets: dict, *, config: TrainConfig) -> dict[str, jax.Array]:
    """Per-head losses ``loss_contour``, ``loss_note``, ``loss_onset`` and their weighted sum ``loss``."""
    terms = {
        f"loss_{head}": weighted_bce(outputs[head], targets[head], positive_weight=w,
                                     label_smoothing=config.label_smoothing)
        for head, w in zip(HEADS, config.positive_weights)
    }
    terms["loss"] = sum(w * terms[f"loss_{head}"] for head, w in zip(HEADS, config.loss_weights))
    return terms


@flax.struct.dataclass
class TrainState:
    """``step`` (int32 scalar, steps done), Flax ``params`` and ``batch_stats``, optax ``opt_state``."""

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any


def learning_rate(config: TrainConfig) -> optax.Schedule:
    """Linear warmup to ``learning_rate``, cosine decay to ``learning_rate · final_lr_fraction`` at ``steps``."""
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=config.learning_rate, warmup_steps=config.warmup_steps,
        decay_steps=config.steps, end_value=config.learning_rate * config.final_lr_fraction,
    )


def optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Global-norm clipping, then Adam on the schedule of :func:`learning_rate`."""
    return optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), optax.adam(learning_rate(config)))


def root_key(seed: int) -> jax.Array:
    """The run's root key. ``rbg`` rather than threefry: threefry's initialisation of this model
    takes ~15 s to compile on CPU, rbg ~1 s (both reproducible on one backend)."""
    return jax.random.key(seed, impl="rbg")


def init_state(config: TrainConfig) -> TrainState:
    """Fresh state: parameters drawn with ``fold_in(root_key(seed), 0)``, step 0."""
    x = jnp.zeros((1, BP_N_SEMITONES * config.model.bins_per_semitone, config.window_frames), jnp.float32)
    return _init_state(x, config=config)


@functools.partial(jax.jit, static_argnames="config")
def _init_state(x: jax.Array, *, config: TrainConfig) -> TrainState:
    # x is an argument, not a constant: XLA would otherwise constant-fold the whole forward pass
    variables = BasicPitch(config.model).init(jax.random.fold_in(root_key(config.seed), 0), x)
    params = variables["params"]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, batch_stats=variables["batch_stats"],
                      opt_state=optimizer(config).init(params))


@functools.partial(jax.jit, static_argnames="config", donate_argnames="state")
def train_step(state: TrainState, batch: dict, *, config: TrainConfig) -> tuple[TrainState, dict]:
    """One optimiser step on ``batch`` = {"audio": [N, S] float32, "frames", "onsets": [N, 88, T]}.

    Returns the new state (``state`` is donated) and float32 scalars: the losses of
    :func:`loss_terms`, ``grad_norm`` (before clipping) and ``learning_rate`` (of this step).
    """
    model = BasicPitch(config.model)
    x = jax.lax.stop_gradient(frontend(batch["audio"], bins_per_semitone=config.model.bins_per_semitone))
    targets = make_targets(batch["frames"], batch["onsets"], bins_per_semitone=config.model.bins_per_semitone)

    def loss_fn(params):
        outputs, updates = model.apply(
            {"params": params, "batch_stats": state.batch_stats}, x, train=True, mutable=["batch_stats"]
        )
        terms = loss_terms(outputs, targets, config=config)
        return terms["loss"], (terms, updates["batch_stats"])

    grads, (terms, batch_stats) = jax.grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = optimizer(config).update(grads, state.opt_state, state.params)
    new_state = TrainState(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                           batch_stats=batch_stats, opt_state=opt_state)
    return new_state, {**terms, "grad_norm": optax.tree.norm(grads), "learning_rate": learning_rate(config)(state.step)}


# --------------------------------------------------------------------------- data


class WindowSampler:
    """Random training windows from examples with ``audio`` [n] and ``frames``, ``onsets`` [88, n // 256 + 1].

    Every window start (a multiple of the hop, the window inside the piece or, for a piece shorter
    than a window, at 0 with zero padding) is equally likely over the whole split. Examples are
    read on demand (a ``amt_jax.data.Source`` or a list of dicts); only their lengths are kept.
    """

    def __init__(self, examples: Sequence[dict], *, window_samples: int):
        if not len(examples):
            raise ValueError("examples must hold at least one example, got none")
        self.examples = examples
        self.window_samples = window_samples
        self.window_frames = window_samples // HOP_LENGTH + 1
        lengths = np.array([len(examples[i]["audio"]) for i in range(len(examples))], np.int64)
        # start frames a piece offers: the window must end inside the audio (at least one start)
        self.n_starts = np.maximum((lengths - window_samples) // HOP_LENGTH + 1, 1)
        self.cumulative = np.cumsum(self.n_starts)

    def window(self, index: int, start_frame: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Audio [S], frames and onsets [88, T] of example ``index`` from frame ``start_frame`` (zero-padded)."""
        ex = self.examples[index]
        s0 = start_frame * HOP_LENGTH
        audio = np.zeros(self.window_samples, np.float32)
        chunk = np.asarray(ex["audio"][s0 : s0 + self.window_samples], np.float32)
        audio[: len(chunk)] = chunk
        rolls = []
        for name in ("frames", "onsets"):
            roll = np.zeros((N_PITCHES, self.window_frames), bool)
            part = np.asarray(ex[name])[:, start_frame : start_frame + self.window_frames]
            roll[:, : part.shape[1]] = part
            rolls.append(roll)
        return audio, rolls[0], rolls[1]

    def batch(self, key: jax.Array, batch_size: int) -> dict[str, np.ndarray]:
        """``batch_size`` windows drawn with ``key``: {"audio": [N, S], "frames", "onsets": [N, 88, T] bool}."""
        flat = np.asarray(jax.random.randint(key, (batch_size,), 0, int(self.cumulative[-1])))
        pieces = np.searchsorted(self.cumulative, flat, side="right")
        starts = flat - np.concatenate([[0], self.cumulative])[pieces]
        audio, frames, onsets = zip(*(self.window(int(i), int(s)) for i, s in zip(pieces, starts)))
        return {"audio": np.stack(audio), "frames": np.stack(frames), "onsets": np.stack(onsets)}


# --------------------------------------------------------------------------- training loop


class TrainingDiverged(ValueError):
    """The loss or gradient became NaN/inf; names the step and the last good checkpoint."""


def _checkpoint_manager(workdir: str | os.PathLike, config: TrainConfig) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=config.max_checkpoints, enable_async_checkpointing=False, create=True
        ),
        item_names=("state", "config"),
    )


def _abstract_state(config: TrainConfig) -> TrainState:
    """Shapes and dtypes of :func:`init_state` (what a checkpoint restores into), without computing it."""
    return jax.eval_shape(lambda: init_state(config))


def _restore_config(manager: ocp.CheckpointManager, step: int) -> TrainConfig:
    restored = manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
    return TrainConfig.from_dict(restored["config"])


def _append_jsonl(path: str, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_jsonl(path: str, step: int) -> None:
    """Keep the records of steps <= ``step`` (those after it are redone on resume) and drop a line
    cut short by a crash; atomic."""
    if not os.path.exists(path):
        return

    def keep(line: str) -> bool:
        try:
            return json.loads(line)["step"] <= step
        except (json.JSONDecodeError, KeyError, TypeError):
            return False

    with open(path) as f:
        kept = [line for line in f if keep(line)]
    atomic_write(path, "".join(kept))


def train(
    config: TrainConfig,
    *,
    workdir: str | os.PathLike,
    examples: Sequence[dict],
    log: Callable[[dict], None] | None = None,
) -> TrainState:
    """Train ``config.steps`` steps on ``examples`` (the train split), resuming from ``workdir``.

    Args:
        config: the run; a work directory holding checkpoints of another config is refused.
        workdir: created if needed; gets ``checkpoints/`` and ``metrics.jsonl``.
        examples: random-access examples (see :class:`WindowSampler`).
        log: called with every record written to ``metrics.jsonl`` (and a ``{"resumed_from": step}``
            record when a checkpoint is restored); exceptions it raises stop training like a
            preemption (checkpoints written so far are kept).

    Returns:
        The final state (already saved).

    Raises:
        TrainingDiverged: a non-finite loss or gradient norm; no checkpoint of that step is written.
    """
    os.makedirs(workdir, exist_ok=True)
    log = log or (lambda record: None)
    metrics_path = os.path.join(workdir, METRICS_FILE)
    sampler = WindowSampler(examples, window_samples=config.window_samples)
    manager = _checkpoint_manager(workdir, config)
    try:
        latest = manager.latest_step()
        if latest is not None:
            saved = _restore_config(manager, latest)
            if saved != config:
                diff = [f"{f.name}: {getattr(saved, f.name)!r} != {getattr(config, f.name)!r}"
                        for f in dataclasses.fields(config) if getattr(saved, f.name) != getattr(config, f.name)]
                raise ValueError(f"workdir {workdir} holds a run with another config ({'; '.join(diff)}); "
                                 "use a new --workdir or the same config")
            state = manager.restore(latest, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(_abstract_state(config))))["state"]
            _truncate_jsonl(metrics_path, latest)
            log({"resumed_from": latest})
        else:
            state = init_state(config)
            _truncate_jsonl(metrics_path, 0)
        data_key = jax.random.fold_in(root_key(config.seed), 1)
        step = int(state.step)
        pending: list[dict] = []
        last_time = time.perf_counter()
        while step < config.steps:
            batch = sampler.batch(jax.random.fold_in(data_key, step), config.batch_size)
            state, step_metrics = train_step(state, batch, config=config)
            step += 1
            values = {k: float(v) for k, v in step_metrics.items()}
            if not (math.isfinite(values["loss"]) and math.isfinite(values["grad_norm"])):
                last = manager.latest_step()
                raise TrainingDiverged(
                    f"training diverged at step {step}: non-finite loss or gradient (loss {values['loss']}, "
                    f"grad_norm {values['grad_norm']}; "
                    f"{', '.join(f'{h} ' + str(values['loss_' + h]) for h in HEADS)}); "
                    f"last good checkpoint: {'none' if last is None else f'step {last}'}. "
                    f"lower learning_rate (now {config.learning_rate}) and train in a new workdir"
                )
            pending.append(values)
            if step % config.checkpoint_every == 0 or step == config.steps:
                manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                           config=ocp.args.JsonSave(config.to_dict())))
            if step % config.log_every == 0 or step == config.steps:
                now = time.perf_counter()
                record = {"step": step, **{k: float(np.mean([p[k] for p in pending])) for k in pending[0]},
                          "steps_per_second": len(pending) / (now - last_time)}
                pending, last_time = [], now
                _append_jsonl(metrics_path, record)
                log(record)
        return state
    finally:
        manager.wait_until_finished()
        manager.close()


# --------------------------------------------------------------------------- trained models


class Trained(NamedTuple):
    """A trained model with the interface of ``pretrained.basic_pitch()``."""

    frontend: Callable[[jax.Array], jax.Array]  # audio [..., n_samples] -> X [..., 103·B, T]
    apply: Callable[[Any, jax.Array], dict[str, jax.Array]]  # (params, X) -> {"note", "onset", "contour"}
    params: Any  # Flax variables {"params": ..., "batch_stats": ...}
    config: TrainConfig
    step: int | None = None  # training step of the state (the checkpoint's, from load_trained)


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


# --------------------------------------------------------------------------- held-out evaluation


def posteriorgram(audio, forward: Callable[[np.ndarray], Any], *, window_samples: int, batch_size: int) -> np.ndarray:
    """Whole-piece output [C, n_samples // 256 + 1] on the label frame grid.

    Windows of ``window_samples`` start every ``keep`` frames (window frames minus ``trim`` at each
    end, trim = min(15, (frames − 1) // 4)) from frame −trim; each window's frames
    [trim, trim + keep) are kept, so output frame t is centred on sample t·256 as the labels are.
    ``forward(windows [batch_size, S]) -> [batch_size, C, T]`` sees full batches only (zero-padded).
    """
    audio = np.asarray(audio, np.float32)
    validate.exact_rank("audio", audio, 1, "[n_samples]")
    n_frames = len(audio) // HOP_LENGTH + 1
    window_frames = window_samples // HOP_LENGTH + 1
    trim = min(OVERLAP_FRAMES // 2, (window_frames - 1) // 4)
    keep = window_frames - 2 * trim
    n_windows = -(-n_frames // keep)
    n_batches = -(-n_windows // batch_size)
    padded = np.zeros((n_batches * batch_size - 1) * keep * HOP_LENGTH + window_samples, np.float32)
    padded[trim * HOP_LENGTH : trim * HOP_LENGTH + len(audio)] = audio
    windows = np.lib.stride_tricks.sliding_window_view(padded, window_samples)[:: keep * HOP_LENGTH]
    out = np.concatenate([np.asarray(forward(windows[b * batch_size : (b + 1) * batch_size]))
                          for b in range(n_batches)])[:n_windows, :, trim : trim + keep]
    return out.transpose(1, 0, 2).reshape(out.shape[1], -1)[:, :n_frames]


def rolls(examples: Sequence[dict], forward: Callable, *, config: TrainConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """(estimate [88, T], reference frames [88, T]) for each example (see :func:`posteriorgram`)."""
    return [
        (posteriorgram(ex["audio"], forward, window_samples=config.window_samples, batch_size=config.eval_batch_size),
         np.asarray(ex["frames"]))
        for ex in examples
    ]


def evaluate(
    model: Trained, *, validation: Sequence[dict], test: Sequence[dict], thresholds: Sequence[float] = THRESHOLDS
) -> dict:
    """Held-out frame scores of the trained model and of the fundamental-energy baseline.

    For each, the frame threshold maximising mean frame F1 over the ``validation`` pieces is
    chosen, then precision/recall/F1 (``metrics.frame_prf``, equal to mir_eval.multipitch) are
    averaged over the ``test`` pieces. Both read the same frontend (same windows, same B).
    """
    config = model.config
    B = config.model.bins_per_semitone
    note = jax.jit(lambda params, audio: model.apply(params, model.frontend(audio))["note"])  # params not baked in
    forwards = {
        "model": functools.partial(note, model.params),
        "baseline": jax.jit(lambda audio: baseline.fundamental_energy(model.frontend(audio), bins_per_semitone=B)),
    }
    out = {}
    for name, forward in forwards.items():
        threshold, validation_f1 = baseline.best_threshold(rolls(validation, forward, config=config), thresholds)
        scores = baseline.frame_scores(rolls(test, forward, config=config), threshold)
        out[name] = {"threshold": threshold, "validation_f1": validation_f1, **scores}
    return out
