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

from amt_jax import interrupt
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


def _restore_or_init(manager, workdir, config: TrainConfig, run_config: TrainConfig, logs: tuple[str, str],
                     log: Callable[[dict], None]) -> TrainState:
    """The latest checkpoint's state (refused if it holds another config; the logs truncated to it)
    or a fresh one (the logs emptied). ``logs``: the metrics and the validation-curve files."""
    latest = manager.latest_step()
    if latest is None:
        for path in logs:
            _truncate_jsonl(path, 0)
        return init_state(config)
    saved = restore_config(manager, latest)
    if results_identity(saved.to_dict()) != results_identity(run_config.to_dict()):
        diff = [f"{f.name}: {getattr(saved, f.name)!r} != {getattr(run_config, f.name)!r}"
                for f in dataclasses.fields(run_config) if getattr(saved, f.name) != getattr(run_config, f.name)]
        raise ValueError(f"workdir {workdir} holds a run with another config ({'; '.join(diff)}); "
                         "use a new --workdir or the same config")
    state = manager.restore(latest, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state(config))))["state"]
    for path in logs:
        _truncate_jsonl(path, latest)
    log({"resumed_from": latest})
    return state


def _check_finite(values: dict, step: int, manager, config: TrainConfig) -> None:
    """TrainingDiverged when a step's loss or gradient norm is not finite."""
    if not (math.isfinite(values["loss"]) and math.isfinite(values["grad_norm"])):
        last = manager.latest_step()
        raise TrainingDiverged(
            f"training diverged at step {step}: non-finite loss or gradient (loss {values['loss']}, "
            f"grad_norm {values['grad_norm']}; "
            f"{', '.join(f'{h} ' + str(values['loss_' + h]) for h in HEADS)}); "
            f"last good checkpoint: {'none' if last is None else f'step {last}'}. "
            f"lower learning_rate (now {config.learning_rate}) and train in a new workdir"
        )


def _plateau_evaluator(plateau, evaluate, validation, config: TrainConfig):
    """The plateau criterion's ``evaluate(state) -> F1``: the given one, or the validation pieces' frame F1."""
    if plateau is None or evaluate is not None:
        return evaluate
    if validation is None:
        raise ValueError("config.plateau needs validation pieces (validation=...) or an evaluate function")
    return convergence.frame_f1_evaluator(config, validation)


def _evaluate_step(evaluate, state, step: int, curve: list, curve_path: str, log) -> float:
    """Score the plateau criterion at ``step``: appended to ``curve`` and its file, logged; returns the seconds it took."""
    start = time.perf_counter()
    f1 = float(evaluate(state))
    seconds = time.perf_counter() - start
    curve.append((step, f1))
    _append_jsonl(curve_path, {"step": step, "validation_f1": f1, "seconds": seconds})
    log({"step": step, "validation_f1": f1, "best_f1": max(f for _, f in curve)})
    return seconds


def _log_metrics(pending: list[dict], step: int, last_time: float, metrics_path: str, log) -> float:
    """Write and log the mean of the steps since the last record; returns the time of this one."""
    now = time.perf_counter()
    record = {"step": step, **{k: float(np.mean([p[k] for p in pending])) for k in pending[0]},
              "steps_per_second": len(pending) / (now - last_time)}
    _append_jsonl(metrics_path, record)
    log(record)
    return now


def _stalled(plateau, curve: list) -> bool:
    """Whether the validation curve has plateaued (never without a plateau criterion)."""
    return plateau is not None and convergence.plateaued(
        [f for _, f in curve], patience=plateau.patience, min_delta=plateau.min_delta)


def _save(manager: ocp.CheckpointManager, step: int, state: TrainState, run_config: TrainConfig) -> None:
    manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                               config=ocp.args.JsonSave(run_config.to_dict())))


def train(
    config: TrainConfig,
    *,
    workdir: str | os.PathLike,
    examples: Sequence[dict],
    log: Callable[[dict], None] | None = None,
    validation: Sequence[dict] | None = None,
    evaluate: Callable[[TrainState], float] | None = None,
    progress: Callable[[int], None] | None = None,
) -> TrainState:
    """Train ``config.steps`` steps on ``examples`` (the train split), resuming from ``workdir``;
    with ``config.plateau``, stop earlier once validation F1 plateaus.

    Args:
        config: the run; a work directory holding checkpoints of another config is refused.
        workdir: gets ``checkpoints/``, ``metrics.jsonl`` and with ``config.plateau``
            ``validation.jsonl`` and ``stopped.json`` (:mod:`~amt_jax.training.convergence`).
        examples: random-access examples (see :class:`WindowSampler`).
        log: called with every record written (``{"resumed_from": step}`` on a restore; per plateau
            check ``{"step", "validation_f1", "best_f1"}``; the stop record under ``"stopped"``); an
            exception it raises stops training like a preemption (checkpoints kept).
        validation: the pieces whose frame F1 the plateau criterion scores (needed with
            ``config.plateau`` unless ``evaluate``, ``evaluate(state) -> F1``, is given: tests plant curves).
        progress: called with the step number after every step (a progress bar).

    SIGINT/SIGTERM under :func:`amt_jax.interrupt.deferred` (the CLI) stop training after the step
    under way: its checkpoint is saved, then :class:`amt_jax.interrupt.Interrupted` is raised.

    Returns:
        The final state (already saved): at ``config.steps``, or where the plateau criterion stopped.

    Raises:
        TrainingDiverged: a non-finite loss or gradient norm; no checkpoint of that step is written.
    """
    os.makedirs(workdir, exist_ok=True)
    log = log or (lambda record: None)
    progress = progress or (lambda step: None)
    run_config = config  # recorded in the checkpoints
    config = dataclasses.replace(config, plateau=None)  # what the state and its steps depend on (one compile for both)
    metrics_path = os.path.join(workdir, METRICS_FILE)
    plateau = run_config.plateau
    evaluate = _plateau_evaluator(plateau, evaluate, validation, config)
    curve_path, stop_path = (os.path.join(workdir, f) for f in (convergence.CURVE_FILE, convergence.STOP_FILE))
    sampler = WindowSampler(examples, window_samples=config.window_samples)
    manager = _checkpoint_manager(workdir, config)
    try:
        state = _restore_or_init(manager, workdir, config, run_config, (metrics_path, curve_path), log)
        if os.path.exists(stop_path):  # rewritten when this call ends
            os.remove(stop_path)
        data_key = jax.random.fold_in(root_key(config.seed), 1)
        step = int(state.step)
        pending: list[dict] = []
        last_time = time.perf_counter()
        curve = convergence.read_curve(curve_path) if plateau is not None else []
        stop = _stalled(plateau, curve)  # a rerun of a run that stopped on its plateau stops at once
        while not stop and step < config.steps:
            batch = sampler.batch(jax.random.fold_in(data_key, step), config.batch_size)
            state, step_metrics = train_step(state, batch, config=config)
            step += 1
            values = {k: float(v) for k, v in step_metrics.items()}
            _check_finite(values, step, manager, config)
            pending.append(values)
            if plateau is not None and (step % plateau.every == 0 or step == config.steps):
                last_time += _evaluate_step(evaluate, state, step, curve, curve_path, log)  # steps/s: training only
                stop = _stalled(plateau, curve)
            if step % config.checkpoint_every == 0 or step == config.steps or stop or interrupt.requested():
                _save(manager, step, state, run_config)
            if step % config.log_every == 0 or step == config.steps or stop:
                last_time = _log_metrics(pending, step, last_time, metrics_path, log)
                pending = []
            progress(step)
            interrupt.check()  # after the step's checkpoint: a rerun resumes from it
        if plateau is not None:
            record = convergence.stop_record(curve, reason="plateau" if stop else "budget", step=step, config=run_config)
            atomic_write(stop_path, json.dumps(record, indent=1))
            log({"stopped": record})
        return state
    finally:
        manager.wait_until_finished()
        manager.close()
