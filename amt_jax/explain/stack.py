"""Importance of the channels of a model's harmonic stack: the representation the model sees.

The stack ``S [N, H·F', T]`` (channel i holds the normalised X shifted so harmonic h_i of bin f
lands on f; h ∈ {0.5, 1, 2, ..., 7} for Basic Pitch) is the model's ``stack`` capability: its
``features(params, x)`` read it off the network and its ``apply(params, S)`` runs the rest of the
network on a given stack (Basic Pitch's: :mod:`amt_jax.models.bp_stack`). Channel h's importance
``I(h)`` is the output change (``output_l1``) when channel h
alone takes its values from other frames (:class:`ChannelDerangement`: a random T-cycle of the
frames, the same for every clip), estimated by the engine
(:func:`amt_jax.estimators.importance.permutation_importance`): draws by ``fold_in``, chunked,
sharded, with Monte Carlo and piece-level intervals.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax.explain import attribution
from amt_jax.perturb import pytree
from amt_jax import estimators

@pytree.register("n_bins", "n_channels")
@dataclasses.dataclass(frozen=True)
class ChannelDerangement(pytree.Tabled):
    """A perturbation family on stacks ``[n_clips, H·F', T]``: channel ``channel`` takes its values
    from other frames (``attribution.time_derangement``, the same for every clip); group = channel.
    The channel is data (a traced table): every channel's run shares one compiled program."""

    n_bins: int  # H·F'
    n_channels: int
    channel: int

    @property
    def groups(self) -> tuple[int, ...]:
        return (self.channel,)

    def make_tables(self) -> dict:
        return {"channel": np.int32(self.channel)}

    def perturb(self, key, x, draw=None):
        per = self.n_bins // self.n_channels
        perm = attribution.time_derangement(key, x.shape[-1])
        channel = self.tables["channel"]
        moved = jax.lax.dynamic_slice_in_dim(x, channel * per, per, axis=1)[..., perm]
        return jax.lax.dynamic_update_slice_in_dim(x, moved, channel * per, axis=1), jnp.asarray(channel, jnp.int32)


def channel_family(view, channel: int) -> ChannelDerangement:
    """:class:`ChannelDerangement` of channel index ``channel`` (0-based, into ``view.harmonics``) of a
    model's ``stack`` capability ``view``."""
    n = len(view.harmonics)
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not 0 <= channel < n:
        raise ValueError(f"channel must be an index in [0, {n}), got {channel!r}")
    return ChannelDerangement(n_bins=n * view.n_bins, n_channels=n, channel=int(channel))


def channel_importance(model, features, *, key, n_permutations: int, params=None, clusters=None,
                       chunk_size: int | None = None, mesh=None, channels=None) -> dict:
    """I(h) for each stack channel of ``model`` (its ``stack`` capability): ``{harmonic h:
    ImportanceResult}`` (the model's output, ``output_l1``, bigger = more important), channel i's
    draws from ``fold_in(key, i)``.

    Args:
      model: a :class:`~amt_jax.models.Model` with a ``stack``; ``params``: its params to use
        (default ``model.params``; e.g. a randomisation depth).
      features: ``[n_clips, F, T]`` the model's input features.
      clusters: ``[n_clips]`` piece of each clip (piece-level intervals).
      channels: channel indices (default all).
    """
    view = model.require("stack", "stack channel importance")
    params = model.params if params is None else params
    stack = np.asarray(jax.jit(view.features)(params, jnp.asarray(features, jnp.float32)))
    channels = range(len(view.harmonics)) if channels is None else channels
    out = {}
    for i in channels:
        out[float(view.harmonics[i])] = estimators.permutation_importance(
            view.apply, params, stack, family=channel_family(view, i), n_permutations=n_permutations,
            key=jax.random.fold_in(key, i), metric="output_l1", output=model.output, clusters=clusters,
            chunk_size=chunk_size, mesh=mesh)
    return out


def summary(results: dict) -> dict:
    """JSON-able I(h): per channel the mean over clips with its Monte Carlo CI, and the mean over
    pieces (``piece_mean``) with its piece-level CI (``clip_ci_*``, centred on ``piece_mean``)."""
    keys = ("importances_mean", "ci_low", "ci_high", "piece_mean", "clip_ci_low", "clip_ci_high")
    out = {}
    for h, r in results.items():
        s = r.summary()
        out[str(h)] = {k: (float(s[k]) if np.isfinite(s[k]) else None) for k in keys}
        out[str(h)].update(n_clusters=int(r.n_clusters), n_permutations=int(r.importances.shape[0]))
    return out
