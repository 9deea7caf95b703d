"""The objective and one optimiser step: Basic Pitch's (class-weighted) BCE per head, optax
(clip + Adam on a warmup-cosine schedule), a jitted, state-donating step.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from amt_jax.models.basic_pitch import BasicPitch
from amt_jax.training.config import HEADS, TrainConfig
from amt_jax.frontend.variants import frontend, layout
from amt_jax.training.inputs import make_targets

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
    x = jnp.zeros((1, layout(config.model.bins_per_semitone).n_bins, config.window_frames), jnp.float32)
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
