"""The convergence criterion of a training run: stop once validation frame F1 has plateaued
(:class:`~amt_jax.training.config.PlateauStop`), or at the step budget; the curve and the reason
are recorded in the run's workdir.

Files (beside ``checkpoints/`` and ``metrics.jsonl``; written only when ``config.plateau`` is set)::

    validation.jsonl  one {"step", "validation_f1", "seconds"} per evaluation (cut back to the restored
                      checkpoint on resume, like metrics.jsonl)
    stopped.json      written when training ends: {"reason": "plateau" | "budget", "step", "budget",
                      "best_step", "best_f1", "criterion", "curve": [[step, f1], ...]}

The rule (:func:`plateaued`): at evaluation n, with F1 values f_1 … f_n, stop when n > k and
max(f_{n−k+1} … f_n) <= max(f_1 … f_{n−k}) + δ (k = ``patience``, δ = ``min_delta``): none of the
last k evaluations beat the best before them by more than δ. Evaluations fall every ``every``
steps and at the budget. Training is deterministic in the step (batches are drawn from
``fold_in(key, step)``), so a resumed run reproduces the curve and stops where an uninterrupted
one would; a rerun of a stopped run re-reads its curve and stops at once.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence

import jax
import numpy as np

from amt_jax.training.config import THRESHOLDS, PlateauStop, TrainConfig

CURVE_FILE = "validation.jsonl"
STOP_FILE = "stopped.json"
REASONS = ("plateau", "budget")


def plateaued(f1: Sequence[float], *, patience: int, min_delta: float) -> bool:
    """Whether the last ``patience`` values of ``f1`` (one per evaluation, in order) all stay
    within ``min_delta`` of the best value before them (False until there are more than ``patience``)."""
    f1 = [float(v) for v in f1]
    if len(f1) <= patience:
        return False
    return max(f1[-patience:]) <= max(f1[:-patience]) + min_delta


def stop_point(f1: Sequence[float], criterion: PlateauStop) -> int | None:
    """Index of the first evaluation at which :func:`plateaued` holds for ``f1[: i + 1]``, or None."""
    for i in range(len(f1)):
        if plateaued(f1[: i + 1], patience=criterion.patience, min_delta=criterion.min_delta):
            return i
    return None


def stop_record(curve: Sequence[tuple[int, float]], *, reason: str, step: int, config: TrainConfig) -> dict:
    """The ``stopped.json`` record of a run that ended at ``step`` for ``reason``."""
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {REASONS}, got {reason!r}")
    best = int(np.argmax([f for _, f in curve])) if curve else None
    return {"reason": reason, "step": int(step), "budget": config.steps,
            "best_step": None if best is None else int(curve[best][0]),
            "best_f1": None if best is None else float(curve[best][1]),
            "criterion": {**json.loads(json.dumps(config.plateau.__dict__)), "metric": "validation frame F1"},
            "curve": [[int(s), float(f)] for s, f in curve]}


def read_curve(path: str | os.PathLike) -> list[tuple[int, float]]:
    """``(step, validation F1)`` of every evaluation in a ``validation.jsonl`` (empty if absent)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [(int(r["step"]), float(r["validation_f1"])) for r in records]


def read_stop(workdir: str | os.PathLike) -> dict | None:
    """The ``stopped.json`` record of a workdir, or None (not finished, or trained without a plateau criterion)."""
    path = os.path.join(workdir, STOP_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def frame_f1_evaluator(config: TrainConfig, examples: Sequence[dict]) -> Callable:
    """``evaluate(state) -> float``: mean frame F1 over ``examples`` (validation pieces, with
    ``audio`` and ``frames``) of the state's note posteriorgram (inference mode, running batch
    statistics), at the threshold of :data:`THRESHOLDS` that maximises it; the forward pass is
    jitted once, the parameters passed in."""
    from amt_jax.frontend.variants import frontend
    from amt_jax.models.basic_pitch import BasicPitch
    from amt_jax.training.posteriors import rolls
    from amt_jax.transcription import baseline

    examples = list(examples)
    if not examples:
        raise ValueError("the plateau criterion needs at least one validation piece, got none")
    model = BasicPitch(config.model)

    @jax.jit
    def note(variables, audio):
        return model.apply(variables, frontend(audio, bins_per_semitone=config.model.bins_per_semitone))["note"]

    def evaluate(state) -> float:
        forward = functools.partial(note, {"params": state.params, "batch_stats": state.batch_stats})
        return baseline.best_threshold(rolls(examples, forward, config=config), THRESHOLDS)[1]

    return evaluate
