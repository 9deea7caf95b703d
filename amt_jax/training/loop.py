"""The training loop: resumable (orbax checkpoints), JSONL metrics, a stop on divergence and,
with ``config.plateau``, a stop once validation F1 plateaus (:mod:`amt_jax.training.convergence`)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence

import jax
import numpy as np
import orbax.checkpoint as ocp

from amt_jax.io import atomic_write
from amt_jax.models.trained import CHECKPOINT_DIR
from amt_jax.training import convergence
from amt_jax.training.config import HEADS, TrainConfig, results_identity
from amt_jax.training.inputs import WindowSampler
from amt_jax.training.step import TrainState, init_state, root_key, train_step

METRICS_FILE = "metrics.jsonl"


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


def abstract_state(config: TrainConfig) -> TrainState:
    """Shapes and dtypes of :func:`init_state` (what a checkpoint restores into), without computing it."""
    return jax.eval_shape(lambda: init_state(config))


def restore_config(manager: ocp.CheckpointManager, step: int) -> TrainConfig:
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
    validation: Sequence[dict] | None = None,
    evaluate: Callable[[TrainState], float] | None = None,
) -> TrainState:
    """Train ``config.steps`` steps on ``examples`` (the train split), resuming from ``workdir``;
    with ``config.plateau``, stop earlier once validation F1 plateaus.

    Args:
        config: the run; a work directory holding checkpoints of another config is refused.
        workdir: created if needed; gets ``checkpoints/`` and ``metrics.jsonl`` (with
            ``config.plateau`` also ``validation.jsonl`` and, at the end, ``stopped.json``:
            :mod:`~amt_jax.training.convergence`).
        examples: random-access examples (see :class:`WindowSampler`).
        log: called with every record written to ``metrics.jsonl`` (and a ``{"resumed_from": step}``
            record when a checkpoint is restored; with ``config.plateau`` a ``{"step",
            "validation_f1", "best_f1"}`` record per evaluation and the ``stopped.json`` record
            under ``"stopped"``); exceptions it raises stop training like a preemption (checkpoints
            written so far are kept).
        validation: pieces the plateau criterion scores (frame F1,
            :func:`~amt_jax.training.convergence.frame_f1_evaluator`); needed with ``config.plateau``
            unless ``evaluate`` is given. Ignored without ``config.plateau``.
        evaluate: ``evaluate(state) -> F1`` in place of the validation pieces' frame F1 (tests plant
            curves with it).

    Returns:
        The final state (already saved): at ``config.steps``, or where the plateau criterion stopped.

    Raises:
        TrainingDiverged: a non-finite loss or gradient norm; no checkpoint of that step is written.
    """
    os.makedirs(workdir, exist_ok=True)
    log = log or (lambda record: None)
    run_config = config  # recorded in the checkpoints
    config = dataclasses.replace(config, plateau=None)  # what the state and its steps depend on (one compile for both)
    metrics_path = os.path.join(workdir, METRICS_FILE)
    plateau = run_config.plateau
    if plateau is not None and evaluate is None:
        if validation is None:
            raise ValueError("config.plateau needs validation pieces (validation=...) or an evaluate function")
        evaluate = convergence.frame_f1_evaluator(config, validation)
    curve_path = os.path.join(workdir, convergence.CURVE_FILE)
    stop_path = os.path.join(workdir, convergence.STOP_FILE)
    sampler = WindowSampler(examples, window_samples=config.window_samples)
    manager = _checkpoint_manager(workdir, config)
    try:
        latest = manager.latest_step()
        if latest is not None:
            saved = restore_config(manager, latest)
            if results_identity(saved.to_dict()) != results_identity(run_config.to_dict()):
                diff = [f"{f.name}: {getattr(saved, f.name)!r} != {getattr(run_config, f.name)!r}"
                        for f in dataclasses.fields(run_config) if getattr(saved, f.name) != getattr(run_config, f.name)]
                raise ValueError(f"workdir {workdir} holds a run with another config ({'; '.join(diff)}); "
                                 "use a new --workdir or the same config")
            state = manager.restore(latest, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state(config))))["state"]
            _truncate_jsonl(metrics_path, latest)
            if plateau is not None:
                _truncate_jsonl(curve_path, latest)
            log({"resumed_from": latest})
        else:
            state = init_state(config)
            _truncate_jsonl(metrics_path, 0)
            _truncate_jsonl(curve_path, 0)
        if os.path.exists(stop_path):
            os.remove(stop_path)  # rewritten when this call ends
        data_key = jax.random.fold_in(root_key(config.seed), 1)
        step = int(state.step)
        pending: list[dict] = []
        last_time = time.perf_counter()
        curve = convergence.read_curve(curve_path) if plateau is not None else []

        def stalled() -> bool:
            return plateau is not None and convergence.plateaued(
                [f for _, f in curve], patience=plateau.patience, min_delta=plateau.min_delta)

        stop = stalled()  # a rerun of a run that stopped on its plateau stops at once
        while not stop and step < config.steps:
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
            if plateau is not None and (step % plateau.every == 0 or step == config.steps):
                start = time.perf_counter()
                f1 = float(evaluate(state))
                seconds = time.perf_counter() - start
                last_time += seconds  # steps_per_second counts training steps only
                curve.append((step, f1))
                _append_jsonl(curve_path, {"step": step, "validation_f1": f1, "seconds": seconds})
                log({"step": step, "validation_f1": f1, "best_f1": max(f for _, f in curve)})
                stop = stalled()
            if step % config.checkpoint_every == 0 or step == config.steps or stop:
                manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                           config=ocp.args.JsonSave(run_config.to_dict())))
            if step % config.log_every == 0 or step == config.steps or stop:
                now = time.perf_counter()
                record = {"step": step, **{k: float(np.mean([p[k] for p in pending])) for k in pending[0]},
                          "steps_per_second": len(pending) / (now - last_time)}
                pending, last_time = [], now
                _append_jsonl(metrics_path, record)
                log(record)
        if plateau is not None:
            record = convergence.stop_record(curve, reason="plateau" if stop else "budget", step=step, config=run_config)
            atomic_write(stop_path, json.dumps(record, indent=1))
            log({"stopped": record})
        return state
    finally:
        manager.wait_until_finished()
        manager.close()
