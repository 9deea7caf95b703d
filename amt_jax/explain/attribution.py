"""Attribution of note logits to input bins: gradient, gradient × input, SmoothGrad, integrated
gradients (Gauss–Legendre), occlusion and time-permutation of groups of bins.

Everything acts on a **logit function** ``logit_fn(params, x [B, F, T]) -> [B, P, T]``, the
pre-activation output (a model's ``logits`` capability, :func:`logit_fn_of`),
and on **objectives** given as masks ``[K, B, P, T]``: objective k of clip b is
``o_k(x_b) = Σ_{p,t} masks[k, b, p, t] · logits[b, p, t]``; :func:`key_masks` makes one per key
from the labels (a key's labelled frames, the default target). Rows of the batch are independent.

Shapes: attributions ``[K, B, F, T]`` (logit units per unit of X); occlusion and permutation
drops ``[G, K, B]`` for ``G`` groups of bins given as members ``[G, F]`` (bool).

Randomness: sample i of SmoothGrad and draw d of a permutation use ``jax.random.fold_in(key, i)``,
so results do not depend on ``chunk_size`` (up to float summation order). ``logit_fn`` is a static
argument of the jitted chunks: pass the same function object to reuse compilations.

The baseline of gradient × input, IG and occlusion is silence: the frontend's floor, 0 for
NormalizedLog features (each window's minimum maps to 0) and for the planted features. A scalar, a
spectrum ``[F]`` or a map ``[F, T]``. A model that normalises each frame over bins (a LayerNorm on
the spectrum, as PESTO's) cannot tell a flat baseline such as silence from any other flat input,
and the straight path from it passes through the normalisation's ε-dominated point (IG's
completeness fails); :func:`frame_offset_sensitivity` detects such a model from its logits alone.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import validate

SILENCE = 0.0  # the NormalizedLog floor: baseline of grad × input, IG and occlusion
LogitFn = Callable[[Any, jax.Array], jax.Array]


# --------------------------------------------------------------------------- logits


def logit_fn_of(model) -> LogitFn:
    """The logit function of a :class:`~amt_jax.models.Model`: its ``logits`` capability."""
    return model.require("logits", "attribution")


# --------------------------------------------------------------------------- objectives


def key_masks(targets, keys) -> np.ndarray:
    """Objective masks ``[K, B, P, T]``: objective k is key ``keys[k]``'s labelled frames
    (``targets [B, P, T]`` in {0, 1}); a key −1 means every labelled frame of every key."""
    targets = np.asarray(targets, np.float32)
    validate.exact_rank("targets", targets, 3, "[B, P, T]")
    keys = np.asarray(keys, np.int64).reshape(-1)
    n_pitches = targets.shape[1]
    if np.any((keys < -1) | (keys >= n_pitches)):
        raise ValueError(f"keys must lie in [-1, {n_pitches}), got {keys.tolist()}")
    onehot = (keys[:, None] == np.arange(n_pitches)[None, :]) | (keys[:, None] == -1)
    return targets[None] * onehot[:, None, :, None].astype(np.float32)


def _check(x, masks, baseline=None) -> tuple[jax.Array, jax.Array]:
    validate.exact_rank("x", x, 3, "[B, F, T]")
    validate.exact_rank("masks", masks, 4, "[K, B, P, T]")
    if np.shape(masks)[1] != np.shape(x)[0]:
        raise ValueError(f"masks must have one row per clip of x ({np.shape(x)[0]}), got shape {np.shape(masks)}")
    if baseline is not None and np.ndim(baseline) not in (0, 1, 2):
        raise ValueError(f"baseline must be a scalar, [F] or [F, T], got shape {np.shape(baseline)}")
    return jnp.asarray(x, jnp.float32), jnp.asarray(masks, jnp.float32)


def broadcast_baseline(baseline, x) -> jax.Array:
    """``baseline`` (scalar, ``[F]`` or ``[F, T]``) broadcast to the shape of ``x [B, F, T]``;
    ValueError naming ``baseline`` when its shape is none of those for ``x``."""
    b = jnp.asarray(baseline, jnp.float32)
    allowed = ((), x.shape[-2:-1], x.shape[-2:])
    if b.shape not in allowed:
        raise ValueError(f"baseline must be a scalar, [F] = {list(allowed[1])} or [F, T] = {list(allowed[2])} for "
                         f"features of shape {list(x.shape)}, got shape {list(b.shape)}")
    return jnp.broadcast_to(b[:, None] if b.ndim == 1 else b, x.shape)


def frame_offset_sensitivity(logit_fn: LogitFn, params, x, offset: float = 1.0) -> float:
    """``max |logits(x + offset) − logits(x)| / max |logits(x)|`` for features ``x [B, F, T]``, the
    same offset added to every bin of every frame: about 0 for a model that normalises each frame
    over bins (then a flat baseline, e.g. silence, carries nothing the model can read), of order
    one for a model that reads levels."""
    x = jnp.asarray(x, jnp.float32)
    validate.exact_rank("x", x, 3, "[B, F, T]")
    y0, y1 = logit_fn(params, x), logit_fn(params, x + offset)
    return float(jnp.max(jnp.abs(y1 - y0)) / jnp.maximum(jnp.max(jnp.abs(y0)), 1e-12))


def _vjps(logit_fn, params, x, masks):
    """Logits ``[B, P, T]`` at ``x`` and the gradient of every objective, ``[K, B, F, T]``."""
    logits, vjp = jax.vjp(lambda v: logit_fn(params, v), x)
    return logits, jax.vmap(lambda m: vjp(m)[0])(masks)


@functools.partial(jax.jit, static_argnames=("logit_fn",))
def objective(logit_fn: LogitFn, params, x, masks) -> jax.Array:
    """``o_k(x_b)`` ``[K, B]``: the masked sums of the logits."""
    return jnp.sum(masks * logit_fn(params, x)[None], axis=(2, 3))


@functools.partial(jax.jit, static_argnames=("logit_fn",))
def _gradient(logit_fn, params, x, masks):
    return _vjps(logit_fn, params, x, masks)[1]


def gradient(logit_fn: LogitFn, params, x, masks) -> jax.Array:
    """``∂o_k/∂x`` ``[K, B, F, T]``."""
    x, masks = _check(x, masks)
    return _gradient(logit_fn, params, x, masks)


def grad_times_input(logit_fn: LogitFn, params, x, masks, *, baseline=SILENCE) -> jax.Array:
    """``(x − baseline) ⊙ ∂o_k/∂x`` ``[K, B, F, T]`` (the first-order estimate of ``o(x) − o(baseline)``)."""
    x, masks = _check(x, masks, baseline)
    return (x - broadcast_baseline(baseline, x))[None] * _gradient(logit_fn, params, x, masks)


def _chunks(name: str, n: int, chunk_size: int | None, default: int = 8) -> int:
    validate.positive_int(name, n)
    chunk_size = min(default, n) if chunk_size is None else chunk_size
    validate.positive_int("chunk_size", chunk_size)
    return chunk_size


@functools.partial(jax.jit, static_argnames=("logit_fn", "chunk_size"))
def _smoothgrad_chunk(logit_fn, params, x, masks, key, start, n, sigma, *, chunk_size):
    def one(i):
        noise = sigma[:, None, None] * jax.random.normal(jax.random.fold_in(key, i), x.shape)
        return _vjps(logit_fn, params, x + noise, masks)[1] * (i < n)

    return jnp.sum(jax.vmap(one)(start + jnp.arange(chunk_size)), axis=0)


def smoothgrad(logit_fn: LogitFn, params, x, masks, *, key, n_samples: int = 32, noise_level: float = 0.1,
               chunk_size: int | None = None) -> jax.Array:
    """SmoothGrad (Smilkov et al. 2017): the mean gradient ``[K, B, F, T]`` at ``x + σ·N(0, 1)``,
    σ = ``noise_level`` × (max − min of each clip); sample i's noise (all clips) from ``fold_in(key, i)``."""
    x, masks = _check(x, masks)
    validate.positive("noise_level", noise_level)
    chunk_size = _chunks("n_samples", n_samples, chunk_size)
    sigma = noise_level * (jnp.max(x, axis=(1, 2)) - jnp.min(x, axis=(1, 2)))
    total = sum(_smoothgrad_chunk(logit_fn, params, x, masks, key, jnp.int32(s), n_samples, sigma, chunk_size=chunk_size)
                for s in range(0, n_samples, chunk_size))
    return total / n_samples


class IntegratedGradients(NamedTuple):
    """``attribution [K, B, F, T]``; ``delta [K, B]`` = o(x) − o(baseline); ``gap [K, B]`` =
    Σ attribution − delta (completeness error); ``relative_gap`` = |gap| / |delta|."""

    attribution: jax.Array
    delta: jax.Array
    gap: jax.Array
    relative_gap: jax.Array


def gauss_legendre(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes α_i in (0, 1) and weights (summing to 1) of ``n_nodes``-point Gauss–Legendre on [0, 1]."""
    validate.positive_int("n_nodes", n_nodes)
    u, w = np.polynomial.legendre.leggauss(n_nodes)
    return (u + 1) / 2, w / 2


@functools.partial(jax.jit, static_argnames=("logit_fn",))
def _ig_chunk(logit_fn, params, x, x0, masks, alphas, weights):
    def one(a, w):
        return w * _vjps(logit_fn, params, x0 + a * (x - x0), masks)[1]

    return jnp.sum(jax.vmap(one)(alphas, weights), axis=0)


def integrated_gradients(logit_fn: LogitFn, params, x, masks, *, baseline=SILENCE, n_nodes: int = 64,
                         chunk_size: int | None = None) -> IntegratedGradients:
    """Integrated gradients (Sundararajan et al. 2017) from ``baseline`` to ``x`` with
    ``n_nodes``-point Gauss–Legendre quadrature on the straight path, ``chunk_size`` nodes per call."""
    x, masks = _check(x, masks, baseline)
    chunk_size = _chunks("n_nodes", n_nodes, chunk_size)
    x0 = broadcast_baseline(baseline, x)
    alphas, weights = gauss_legendre(n_nodes)
    pad = -n_nodes % chunk_size
    alphas, weights = np.pad(alphas, (0, pad)), np.pad(weights, (0, pad))  # weight 0: no contribution
    total = sum(_ig_chunk(logit_fn, params, x, x0, masks, jnp.asarray(alphas[s:s + chunk_size], jnp.float32),
                          jnp.asarray(weights[s:s + chunk_size], jnp.float32))
                for s in range(0, n_nodes, chunk_size))
    attribution = (x - x0)[None] * total
    delta = objective(logit_fn, params, x, masks) - objective(logit_fn, params, x0, masks)
    gap = jnp.sum(attribution, axis=(2, 3)) - delta
    return IntegratedGradients(attribution, delta, gap, jnp.abs(gap) / jnp.maximum(jnp.abs(delta), 1e-12))


# --------------------------------------------------------------------------- groups of bins


def _members(members, n_bins: int) -> np.ndarray:
    members = np.asarray(members)
    validate.exact_rank("members", members, 2, "[G, F]")
    if members.shape[1] != n_bins or members.dtype != bool:
        raise ValueError(f"members must be a bool array [G, {n_bins}], got {members.dtype} {members.shape}")
    return members


@functools.partial(jax.jit, static_argnames=("logit_fn",))
def _occlusion_chunk(logit_fn, params, x, x0, y_ref, masks, members):
    def one(m):
        y = logit_fn(params, jnp.where(m[None, :, None], x0, x))
        return jnp.sum(masks * (y_ref - y)[None], axis=(2, 3))  # difference first: exact 0 if unchanged

    return jax.vmap(one)(members)


def occlusion(logit_fn: LogitFn, params, x, members, masks, *, baseline=SILENCE, chunk_size: int | None = None) -> jax.Array:
    """Drop ``o_k(x) − o_k(x with group g's bins set to baseline in every frame)``, ``[G, K, B]``."""
    x, masks = _check(x, masks, baseline)
    members = _members(members, x.shape[1])
    chunk_size = _chunks("members (groups)", len(members), chunk_size)
    x0 = broadcast_baseline(baseline, x)
    y_ref = jax.jit(logit_fn)(params, x)
    padded = np.pad(members, ((0, -len(members) % chunk_size), (0, 0)))
    out = [_occlusion_chunk(logit_fn, params, x, x0, y_ref, masks, jnp.asarray(padded[s:s + chunk_size]))
           for s in range(0, len(members), chunk_size)]
    return jnp.concatenate(out)[: len(members)]


def time_derangement(key, n_frames: int) -> jax.Array:
    """A random permutation ``[T]`` of the frames with no fixed point (a uniformly random T-cycle):
    frame ``σ(i)`` takes frame ``σ(i + 1)``'s value, σ a random order."""
    order = jax.random.permutation(key, n_frames)
    return jnp.zeros(n_frames, jnp.int32).at[order].set(jnp.roll(order, -1).astype(jnp.int32))


def random_members(key, count, allowed) -> jax.Array:
    """``count`` distinct bins drawn uniformly from the ``allowed [F]`` ones, as a bool ``[F]``."""
    bits = jnp.where(allowed, jax.random.bits(key, allowed.shape, jnp.uint32), jnp.uint32(0xFFFFFFFF))
    rank = jnp.argsort(jnp.argsort(bits, stable=True), stable=True)
    return (rank < count) & allowed


@functools.partial(jax.jit, static_argnames=("logit_fn", "chunk_size"))
def _permutation_chunk(logit_fn, params, x, y_ref, masks, members, allowed, key, start, n_pairs, *, chunk_size):
    """Pairs ``j = start ..`` of (draw d, group g) = divmod(j, G): drops ``[C, 2, K, B]`` (group, control)."""
    n_groups = members.shape[0]

    def one(j):
        d, g = j // n_groups, j % n_groups
        k = jax.random.fold_in(jax.random.fold_in(key, d), g)
        xp = x[:, :, time_derangement(jax.random.fold_in(k, 0), x.shape[2])]
        control = random_members(jax.random.fold_in(k, 1), jnp.sum(members[g]), allowed)
        drops = [jnp.sum(masks * (y_ref - logit_fn(params, jnp.where(m[None, :, None], xp, x)))[None], axis=(2, 3))
                 for m in (members[g], control)]
        return jnp.stack(drops) * (j < n_pairs)

    return jax.vmap(one)(start + jnp.arange(chunk_size))


class PermutationDrops(NamedTuple):
    """Per draw: ``group [D, G, K, B]``, the drop when group g's bins take their values from other
    frames (a time derangement, the same for every clip), and ``control [D, G, K, B]``, the drop for
    as many random bins (``allowed``) under the same derangement. ``contrast`` = group − control."""

    group: jax.Array
    control: jax.Array

    @property
    def contrast(self) -> jax.Array:
        return self.group - self.control


def time_permutation(logit_fn: LogitFn, params, x, members, masks, *, key, n_draws: int, allowed=None,
                     chunk_size: int | None = None) -> PermutationDrops:
    """Permutation importance of groups of bins: draw d of group g moves the group's bins (all
    together) to other frames by the derangement of ``fold_in(fold_in(key, d), g)``, keeping the
    group's values and marginal distribution but breaking their alignment with the labels.
    ``chunk_size``: (draw, group) pairs per jitted call."""
    x, masks = _check(x, masks)
    members = _members(members, x.shape[1])
    validate.positive_int("n_draws", n_draws)
    if x.shape[2] < 2:
        raise ValueError(f"x needs >= 2 frames to permute them, got shape {x.shape}")
    allowed = np.ones(x.shape[1], bool) if allowed is None else np.asarray(allowed)
    if allowed.shape != (x.shape[1],) or allowed.dtype != bool:
        raise ValueError(f"allowed must be a bool [F] = [{x.shape[1]}], got {allowed.dtype} {allowed.shape}")
    n_pairs = n_draws * len(members)
    chunk_size = _chunks("n_draws × groups", n_pairs, chunk_size)
    y_ref = jax.jit(logit_fn)(params, x)
    out = jnp.concatenate([_permutation_chunk(logit_fn, params, x, y_ref, masks, jnp.asarray(members),
                                              jnp.asarray(allowed), key, jnp.int32(s), n_pairs, chunk_size=chunk_size)
                           for s in range(0, n_pairs, chunk_size)])[:n_pairs]
    out = out.reshape(n_draws, len(members), *out.shape[1:])  # [D, G, 2, K, B]
    return PermutationDrops(out[:, :, 0], out[:, :, 1])


def reduce_time(maps) -> np.ndarray:
    """``[..., F, T] -> [..., F]``: sum over frames (float64 on the host)."""
    return np.asarray(maps, np.float64).sum(axis=-1)
