"""The Monte Carlo engine: draws in jitted, vmapped chunks, streamed, optionally sharded.

Draw ``i`` uses ``jax.random.fold_in(key, i)``. A chunk of draws is one jitted call: vmap the
family's ``perturb(key, X)`` over the draws' keys, one batched forward pass, the metric, and reduce
to per-draw per-clip numbers (for a frame-wise model, :func:`frame_wise_outputs`: only the frames
a draw changed and its metric reads go through the model; not with a mesh, where every frame
does); chunks are streamed (one computes while the host reads the previous one) and only those
numbers are kept, so memory grows with ``n_draws · n_clips`` numbers, never with the model's
activations. The last chunk is padded (fixed shapes: one compilation per ``(chunk_size,
shapes)``). The family comes in two parts (:func:`amt_jax.perturb.pytree.split`): its data traced,
its structure static, so families that differ only in data share one compilation. With ``mesh``
the draw axis is sharded over the mesh's devices with ``NamedSharding``; the same draws come out
for any chunk size or device count, equal up to float rounding (different batch shapes block the
model's matmuls differently).
"""

from __future__ import annotations

import collections
import dataclasses
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from amt_jax import perturb
from amt_jax.models.model import is_frame_wise
from amt_jax.estimators.scoring import Metric, select


def replicated(mesh: Mesh | None, tree):
    """``tree``'s arrays replicated on every device of ``mesh`` (built from each process's own copy,
    so it also works multi-host); without a mesh, put once on the default device (so jitted calls
    in a loop do not copy host arrays again on every call)."""
    if mesh is None:
        return jax.device_put(tree)
    sharding = NamedSharding(mesh, P())

    def put(leaf):
        host = np.asarray(leaf)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, tree)


@partial(jax.jit, static_argnames=("apply_fn", "output"))
def forward(params, features, *, apply_fn, output):
    """Unperturbed outputs ``[n_clips, P, T]``."""
    return select(apply_fn(params, features), output)


@partial(jax.jit, static_argnames=("metric",))
def base_value(y_ref, targets, *, metric: Metric):
    """Metric of the unperturbed outputs, ``[n_clips(, P)]`` (a pooled metric needs none: zeros)."""
    if metric.pooled:
        return jnp.zeros((y_ref.shape[0],) + ((y_ref.shape[1],) if metric.per_pitch else ()), y_ref.dtype)
    value = metric.value(y_ref, y_ref, targets, jnp.int32(0))
    metric.check_output(value, y_ref)
    return value


@partial(jax.jit, static_argnames=("apply_fn", "family", "metric", "output", "chunk_size", "mesh"))
def chunk(params, features, y_ref, base, targets, key, start, data, *, apply_fn, family, metric, output, chunk_size,
          mesh):
    """Draws ``start .. start + chunk_size − 1``: importances ``[C, n_clips(, P)]`` (for a pooled
    metric its sums), their weights (a pooled metric's counts; ones otherwise), groups ``[C]`` and
    input change ``[C, n_clips]`` (mean |πX − X| per clip). ``data`` and ``family``: the family's
    traced data and static rest (:func:`amt_jax.perturb.pytree.split`)."""
    family = perturb.pytree.join(data, family)
    ids = start + jnp.arange(chunk_size, dtype=jnp.int32)
    if mesh is not None:
        ids = jax.lax.with_sharding_constraint(ids, NamedSharding(mesh, P(mesh.axis_names)))
    x, groups = jax.vmap(lambda i: perturb.perturb(family, jax.random.fold_in(key, i), features, i))(ids)  # [C, n, F, T]
    change = jnp.mean(jnp.abs(x - features[None]), axis=(2, 3))
    n_clips = features.shape[0]
    if is_frame_wise(apply_fn) and mesh is None and y_ref.ndim == 3:  # outputs [n, P, T]
        need = jnp.any(x != features[None], axis=2)  # [C, n, T]: frames the draw changed ...
        read = jax.vmap(lambda g: metric.frames(targets, g))(groups) if metric.selects_frames else None  # ... it reads
        y = frame_wise_outputs(apply_fn, params, x, y_ref, need if read is None else need & read, output=output)
    else:
        y = select(apply_fn(params, x.reshape((chunk_size * n_clips,) + features.shape[1:])), output)
        y = y.reshape((chunk_size, n_clips) + y.shape[1:])
    imp = jax.vmap(lambda yy, g: metric.importance(yy, y_ref, targets, base, g))(y, groups)
    imp, weight = imp if metric.pooled else (imp, jnp.ones((), imp.dtype))
    out = (imp, weight, groups, change)
    if mesh is not None:  # gather the small per-draw outputs on every host
        out = tuple(jax.lax.with_sharding_constraint(a, NamedSharding(mesh, P())) for a in out)
    return out


FRAME_TILE = 1024  # frames per forward call of a frame-wise model (compute-bound from a few hundred on CPU)


def frame_wise_outputs(apply_fn, params, x, y_ref, need, *, output, tile: int = FRAME_TILE):
    """``[C, n, P, T]``: a frame-wise model's outputs on ``x [C, n, F, T]``, computed on the frames
    ``need [C, n, T]`` only, ``tile`` frames per call (as many calls as needed, a dynamic loop: no
    recompilation when the count changes), ``y_ref [n, P, T]`` elsewhere.

    ``apply_fn`` is frame-wise (:func:`amt_jax.models.model.frame_wise`: output frame t reads input
    frame t only), so a frame left as it was has its reference output, and a frame the metric does
    not read may hold anything: what it would be is never computed. The frames are gathered into one
    pseudo-clip ``[1, F, tile]`` per call; each frame's output is the one a full forward gives, up to
    float rounding (other batch shapes)."""
    c, n, f, t = x.shape
    y0 = jnp.broadcast_to(y_ref, (c,) + y_ref.shape)
    p = y0.shape[2]
    m = c * n * t
    rows = jnp.swapaxes(x, 2, 3).reshape((m, f))
    out = jnp.swapaxes(y0, 2, 3).reshape((m, p))
    n_tiles = -(-m // tile)
    idx = jnp.nonzero(need.reshape(m), size=n_tiles * tile, fill_value=m)[0]  # needed frames first; m: none

    def one_tile(i, out):
        sel = jax.lax.dynamic_slice(idx, (i * tile,), (tile,))
        frames = jnp.take(rows, sel, axis=0, mode="clip")  # [tile, F] (fill rows: any frame, dropped below)
        y = select(apply_fn(params, frames.T[None]), output)[0].T  # [tile, P]
        return out.at[sel].set(y.astype(out.dtype), mode="drop")

    count = jnp.sum(need, dtype=jnp.int32)
    out = jax.lax.fori_loop(0, (count + tile - 1) // tile, one_tile, out)
    return jnp.swapaxes(out.reshape((c, n, t, p)), 2, 3)


@dataclasses.dataclass
class Draws:
    """What the engine keeps of ``n`` draws (host numpy): ``draw_clip [n, n_clips(, P)]`` (float32,
    as computed: importances, or a pooled metric's sums), ``groups [n]``, ``input_change [n, n_clips]``
    and, for a pooled metric, ``weights`` (its counts, the shape of ``draw_clip``)."""

    draw_clip: np.ndarray
    groups: np.ndarray
    input_change: np.ndarray
    weights: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.groups.shape[0])

    @property
    def importances(self) -> np.ndarray:
        """Per-draw importance ``[n(, P)]``: the mean over clips (a pooled metric: Σ sums / Σ counts
        over clips, nan where the count is 0), in float64."""
        if self.weights is None:
            return self.draw_clip.astype(np.float64).mean(axis=1)
        return _ratio(self.draw_clip.astype(np.float64).sum(axis=1), self.weights.astype(np.float64).sum(axis=1))

    @property
    def clip_values(self) -> np.ndarray:
        """Per draw and clip ``[n, n_clips(, P)]``: the importance (a pooled metric: sums / counts, nan where 0)."""
        return self.draw_clip if self.weights is None else _ratio(self.draw_clip, self.weights).astype(np.float32)

    @property
    def clip_means(self) -> np.ndarray:
        """Per clip ``[n_clips(, P)]`` over draws: the mean (a pooled metric: Σ sums / Σ counts)."""
        if self.weights is None:
            return self.draw_clip.astype(np.float64).mean(axis=0)
        return _ratio(self.draw_clip.astype(np.float64).sum(axis=0), self.weights.astype(np.float64).sum(axis=0))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


@dataclasses.dataclass
class Running:
    """Running sums over the draws done so far, for stopping rules: ``n``, the per-draw importances'
    power sums ``s1 .. s4 [...]`` (float64) and the per-clip sums ``clip [n_clips, ...]``."""

    n: int = 0
    s1: np.ndarray | float = 0.0
    s2: np.ndarray | float = 0.0
    s3: np.ndarray | float = 0.0
    s4: np.ndarray | float = 0.0
    clip: np.ndarray | float = 0.0

    def add(self, draw_clip: np.ndarray) -> None:
        d = draw_clip.astype(np.float64)
        x = d.mean(axis=1)
        self.n += x.shape[0]
        self.s1, self.s2 = self.s1 + x.sum(0), self.s2 + (x**2).sum(0)
        self.s3, self.s4 = self.s3 + (x**3).sum(0), self.s4 + (x**4).sum(0)
        self.clip = self.clip + d.sum(0)


StopRule = Callable[[Running], bool]  # running sums -> keep drawing?


def run_draws(run: Callable, n_draws: int, chunk_size: int, *, more: StopRule | None = None, cap: int | None = None,
              progress: Callable[[int, int], None] | None = None) -> Draws:
    """Stream draws ``0 .. n_draws − 1`` through ``run(start) -> (imp, weight, groups, change)`` (a jitted
    :func:`chunk` with everything else bound). With ``more``, once ``n_draws`` are done, keep adding
    a chunk at a time while ``more(running)`` says so, up to ``cap`` draws (draw ids stay
    contiguous). ``progress(done, planned)`` is called after every chunk."""
    parts: list[tuple[np.ndarray, ...]] = []
    running = Running()
    done, launched, goal = 0, 0, n_draws
    cap = n_draws if cap is None else cap
    in_flight = collections.deque()  # one chunk computes while the host reads the previous one
    while done < goal:
        while launched < goal and len(in_flight) < 2:
            in_flight.append(run(jax.device_put(np.int32(launched))))
            launched += chunk_size
        imp, weight, grp, change = in_flight.popleft()
        k = min(chunk_size, goal - done)
        weight = np.broadcast_to(np.asarray(weight), np.shape(imp))[:k] if np.ndim(weight) else None
        parts.append((np.asarray(imp)[:k], np.asarray(grp)[:k], np.asarray(change)[:k], weight))
        if more is not None:
            running.add(parts[-1][0])
        done += k
        if done == goal and more is not None and done < cap and more(running):
            goal, launched = min(cap, done + chunk_size), done
        if progress is not None:
            progress(done, goal)
    imp, grp, change, weight = zip(*parts)
    weights = None if weight[0] is None else np.concatenate(weight)
    return Draws(np.concatenate(imp), np.concatenate(grp).astype(np.int64), np.concatenate(change).astype(np.float32),
                 weights)
