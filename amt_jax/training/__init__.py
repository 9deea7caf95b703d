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

Modules: :mod:`~amt_jax.training.config` (TrainConfig, get_config), :mod:`~amt_jax.training.inputs`
(targets, window sampler; the variants' frontend and layout: :mod:`amt_jax.frontend.variants`),
:mod:`~amt_jax.training.step` (loss, optimiser, step), :mod:`~amt_jax.training.loop` (:func:`train`),
:mod:`~amt_jax.training.trained` (:func:`load_trained`, :func:`as_model`; checkpoints are read by
:mod:`amt_jax.models.trained`), :mod:`~amt_jax.training.heldout` (:func:`evaluate`),
:mod:`~amt_jax.training.label_randomization` (training on shuffled labels),
:mod:`~amt_jax.training.convergence` (the validation-F1 plateau stop, ``TrainConfig.plateau``),
:mod:`~amt_jax.training.capacity` (parameter counts, widths solved to a parameter target); the training grid (B × harmonic stack × seeds,
imported on demand): :mod:`~amt_jax.training.grid` (:func:`~amt_jax.training.grid.run_grid`),
:mod:`~amt_jax.training.grid_eval` (held-out per-piece F1), :mod:`~amt_jax.training.grid_report`
(piece-level intervals and contrasts).
"""

from amt_jax.training.config import HEADS, THRESHOLDS, PlateauStop, TrainConfig, get_config
from amt_jax.training.heldout import evaluate, posteriorgram, rolls
from amt_jax.frontend.variants import cqt_kwargs, frontend, layout
from amt_jax.training.inputs import WindowSampler, make_targets
from amt_jax.models.trained import CHECKPOINT_DIR, EVAL_FILE, recorded_threshold
from amt_jax.training.label_randomization import ShuffledLabels, derangement, shuffled_labels, train_label_randomized
from amt_jax.training.loop import METRICS_FILE, TrainingDiverged, train
from amt_jax.training.step import (
    TrainState,
    init_state,
    learning_rate,
    loss_terms,
    optimizer,
    root_key,
    train_step,
    weighted_bce,
)
from amt_jax.training.trained import Trained, as_model, load_trained, model_of
