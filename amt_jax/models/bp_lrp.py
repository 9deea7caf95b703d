"""Basic Pitch's LRP adapter: its note path as linear layers in order, for the generic rules and
composites of :mod:`amt_jax.explain.lrp`.

An adapter gives ``layers`` (the linear layers' names, input → output), ``n_input_bins`` and
``n_pitches``, ``input_map(x)`` (a structural map of the features, e.g. the harmonic stack: relevance
moves with the values it selects) and ``graph(params, s, probes, ops)``: the logits ``[N, P, T]``
from ``s = input_map(x)``, every linear layer written as ``ops.layer(name, lin, x, kernel, bias,
probe, low=None, high=None)`` (``lin(x, kernel)`` a hashable linear map) and every sigmoid between
layers as ``ops.sigmoid_pass`` (any other elementwise activation as ``ops.activation(fn, z)``).
Optionally ``rules``: ``((layer name, rule), ...)`` fixed whatever the composite (layers where a
composite's rule would be wrong), and ``explains``: one line saying which quantity ``graph``
outputs (when it is not the model's ``logits`` capability). The rules never see the family's
code, the family never sees the rules.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from amt_jax.frontend import features
from amt_jax.models.basic_pitch import BasicPitchConfig, freq_blocked_conv

NOTE_LAYERS = ("contour_conv", "contour_out", "note_conv", "note_out")  # input → output


@dataclasses.dataclass(frozen=True)
class Conv:
    """Basic Pitch's 'SAME' convolution, NHWC x, HWIO kernel, stride (1, ``stride``) (see
    :func:`amt_jax.models.basic_pitch.freq_blocked_conv`; ``block`` is a speed knob only)."""

    stride: int = 1
    block: int = 1

    def __call__(self, x, kernel):
        return freq_blocked_conv(x, kernel, stride=self.stride, block=self.block)


def _bn(variables, name, eps):
    """Inference batch norm as ``a·x + c`` per channel (flax: ``(x − mean)·scale/√(var + eps) + bias``)."""
    p, s = variables["params"][name], variables["batch_stats"][name]
    a = jax.lax.rsqrt(s["var"] + eps) * p["scale"]
    return a, p["bias"] - s["mean"] * a


@dataclasses.dataclass(frozen=True)
class BasicPitchLRP:
    """The LRP adapter of ``BasicPitch(config)``'s note output."""

    config: BasicPitchConfig
    layers: tuple[str, ...] = NOTE_LAYERS
    explains: str = "the note logits (the model's logits capability)"

    @property
    def n_input_bins(self) -> int:
        return self.config.n_input_bins

    @property
    def n_pitches(self) -> int:
        return self.config.n_pitches

    def linear(self, name: str) -> Conv:
        """The linear map of layer ``name``."""
        return Conv(stride=self.config.bins_per_semitone if name == "note_conv" else 1,
                    block=dict(self.config.conv_blocks).get(name, 1))

    def input_map(self, x) -> jax.Array:
        """The harmonic stack of raw features (before the input batch norm), NHWC ``[N, T, P·B, H]``."""
        c = self.config
        s = features.harmonic_stack(x, harmonics=c.harmonics, bins_per_octave=c.bins_per_octave,
                                    n_output_bins=c.n_contour_bins)  # [N, H, F', T]
        return jnp.transpose(s, (0, 3, 2, 1))

    def graph(self, variables, stack, probes, ops) -> jax.Array:
        """Note logits ``[N, P, T]`` from the stack ``[N, T, F', H]`` (:meth:`input_map`).

        The input batch norm is folded into ``contour_conv`` (its bias, zero-filled like the stack's
        edges, becomes a per-position bias) and ``contour_bn`` too; the first layer's input lies in
        ``[0, input_map(1)]`` (the features lie in [0, 1]; zero fill stays 0).
        """
        p, eps = variables["params"], self.config.bn_epsilon
        a_in, c_in = _bn(variables, "input_bn", eps)
        a_c, c_c = _bn(variables, "contour_bn", eps)
        valid = self.input_map(jnp.ones((1, self.config.n_input_bins, stack.shape[1]), stack.dtype))  # [1, T, F', H]
        first = self.linear("contour_conv")
        w1 = p["contour_conv"]["kernel"]
        k1 = w1 * a_in[0] * a_c
        b1 = a_c * (c_in[0] * first(valid, w1) + p["contour_conv"]["bias"]) + c_c
        h = jax.nn.relu(ops.layer("contour_conv", first, stack, k1, b1, probes["contour_conv"], jnp.zeros_like(valid), valid))

        def plain(name, v):
            return ops.layer(name, self.linear(name), v, p[name]["kernel"], p[name]["bias"], probes[name])

        contour = ops.sigmoid_pass(plain("contour_out", h))
        z = plain("note_out", jax.nn.relu(plain("note_conv", contour)))  # [N, T, P, 1]
        return jnp.swapaxes(z[..., 0], -1, -2)
