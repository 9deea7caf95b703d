"""The training loop: resumable (orbax checkpoints), JSONL metrics, a stop on divergence."""

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
            saved = restore_config(manager, latest)
            if results_identity(saved.to_dict()) != results_identity(config.to_dict()):
                diff = [f"{f.name}: {getattr(saved, f.name)!r} != {getattr(config, f.name)!r}"
                        for f in dataclasses.fields(config) if getattr(saved, f.name) != getattr(config, f.name)]
                raise ValueError(f"workdir {workdir} holds a run with another config ({'; '.join(diff)}); "
                                 "use a new --workdir or the same config")
            state = manager.restore(latest, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state(config))))["state"]
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
