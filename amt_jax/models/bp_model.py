"""Basic Pitch networks as :class:`~amt_jax.models.model.Model` s: the capabilities every
``BasicPitch(config)`` gives, pretrained or trained (logits, intermediates, init, cascade, LRP).

Each capability is a function cached per config, so the same function object comes back for the
same architecture and jitted callers that take it as a static argument compile once.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

from amt_jax.frontend import features
from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.models.basic_pitch import CONV_LAYERS, BasicPitch, BasicPitchConfig
from amt_jax.models.bp_lrp import BasicPitchLRP
from amt_jax.models.bp_stack import BasicPitchStack
from amt_jax.models.model import Inverse, Model, Output, jit_intermediates, jit_outputs

LAYERS = ("harmonic_stack", *CONV_LAYERS)  # input → output; conv layers before their nonlinearity
OUTPUTS = (Output("note"), Output("onset"), Output("contour"))

# Steps of the cascade for the note output, top (output) down to the input; each a tuple of layers.
NOTE_CASCADE: tuple[tuple[str, ...], ...] = (
    ("note_out",), ("note_conv",), ("contour_out",), ("contour_conv", "contour_bn"), ("input_bn",),
)
# Every layer: the onset head first (it does not feed the note output), then the note cascade.
FULL_CASCADE: tuple[tuple[str, ...], ...] = (("onset_out",), ("onset_conv", "onset_bn")) + NOTE_CASCADE


@functools.lru_cache(maxsize=None)
def logits_fn(config: BasicPitchConfig) -> Callable:
    """Pre-sigmoid note output of ``BasicPitch(config)``: ``(variables, x [..., F, T]) -> [..., P, T]``,
    read from the ``note_out`` convolution with ``capture_intermediates`` (the module's own code,
    ``BasicPitch.network``; ``sigmoid`` of it is the ``"note"`` output)."""
    module = BasicPitch(config)

    def logits(variables, x):
        batch_shape, (n_bins, n_frames) = jnp.shape(x)[:-2], jnp.shape(x)[-2:]
        _, state = module.apply(variables, jnp.reshape(x, (-1, n_bins, n_frames)), train=False,
                                method=BasicPitch.network, mutable=["intermediates"],
                                capture_intermediates=lambda m, name: m.name == "note_out" and name == "__call__")
        z = state["intermediates"]["note_out"]["__call__"][0][..., 0]  # [N, T, P]
        return jnp.swapaxes(z, -1, -2).reshape(*batch_shape, z.shape[-1], n_frames)

    return jax.jit(logits)  # jitted: see apply_fn


@functools.lru_cache(maxsize=None)
def intermediates_fn(config: BasicPitchConfig) -> Callable:
    """``(variables, x [N, F, T], names) -> {name: [N, T, D]}`` (frames × flattened frequency-channel
    features) for names of :data:`LAYERS`: ``harmonic_stack`` (the stack of the normalised input)
    and each convolution's output before its nonlinearity."""
    module = BasicPitch(config)

    def intermediates(variables, x, names):
        wanted = set(names) | {"input_bn"}
        _, state = module.apply(variables, x, method=BasicPitch.network, mutable=["intermediates"],
                                capture_intermediates=lambda m, _: m.name in wanted)
        inter = state["intermediates"]
        out = {}
        for name in names:
            if name == "harmonic_stack":
                stack = features.harmonic_stack(inter["input_bn"]["__call__"][0][..., 0], harmonics=config.harmonics,
                                                bins_per_octave=config.bins_per_octave, n_output_bins=config.n_contour_bins)
                h = jnp.transpose(stack, (0, 3, 2, 1))  # [N, H, F', T] -> [N, T, F', H]
            else:
                h = inter[name]["__call__"][0]  # NHWC [N, T, F', C]
            out[name] = h.reshape(h.shape[0], h.shape[1], -1)
        return out

    return jit_intermediates(intermediates)  # jitted: see apply_fn


@functools.lru_cache(maxsize=None)
def init_fn(config: BasicPitchConfig) -> Callable:
    """``init(key) -> variables``: ``BasicPitch(config)``'s own initialisers (``params`` and
    ``batch_stats``: fresh batch norms are identities; the shapes do not depend on the frames).
    Pass an ``rbg`` key: threefry's initialisation of this model takes ~15 s to compile on CPU, rbg's ~1 s."""
    shape = jax.ShapeDtypeStruct((1, config.n_input_bins, 8), jnp.float32)
    return jax.jit(lambda key: BasicPitch(config).lazy_init(key, shape))


@functools.lru_cache(maxsize=None)
def network(config: BasicPitchConfig) -> BasicPitch:
    """One ``BasicPitch(config)`` per config (the module :func:`apply_fn` jits)."""
    return BasicPitch(config)


@functools.lru_cache(maxsize=None)
def apply_fn(config: BasicPitchConfig) -> Callable:
    """``apply(variables, X [..., F, T]) -> {"note": [..., P, T], "onset": [..., P, T], "contour": [...,
    config.n_contour_bins, T]}``: ``BasicPitch(config).apply`` as one jitted program, one function per config.

    - One per config: models of one architecture (pretrained, its random-weights control, trained
      variants of one shape) share it, so a jitted program that takes it as a static argument
      compiles once for all of them.
    - Jitted: called eagerly (a script, a test's reference) it compiles once per input shape
      instead of op by op (Basic Pitch's ~175 ops: ~0.5 s instead of ~5 s on 2 CPU cores); inside
      a jitted caller it is inlined (the same program as before). Direct calls round like any
      compiled program, within float32 rounding of the op-by-op result.
    - Flax's keyword arguments (``train=``, ``mutable=``, ``method=``) go to the module's own apply
      (op by op, as before: jit that call yourself).
    """
    module = network(config)
    jitted = jit_outputs(module.apply, tuple(o.name for o in OUTPUTS))

    def apply(variables, x, **flax_kwargs):
        return module.apply(variables, x, **flax_kwargs) if flax_kwargs else jitted(variables, x)

    return apply


def network_model(spec: str, *, config: BasicPitchConfig, params: Any, frontend: Callable, layout: FrequencyLayout,
                  identity: dict, frame_threshold: float, invert: Inverse | None, source: Any = None) -> Model:
    """A :class:`Model` of ``BasicPitch(config)`` with ``params``, with every capability of the family."""
    return Model(spec, apply_fn(config), params, layout, identity, outputs=OUTPUTS, output="note",
                 frame_threshold=frame_threshold, frontend=frontend, logits=logits_fn(config),
                 intermediates=intermediates_fn(config), layers=LAYERS, invert=invert, lrp=BasicPitchLRP(config),
                 init=init_fn(config), cascade=NOTE_CASCADE, stack=BasicPitchStack(config), source=source)
