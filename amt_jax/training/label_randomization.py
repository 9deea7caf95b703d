"""Label randomisation (Adebayo et al. 2018): a variant trained on labels moved to other pieces (a
derangement of the examples), which it can only memorise. Compare with the same config trained
on true labels."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from amt_jax import validate


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
    from amt_jax.training.loop import train
    from amt_jax.training.trained import model_of

    state = train(config, workdir=workdir, examples=shuffled_labels(examples, seed=seed), log=log)
    return model_of(config, state)
