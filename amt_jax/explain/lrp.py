"""Layer-wise relevance propagation (LRP) for Basic Pitch's note logits, as a ``jax.vjp``.

Relevance is the cotangent. Every linear layer ``z = lin(x, W) + b`` is a ``jax.custom_vjp``
(:func:`layer`) whose backward maps the relevance ``R`` of its outputs to its inputs by a rule;
everything else keeps its ordinary VJP, which is the right relevance map for it: the harmonic
stack, transposes and reshapes are selections (relevance moves with the value it belongs to),
and ReLU's mask only zeroes relevance that is already 0 (a dead unit's input term ``x_j`` is 0).
The contour sigmoid between the two heads passes relevance unchanged (:func:`sigmoid_pass`, the
"Pass" rule for activations). Batch norms are merged into the adjacent convolution (canonisation).
Seeding the VJP with ``R_top = mask ⊙ logits`` gives the relevance of every input bin and frame.

Rules, for ``z_k = Σ_j x_j w_jk + b_k`` (Montavon et al. 2019; Kohlbrenner et al. 2020)::

    Epsilon(ε)   R_j = x_j Σ_k w_jk R_k / (z_k + ε·sign z_k)              ε = 0: LRP-0
    Gamma(γ)     w → w + γw⁺, b → b + γb⁺ in numerator and denominator     γ = 0: LRP-0
    ZPlus()      R_j = Σ_k (x⁺_j w⁺_jk + x⁻_j w⁻_jk) R_k / Σ_j (same)      bias ignored
    ZBox()       R_j = Σ_k (x_j w_jk − l_j w⁺_jk − h_j w⁻_jk) R_k / Σ_j (same), x ∈ [l, h]

A division by an exact 0 gives 0 (that relevance is absorbed). A :class:`Composite` picks the rule
by layer position: ``first`` (the input layer: ZBox, NormalizedLog features lie in [0, 1]),
``middle``, ``top``. Every layer takes a *probe* ``[N]`` whose cotangent is the relevance the layer
absorbed per example (``Σ R_out − Σ R_in``: biases, ε, zero denominators), so conservation is
reported exactly: ``Σ R_input + Σ_layers absorbed = Σ R_top`` up to float rounding.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import validate
from amt_jax.stats import similarity
from amt_jax.frontend import features
from amt_jax.models.basic_pitch import BasicPitchConfig, freq_blocked_conv


# --------------------------------------------------------------------------- rules


@dataclasses.dataclass(frozen=True)
class Epsilon:
    epsilon: float = 0.0


@dataclasses.dataclass(frozen=True)
class Gamma:
    gamma: float = 0.25


@dataclasses.dataclass(frozen=True)
class ZPlus:
    pass


@dataclasses.dataclass(frozen=True)
class ZBox:
    """Bounded input: the layer's input lies in ``[low, high]`` (arrays given to :func:`layer`)."""


Rule = Epsilon | Gamma | ZPlus | ZBox


@dataclasses.dataclass(frozen=True)
class Dense:
    """``x [..., i] @ W [i, o]``."""

    def __call__(self, x, kernel):
        return x @ kernel


@dataclasses.dataclass(frozen=True)
class Conv:
    """Basic Pitch's 'SAME' convolution, NHWC x, HWIO kernel, stride (1, ``stride``) (see
    :func:`amt_jax.models.basic_pitch.freq_blocked_conv`; ``block`` is a speed knob only)."""

    stride: int = 1
    block: int = 1

    def __call__(self, x, kernel):
        return freq_blocked_conv(x, kernel, stride=self.stride, block=self.block)


def _divide(r, den):
    return jnp.where(den == 0, 0.0, r / jnp.where(den == 0, 1.0, den))


def _terms(rule, lin, x, kernel, bias, low, high):
    """``(denominator z, [(a, W'), ...])``: R_in = Σ a ⊙ Wᵀ'(R / z) over the terms."""
    pos, neg = jnp.maximum(kernel, 0.0), jnp.minimum(kernel, 0.0)
    if isinstance(rule, Epsilon):
        z = lin(x, kernel) + bias
        return z + rule.epsilon * jnp.where(z >= 0, 1.0, -1.0), [(x, kernel)]
    if isinstance(rule, Gamma):
        w = kernel + rule.gamma * pos
        return lin(x, w) + bias + rule.gamma * jnp.maximum(bias, 0.0), [(x, w)]
    if isinstance(rule, ZPlus):
        xp, xn = jnp.maximum(x, 0.0), jnp.minimum(x, 0.0)
        return lin(xp, pos) + lin(xn, neg), [(xp, pos), (xn, neg)]
    if isinstance(rule, ZBox):
        if low is None or high is None:
            raise ValueError("rule ZBox needs the layer input's bounds low and high, got None")
        return lin(x, kernel) - lin(low, pos) - lin(high, neg), [(x, kernel), (-low, pos), (-high, neg)]
    raise ValueError(f"rule must be Epsilon, Gamma, ZPlus or ZBox, got {rule!r}")


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def layer(rule: Rule, lin, x, kernel, bias, probe, low=None, high=None):
    """``lin(x, kernel) + bias`` whose VJP is the LRP ``rule``: cotangent in = relevance of the
    output, cotangent out = relevance of ``x``; ``probe [N]`` (zeros, N = x.shape[0]) receives the
    relevance absorbed per example. ``low``/``high``: bounds of x (ZBox only, broadcastable to x)."""
    return lin(x, kernel) + bias


def _layer_fwd(rule, lin, x, kernel, bias, probe, low, high):
    den, terms = _terms(rule, lin, x, kernel, bias, low, high)
    return lin(x, kernel) + bias, (x, kernel, bias, probe, low, high, den, [t[0] for t in terms], [t[1] for t in terms])


def _layer_bwd(rule, lin, residuals, r_out):
    x, kernel, bias, probe, low, high, den, inputs, kernels = residuals
    s = _divide(r_out, den)
    shape = jax.ShapeDtypeStruct(x.shape, x.dtype)
    r_in = sum(a * jax.linear_transpose(lambda v, w=w: lin(v, w), shape)(s)[0] for a, w in zip(inputs, kernels))
    axes = tuple(range(1, x.ndim))
    absorbed = jnp.sum(r_out, axis=tuple(range(1, r_out.ndim))) - jnp.sum(r_in, axis=axes)
    zeros = lambda a: None if a is None else jnp.zeros_like(a)  # noqa: E731
    return r_in, jnp.zeros_like(kernel), jnp.zeros_like(bias), absorbed.reshape(probe.shape), zeros(low), zeros(high)


layer.defvjp(_layer_fwd, _layer_bwd)


@jax.custom_vjp
def sigmoid_pass(z):
    """``sigmoid(z)`` whose VJP passes relevance unchanged (the "Pass" rule of activations)."""
    return jax.nn.sigmoid(z)


sigmoid_pass.defvjp(lambda z: (jax.nn.sigmoid(z), None), lambda _, r: (r,))


@dataclasses.dataclass(frozen=True)
class Composite:
    """Rules by layer position (input → output): ``first``, ``middle``, ``top``; ``overrides``:
    ``((layer name, rule), ...)`` take precedence."""

    first: Rule = ZBox()
    middle: Rule = Gamma(0.25)
    top: Rule = Epsilon(1e-6)
    overrides: tuple = ()

    def rule(self, name: str, position: int, n_layers: int) -> Rule:
        named = dict(self.overrides)
        if name in named:
            return named[name]
        return self.first if position == 0 else self.top if position == n_layers - 1 else self.middle


COMPOSITES = {
    "lrp0": Composite(Epsilon(0.0), Epsilon(0.0), Epsilon(0.0)),
    "epsilon_gamma_box": Composite(ZBox(), Gamma(0.25), Epsilon(1e-6)),  # Zennit's EpsilonGammaBox
    "epsilon_plus_box": Composite(ZBox(), ZPlus(), Epsilon(1e-6)),
}


def get_composite(name: str) -> Composite:
    """A named composite: ``lrp0``, ``epsilon_gamma_box`` (default), ``epsilon_plus_box``."""
    validate.one_of("composite", name, COMPOSITES)
    return COMPOSITES[name]


# --------------------------------------------------------------------------- Basic Pitch's note path


NOTE_LAYERS = ("contour_conv", "contour_out", "note_conv", "note_out")  # input → output


def _bn(variables, name, eps):
    """Inference batch norm as ``a·x + c`` per channel (flax: ``(x − mean)·scale/√(var + eps) + bias``)."""
    p, s = variables["params"][name], variables["batch_stats"][name]
    a = jax.lax.rsqrt(s["var"] + eps) * p["scale"]
    return a, p["bias"] - s["mean"] * a


def stack_of(x, config: BasicPitchConfig) -> jax.Array:
    """The harmonic stack of raw features (before the input batch norm), NHWC ``[N, T, P·B, H]``."""
    s = features.harmonic_stack(x, harmonics=config.harmonics, bins_per_octave=config.bins_per_octave,
                                n_output_bins=config.n_contour_bins)  # [N, H, F', T]
    return jnp.transpose(s, (0, 3, 2, 1))


def note_logits_graph(variables, stack, probes, *, config: BasicPitchConfig, composite: Composite) -> jax.Array:
    """Basic Pitch's note logits ``[N, P, T]`` from the stack of raw features ``[N, T, F', H]``
    (:func:`stack_of`), every conv a rule :func:`layer` (``probes``: name → ``[N]`` zeros).

    The input batch norm is folded into ``contour_conv`` (its bias, zero-filled like the stack's
    edges, becomes a per-position bias) and ``contour_bn`` too; the first layer's input lies in
    ``[0, stack_of(1)]`` (the features lie in [0, 1]; zero fill stays 0).
    """
    p, eps, b = variables["params"], config.bn_epsilon, config.bins_per_semitone
    blocks = dict(config.conv_blocks)
    conv = {name: Conv(stride=b if name == "note_conv" else 1, block=blocks.get(name, 1)) for name in NOTE_LAYERS}
    rules = {name: composite.rule(name, i, len(NOTE_LAYERS)) for i, name in enumerate(NOTE_LAYERS)}
    a_in, c_in = _bn(variables, "input_bn", eps)
    a_c, c_c = _bn(variables, "contour_bn", eps)
    valid = stack_of(jnp.ones((1,) + (config.n_input_bins, stack.shape[1]), stack.dtype), config)  # [1, T, F', H]
    w1 = p["contour_conv"]["kernel"]
    k1 = w1 * a_in[0] * a_c
    b1 = a_c * (c_in[0] * conv["contour_conv"](valid, w1) + p["contour_conv"]["bias"]) + c_c
    h = jax.nn.relu(layer(rules["contour_conv"], conv["contour_conv"], stack, k1, b1, probes["contour_conv"],
                          jnp.zeros_like(valid), valid))

    def plain(name, v):
        return layer(rules[name], conv[name], v, p[name]["kernel"], p[name]["bias"], probes[name])

    contour = sigmoid_pass(plain("contour_out", h))
    z = plain("note_out", jax.nn.relu(plain("note_conv", contour)))  # [N, T, P, 1]
    return jnp.swapaxes(z[..., 0], -1, -2)


class Relevance(NamedTuple):
    """LRP of K objectives on N clips.

    Attributes:
      input: ``[K, N, F, T]`` relevance of each input bin and frame.
      stack: ``[K, N, H]`` relevance of each harmonic-stack channel (the model's view of X).
      top: ``[K, N]`` ``Σ R_top = o_k`` (the masked sum of logits).
      absorbed: name → ``[K, N]`` relevance each layer absorbed (biases, ε, zero denominators).
    """

    input: jax.Array
    stack: jax.Array
    top: jax.Array
    absorbed: dict

    @property
    def conservation_error(self) -> jax.Array:
        """``(Σ R_input − Σ R_top) / |Σ R_top|`` ``[K, N]``: what the layers absorbed, relative."""
        return (jnp.sum(self.input, axis=(2, 3)) - self.top) / jnp.maximum(jnp.abs(self.top), 1e-12)

    @property
    def residual(self) -> jax.Array:
        """``(Σ R_input + Σ absorbed − Σ R_top) / |Σ R_top|`` ``[K, N]``: relevance lost outside the
        rules (structural ops); float rounding only."""
        total = jnp.sum(self.input, axis=(2, 3)) + sum(self.absorbed.values())
        return (total - self.top) / jnp.maximum(jnp.abs(self.top), 1e-12)


@functools.partial(jax.jit, static_argnames=("config", "composite"))
def _relevance(variables, x, masks, *, config, composite):
    stack, stack_vjp = jax.vjp(lambda v: stack_of(v, config), x)
    probes = {name: jnp.zeros(x.shape[0], x.dtype) for name in NOTE_LAYERS}
    graph = functools.partial(note_logits_graph, variables, config=config, composite=composite)
    logits, vjp = jax.vjp(graph, stack, probes)
    seeds = masks * logits[None]
    r_stack, absorbed = jax.vmap(vjp)(seeds)
    r_input = jax.vmap(lambda r: stack_vjp(r)[0])(r_stack)
    return Relevance(r_input, jnp.sum(r_stack, axis=(2, 3)), jnp.sum(seeds, axis=(2, 3)), absorbed)


def relevance(variables, x, masks, *, config: BasicPitchConfig = BasicPitchConfig(),
              composite: Composite | str = "epsilon_gamma_box") -> Relevance:
    """LRP of Basic Pitch (``variables`` of ``BasicPitch(config)``) for objectives ``masks [K, N, P, T]``
    (e.g. :func:`amt_jax.explain.attribution.key_masks`) on features ``x [N, F, T]`` in [0, 1]."""
    validate.exact_rank("x", x, 3, "[N, F, T]")
    validate.exact_rank("masks", masks, 4, "[K, N, P, T]")
    if np.shape(x)[1] != config.n_input_bins:
        raise ValueError(f"x must have F = {config.n_input_bins} bins, got shape {np.shape(x)}")
    if np.shape(masks)[1:] != (np.shape(x)[0], config.n_pitches, np.shape(x)[2]):
        raise ValueError(f"masks must be [K, {np.shape(x)[0]}, {config.n_pitches}, {np.shape(x)[2]}], got {np.shape(masks)}")
    comp = composite if isinstance(composite, Composite) else get_composite(composite)
    return _relevance(variables, jnp.asarray(x, jnp.float32), jnp.asarray(masks, jnp.float32), config=config,
                      composite=comp)


# --------------------------------------------------------------------------- class-wise maps


def topn_masks(logits, targets, n: int) -> np.ndarray:
    """Class-wise top-n selection ``[C, P, T]`` (0/1): for each key p, the ``n`` labelled frames
    (over all C clips) with the largest logits (fewer if fewer are labelled)."""
    logits, targets = np.asarray(logits), np.asarray(targets)
    validate.exact_rank("logits", logits, 3, "[C, P, T]")
    if targets.shape != logits.shape:
        raise ValueError(f"targets must have the shape of logits {logits.shape}, got {targets.shape}")
    validate.positive_int("n", n)
    score = np.where(targets > 0, logits, -np.inf).transpose(1, 0, 2).reshape(logits.shape[1], -1)  # [P, C·T]
    order = np.argsort(-score, axis=1, kind="stable")[:, :n]
    out = np.zeros_like(score, dtype=np.float32)
    np.put_along_axis(out, order, 1.0, axis=1)
    out = np.where(np.isfinite(score), out, 0.0)
    return out.reshape(logits.shape[1], logits.shape[0], logits.shape[2]).transpose(1, 0, 2)


def key_maps(relevance_by_clip, selected) -> tuple[np.ndarray, np.ndarray]:
    """Class-wise aggregation: ``(maps [P, F], counts [P])``, the mean relevance map per selected
    frame of each key, from per-clip per-key relevance summed over frames ``[C, P, F]`` (computed
    with the masks of :func:`topn_masks`; LRP is linear in the seed) and the selection ``[C, P, T]``."""
    r = np.asarray(relevance_by_clip, np.float64)
    counts = np.asarray(selected).sum(axis=(0, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts[:, None] > 0, r.sum(axis=0) / counts[:, None], np.nan), counts


def map_kurtosis(maps) -> np.ndarray:
    """Excess kurtosis of each key's map over the bins ``[P]`` (peaked relevance: large)."""
    return similarity.kurtosis(maps, axis=-1)
