"""How one draw is scored: a metric of the perturbed output ``Y(πX)`` against the unperturbed
``Y(X)`` or the labels, turned into an importance (bigger = more important)::

    loss / divergence:  metric(Y(πX)) − metric(Y(X))
    score:              metric(Y(X)) − metric(Y(πX))

Built-in metrics (per clip, a scalar or ``[P]`` with ``per_pitch=True``):

- ``output_l1``: mean |Y(πX) − Y(X)| (label-free, a divergence, >= 0);
- ``bce``: binary cross-entropy against ``targets`` (a loss);
- ``frame_f1``: frame F1 against ``targets`` at ``threshold`` (a score);
- ``key_drop``: the drop of the output, ``Y(X) − Y(πX)``, at each key p over the frames where both p
  and the draw's key q (one for all clips, or each clip's own) sound (``targets``), pooled over clips (Σ drop / Σ frames; nan for a key with
  no such frame, whose count is kept as the draw's weight); ``[P]`` per draw with ``per_pitch=True``,
  else the drop at q over q's own frames. Needs a family whose group is a key (``key_families``).

A callable metric ``fn(y, y_ref, targets) -> [n_clips]`` (or ``[n_clips, P]``) is a loss unless
``greater_is_better=True``; one with the attribute ``needs_group = True`` is called as
``fn(y, y_ref, targets, group)`` with the draw's group. Metrics are static (hashable) so equal
configs share one compilation. *Pooled* metrics (``key_drop``) give per clip a numerator and a
denominator, and a draw's value is the ratio of their sums over clips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax.numpy as jnp
import numpy as np

from amt_jax import validate
from amt_jax.estimators import metrics

METRICS = ("output_l1", "bce", "frame_f1", "key_drop")


def _output_l1(y, y_ref, targets, *, per_pitch: bool, threshold: float):
    d = jnp.mean(jnp.abs(y - y_ref), axis=-1)
    return d if per_pitch else jnp.mean(d, axis=-1)


def _bce(y, y_ref, targets, *, per_pitch: bool, threshold: float):
    b = metrics.binary_cross_entropy(y, targets)
    return b if per_pitch else jnp.mean(b, axis=-1)


def _frame_f1(y, y_ref, targets, *, per_pitch: bool, threshold: float):
    if per_pitch:
        return metrics.frame_f1_per_pitch(y, targets, threshold=threshold)
    return metrics.frame_prf(y, targets, threshold=threshold)[2]


def key_drop_frames(targets, group):
    """``[n_clips, T]`` bool: the frames :func:`key_drop` reads, where the draw's key ``group`` (a
    scalar or ``[n_clips]``) sounds (every key's drop is summed over frames where it and that key sound)."""
    sounding = targets > 0
    q = jnp.broadcast_to(jnp.asarray(group, jnp.int32), sounding.shape[:1])[:, None, None]  # [n, 1, 1]
    return jnp.take_along_axis(sounding, q, axis=1)[:, 0]


def key_drop(y, y_ref, targets, group, *, per_pitch: bool):
    """``(drop sums, frame counts)`` per clip, ``[n_clips, P]`` each (``[n_clips]`` at the draw's key
    when not ``per_pitch``): Σ_t (y_ref − y) over the frames where key p and the draw's key both
    sound. ``group``: the draw's key, a scalar or ``[n_clips]`` (each clip its own key)."""
    sounding = targets > 0  # [n, P, T]
    q = jnp.broadcast_to(jnp.asarray(group, jnp.int32), sounding.shape[:1])[:, None]  # [n, 1]
    both = sounding & jnp.take_along_axis(sounding, q[:, :, None], axis=1)
    drop = y_ref - y
    num = jnp.sum(jnp.where(both, drop, 0.0), axis=-1)
    den = jnp.sum(both, axis=-1).astype(num.dtype)
    if per_pitch:
        return num, den
    return jnp.take_along_axis(num, q, axis=1)[:, 0], jnp.take_along_axis(den, q, axis=1)[:, 0]


_BUILTIN = {"output_l1": (_output_l1, False), "bce": (_bce, False), "frame_f1": (_frame_f1, True)}
_POOLED = {"key_drop": key_drop}


@dataclass(frozen=True)
class Metric:
    """Static metric config.

    ``value(y, y_ref, targets) -> [n_clips]`` or ``[n_clips, P]``; built-ins also take
    ``per_pitch`` and ``threshold``.
    """

    name: str
    fn: Callable
    greater_is_better: bool
    builtin: bool
    per_pitch: bool = False
    threshold: float = 0.5
    needs_group: bool = False
    pooled: bool = False

    def value(self, y, y_ref, targets, group=None):
        if self.builtin:
            return self.fn(y, y_ref, targets, per_pitch=self.per_pitch, threshold=self.threshold)
        if self.needs_group:
            return self.fn(y, y_ref, targets, group)
        return self.fn(y, y_ref, targets)

    def importance(self, y, y_ref, targets, base, group=None):
        """Per clip: the importance ``[n_clips(, P)]``, or for a pooled metric ``(sums, counts)``."""
        if self.pooled:
            return self.fn(y, y_ref, targets, group, per_pitch=self.per_pitch)
        value = self.value(y, y_ref, targets, group)
        return base - value if self.greater_is_better else value - base

    @property
    def selects_frames(self) -> bool:
        """Whether the metric reads only some frames of the perturbed output (:meth:`frames`)."""
        return self.pooled and self.fn is key_drop

    def frames(self, targets, group=None):
        """``[n_clips, T]`` bool: the only frames of the perturbed output this metric reads (the engine
        may skip a frame-wise model's other frames), or None when it reads them all."""
        return key_drop_frames(targets, group) if self.selects_frames else None

    def check_output(self, value, y_ref) -> None:
        """At trace time: ``[n_clips]`` (``per_pitch=False``) or ``[n_clips, P]`` (``per_pitch=True``)."""
        n_clips = y_ref.shape[0]
        want = (n_clips, y_ref.shape[1]) if self.per_pitch else (n_clips,)
        if tuple(np.shape(value)) != want:
            doc = "[n_clips, P]" if self.per_pitch else "[n_clips]"
            raise ValueError(
                f"metric {self.name!r} must return {doc} = {want} with per_pitch={self.per_pitch} "
                f"(model output {tuple(y_ref.shape)}), got shape {tuple(np.shape(value))}"
            )


def make_metric(metric, *, per_pitch: bool, threshold: float, greater_is_better: bool | None, targets) -> Metric:
    """A validated :class:`Metric` from a built-in name or a callable (see the module docstring)."""
    if not isinstance(per_pitch, (bool, np.bool_)):
        raise ValueError(f"per_pitch must be a bool, got {per_pitch!r}")
    if not (isinstance(threshold, (int, float, np.integer, np.floating)) and np.isfinite(threshold) and 0 < threshold < 1):
        raise ValueError(f"threshold must be a finite number in (0, 1), got {threshold!r}")
    if callable(metric):
        if greater_is_better is not None and not isinstance(greater_is_better, (bool, np.bool_)):
            raise ValueError(f"greater_is_better must be a bool or None, got {greater_is_better!r}")
        name = getattr(metric, "__name__", "callable")
        return Metric(name, metric, bool(greater_is_better), builtin=False, per_pitch=bool(per_pitch),
                      needs_group=bool(getattr(metric, "needs_group", False)))
    validate.one_of("metric", metric, METRICS)
    if metric in _POOLED:
        if greater_is_better is not None:
            raise ValueError(f"greater_is_better applies to callable metrics only; metric={metric!r} is a drop "
                             f"(bigger = more important), got greater_is_better={greater_is_better!r}")
        if targets is None:
            raise ValueError(f"metric={metric!r} needs targets [n_clips, P, T] (which keys sound), got targets=None")
        return Metric(metric, _POOLED[metric], False, builtin=False, per_pitch=bool(per_pitch), needs_group=True,
                      pooled=True)
    fn, score = _BUILTIN[metric]
    if greater_is_better is not None:
        raise ValueError(
            f"greater_is_better applies to callable metrics only; metric={metric!r} has a fixed direction "
            f"({'a score, greater is better' if score else 'a loss, smaller is better'}), got greater_is_better={greater_is_better!r}"
        )
    if metric != "output_l1" and targets is None:
        raise ValueError(f"metric={metric!r} needs targets [n_clips, P, T], got targets=None")
    return Metric(metric, fn, score, builtin=True, per_pitch=bool(per_pitch), threshold=float(threshold))


def select(y, output: str | None):
    """The scored output of a model: ``y[output]`` for a dict, ``y`` itself otherwise."""
    if isinstance(y, dict):
        if output not in y:
            raise ValueError(f"apply_fn returns a dict with keys {sorted(y)}; output must name one, got {output!r}")
        return y[output]
    return y
