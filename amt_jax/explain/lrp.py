"""Layer-wise relevance propagation (LRP) of a model's logits, as a ``jax.vjp``: generic rules and
composites run on the model's LRP adapter (its ``lrp`` capability, e.g. :mod:`amt_jax.models.bp_lrp`).

Relevance is the cotangent. Every linear layer ``z = lin(x, W) + b`` is a ``jax.custom_vjp``
(:func:`layer`) whose backward maps the relevance ``R`` of its outputs to its inputs by a rule;
everything else keeps its ordinary VJP, which is the right relevance map for it only where it
is a selection: the harmonic stack, crops, transposes and reshapes (relevance moves with the value
it belongs to), and ReLU's mask only zeroes relevance that is already 0 (a dead unit's input term
``x_j`` is 0). Any other operation must not keep its ordinary VJP, which is not conservative: a
scaling ``c·x`` multiplies relevance by c, a centring ``x − mean x`` maps it to a zero sum, a sum
of branches ``a + b`` hands each branch all of it, a leaky ReLU keeps only ``slope`` of a negative
unit's. So the contour sigmoid between Basic Pitch's heads, and any elementwise activation, pass
relevance unchanged (:func:`sigmoid_pass`, :func:`activation_pass`: the "Pass" rule); scalings,
centrings and sums are written as linear layers. Batch norms are merged into the adjacent
convolution (canonisation). Seeding the VJP with ``R_top = mask ⊙ logits`` gives the relevance
of every input bin and frame.

Rules, for ``z_k = Σ_j x_j w_jk + b_k`` (Montavon et al. 2019; Kohlbrenner et al. 2020)::

    Epsilon(ε)   R_j = x_j Σ_k w_jk R_k / (z_k + ε·sign z_k)              ε = 0: LRP-0
    Gamma(γ)     w → w + γw⁺, b → b + γb⁺ in numerator and denominator     γ = 0: LRP-0
    ZPlus()      R_j = Σ_k (x⁺_j w⁺_jk + x⁻_j w⁻_jk) R_k / Σ_j (same)      bias ignored
    ZBox()       R_j = Σ_k (x_j w_jk − l_j w⁺_jk − h_j w⁻_jk) R_k / Σ_j (same), x ∈ [l, h]

A division by an exact 0 gives 0 (that relevance is absorbed). A :class:`Composite` picks the rule
by layer position: ``first`` (the input layer: ZBox, NormalizedLog features lie in [0, 1]),
``middle``, ``top``; an adapter may fix the rule of some layers whatever the composite (its
``rules``: where a composite's rule would be wrong, e.g. a map whose kernel's signs are not its
weights' signs, or unbounded inputs for ZBox). Every layer takes a *probe* ``[N]`` whose cotangent is the relevance the layer
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


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def activation_pass(fn, z):
    """``fn(z)`` (an elementwise activation, e.g. a leaky ReLU) whose VJP passes relevance
    unchanged: a unit's relevance is the same before and after its activation. Its ordinary VJP
    would scale it by ``fn'(z)`` (a leaky ReLU keeps only ``slope`` of a negative unit's)."""
    return fn(z)


activation_pass.defvjp(lambda fn, z: (fn(z), None), lambda fn, _, r: (r,))


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


# --------------------------------------------------------------------------- a model's graph


# Rules an adapter may fix by name (its ``rules``), so a model family needs no import from here.
FIXED_RULES = {"lrp0": Epsilon(0.0)}


@dataclasses.dataclass(frozen=True)
class Ops:
    """What an LRP adapter's ``graph`` writes its layers with: ``layer(name, ...)`` applies the rule
    ``fixed`` gives layer ``name`` (the adapter's ``rules``), else the one the composite gives it at
    its position in ``layers``; ``sigmoid_pass`` and ``activation`` pass relevance unchanged."""

    composite: Composite
    layers: tuple[str, ...]
    fixed: tuple = ()

    def rule(self, name) -> Rule:
        fixed = dict(self.fixed)
        if name in fixed:
            return FIXED_RULES[fixed[name]] if isinstance(fixed[name], str) else fixed[name]
        return self.composite.rule(name, self.layers.index(name), len(self.layers))

    def layer(self, name, lin, x, kernel, bias, probe, low=None, high=None):
        return layer(self.rule(name), lin, x, kernel, bias, probe, low, high)

    @staticmethod
    def sigmoid_pass(z):
        return sigmoid_pass(z)

    @staticmethod
    def activation(fn, z):
        return activation_pass(fn, z)


def ops_of(graph, composite: Composite) -> Ops:
    """The :class:`Ops` an adapter's ``graph`` runs with under ``composite`` (its ``rules``, if any,
    fixed). A composite override naming a layer whose rule the adapter fixes to another is an error:
    the adapter's rule would apply, not the one asked for."""
    fixed = dict(getattr(graph, "rules", ()))
    for name, rule in composite.overrides:
        if name in fixed and rule != (FIXED_RULES[fixed[name]] if isinstance(fixed[name], str) else fixed[name]):
            raise ValueError(f"composite overrides layer {name!r} with {rule!r}, but the model's LRP adapter fixes "
                             f"its rule to {fixed[name]!r}")
    return Ops(composite, tuple(graph.layers), tuple(fixed.items()))


def rules_used(graph, composite: Composite | str) -> dict[str, str]:
    """Layer name → the rule LRP applies to it under ``composite`` (``repr``, then where it comes
    from: ``fixed by the adapter``, ``override`` or the composite's position ``first``/``middle``/``top``),
    in ``graph.layers`` order: what a result records beside the composite's name."""
    comp = composite if isinstance(composite, Composite) else get_composite(composite)
    ops, n = ops_of(graph, comp), len(graph.layers)
    fixed, named = dict(ops.fixed), dict(comp.overrides)
    out = {}
    for i, name in enumerate(graph.layers):
        where = "fixed by the adapter" if name in fixed else "override" if name in named else \
            "first" if i == 0 else "top" if i == n - 1 else "middle"
        out[name] = f"{ops.rule(name)!r} ({where})"
    return out


class Relevance(NamedTuple):
    """LRP of K objectives on N clips.

    Attributes:
      input: ``[K, N, F, T]`` relevance of each input bin and frame.
      stack: ``[K, N, H]`` relevance of each channel (last axis) of the adapter's ``input_map(x)``:
        Basic Pitch's harmonic-stack channels; H = 1 for a model that reads X directly.
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


@functools.partial(jax.jit, static_argnames=("graph", "composite"))
def _relevance(variables, x, masks, *, graph, composite):
    stack, stack_vjp = jax.vjp(graph.input_map, x)
    probes = {name: jnp.zeros(x.shape[0], x.dtype) for name in graph.layers}
    ops = ops_of(graph, composite)
    logits, vjp = jax.vjp(lambda s, pr: graph.graph(variables, s, pr, ops), stack, probes)
    seeds = masks * logits[None]
    r_stack, absorbed = jax.vmap(vjp)(seeds)
    r_input = jax.vmap(lambda r: stack_vjp(r)[0])(r_stack)
    return Relevance(r_input, jnp.sum(r_stack, axis=(2, 3)), jnp.sum(seeds, axis=(2, 3)), absorbed)


def relevance(variables, x, masks, *, graph, composite: Composite | str = "epsilon_gamma_box") -> Relevance:
    """LRP of a model (``variables``, its LRP adapter ``graph``: a model's ``lrp`` capability) for
    objectives ``masks [K, N, P, T]`` (e.g. :func:`amt_jax.explain.attribution.key_masks`) on
    features ``x [N, F, T]`` (the model's own: in [0, 1] for Basic Pitch). The objective is the
    masked sum of what ``graph`` outputs (the adapter's ``explains`` says what that is)."""
    validate.exact_rank("x", x, 3, "[N, F, T]")
    validate.exact_rank("masks", masks, 4, "[K, N, P, T]")
    if np.shape(x)[1] != graph.n_input_bins:
        raise ValueError(f"x must have F = {graph.n_input_bins} bins, got shape {np.shape(x)}")
    if np.shape(masks)[1:] != (np.shape(x)[0], graph.n_pitches, np.shape(x)[2]):
        raise ValueError(f"masks must be [K, {np.shape(x)[0]}, {graph.n_pitches}, {np.shape(x)[2]}], got {np.shape(masks)}")
    comp = composite if isinstance(composite, Composite) else get_composite(composite)
    return _relevance(variables, jnp.asarray(x, jnp.float32), jnp.asarray(masks, jnp.float32), graph=graph,
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
