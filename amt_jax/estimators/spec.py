"""The validated configuration of a permutation-importance run (checked before any compute)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh

from amt_jax import validate
from amt_jax import perturb
from amt_jax import stats
from amt_jax.estimators.result import PIECE_CI_METHODS
from amt_jax.estimators.scoring import Metric, make_metric

CI_METHODS = ("normal", "percentile")
DEFAULT_CHUNK_SIZE = 8  # small batches are fastest per draw for conv models on CPU; raise on accelerators
DEFAULT_MC_FRACTION = 0.25  # adaptive stopping: once the Monte Carlo SE is this fraction of the piece-level SE


def check_key(key) -> None:
    """One PRNG key: typed (``jax.random.key``) or raw uint32[2] (``jax.random.PRNGKey``)."""
    typed = isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ()
    raw = isinstance(key, jax.Array) and key.dtype == jnp.uint32 and key.shape == (2,)
    if not (typed or raw):
        raise ValueError(f"key must be one JAX PRNG key, e.g. jax.random.key(0), got {key!r}")


def key_data(key) -> list[int]:
    """A key's raw words (JSON-able)."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return [int(v) for v in np.asarray(key).ravel()]


@dataclasses.dataclass(frozen=True)
class Stopping:
    """When to stop drawing: at ``n_min`` draws, unless adaptive (``adaptive`` True); then a chunk
    at a time until the Monte Carlo CI half-width (largest over pitches, the variance inflated for
    heavy tails) is <= ``target_halfwidth``, or the Monte Carlo SE is <= ``mc_fraction`` of the
    piece-level SE (more draws cannot help once the data dominate), or ``cap`` draws are reached."""

    n_min: int
    cap: int
    target_halfwidth: float | None
    mc_fraction: float | None

    @property
    def adaptive(self) -> bool:
        return self.target_halfwidth is not None or self.mc_fraction is not None


def _stopping(n_permutations, target_halfwidth, max_permutations, mc_fraction) -> Stopping:
    validate.positive_int("n_permutations", n_permutations)
    if target_halfwidth is not None:
        validate.positive("target_halfwidth", target_halfwidth)
    if mc_fraction is not None:
        validate.positive("mc_fraction", mc_fraction)
    adaptive = target_halfwidth is not None or mc_fraction is not None
    if max_permutations is not None:
        validate.positive_int("max_permutations", max_permutations)
        if not adaptive:
            raise ValueError(
                f"max_permutations caps adaptive stopping and needs target_halfwidth or mc_fraction; got "
                f"max_permutations={max_permutations!r} with neither"
            )
        if max_permutations < n_permutations:
            raise ValueError(f"max_permutations must be >= n_permutations = {n_permutations}, got {max_permutations!r}")
    cap = n_permutations if not adaptive else (100 * n_permutations if max_permutations is None else int(max_permutations))
    return Stopping(int(n_permutations), cap, None if target_halfwidth is None else float(target_halfwidth),
                    None if mc_fraction is None else float(mc_fraction))


def _features(features, family) -> np.ndarray:
    validate.exact_rank("features", features, 3, "[n_clips, F, T]")
    if np.shape(features)[0] == 0:
        raise ValueError(f"features must hold at least one clip (axis 0), got shape {np.shape(features)}")
    if np.shape(features)[1] != family.n_bins:
        raise ValueError(f"features must have F = family.n_bins = {family.n_bins} bins (axis 1), got shape {np.shape(features)}")
    validate.finite("features", features)
    return np.asarray(features, np.float32)


def _targets(targets, n_clips: int) -> np.ndarray | None:
    if targets is None:
        return None
    validate.exact_rank("targets", targets, 3, "[n_clips, P, T]")
    validate.finite("targets", targets)
    targets = np.asarray(targets, np.float32)
    if targets.shape[0] != n_clips:
        raise ValueError(f"targets must have one roll per clip ({n_clips}), got shape {targets.shape}")
    return targets


@dataclasses.dataclass(frozen=True, eq=False)
class ImportanceSpec:
    """Everything a run needs, validated: the family, the metric, the inputs as arrays, chunking,
    devices, stopping and the statistics' settings."""

    family: Any
    metric: Metric
    features: np.ndarray
    targets: np.ndarray | None
    clusters: np.ndarray
    output: str | None
    chunk_size: int
    mesh: Mesh | None
    stopping: Stopping
    confidence: float
    ci_method: str
    piece_ci_method: str
    n_bootstrap: int

    @property
    def n_devices(self) -> int:
        return 1 if self.mesh is None else self.mesh.size


def build_spec(features, *, family, n_permutations, key, metric, targets, clusters, chunk_size, mesh, output, per_pitch,
               threshold, greater_is_better, confidence, ci_method, piece_ci_method, n_bootstrap, target_halfwidth,
               max_permutations, mc_fraction) -> ImportanceSpec:
    """Validate the arguments of ``permutation_importance`` (ValueError naming the argument)."""
    stopping = _stopping(n_permutations, target_halfwidth, max_permutations, mc_fraction)
    check_key(key)
    perturb.check_family(family)
    x = _features(features, family)
    validate.one_of("ci_method", ci_method, CI_METHODS)
    validate.one_of("piece_ci_method", piece_ci_method, PIECE_CI_METHODS)
    validate.positive_int("n_bootstrap", n_bootstrap)
    stats.normal_interval(0.0, 1.0, confidence=confidence)  # validates confidence
    if mesh is not None and not isinstance(mesh, Mesh):
        raise ValueError(f"mesh must be a jax.sharding.Mesh or None, got {type(mesh).__name__}")
    if mesh is not None and any(t != AxisType.Auto for t in mesh.axis_types):
        # jax.make_mesh gives Explicit axes; the engine places draws with sharding constraints (Auto axes)
        mesh = Mesh(mesh.devices, mesh.axis_names)
    n_devices = 1 if mesh is None else mesh.size
    if chunk_size is not None:
        validate.positive_int("chunk_size", chunk_size)
    chunk = min(DEFAULT_CHUNK_SIZE, n_permutations) if chunk_size is None else chunk_size
    chunk = -(-chunk // n_devices) * n_devices
    if getattr(family, "n_clips", None) not in (None, x.shape[0]):
        raise ValueError(f"family draws a key per clip for {family.n_clips} clips (key_weights [n_clips, P]), "
                         f"but features hold {x.shape[0]} clips")
    if getattr(family, "stratified", False) and stopping.n_min % len(family.groups):
        raise ValueError(f"n_permutations must be a multiple of the family's {len(family.groups)} groups when "
                         f"stratified=True (every group the same number of draws), got {stopping.n_min}")
    targets = _targets(targets, x.shape[0])
    m = make_metric(metric, per_pitch=per_pitch, threshold=threshold, greater_is_better=greater_is_better, targets=targets)
    if m.pooled:
        if not getattr(family, "groups_are_keys", False):
            raise ValueError(f"metric={m.name!r} reads the draw's key: family must target keys (amt_jax.permutations."
                             f"harmonic_swap, key_replacement, ...), got {type(family).__name__}")
        if stopping.adaptive or ci_method != "normal":
            raise ValueError(f"metric={m.name!r} (pooled over frames) supports neither adaptive stopping nor "
                             f"ci_method='percentile'; got ci_method={ci_method!r}, adaptive={stopping.adaptive}")
    clusters = stats.check_clusters("clusters", clusters, x.shape[0])
    return ImportanceSpec(family, m, x, targets, clusters, output, int(chunk), mesh, stopping, float(confidence), ci_method,
                          piece_ci_method, int(n_bootstrap))

