"""PESTO's LRP adapter: its encoder as linear layers in order, for the generic rules and composites
of :mod:`amt_jax.explain.lrp` (the protocol: :mod:`amt_jax.models.bp_lrp`).

What it explains. PESTO's ``logits`` capability is each key's log-odds (:func:`key_log_odds`),
a difference of two ``logsumexp`` of the pre-softmax logits: not linear in them, so no LRP rule
distributes it. The adapter's output is instead each key's **logit contrast**
(:func:`amt_jax.models.pesto.key_contrast`): the mean pre-softmax logit over the key's output bins
minus the mean over every other bin. It is linear, blind to a common shift of the logits as the
softmax is (the plain sum of the key's bin logits is not: it moves with a shift that changes no
output), and it is the log-odds to first order about flat logits. Every other method of
:mod:`amt_jax.explain.crossmethod` differentiates ``logits`` (the log-odds): LRP's objective is
this linear stand-in for it, which the adapter's ``explains`` records.

The graph, per frame (frames are a batch axis; every array keeps the clip axis N first so each
layer's probe reports what it absorbed per clip):

- ``input_map``: X ``[N, 251, T]`` dB -> the encoder's bins ``[N, T, 219, 1]`` (the crop
  16..235 and a transpose: selections, relevance moves with its value).
- ``layernorm`` (the LN-rule, Ali et al. 2022): the standard deviation is detached
  (``stop_gradient``), so the LayerNorm is the linear map ``u ↦ k ⊙ C u / σ + b`` of the dB
  deviations ``u = X − mean X`` (C the centring matrix, ``k`` the affine scale; the ``ln 10/10``
  of dB → log-power folded into the kernel: a scaling outside a layer would multiply relevance).
  It is written as one layer whose linear map includes the centring (:class:`Centre`): the
  centring's ordinary VJP would map relevance to a zero sum. Its input is ``u``, computed with
  the frame's mean detached (relevance passes from ``u_i`` to ``X_i`` one to one): the layer is
  expanded about the root point ``mean X · 1``, the nearest input the centring maps to 0, so the
  relevance ``R_i = u_i Σ_j C_ij k_j R_j / (σ y_j)`` does not depend on the dB reference (the
  loudness), to which the network is blind; at the plain input ``X`` it would (LRP-0 at the
  layer = gradient × (X − mean X) of the model with σ detached, tested).
- The input layer is the LayerNorm and ``conv1`` together (a normalisation belongs to the layer
  it feeds, as a batch norm is folded into its convolution): both have their rule fixed to
  LRP-0 (``rules``), whatever the composite's ``first`` — which never applies to PESTO. z^B
  needs bounds and the dB input has no clean ones (the floor is float32 eps, −138 dB; there is
  no ceiling); the rules that read kernel signs (γ, z⁺) would read ``k``'s on the LayerNorm, not
  the centring map's; and γ assumes non-negative inputs, while ``conv1`` reads the LayerNorm's
  zero-mean standardised spectrum (with γ there, measured on a harmonic tone, conv1 and the
  LayerNorm absorb −8.7 and −3.7 times the top relevance: the map is noise; with LRP-0, 0.26
  and −0.11).
- ``prefilt_i``: convolutions over bins (:class:`BinConv`); ``conv_i``: the 1×1 convolutions as
  :class:`Dense` on channels: the composite's middle rule. Their inputs are
  leaky-ReLU outputs, negative where a unit is off (at 0.3 of its pre-activation): γ and z⁺
  treat those as ordinary inputs.
- Leaky ReLU (slope 0.3) passes relevance unchanged (``ops.activation``, the Pass rule): a
  unit's relevance is the same before and after; the ordinary VJP would keep only 0.3 of a
  negative unit's. (Writing it as ``x·s(x)`` with ``s`` detached has the same VJP, so it is not
  conservative either.) With LRP-0 and no biases this gives gradient × input exactly, the
  leaky ReLU being positively homogeneous.
- ``residual_i``: ``h + lrelu(prefilt_i(h))`` as a layer over the two branches with kernel
  ``[1, 1]`` and rule fixed to LRP-0 (the proportional split ``R_a = a R / (a + b)``; the sum's
  ordinary VJP would give both branches all of ``R``).
- ``fc`` (the top, the composite's top rule): the channel-major flatten (a selection), then the
  Toeplitz layer, the roll by −``shift_bins`` and the key contrast as one dense ``657 → P``
  matrix (:meth:`PestoLRP.read_matrix`; composing linear maps is canonisation, like folding a
  batch norm). It is not left as a convolution: the rules read the signs of the composed
  weights, and the contrast's weights have both signs. No bias: the top absorbs only ε.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.models.pesto import network
from amt_jax.models.pesto.keys import key_contrast_matrix

LAYERS = ("layernorm", "conv1", "prefilt_0", "residual_0", "prefilt_1", "residual_1", "conv_0", "conv_1", "conv_2",
          "conv_3", "fc")  # input → output
EXPLAINS = ("each key's logit contrast (amt_jax.models.pesto.key_contrast: mean pre-softmax logit over the key's "
            "bins minus the mean over the other bins), a linear stand-in for the log-odds the logits capability gives")


class Dense:
    """``x [..., i] @ W [i, o]`` (a hashable linear map for ``ops.layer``)."""

    def __call__(self, x, kernel):
        return x @ kernel

    def __eq__(self, other):
        return type(other) is Dense

    def __hash__(self):
        return hash(Dense)


@dataclasses.dataclass(frozen=True)
class Centre:
    """``(x − mean x) ⊙ kernel`` over the last axis: the LayerNorm with its σ detached (``kernel =
    scale / σ`` per row and bin). Its kernel's signs are not its weights' signs (the centring's
    off-diagonal weights have the opposite sign): only ε rules read it correctly."""

    def __call__(self, x, kernel):
        return (x - jnp.mean(x, axis=-1, keepdims=True)) * kernel


@dataclasses.dataclass(frozen=True)
class BinConv:
    """PESTO's correlation over bins with zero padding ``padding``: ``x [..., W, I]``, kernel ``[K, I, O]``
    -> ``[..., W', O]`` (every leading axis a batch axis)."""

    padding: int

    def __call__(self, x, kernel):
        rows = x.reshape((-1,) + x.shape[-2:])
        y = jax.lax.conv_general_dilated(rows, kernel, (1,), [(self.padding, self.padding)],
                                         dimension_numbers=("NWC", "WIO", "NWC"))
        return y.reshape(x.shape[:-2] + y.shape[-2:])


@dataclasses.dataclass(frozen=True)
class PestoLRP:
    """The LRP adapter of a :class:`~amt_jax.models.pesto.network.PestoNet` (its hyperparameters)
    on ``layout`` (the keys the contrast reads)."""

    layout: FrequencyLayout
    n_bins: int  # the module's hyperparameters, copied by :meth:`of` (one source: the module)
    crop_lo: int
    channels: tuple[int, ...]
    n_prefilt: int
    prefilt_kernel: int
    output_dim: int
    shift_bins: int
    slope: float
    explains: str = EXPLAINS

    @classmethod
    def of(cls, module: network.PestoNet, layout: FrequencyLayout) -> "PestoLRP":
        return cls(layout, module.n_bins, module.crop_lo, tuple(module.channels), module.n_prefilt,
                   module.prefilt_kernel, module.output_dim, module.shift_bins, module.slope)

    def __post_init__(self):
        expected = ("layernorm", "conv1") + sum(((f"prefilt_{i}", f"residual_{i}") for i in range(self.n_prefilt - 1)), ()) \
            + tuple(f"conv_{i}" for i in range(len(self.channels) - 1)) + ("fc",)
        if expected != LAYERS:
            raise ValueError(f"PestoLRP is written for {len(LAYERS)} layers {LAYERS}, the module has {expected}")

    @property
    def layers(self) -> tuple[str, ...]:
        return LAYERS

    @property
    def rules(self) -> tuple:
        """LRP-0 on the input layer (the LayerNorm and conv1) and the residual sums, whatever the
        composite (module docstring)."""
        return tuple((name, "lrp0") for name in ("layernorm", "conv1", "residual_0", "residual_1"))  # explain.lrp.FIXED_RULES

    @property
    def n_input_bins(self) -> int:
        return self.n_bins

    @property
    def n_pitches(self) -> int:
        return self.layout.n_pitches

    @property
    def width(self) -> int:
        """Bins the encoder reads."""
        return self.n_bins - 2 * self.crop_lo

    def input_map(self, x) -> jax.Array:
        """``X [N, 251, T]`` dB -> the encoder's bins, per frame ``[N, T, 219, 1]`` (crop and transpose)."""
        return jnp.swapaxes(x[:, self.crop_lo:self.n_bins - self.crop_lo], 1, 2)[..., None]

    def read_matrix(self, taps) -> jax.Array:
        """``[657, P]``: the Toeplitz layer (``taps [657 + 384 − 1]``: ``out[j] = Σ_i flat[i]·taps[i
        − j + 383]``), the roll by ``−shift_bins`` and the key contrast, composed."""
        n_in, n_out = self.channels[-1] * self.width, self.output_dim
        rolled = (np.arange(n_out) + self.shift_bins) % n_out  # output bin b reads the Toeplitz output b + shift
        toeplitz = jnp.take(taps, network.toeplitz_index(n_in, n_out)[:, rolled])  # [657, 384]
        return toeplitz @ key_contrast_matrix(self.layout, n_out)

    def graph(self, variables, s, probes, ops) -> jax.Array:
        """Key logit contrasts ``[N, P, T]`` from the encoder's bins ``s [N, T, 219, 1]`` (:meth:`input_map`)."""
        p = variables["params"]
        act = functools.partial(network.leaky_relu, slope=self.slope)
        x = s[..., 0]  # [N, T, W] dB
        u = x - jax.lax.stop_gradient(jnp.mean(x, axis=-1, keepdims=True))  # relevance passes one to one
        var = jnp.mean(jnp.square(network.DB_TO_LOG * u), axis=-1, keepdims=True)  # of log-power, as the module
        kernel = network.DB_TO_LOG * p["layernorm"]["scale"] * jax.lax.stop_gradient(
            jax.lax.rsqrt(var + network.LAYERNORM_EPS))
        h = ops.layer("layernorm", Centre(), u, kernel, p["layernorm"]["bias"], probes["layernorm"])
        conv = BinConv(self.prefilt_kernel // 2)
        h = ops.activation(act, ops.layer("conv1", conv, h[..., None], p["conv1"]["kernel"], p["conv1"]["bias"],
                                          probes["conv1"]))
        for i in range(self.n_prefilt - 1):
            name = f"prefilt_{i}"
            branch = ops.activation(act, ops.layer(name, conv, h, p[name]["kernel"], p[name]["bias"], probes[name]))
            h = ops.layer(f"residual_{i}", Dense(), jnp.stack([h, branch], -1), jnp.ones((2, 1), h.dtype),
                          jnp.zeros((1,), h.dtype), probes[f"residual_{i}"])[..., 0]
        for i in range(len(self.channels) - 1):
            name = f"conv_{i}"
            h = ops.activation(act, ops.layer(name, Dense(), h, p[name]["kernel"][0], p[name]["bias"], probes[name]))
        flat = jnp.swapaxes(h, -1, -2).reshape(h.shape[:-2] + (-1,))  # [N, T, C·W] channel-major, as the module
        a = self.read_matrix(p["fc"])
        z = ops.layer("fc", Dense(), flat, a, jnp.zeros(a.shape[-1], a.dtype), probes["fc"])  # [N, T, P]
        return jnp.swapaxes(z, -1, -2)
