"""Importance of the channels of Basic Pitch's harmonic stack: the representation the model sees.

The stack ``S [N, H, F', T]`` (channel i holds the batch-normalised X shifted so harmonic h_i of
bin f lands on f; h ∈ {0.5, 1, 2, ..., 7} for Basic Pitch) feeds ``contour_conv`` and
``onset_conv``. :func:`stack_features` reads it off the module (``flax.linen.intercept_methods``
records ``onset_conv``'s input) and :func:`apply_from_stack` runs the rest of the module on a
given stack: the interceptor substitutes it for ``onset_conv``'s input, and computes
``contour_conv`` (a ``HarmonicStackConv``, which reads X and never builds the stack) as the
convolution of the given stack with that layer's own parameters. Both run the network itself
(``BasicPitch.network``), not the inference loop over chunks of examples. Channel h's importance ``I(h)`` is the note-output change (``output_l1``) when channel h
alone takes its values from other frames (:class:`ChannelDerangement`: a random T-cycle of the
frames, the same for every clip), estimated by the engine
(:func:`amt_jax.estimators.importance.permutation_importance`): draws by ``fold_in``, chunked,
sharded, with Monte Carlo and piece-level intervals.
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import validate
from amt_jax.explain import attribution
from amt_jax import estimators

STACK_CONV = "onset_conv"  # a convolution whose input is the stack [N, T, F', H]
X_STACK_CONV = "contour_conv"  # HarmonicStackConv: the stack's convolution, computed from X [N, T, F]


def _called(context, name: str) -> bool:
    return context.method_name == "__call__" and context.module.name == name


@functools.lru_cache(maxsize=None)
def stack_features(config):
    """``(variables, x [N, F, T]) -> S [N, H·F', T]``: the stack ``BasicPitch(config)`` computes
    (after its input batch norm), channel-major along axis 1 (channel i = rows i·F' .. (i+1)·F' − 1)."""
    from amt_jax.models.basic_pitch import BasicPitch

    module = BasicPitch(config)

    def run(variables, x):
        seen = []

        def record(next_fun, args, kwargs, context):
            if _called(context, STACK_CONV):
                seen.append(args[0])  # NHWC [N, T, F', H]
            return next_fun(*args, **kwargs)

        with nn.intercept_methods(record):
            module.apply(variables, x, train=False, method=BasicPitch.network)
        s = jnp.transpose(seen[0], (0, 3, 2, 1))  # [N, H, F', T]
        return s.reshape(s.shape[0], -1, s.shape[-1])

    return run


@functools.lru_cache(maxsize=None)
def apply_from_stack(config):
    """``(variables, S [B, H·F', T]) -> {"note", "onset", "contour"}``: ``BasicPitch(config)`` with
    its stack replaced by ``S`` (the input batch norm and stacking run on zeros and are unused)."""
    from amt_jax.models.basic_pitch import BasicPitch, freq_blocked_conv

    module = BasicPitch(config)
    n_channels, n_stack_bins = len(config.harmonics), config.n_contour_bins

    def run(variables, s):
        validate.exact_rank("s", s, 3, "[B, H·F', T]")
        nhwc = jnp.transpose(s.reshape(s.shape[0], n_channels, n_stack_bins, s.shape[-1]), (0, 3, 2, 1))

        def substitute(next_fun, args, kwargs, context):
            if _called(context, X_STACK_CONV):
                conv = context.module
                params = conv.variables["params"]
                return freq_blocked_conv(nhwc, params["kernel"], block=conv.block) + params["bias"]
            if _called(context, STACK_CONV):
                args = (nhwc, *args[1:])
            return next_fun(*args, **kwargs)

        with nn.intercept_methods(substitute):
            zeros = jnp.zeros((s.shape[0], config.n_input_bins, s.shape[-1]), s.dtype)
            return module.apply(variables, zeros, train=False, method=BasicPitch.network)

    return run


@dataclasses.dataclass(frozen=True)
class ChannelDerangement:
    """A perturbation family on stacks ``[n_clips, H·F', T]``: channel ``channel`` takes its values
    from other frames (``attribution.time_derangement``, the same for every clip); group = channel."""

    n_bins: int  # H·F'
    n_channels: int
    channel: int

    @property
    def groups(self) -> tuple[int, ...]:
        return (self.channel,)

    def perturb(self, key, x, draw=None):
        per = self.n_bins // self.n_channels
        perm = attribution.time_derangement(key, x.shape[-1])
        lo = self.channel * per
        moved = x[:, lo:lo + per][..., perm]
        return jax.lax.dynamic_update_slice_in_dim(x, moved, lo, axis=1), jnp.int32(self.channel)


def channel_family(config, channel: int) -> ChannelDerangement:
    """:class:`ChannelDerangement` of channel index ``channel`` (0-based, into ``config.harmonics``)."""
    n = len(config.harmonics)
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not 0 <= channel < n:
        raise ValueError(f"channel must be an index in [0, {n}), got {channel!r}")
    return ChannelDerangement(n_bins=n * config.n_contour_bins, n_channels=n, channel=int(channel))


def channel_importance(variables, features, *, config, key, n_permutations: int, clusters=None,
                       chunk_size: int | None = None, mesh=None, channels=None) -> dict:
    """I(h) for each stack channel: ``{harmonic h: ImportanceResult}`` (note output, ``output_l1``,
    bigger = more important), channel i's draws from ``fold_in(key, i)``.

    Args:
      variables: Flax variables of ``BasicPitch(config)``.
      features: ``[n_clips, F, T]`` the model's input features.
      clusters: ``[n_clips]`` piece of each clip (piece-level intervals).
      channels: channel indices (default all).
    """
    stack = np.asarray(jax.jit(stack_features(config))(variables, jnp.asarray(features, jnp.float32)))
    apply_fn = apply_from_stack(config)
    channels = range(len(config.harmonics)) if channels is None else channels
    out = {}
    for i in channels:
        out[float(config.harmonics[i])] = estimators.permutation_importance(
            apply_fn, variables, stack, family=channel_family(config, i), n_permutations=n_permutations,
            key=jax.random.fold_in(key, i), metric="output_l1", output="note", clusters=clusters,
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
