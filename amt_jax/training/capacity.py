"""Capacity-matched variants: the widths of a Basic Pitch variant solved so that its number of
trainable parameters hits a target, so that variants of the grid (B × harmonic stack) differ in
their input, not in their capacity.

At Basic Pitch's widths (contour 8, notes 32, onsets 32) parameters grow with B (the contour
convolution spans 13·B bins: 11,790 / 16,782 / 21,774 at B = 1, 3, 5 with the full stack) and with
the harmonic stack (H input channels of the contour and onset convolutions: 4,630 with the
fundamental only at B = 3). :func:`match_widths` scales the three widths
(``n_filters_contour``, ``n_filters_notes``, ``n_filters_onsets``) together:

1. one multiplier m for all three (widths ``max(1, round(w·m))``), the contour width c =
   round(8·m) the smallest one whose count reaches the target, or the one below if closer;
2. c fixed, the two head widths scaled together (their ratio kept) to the count closest to the
   target;
3. c and the onset width fixed, the note width alone to the count closest to the target (a step
   of it moves the count by 71 parameters, of c by hundreds to thousands), so a solution lies
   within ~36 parameters of the target, 0.2 % of Basic Pitch's 16,782.

Counts always come from Flax's own initialisation of the model (:func:`count_parameters`:
``jax.eval_shape`` of ``BasicPitch(config).init``, shapes only), never from a formula, so the
solved widths reproduce the count they were solved for. Both searches bracket from the current
widths and bisect over integers (the count is nondecreasing in every width): ~10–20 counts of
~0.1 s per variant, cached per process (:func:`count_parameters` is cached on the config).

Left as they are: compute (multiply-adds) still grows with B, and the widened fundamental-only
models spend their parameters in other layers than the full-stack ones; matching equalises the
number of parameters, not what they can represent.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import jax
import numpy as np

from amt_jax.models.basic_pitch import BasicPitch, BasicPitchConfig

WIDTH_FIELDS = ("n_filters_contour", "n_filters_notes", "n_filters_onsets")
TOLERANCE = 0.02  # match_widths refuses a solution further than this (relative) from the target: any two within ~4 %
LARGEST = "largest"  # a target: the largest count among the variants at their own widths


def parameter_count(params) -> int:
    """Numbers in a pytree of arrays (or of shapes, e.g. ``jax.eval_shape``'s)."""
    return int(sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params)))


@functools.lru_cache(maxsize=4096)
def count_parameters(model: BasicPitchConfig) -> int:
    """Trainable parameters of ``BasicPitch(model)``: the ``params`` collection of its Flax
    initialisation (batch-norm scales and biases included, running statistics not), from
    ``jax.eval_shape`` (nothing is computed). 16,782 for Basic Pitch."""
    x = jax.ShapeDtypeStruct((1, model.n_input_bins, 8), np.float32)  # params do not depend on the frames
    variables = jax.eval_shape(lambda x: BasicPitch(model).init(jax.random.key(0), x), x)
    return parameter_count(variables["params"])


def widths(model: BasicPitchConfig) -> tuple[int, int, int]:
    """``(n_filters_contour, n_filters_notes, n_filters_onsets)``."""
    return tuple(getattr(model, f) for f in WIDTH_FIELDS)


def with_widths(model: BasicPitchConfig, contour: int, notes: int, onsets: int) -> BasicPitchConfig:
    return dataclasses.replace(model, **dict(zip(WIDTH_FIELDS, (contour, notes, onsets))))


def _closest(count: Callable[[int], int], target: int, guess: int) -> int:
    """The integer k >= 1 whose ``count(k)`` (nondecreasing in k) is closest to ``target`` (the
    smaller k on ties): brackets doubling away from ``guess``, then bisection."""
    k = max(1, int(guess))
    step = 1
    if count(k) >= target:  # search down: hi reaches the target, lo (0: below 1) does not
        hi, lo = k, k - 1
        while lo >= 1 and count(lo) >= target:
            hi, step = lo, 2 * step
            lo = max(hi - step, 0)
    else:  # search up
        lo, hi = k, k + 1
        while count(hi) < target:
            if hi > 1 << 20:
                raise ValueError(f"no width reaches {target} parameters")
            lo, step = hi, 2 * step
            hi = lo + step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(mid) >= target:
            hi = mid
        else:
            lo = mid
    if lo == 0:
        return hi
    return lo if target - count(lo) <= count(hi) - target else hi


def match_widths(model: BasicPitchConfig, target: int, *, tolerance: float = TOLERANCE) -> BasicPitchConfig:
    """``model`` with its widths scaled (see the module docstring) so that :func:`count_parameters`
    is as close to ``target`` as the search gets; ValueError when that is further than
    ``tolerance`` (relative) from it. Only the three width fields change."""
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or target < 1:
        raise ValueError(f"target must be a parameter count >= 1, got {target!r}")
    target = int(target)
    base = widths(model)

    def scaled(c: int) -> tuple[int, int, int]:  # the multiplier m = c / base contour width, for every width
        m = c / base[0]
        return c, max(1, round(base[1] * m)), max(1, round(base[2] * m))

    c = _closest(lambda c: count_parameters(with_widths(model, *scaled(c))), target, base[0])
    heads = scaled(c)[1:]

    def with_heads(k: int) -> BasicPitchConfig:  # k = note width, the onset width keeps its ratio
        return with_widths(model, c, k, max(1, round(k * heads[1] / heads[0])))

    k = _closest(lambda k: count_parameters(with_heads(k)), target, heads[0])
    o = widths(with_heads(k))[2]
    n = _closest(lambda n: count_parameters(with_widths(model, c, n, o)), target, k)  # the note width alone: the finest step
    solved = with_widths(model, c, n, o)
    got = count_parameters(solved)
    if abs(got - target) > tolerance * target:
        raise ValueError(f"the closest width match to {target} parameters has {got} "
                         f"({100 * (got - target) / target:+.1f} %, tolerance {100 * tolerance:g} %): widths {widths(solved)}")
    return solved


def resolve_target(models: Sequence[BasicPitchConfig], target: int | str) -> int:
    """A parameter target: ``target`` itself, or for ``"largest"`` the largest
    :func:`count_parameters` of ``models`` at their own widths."""
    if target == LARGEST:
        return max(count_parameters(m) for m in models)
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or target < 1:
        raise ValueError(f"target must be a parameter count >= 1 or {LARGEST!r}, got {target!r}")
    return int(target)


def matched(models: Sequence[BasicPitchConfig], target: int | str = LARGEST, *,
            tolerance: float = TOLERANCE) -> list[BasicPitchConfig]:
    """Every model of ``models`` with widths matched (:func:`match_widths`) to one target
    (:func:`resolve_target`)."""
    goal = resolve_target(models, target)
    return [match_widths(m, goal, tolerance=tolerance) for m in models]


def spread(counts: Sequence[int]) -> float:
    """(max − min) / min of parameter counts: "within 5 % of each other" is spread <= 0.05."""
    return (max(counts) - min(counts)) / min(counts)
