"""Sanity checks by randomisation (Adebayo et al. 2018): what a result owes to learning.

- **Cascading model randomisation** (:func:`cascade`): a model's layers are re-initialised
  from the top (the output) down, one cumulative step at a time, with the family's own
  initialisers (the ``init`` capability). Step i's fresh values come from
  ``fold_in(key, i)``, so a layer randomised at step i holds the same values at every depth >= i.
  Batch norms go with the convolution they follow (fresh: identity scale, zero bias, running
  mean 0, variance 1). A result that survives full randomisation owes itself to the architecture
  (e.g. the harmonic stack), not to training.
- **Random weights** (``random:<spec>``): the architecture of ``spec`` with every layer freshly
  initialised (key ``fold_in(key(seed, rbg), 1)``): what a finding that also holds there owes to
  the architecture, not to learning.

Both use the model's ``init`` capability (and ``cascade``: its layers from the output down);
label randomisation, which needs training, is :mod:`amt_jax.training.label_randomization`.

Pass an ``rbg`` key (``jax.random.key(seed, impl="rbg")``, as training does): threefry's
initialisation of Basic Pitch takes ~15 s to compile on CPU, rbg's ~1 s.
"""

from __future__ import annotations

import dataclasses
import re

import jax
import numpy as np

from amt_jax.io import params_digest
from amt_jax.models.model import Model


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


def cascade(model: Model, key, *, variables=None, steps=None) -> list[dict]:
    """Variables at randomisation depth 0 (``variables``, default the model's own), 1, ...,
    len(steps): depth d has the layers of ``steps[:d]`` (default: the model's ``cascade``)
    re-initialised by its ``init``, step i's values from ``fold_in(key, i)``."""
    init = model.require("init", "the randomisation cascade")
    variables = model.params if variables is None else variables
    steps = _check_steps(variables, model.require("cascade", "the randomisation cascade") if steps is None else steps)
    out = [variables]
    for i, step in enumerate(steps):
        fresh = init(jax.random.fold_in(key, i))
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




def load(match: re.Match, seed: int, load_spec) -> Model:
    """``random:<spec>``: ``spec``'s model with params from its ``init`` (key ``fold_in(key(seed, rbg), 1)``)."""
    base = load_spec(match.group(1), seed=seed)
    init = base.require("init", f"random:{match.group(1)}")
    params = jax.tree.map(np.asarray, init(jax.random.fold_in(jax.random.key(seed, impl="rbg"), 1)))
    identity = {"kind": "random", "base": base.identity, "seed": seed, "params_sha256": params_digest(params)}
    return dataclasses.replace(base, spec=match.string, params=params, identity=identity)

