"""The one interface every model family gives: :class:`Model`, with explicit capabilities.

A model always has ``apply`` (features → probabilities), ``params``, ``layout`` (where each key sits
on its input's frequency axis), ``identity`` and ``outputs``. Everything else is a capability a
family may or may not give; a method that needs one the model lacks stops with one line naming the
model and the capability (:meth:`Model.require`):

============== ================================================================================
capability     what it is
============== ================================================================================
frontend       ``audio [..., n_samples] (sample_rate Hz) -> X [..., F, T]``
logits         ``logits(params, X [..., F, T]) -> [..., P, T]``: the pre-activation of ``output``
intermediates  ``intermediates(params, X [N, F, T], names) -> {name: [N, T, D]}``; ``layers`` lists
               the names, input to output
invert         :class:`Inverse`: audio whose features are a target (sonification)
lrp            the family's LRP adapter (the protocol of :mod:`amt_jax.models.bp_lrp`): its
               linear layers in order, so generic rules and composites run on it
frontend_at    ``frontend_at(sample_rate, step_ms) -> frontend``: the frontend for audio at another
               rate and another frame step (models whose features are defined at any rate and step)
init           ``init(key) -> params``: freshly initialised weights of the same architecture
               (the random-weights control, ``random:<spec>``)
cascade        ``((layer, ...), ...)``: the layers of ``init``'s params from the output down (the
               randomisation cascade)
stack          a harmonic stack the network reads: ``harmonics``, ``n_bins``, ``features(params, x)
               -> S [N, H·F', T]`` and ``apply(params, S) -> outputs`` (stack channel importance)
============== ================================================================================

``apply`` (and ``logits``) may also be marked :func:`frame_wise` (output frame t reads input frame
t only): the Monte Carlo engine then computes only the frames it needs.
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import Any, Callable, NamedTuple

from amt_jax.constants import SAMPLE_RATE
from amt_jax.frontend.layout import FrequencyLayout

OUTPUT_KINDS = ("multipitch", "key_mass", "pitch_distribution")
KEY_KINDS = ("multipitch", "key_mass")  # outputs over keys, [..., P, T]: what probes read
CAPABILITIES = ("frontend", "frontend_at", "logits", "intermediates", "invert", "lrp", "init", "cascade", "stack")
DEFAULT_FRAME_THRESHOLD = 0.3  # Basic Pitch's note-decoding frame threshold


_FRAME_WISE: "weakref.WeakSet[Callable]" = weakref.WeakSet()


def frame_wise(fn: Callable) -> Callable:
    """Mark ``fn(params, X [..., F, T]) -> [..., P, T]`` (or a dict of such arrays) as frame-wise:
    output frame t depends on input frame t only, with no context across frames (PESTO; not Basic
    Pitch, whose convolutions span frames). The Monte Carlo engine then runs the model only on the
    frames a draw changed and its metric reads (:func:`amt_jax.estimators.runner.frame_wise_outputs`).
    A false claim gives wrong numbers: ``tests/test_registry.py`` checks it on the models in its
    ``FRAME_WISE_CHECKED`` (a family that marks its model adds its spec there). Returns ``fn``
    itself, remembered by identity (mark a function where it is defined; a bound method, made anew
    on each access, cannot be marked): a wrapper of it (``functools.wraps``, ``jax.jit``, which copy
    a function's attributes) is not frame-wise unless marked itself, since it may mix frames."""
    _FRAME_WISE.add(fn)
    return fn


def is_frame_wise(fn) -> bool:
    """Whether ``fn`` itself was marked :func:`frame_wise`."""
    try:
        return fn in _FRAME_WISE
    except TypeError:  # not weakly referenceable (e.g. a builtin): never marked
        return False


def jit_outputs(fn: Callable, names: tuple[str, ...]) -> Callable:
    """``fn(params, X) -> {name: array}`` as one jitted program (an eager call compiles once per
    input shape, not op by op), its dict in the order ``names`` (a jitted dict comes back sorted)."""
    import jax

    jitted = jax.jit(fn)

    def call(params, x):
        out = jitted(params, x)
        return {n: out[n] for n in names}

    return call


def jit_intermediates(fn: Callable) -> Callable:
    """``fn(params, X, names) -> {name: array}`` (an ``intermediates`` capability) as one jitted
    program per tuple of names, its dict in the order asked."""
    import jax

    jitted = jax.jit(fn, static_argnames=("names",))

    def call(params, x, names):
        names = tuple(names)
        out = jitted(params, x, names)
        return {n: out[n] for n in names}

    return call


@dataclasses.dataclass(frozen=True)
class Output:
    """One output of a model.

    Attributes:
      name: the key of ``apply``'s dict (None: ``apply`` returns this array itself).
      kind: ``"multipitch"`` (independent sigmoids over keys, ``[..., P, T]``, e.g. Basic Pitch's
        note and onset), ``"key_mass"`` (each key's share of a distribution over pitch, ``[..., P,
        T]``, at most 1 summed over keys: a monophonic estimator read per key) or
        ``"pitch_distribution"`` (a softmax over pitch bins, e.g. a monophonic pitch estimator's
        ``[..., n_bins, T]``).
      bins_per_semitone: pitch bins per semitone (1 for keys).
      lowest_midi: a distribution's bin 0 in MIDI (bin b is ``lowest_midi + b / bins_per_semitone``).
      confidence: a distribution's voicing confidence: the key of ``apply``'s dict holding it
        ``[..., T]`` in [0, 1] (None: the distribution's peak probability).
    """

    name: str | None
    kind: str = "multipitch"
    bins_per_semitone: int = 1
    lowest_midi: float = 0.0
    confidence: str | None = None

    def __post_init__(self):
        if self.kind not in OUTPUT_KINDS:
            raise ValueError(f"Output kind must be one of {OUTPUT_KINDS}, got {self.kind!r}")


def distribution_pitch(probabilities, bins_per_semitone: int):
    """Argmax-local weighted average (CREPE's and PESTO's "alwa"): ``[..., n_bins] -> [...]`` pitch
    in semitones above bin 0, the probability-weighted mean bin over the argmax and its
    ``B − 1`` neighbours on each side (clipped to the axis), divided by ``B = bins_per_semitone``."""
    import jax.numpy as jnp  # JAX only when a model runs (checking specs stays light)

    n = probabilities.shape[-1]
    centre = jnp.argmax(probabilities, axis=-1)[..., None]
    idx = jnp.clip(centre + jnp.arange(1 - bins_per_semitone, bins_per_semitone), 0, n - 1)
    p = jnp.take_along_axis(probabilities, idx, axis=-1)
    return (p * idx).sum(-1) / p.sum(-1) / bins_per_semitone


class Inverse(NamedTuple):
    """The ``invert`` capability: ``fn(audio [n_samples], *, x_perm [F, T] | None, idx [F] | None,
    **options) -> audio [n_samples]``, by ``route`` (``"gradient"``: any target features;
    ``"librosa"``: a permutation ``idx`` only)."""

    route: str
    fn: Callable
    needs_permutation: bool = False


@dataclasses.dataclass(frozen=True, eq=False)
class Model:
    """A loaded model (see the module docstring for the capabilities).

    Attributes:
      spec: the spec it was loaded from (``amt_jax.models.registry``).
      apply: ``apply(params, X [..., F, T]) -> Y [..., P, T]`` or a dict of such arrays (None: the oracle).
      params: the pytree ``apply`` takes.
      layout: where each key sits on X's frequency axis (None: the oracle).
      identity: JSON-able description of exactly which model this is (kind, weights digest, ...),
        recorded in every result computed with it.
      outputs: every output ``apply`` gives.
      output: the name of the output probes read (the frame posteriorgram; None: ``apply`` returns it).
      frame_threshold: the activation counted as "on" by default.
      sample_rate: the frontend's audio rate, Hz.
      layers: the names ``intermediates`` can return, input to output.
      source: the family's own object (for its config), or None.
    """

    spec: str
    apply: Callable | None
    params: Any
    layout: FrequencyLayout | None
    identity: dict
    outputs: tuple[Output, ...] = (Output("note"),)
    output: str | None = "note"
    frame_threshold: float = DEFAULT_FRAME_THRESHOLD
    sample_rate: int = SAMPLE_RATE
    frontend: Callable | None = None
    frontend_at: Callable | None = None
    logits: Callable | None = None
    intermediates: Callable | None = None
    layers: tuple[str, ...] = ()
    invert: Inverse | None = None
    lrp: Any = None
    init: Callable | None = None
    cascade: tuple[tuple[str, ...], ...] | None = None
    stack: Any = None
    source: Any = None

    def __post_init__(self):
        names = [o.name for o in self.outputs]
        if self.apply is not None and self.output not in names:
            raise ValueError(f"model {self.spec!r}: output {self.output!r} is not one of its outputs {names}")

    @property
    def reads_audio(self) -> bool:
        """True for models with a frontend (they need an audio dataset)."""
        return self.frontend is not None

    @property
    def frame_wise(self) -> bool:
        """True when ``apply`` is marked :func:`frame_wise` (output frame t reads input frame t only)."""
        return is_frame_wise(self.apply)

    @property
    def output_kind(self) -> str:
        """The kind of the output probes read (:data:`OUTPUT_KINDS`)."""
        return next(o.kind for o in self.outputs if o.name == self.output)

    @property
    def tracks_pitch(self) -> bool:
        """True when the model gives a pitch distribution (a monophonic pitch tracker:
        :meth:`pitch_track` decodes it), False for a note model (sigmoids over keys)."""
        return any(o.kind == "pitch_distribution" for o in self.outputs)

    def frontend_on(self, sample_rate: int, hop_length: int, by: str):
        """The frontend for audio at ``sample_rate`` Hz with a frame every ``hop_length`` samples
        (what ``by`` feeds it and labels): ``frontend_at`` at that rate and step when the model
        has it, else ``frontend`` itself when the model reads audio at that rate — trusted to frame
        every ``hop_length`` samples, as a :class:`Model` records no frame step (Basic Pitch and its
        variants: 256 samples at 22,050 Hz); ValueError (one line) when neither fits."""
        if self.has("frontend_at"):
            return self.frontend_at(sample_rate, 1000.0 * hop_length / sample_rate)
        self.require_sample_rate(sample_rate, by)
        return self.frontend

    def pitch_track(self, params, x):
        """``(midi [..., T], confidence [..., T])`` from features ``x [..., F, T]``: the argmax-local
        weighted average of the output distribution (:func:`distribution_pitch`) and the voicing
        confidence (the output's ``confidence`` entry, else the distribution's peak)."""
        if not self.tracks_pitch:
            raise ValueError(f"model {self.spec!r}: output {self.output!r} is a {self.output_kind}; a pitch track "
                             "needs a pitch distribution")
        import jax.numpy as jnp

        out = next(o for o in self.outputs if o.kind == "pitch_distribution")
        y = self.apply(params, x)
        probs = y if out.name is None else y[out.name]
        midi = out.lowest_midi + distribution_pitch(jnp.swapaxes(probs, -1, -2), out.bins_per_semitone)
        confidence = probs.max(-2) if out.confidence is None else y[out.confidence]
        return midi, confidence

    def has(self, capability: str) -> bool:
        """Whether the model gives ``capability`` (:data:`CAPABILITIES`)."""
        if capability not in CAPABILITIES:
            raise ValueError(f"capability must be one of {CAPABILITIES}, got {capability!r}")
        return getattr(self, capability) is not None

    def require(self, capability: str, by: str):
        """The capability's value, or ValueError ``model 'X' has no <capability> (needed by <by>)``."""
        if not self.has(capability):
            raise ValueError(f"model {self.spec!r} has no {capability!r} capability (needed by {by})")
        return getattr(self, capability)

    def require_outputs(self, names, by: str) -> None:
        """ValueError (one line) unless ``apply`` gives every output of ``names``."""
        have = [o.name for o in self.outputs]
        missing = [n for n in names if n not in have]
        if missing:
            raise ValueError(f"model {self.spec!r} has no {', '.join(map(repr, missing))} output (needed by {by}); "
                             f"its outputs: {have}")

    def require_sample_rate(self, rate: int, by: str) -> None:
        """ValueError (one line) unless the model reads audio at ``rate`` Hz (what ``by`` feeds it)."""
        self.require("frontend", by)
        if self.sample_rate != rate:
            raise ValueError(f"model {self.spec!r} reads audio at {self.sample_rate} Hz, but {by} gives {rate} Hz")

    def require_keys(self, by: str) -> None:
        """ValueError (one line) unless the output probes read is over keys, ``[..., P, T]``
        (:data:`KEY_KINDS`: sigmoids, or a distribution's mass per key)."""
        if self.output_kind not in KEY_KINDS:
            raise ValueError(f"model {self.spec!r}: output {self.output!r} is a {self.output_kind}; {by} needs "
                             f"an output over keys ({' or '.join(KEY_KINDS)})")

    def probabilities(self, params, x):
        """The output probes read: ``apply(params, x)`` (its ``output`` entry when it returns a dict)."""
        y = self.apply(params, x)
        return y if self.output is None else y[self.output]
