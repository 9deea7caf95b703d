"""Permutation importance of frequency bins (and the noise response), the study's estimators.

:func:`permutation_importance` follows ``sklearn.inspection.permutation_importance``: the
importance of a draw is how much the metric worsens when every clip's frequency axis is
perturbed by that draw (a permutation of bins, or a replacement), averaged over the clips,
bigger = more important (see :mod:`amt_jax.estimators.scoring`). Draw ``i`` uses
``jax.random.fold_in(key, i)``; the engine (:mod:`amt_jax.estimators.runner`) streams vmapped,
jitted chunks of draws and shards them over a device mesh.

Every result keeps the draw × clip matrix and reports two intervals: a Monte Carlo one over
draws (how precise the estimate is for these clips) and a piece-level one over clusters of clips
(``clusters``: the piece each clip comes from; whether the effect holds for music like this).

``apply_fn(params, x)`` maps ``x [B, F, T]`` to ``Y [B, P, T]`` (or a dict of such arrays, then
``output`` names the one scored), treating the rows of the batch independently. It is a static
argument of the jitted chunk: pass the same function object to reuse the compilation. A family's
structure is static too, its data traced (:mod:`amt_jax.perturb.pytree`): families that differ only
in data (key weights, comb offsets, a shift's size) reuse it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import partial
from typing import Any, Callable

import numpy as np
import scipy.stats
from jax.sharding import Mesh

from amt_jax.estimators import runner
from amt_jax import perturb, stats
from amt_jax.estimators.result import ImportanceResult, summarize
from amt_jax.estimators.spec import CI_METHODS, DEFAULT_CHUNK_SIZE, ImportanceSpec, Stopping, build_spec, key_data  # noqa: F401


def permutation_importance(
    apply_fn: Callable,
    params,
    features,
    *,
    family,
    n_permutations: int,
    key,
    metric: str | Callable = "output_l1",
    targets=None,
    clusters=None,
    chunk_size: int | None = None,
    mesh: Mesh | None = None,
    output: str | None = None,
    per_pitch: bool = False,
    threshold: float = 0.5,
    greater_is_better: bool | None = None,
    confidence: float = 0.95,
    ci_method: str = "normal",
    piece_ci_method: str = "t",
    n_bootstrap: int = 1000,
    target_halfwidth: float | None = None,
    mc_fraction: float | None = None,
    max_permutations: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportanceResult:
    """Permutation importance of a perturbation family.

    Args:
      apply_fn: ``apply_fn(params, x [B, F, T]) -> [B, P, T]`` or a dict of them.
      params: pytree passed to ``apply_fn``.
      features: ``[n_clips, F, T]`` finite features (F = ``family.n_bins``).
      family: a family from :mod:`amt_jax.permutations` (``sample(key) -> (idx, group)`` or
        ``perturb(key, x) -> (x', group)``).
      n_permutations: draws (the minimum, with adaptive stopping).
      key: root PRNG key; draw i uses ``fold_in(key, i)``.
      metric: ``"output_l1"``, ``"bce"``, ``"frame_f1"`` or a jit-able callable (see
        :mod:`amt_jax.estimators.scoring`).
      targets: ``[n_clips, P, T]`` reference rolls in [0, 1] (needed by ``bce`` and ``frame_f1``).
      clusters: ``[n_clips]`` integer piece ids (default: each clip its own cluster); the
        piece-level interval is over clusters.
      chunk_size: draws per jitted call (default 8, or fewer if fewer draws); rounded up to a
        multiple of the mesh size.
      mesh: a ``jax.sharding.Mesh``; draws are sharded over all its devices.
      output: which entry of a dict output to score.
      per_pitch: keep one importance per pitch (``[P]`` per draw); callable metrics must then
        return ``[n_clips, P]``.
      threshold: binarisation threshold of ``frame_f1``, in (0, 1).
      greater_is_better: callable metrics only (None = False, a loss).
      confidence: CI level (0.95).
      ci_method: Monte Carlo CI, ``"normal"`` (mean ± z·SE) or ``"percentile"`` (bootstrap over draws).
      piece_ci_method: piece-level CI, ``"t"`` (over cluster means, n_clusters − 1 df) or
        ``"bootstrap"`` (percentile, over clusters).
      n_bootstrap: resamples of the bootstrap CIs.
      target_halfwidth: adaptive stopping: after ``n_permutations``, keep drawing a chunk at a time
        until the Monte Carlo CI half-width (largest over pitches; variance inflated for heavy
        tails) is <= this, or ``max_permutations`` draws are reached.
      mc_fraction: adaptive stopping: also stop once the Monte Carlo SE is <= this fraction of the
        piece-level SE (e.g. 0.25: more draws cannot narrow the piece-level interval).
      max_permutations: cap for adaptive stopping, ``>= n_permutations`` (default 100·n_permutations).
      progress: called on the host after every chunk as ``progress(draws_done, draws_planned)``.

    Returns:
      :class:`ImportanceResult`.
    """
    spec = build_spec(
        features, family=family, n_permutations=n_permutations, key=key, metric=metric, targets=targets,
        clusters=clusters, chunk_size=chunk_size, mesh=mesh, output=output, per_pitch=per_pitch, threshold=threshold,
        greater_is_better=greater_is_better, confidence=confidence, ci_method=ci_method,
        piece_ci_method=piece_ci_method, n_bootstrap=n_bootstrap, target_halfwidth=target_halfwidth,
        max_permutations=max_permutations, mc_fraction=mc_fraction,
    )
    draws = run(apply_fn, params, spec, key, progress=progress)
    return summarize(draws, clusters=spec.clusters, key=key, confidence=spec.confidence, ci_method=spec.ci_method,
                     piece_ci_method=spec.piece_ci_method, n_bootstrap=spec.n_bootstrap,
                     config=result_config(spec, draws, key))


def result_config(spec: ImportanceSpec, draws: runner.Draws, key) -> dict[str, Any]:
    """The JSON-able config a result records: family, metric, output, draws taken, chunking,
    devices, clips, feature shape and root key."""
    return {
        "family": family_config(spec.family),
        "metric": spec.metric.name,
        "greater_is_better": spec.metric.greater_is_better,
        "per_pitch": draws.draw_clip.ndim > 2,
        "output": spec.output,
        "n_permutations": draws.n,
        "chunk_size": spec.chunk_size,
        "n_devices": spec.n_devices,
        "n_clips": int(spec.features.shape[0]),
        "feature_shape": list(spec.features.shape[1:]),
        "key": key_data(key),
    }


def run(apply_fn: Callable, params, spec: ImportanceSpec, key, *, progress=None) -> runner.Draws:
    """The draws of a validated spec (inputs put on the devices once, the reference forward, the
    streamed chunks)."""
    params, x, targets = (runner.replicated(spec.mesh, a) for a in (params, spec.features, spec.targets))
    y_ref = runner.forward(params, x, apply_fn=apply_fn, output=spec.output)
    if targets is not None and targets.shape != y_ref.shape:
        raise ValueError(f"targets must have the shape of the model output {y_ref.shape}, got {targets.shape}")
    base = runner.base_value(y_ref, targets, metric=spec.metric)
    data, family = perturb.pytree.split(spec.family)
    data = runner.replicated(spec.mesh, data)
    chunk = partial(_chunk, apply_fn=apply_fn, family=family, metric=spec.metric, output=spec.output,
                    chunk_size=spec.chunk_size, mesh=spec.mesh)
    more = keep_drawing(spec.stopping, spec) if spec.stopping.adaptive else None
    return runner.run_draws(lambda start: chunk(params, x, y_ref, base, targets, key, start, data), spec.stopping.n_min,
                            spec.chunk_size, more=more, cap=spec.stopping.cap, progress=progress)


_chunk = runner.chunk  # module attribute, so tests can spy on the jitted chunk


def keep_drawing(stopping: Stopping, spec: ImportanceSpec) -> Callable[[runner.Running], bool]:
    """The adaptive stopping rule of :class:`~amt_jax.estimators.spec.Stopping` on running sums.

    The Monte Carlo variance is inflated for heavy tails by one standard error of the sample
    variance, ``s²·(1 + sqrt((κ − 1)/n))`` with κ the sample kurtosis, so a rare large draw that
    has not arrived yet is less likely to be missed.
    """
    z = scipy.stats.norm.ppf(0.5 + spec.confidence / 2)

    def more(r: runner.Running) -> bool:
        n = r.n
        if n < 2:
            return True
        mean = r.s1 / n
        var = np.maximum(r.s2 / n - mean**2, 0.0)
        m4 = r.s4 / n - 4 * mean * r.s3 / n + 6 * mean**2 * r.s2 / n - 3 * mean**4
        kurtosis = np.where(var > 0, m4 / np.where(var > 0, var, 1.0) ** 2, 1.0)
        se = np.sqrt(var * n / (n - 1) * (1 + np.sqrt(np.maximum(kurtosis - 1, 0.0) / n)) / n)
        if stopping.target_halfwidth is not None and z * np.max(se) <= stopping.target_halfwidth:
            return False
        if stopping.mc_fraction is not None:
            piece_se = stats.cluster_ci(np.asarray(r.clip) / n, spec.clusters)["standard_error"] \
                if len(np.unique(spec.clusters)) >= 2 else np.nan
            if np.all(np.isfinite(piece_se)) and np.all(se <= stopping.mc_fraction * piece_se):
                return False
        return True

    return more


def family_config(family) -> dict[str, Any]:
    """JSON-able description of a family: its class name and fields (bytes, e.g. packed labels, and
    per-clip key weights by their SHA-256; not the fields marked ``metadata={"config": False}``, e.g.
    ``max_harmonics``, which pads the family's tables without changing its draws)."""
    def default(value):
        if isinstance(value, bytes):
            return "sha256:" + hashlib.sha256(value).hexdigest()[:16]
        raise TypeError(f"{type(value).__name__} is not JSON-able")

    fields = _config_fields(family)
    for name, value in fields.items():  # per-clip key weights [n_clips, P]: recorded by their digest
        if isinstance(value, tuple) and value and isinstance(value[0], tuple):
            fields[name] = "sha256:" + hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16]
    return json.loads(json.dumps({"name": type(family).__name__, **fields}, default=default))


def _config_fields(value):
    """A dataclass's fields as a dict (nested dataclasses too), without those marked not config."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return value
    return {f.name: _config_fields(getattr(value, f.name)) for f in dataclasses.fields(value)
            if f.metadata.get("config", True)}


def _is_control_of(control: dict, family: dict) -> bool:
    """Whether family config ``control`` is the size-matched control of family config ``family``
    (e.g. ``HarmonicControl(target=harmonic)`` for ``harmonic``)."""
    control, family = json.loads(json.dumps(control)), json.loads(json.dumps(family))  # tuples == lists
    target = control.get("target")
    if control.get("name") != f"{family.get('name')}Control" or not isinstance(target, dict):
        return False
    strip = lambda d: {k: v for k, v in d.items() if k != "name"}  # noqa: E731
    return strip(target) == strip(family)


PAIRED_FIELDS = ("key", "n_clips", "feature_shape", "metric", "greater_is_better", "per_pitch", "output", "n_permutations")


def paired_contrast(result: ImportanceResult, control: ImportanceResult) -> dict[str, Any]:
    """Contrast of a family against its size-matched control, at two levels.

    ``control`` must be the size-matched control of ``result``'s family (e.g. ``harmonic`` and
    ``harmonic_control`` with the same arguments), run with the same key, metric and number of
    draws on the same clips, so draw i of each targets the same group (a ``ValueError`` names
    what differs; the clips' contents are not compared, only their count and shape).

    Returns the Monte Carlo contrast per group (:func:`amt_jax.stats.paired_t` of
    ``result − control`` over draws: ``group, n, mean, standard_error, ci_low, ci_high, t, p, q``)
    and, under ``"piece"``, the piece-level contrast (:func:`amt_jax.stats.piece_contrast` of
    the per-clip means over the clusters: ``mean, standard_error, ci_low, ci_high, t, p, n_clusters``).
    """
    for name, value in (("result", result), ("control", control)):
        if not isinstance(value, ImportanceResult):
            raise ValueError(f"{name} must be an ImportanceResult, got {type(value).__name__}")
    a, b = result.config, control.config
    if not _is_control_of(b.get("family", {}), a.get("family", {})):
        raise ValueError(
            f"control must be the size-matched control of result's family {a.get('family')}, "
            f"got control family {b.get('family')}"
        )
    for field in PAIRED_FIELDS:
        if a.get(field) != b.get(field):
            raise ValueError(
                f"control must pair with result draw for draw: {field} differs (result {a.get(field)!r}, control {b.get(field)!r})"
            )
    if result.importances.shape != control.importances.shape or not np.array_equal(result.group_ids, control.group_ids):
        raise ValueError(
            "control must pair with result draw for draw (same key, n_permutations, clips and group ids); "
            f"got shapes {control.importances.shape} vs {result.importances.shape}"
        )
    groups = result.group_ids if result.group_ids.ndim == 1 else None  # a key per clip: no per-draw group
    out = stats.paired_t(result.importances, control.importances, groups=groups, confidence=result.confidence)
    out["piece"] = stats.piece_contrast(result.clip_importances, control.clip_importances, result.clusters,
                                        confidence=result.confidence)
    return out
