"""The model registry: a spec string names a model; :func:`load` turns it into a :class:`Model`.

Specs (one grammar for the sweep, ``evaluate``, ``transcribe`` and the Python API)::

    basic-pitch        pretrained Basic Pitch (ICASSP 2022), weights from the basic-pitch wheel
    trained:DIR        a training workdir (amt_jax.training); the CLI also takes a bare DIR
    planted-b<B>       the planted model on synthetic features, B bins per semitone (e.g. planted-b3)
    oracle             the labels themselves (evaluation only: scores 1)

Adding a model is one :func:`register` call: a regular expression over specs and a loader
``loader(match, seed) -> Model``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Callable

from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.io import params_digest

DEFAULT_FRAME_THRESHOLD = 0.3  # Basic Pitch's note-decoding frame threshold


@dataclasses.dataclass(frozen=True, eq=False)
class Model:
    """A loaded model.

    Attributes:
      spec: the spec it was loaded from.
      frontend: ``audio [..., n_samples] (22,050 Hz) -> X [..., F, T]``, or None for models that read
        synthetic features (planted) or no features at all (oracle).
      apply: ``apply(params, X [..., F, T]) -> Y [..., P, T]`` or a dict of such arrays; None for the oracle.
      params: the pytree ``apply`` takes.
      layout: where each key sits on X's frequency axis (None for the oracle).
      identity: JSON-able description of exactly which model this is (kind, weights digest, ...),
        recorded in every result computed with it.
      output: which entry of ``apply``'s dict is the frame posteriorgram (None: ``apply`` returns it).
      frame_threshold: the activation counted as "on" by default (Basic Pitch: 0.3; trained
        variants: the threshold their validation chose).
      source: the underlying object (``pretrained.Pretrained``, ``training.Trained``), for its config.
    """

    spec: str
    frontend: Callable | None
    apply: Callable | None
    params: Any
    layout: FrequencyLayout | None
    identity: dict
    output: str | None = "note"
    frame_threshold: float = DEFAULT_FRAME_THRESHOLD
    source: Any = None

    @property
    def reads_audio(self) -> bool:
        """True for models with a frontend (they need an audio dataset)."""
        return self.frontend is not None


Loader = Callable[[re.Match, int], Model]


@dataclasses.dataclass(frozen=True)
class _Entry:
    kind: str
    pattern: re.Pattern
    usage: str
    loader: Loader


_REGISTRY: list[_Entry] = []


def register(kind: str, pattern: str, usage: str) -> Callable[[Loader], Loader]:
    """Register ``loader(match, seed) -> Model`` as model kind ``kind`` for the specs matching
    ``pattern`` (the whole string); ``usage`` is how error messages list the form."""

    def decorator(loader: Loader) -> Loader:
        _REGISTRY.append(_Entry(kind, re.compile(pattern), usage, loader))
        return loader

    return decorator


def usages() -> list[str]:
    """The registered spec forms, e.g. ``["basic-pitch", "trained:<dir>", ...]``."""
    return [entry.usage for entry in _REGISTRY]


def _match(spec: str) -> tuple[re.Match, _Entry]:
    if isinstance(spec, str):
        for entry in _REGISTRY:
            match = entry.pattern.fullmatch(spec)
            if match:
                return match, entry
    raise ValueError(f"unknown model {spec!r}; valid: {', '.join(usages())}")


def check(spec: str) -> str:
    """``spec`` if it names a registered model form (nothing is loaded); ValueError otherwise."""
    _match(spec)
    return spec


def kind(spec: str) -> str:
    """The registered kind of ``spec``: ``basic-pitch``, ``trained``, ``planted`` or ``oracle``."""
    return _match(spec)[1].kind


def cli_spec(spec: str) -> str:
    """A command-line ``--model``: a bare existing directory means ``trained:DIR``."""
    if isinstance(spec, str) and ":" not in spec and os.path.isdir(spec):
        return f"trained:{spec}"
    return spec


def load(spec: str, *, seed: int = 0) -> Model:
    """The model named by ``spec`` (``seed`` draws the planted models' random part)."""
    match, entry = _match(spec)
    return entry.loader(match, seed)


def basic_pitch_config(model: Model):
    """The ``BasicPitchConfig`` of a ``basic-pitch`` or ``trained`` model (the architecture its
    parameters belong to); None for other kinds."""
    kind = model.identity.get("kind")
    if kind == "basic-pitch":
        return model.source.config
    if kind == "trained":
        return model.source.config.model
    return None


def label(spec: str) -> str:
    """Short display name of a spec for figures (``trained:/a/b3_full_s0`` → ``trained:b3_full_s0``)."""
    if spec.startswith("trained:"):
        return "trained:" + spec.split(":", 1)[1].rstrip("/").rsplit("/", 1)[-1]
    return spec


def slug(spec: str) -> str:
    """File-safe short name of a spec (``trained:/a/b3`` → ``trained-b3``): its :func:`label`, file-safe."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", label(spec))


# --------------------------------------------------------------------------- the models


@register("basic-pitch", r"basic-pitch", "basic-pitch")
def _basic_pitch(match: re.Match, seed: int) -> Model:
    from amt_jax.models import onnx_weights, pretrained

    bp = pretrained.basic_pitch()
    identity = {"kind": "basic-pitch", "onnx_sha256": onnx_weights.onnx_digest(), "params_sha256": params_digest(bp.params)}
    return Model(match.string, bp.frontend, bp.apply, bp.params, bp.layout, identity, source=bp)


@register("trained", r"trained:(.+)", "trained:<dir>")
def _trained(match: re.Match, seed: int) -> Model:
    from amt_jax import training

    directory = match.group(1)
    m = training.load_trained(directory)
    identity = {"kind": "trained", "dir": os.path.abspath(directory), "step": m.step,
                "params_sha256": params_digest(m.params)}
    threshold = training.recorded_threshold(directory)
    return Model(match.string, m.frontend, m.apply, m.params, m.layout, identity,
                 frame_threshold=DEFAULT_FRAME_THRESHOLD if threshold is None else threshold, source=m)


@register("planted", r"planted-b([1-9][0-9]*)", "planted-b<B> (e.g. planted-b3)")
def _planted(match: re.Match, seed: int) -> Model:
    from amt_jax.models import planted

    b = int(match.group(1))
    params = planted.params(bins_per_semitone=b, seed=seed)
    identity = {"kind": "planted", "bins_per_semitone": b, "seed": seed, "params_sha256": params_digest(params)}
    return Model(match.string, None, planted.apply, params, planted.layout(b), identity, output=None, frame_threshold=0.5)


@register("oracle", r"oracle", "oracle")
def _oracle(match: re.Match, seed: int) -> Model:
    return Model(match.string, None, None, None, None, {"kind": "oracle"}, output=None, frame_threshold=0.5)


@register("random", r"random:(.+)", "random:<spec> (the same architecture, weights re-initialised)")
def _random(match: re.Match, seed: int) -> Model:
    """A model of ``spec``'s architecture with freshly initialised weights (key ``fold_in(key(seed), 1)``):
    what a finding that also holds here owes to the architecture, not to learning."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    base = load(match.group(1), seed=seed)
    config = basic_pitch_config(base)
    if config is None:
        raise ValueError(f"random:<spec> re-initialises Basic Pitch architectures (basic-pitch, trained:DIR), got {match.group(1)!r}")
    from amt_jax.models.basic_pitch import BasicPitch

    x = jnp.zeros((1, base.layout.n_bins, 8), jnp.float32)
    params = jax.jit(BasicPitch(config).init)(jax.random.fold_in(jax.random.key(seed, impl="rbg"), 1), x)
    params = jax.tree.map(np.asarray, params)
    identity = {"kind": "random", "base": base.identity, "seed": seed, "params_sha256": params_digest(params)}
    return Model(match.string, base.frontend, base.apply, params, base.layout, identity, output=base.output,
                 frame_threshold=base.frame_threshold, source=base.source)
