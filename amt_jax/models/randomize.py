"""Sanity checks by randomisation (Adebayo et al. 2018): what a result owes to learning.

- **Cascading model randomisation** (:func:`cascade`): Basic Pitch's layers are re-initialised
  from the top (the note output) down, one cumulative step at a time, with the module's own
  initialisers (``BasicPitch(config).lazy_init``). Step i's fresh values come from
  ``fold_in(key, i)``, so a layer randomised at step i holds the same values at every depth >= i.
  Batch norms go with the convolution they follow (fresh: identity scale, zero bias, running
  mean 0, variance 1). A result that survives full randomisation owes itself to the architecture
  (e.g. the harmonic stack), not to training.
- **Label randomisation** (:func:`shuffled_labels`, :func:`train_label_randomized`): a variant
  trained on labels moved to other pieces (a derangement of the examples), which it can only
  memorise.

Pass an ``rbg`` key (``amt_jax.training.root_key(seed)``, as training does): threefry's
initialisation of this model takes ~15 s to compile on CPU, rbg's ~1 s.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import validate
from amt_jax.models.basic_pitch import BasicPitch, BasicPitchConfig

# Steps of the cascade for the note output, top (output) down to the input; each a tuple of layers.
NOTE_CASCADE: tuple[tuple[str, ...], ...] = (
    ("note_out",), ("note_conv",), ("contour_out",), ("contour_conv", "contour_bn"), ("input_bn",),
)
# Every layer: the onset head first (it does not feed the note output), then the note cascade.
FULL_CASCADE: tuple[tuple[str, ...], ...] = (("onset_out",), ("onset_conv", "onset_bn")) + NOTE_CASCADE


@functools.lru_cache(maxsize=None)
def _fresh_fn(config: BasicPitchConfig, n_frames: int):
    shape = jax.ShapeDtypeStruct((1, config.n_input_bins, n_frames), jnp.float32)
    return jax.jit(lambda key: BasicPitch(config).lazy_init(key, shape))


def fresh_variables(config: BasicPitchConfig, key, *, n_frames: int = 8) -> dict:
    """Freshly initialised variables of ``BasicPitch(config)`` (``params`` and ``batch_stats``)."""
    return _fresh_fn(config, n_frames)(key)


def _check_steps(variables: dict, steps) -> tuple[tuple[str, ...], ...]:
    steps = tuple(tuple(step) for step in steps)
    known = set(variables["params"]) | set(variables.get("batch_stats", {}))
    seen = set()
    for i, step in enumerate(steps):
        if not step:
            raise ValueError(f"steps[{i}] must name at least one layer, got {step!r}")
        for name in step:
            if name not in known:
                raise ValueError(f"steps[{i}] names layer {name!r}, not in the model's variables {sorted(known)}")
            if name in seen:
                raise ValueError(f"steps[{i}] names layer {name!r} a second time")
            seen.add(name)
    return steps


def _replace(variables: dict, fresh: dict, names) -> dict:
    out = {collection: dict(tree) for collection, tree in variables.items()}
    for collection in out:
        for name in names:
            if name in out[collection]:
                out[collection][name] = fresh[collection][name]
    return out


def cascade(variables: dict, config: BasicPitchConfig, key, *, steps=NOTE_CASCADE) -> list[dict]:
    """Variables at randomisation depth 0 (``variables`` itself), 1, ..., len(steps): depth d has
    the layers of ``steps[:d]`` re-initialised, step i's values from ``fold_in(key, i)``."""
    steps = _check_steps(variables, steps)
    out = [variables]
    for i, step in enumerate(steps):
        fresh = fresh_variables(config, jax.random.fold_in(key, i))
        out.append(_replace(out[-1], fresh, step))
    return out


def changed_layers(a: dict, b: dict) -> set[str]:
    """Names of the layers whose variables differ (any leaf, any collection) between ``a`` and ``b``."""
    out = set()
    for collection in a:
        for name in a[collection]:
            la, lb = jax.tree.leaves(a[collection][name]), jax.tree.leaves(b[collection][name])
            if any(not np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb)):
                out.add(name)
    return out


# --------------------------------------------------------------------------- label randomisation


def derangement(n: int, seed: int) -> np.ndarray:
    """A uniformly random permutation of ``range(n)`` with no fixed point (n >= 2), by rejection."""
    validate.positive_int("n", n)
    if n < 2:
        raise ValueError(f"n must be >= 2 for a derangement, got {n}")
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        if not np.any(perm == np.arange(n)):
            return perm


def _fit(roll: np.ndarray, n_frames: int) -> np.ndarray:
    out = np.zeros((roll.shape[0], n_frames), roll.dtype)
    k = min(n_frames, roll.shape[1])
    out[:, :k] = roll[:, :k]
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class ShuffledLabels(Sequence):
    """``examples`` whose ``frames`` and ``onsets`` [88, T] come from example ``source[i]`` (a
    derangement), cropped or zero-padded to example i's own T; audio and everything else unchanged.
    Random access, read on demand (as :class:`amt_jax.training.WindowSampler` needs)."""

    examples: Sequence
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict:
        ex = dict(self.examples[i])
        other = self.examples[int(self.source[i])]
        for name in ("frames", "onsets"):
            ex[name] = _fit(np.asarray(other[name]), np.asarray(ex[name]).shape[1])
        return ex


def shuffled_labels(examples: Sequence, *, seed: int) -> ShuffledLabels:
    """Label randomisation: every example gets another example's rolls (each example is one piece)."""
    return ShuffledLabels(examples, derangement(len(examples), seed))


def train_label_randomized(config, *, workdir, examples: Sequence, seed: int = 0, log=None):
    """Train ``config`` (a :class:`amt_jax.training.TrainConfig`, e.g. ``get_config("tiny")``) on
    :func:`shuffled_labels` of ``examples`` in ``workdir`` (resumable like any run); returns the
    :class:`amt_jax.training.Trained` model. Compare with the same config trained on true labels."""
    from amt_jax import training

    state = training.train(config, workdir=workdir, examples=shuffled_labels(examples, seed=seed), log=log)
    return training.model_of(config, state)
