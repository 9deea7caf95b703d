"""Basic Pitch's ``stack`` capability: its harmonic stack read off the network, and the network
run from a given stack.

:func:`stack_features` reads the stack ``S [N, H·F', T]`` off the module (``flax.linen.intercept_methods``
records ``onset_conv``'s input) and :func:`apply_from_stack` runs the rest of the module on a given
stack: the interceptor substitutes it for ``onset_conv``'s input, and computes ``contour_conv`` (a
``HarmonicStackConv``, which reads X and never builds the stack) as the convolution of the given
stack with that layer's own parameters. Both run the network itself (``BasicPitch.network``), not
the inference loop over chunks of examples.
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax.numpy as jnp

from amt_jax import validate
from amt_jax.models.basic_pitch import BasicPitch, BasicPitchConfig, freq_blocked_conv

STACK_CONV = "onset_conv"  # a convolution whose input is the stack [N, T, F', H]
X_STACK_CONV = "contour_conv"  # HarmonicStackConv: the stack's convolution, computed from X [N, T, F]


def _called(context, name: str) -> bool:
    return context.method_name == "__call__" and context.module.name == name


@functools.lru_cache(maxsize=None)
def stack_features(config):
    """``(variables, x [N, F, T]) -> S [N, H·F', T]``: the stack ``BasicPitch(config)`` computes
    (after its input batch norm), channel-major along axis 1 (channel i = rows i·F' .. (i+1)·F' − 1)."""
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
class BasicPitchStack:
    """The ``stack`` capability of ``BasicPitch(config)``: ``harmonics`` (one channel each), ``n_bins``
    (F' per channel), ``features(variables, x)`` and ``apply(variables, S)``."""

    config: BasicPitchConfig

    @property
    def harmonics(self) -> tuple[float, ...]:
        return tuple(self.config.harmonics)

    @property
    def n_bins(self) -> int:
        return self.config.n_contour_bins

    @property
    def features(self):
        return stack_features(self.config)

    @property
    def apply(self):
        return apply_from_stack(self.config)
