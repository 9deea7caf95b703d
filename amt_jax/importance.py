"""Permutation importance of frequency bins, and the noise (reverse-correlation) response.

:func:`permutation_importance` follows ``sklearn.inspection.permutation_importance``:
importance of a draw = how much the metric worsens when the frequency axis of every clip is
permuted by that draw, averaged over the clips, bigger = more important::

    loss / divergence:  metric(Y(πX)) − metric(Y(X))
    score:              metric(Y(X)) − metric(Y(πX))

Engine: draw ``i`` uses ``jax.random.fold_in(key, i)``; a chunk of draws is one jitted call
(vmap the sampling over keys, gather ``X[:, idx, :]``, one batched forward pass, metric,
reduce to per-draw per-clip numbers); chunks are streamed and only those numbers are kept,
so memory does not grow with ``n_permutations``. The last chunk is padded (fixed shapes:
one compilation per ``(chunk_size, shapes)``). With ``mesh`` the draw axis is sharded over
the mesh's devices with ``NamedSharding``; the same draws come out for any chunk size or
device count, equal up to float rounding.

``apply_fn(params, x)`` maps ``x [B, F, T]`` to ``Y [B, P, T]`` (or a dict of such arrays,
then ``output`` names the one scored), treating the rows of the batch independently.
It is a static argument of the jitted chunk: pass the same function object to reuse the compilation.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from amt_jax import metrics, stats, validate

METRICS = ("output_l1", "bce", "frame_f1")
CI_METHODS = ("normal", "percentile")
DEFAULT_CHUNK_SIZE = 8  # small batches are fastest per draw for conv models on CPU; raise on accelerators
_STATS_TAG = 0xFFFFFFFF  # fold_in tag of the statistics key; draws use tags < 2**31


# --------------------------------------------------------------------------- metrics


def _output_l1(y, y_ref, targets, *, per_pitch: bool, threshold: float):
    d = jnp.mean(jnp.abs(y - y_ref), axis=-1)
    return d if per_pitch else jnp.mean(d, axis=-1)


def _bce(y, y_ref, targets, *, per_pitch: bool, threshold: float):
    b = metrics.binary_cross_entropy(y, targets)
    return b if per_pitch else jnp.mean(b, axis=-1)


def _frame_f1(y, y_ref, targets, *, per_pitch: bool, threshold: float):
    if per_pitch:
        return metrics.frame_f1_per_pitch(y, targets, threshold=threshold)
    return metrics.frame_prf(y, targets, threshold=threshold)[2]


_BUILTIN = {"output_l1": (_output_l1, False), "bce": (_bce, False), "frame_f1": (_frame_f1, True)}


@dataclass(frozen=True)
class _Metric:
    """Static metric config (hashable, so equal configs share one compilation).

    ``value(y, y_ref, targets) -> [n_clips]`` or ``[n_clips, P]``; built-ins also take
    ``per_pitch`` and ``threshold``.
    """

    name: str
    fn: Callable
    greater_is_better: bool
    builtin: bool
    per_pitch: bool = False
    threshold: float = 0.5

    def value(self, y, y_ref, targets):
        if self.builtin:
            return self.fn(y, y_ref, targets, per_pitch=self.per_pitch, threshold=self.threshold)
        return self.fn(y, y_ref, targets)

    def importance(self, y, y_ref, targets, base):
        value = self.value(y, y_ref, targets)
        return base - value if self.greater_is_better else value - base


def _make_metric(metric, *, per_pitch: bool, threshold: float, greater_is_better: bool | None, targets) -> _Metric:
    if not isinstance(per_pitch, (bool, np.bool_)):
        raise ValueError(f"per_pitch must be a bool, got {per_pitch!r}")
    if not (isinstance(threshold, (int, float, np.integer, np.floating)) and np.isfinite(threshold) and 0 < threshold < 1):
        raise ValueError(f"threshold must be a finite number in (0, 1), got {threshold!r}")
    if callable(metric):
        if greater_is_better is not None and not isinstance(greater_is_better, (bool, np.bool_)):
            raise ValueError(f"greater_is_better must be a bool or None, got {greater_is_better!r}")
        name = getattr(metric, "__name__", "callable")
        return _Metric(name, metric, bool(greater_is_better), builtin=False, per_pitch=bool(per_pitch))
    validate.one_of("metric", metric, METRICS)
    fn, score = _BUILTIN[metric]
    if greater_is_better is not None:
        raise ValueError(
            f"greater_is_better applies to callable metrics only; metric={metric!r} has a fixed direction "
            f"({'a score, greater is better' if score else 'a loss, smaller is better'}), got greater_is_better={greater_is_better!r}"
        )
    if metric != "output_l1" and targets is None:
        raise ValueError(f"metric={metric!r} needs targets [n_clips, P, T], got targets=None")
    return _Metric(metric, fn, score, builtin=True, per_pitch=bool(per_pitch), threshold=float(threshold))


def _select(y, output: str | None):
    if isinstance(y, dict):
        if output not in y:
            raise ValueError(f"apply_fn returns a dict with keys {sorted(y)}; output must name one, got {output!r}")
        return y[output]
    return y


# --------------------------------------------------------------------------- engine


def _replicated(mesh: Mesh | None, tree):
    """``tree``'s arrays replicated on every device of ``mesh`` (built from each process's
    own copy, so it also works multi-host); without a mesh, put once on the default device
    (so jitted calls in a loop do not copy host arrays again on every call)."""
    if mesh is None:
        return jax.device_put(tree)
    sharding = NamedSharding(mesh, P())

    def put(leaf):
        host = np.asarray(leaf)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, tree)


@partial(jax.jit, static_argnames=("apply_fn", "output"))
def _forward(params, features, *, apply_fn, output):
    """Unpermuted outputs ``[n_clips, P, T]``."""
    return _select(apply_fn(params, features), output)


def _check_metric_output(value, y_ref, metric: _Metric) -> None:
    """At trace time: a callable metric returns ``[n_clips]`` (``per_pitch=False``) or
    ``[n_clips, P]`` (``per_pitch=True``)."""
    n_clips = y_ref.shape[0]
    want = (n_clips, y_ref.shape[1]) if metric.per_pitch else (n_clips,)
    if tuple(np.shape(value)) != want:
        doc = "[n_clips, P]" if metric.per_pitch else "[n_clips]"
        raise ValueError(
            f"metric {metric.name!r} must return {doc} = {want} with per_pitch={metric.per_pitch} "
            f"(model output {tuple(y_ref.shape)}), got shape {tuple(np.shape(value))}"
        )


@partial(jax.jit, static_argnames=("metric",))
def _base_value(y_ref, targets, *, metric: _Metric):
    """Metric of the unpermuted outputs, ``[n_clips(, P)]``."""
    value = metric.value(y_ref, y_ref, targets)
    _check_metric_output(value, y_ref, metric)
    return value


@partial(jax.jit, static_argnames=("apply_fn", "family", "metric", "output", "chunk_size", "mesh"))
def _chunk(params, features, y_ref, base, targets, key, start, *, apply_fn, family, metric, output, chunk_size, mesh):
    """Draws ``start .. start + chunk_size − 1``: importances ``[C, n_clips(, P)]``, groups ``[C]``."""
    ids = start + jnp.arange(chunk_size, dtype=jnp.int32)
    if mesh is not None:
        ids = jax.lax.with_sharding_constraint(ids, NamedSharding(mesh, P(mesh.axis_names)))
    idx, groups = jax.vmap(lambda i: family.sample(jax.random.fold_in(key, i)))(ids)  # [C, F], [C]
    x = jax.vmap(lambda i: features[:, i, :])(idx)  # [C, n, F, T]
    n_clips = features.shape[0]
    y = _select(apply_fn(params, x.reshape((chunk_size * n_clips,) + features.shape[1:])), output)
    y = y.reshape((chunk_size, n_clips) + y.shape[1:])
    imp = jax.vmap(lambda yy: metric.importance(yy, y_ref, targets, base))(y)
    if mesh is not None:  # gather the small per-draw outputs on every host
        imp = jax.lax.with_sharding_constraint(imp, NamedSharding(mesh, P()))
        groups = jax.lax.with_sharding_constraint(groups, NamedSharding(mesh, P()))
    return imp, groups


def _check_key(key) -> None:
    """One PRNG key: typed (``jax.random.key``) or raw uint32[2] (``jax.random.PRNGKey``)."""
    typed = isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ()
    raw = isinstance(key, jax.Array) and key.dtype == jnp.uint32 and key.shape == (2,)
    if not (typed or raw):
        raise ValueError(f"key must be one JAX PRNG key, e.g. jax.random.key(0), got {key!r}")


def _key_data(key) -> list[int]:
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return [int(v) for v in np.asarray(key).ravel()]


def _family_config(family) -> dict[str, Any]:
    return {"name": type(family).__name__, **dataclasses.asdict(family)}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class ImportanceResult:
    """Permutation importances of one family on one set of clips (numpy arrays; ``[...]`` is
    ``[]`` for scalar metrics and ``[P]`` for per-pitch ones).

    Attributes:
      importances: ``[n_permutations, ...]`` importance of each draw, averaged over clips.
      group_ids: ``[n_permutations]`` group targeted by each draw.
      importances_mean, importances_std: ``[...]`` over draws (std with ddof=1).
      standard_error: ``[...]`` Monte Carlo standard error of the mean over draws.
      ci_low, ci_high: ``[...]`` Monte Carlo CI of the mean (``ci_method``, ``confidence``).
      clip_importances: ``[n_clips, ...]`` each clip's importance averaged over draws.
      clip_ci_low, clip_ci_high: ``[...]`` cluster-bootstrap CI over clips (the data's
        uncertainty, nan with one clip), reported apart from the Monte Carlo CI.
      config: JSON-able description (family, metric, key, counts, shapes).
    """

    importances: np.ndarray
    group_ids: np.ndarray
    importances_mean: np.ndarray
    importances_std: np.ndarray
    standard_error: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    clip_importances: np.ndarray
    clip_ci_low: np.ndarray
    clip_ci_high: np.ndarray
    confidence: float
    ci_method: str
    config: dict

    def by_group(self) -> dict[str, np.ndarray]:
        """Per group: ``group, n, mean, standard_error, ci_low, ci_high`` (normal CI)."""
        return stats.group_summary(self.importances, self.group_ids, confidence=self.confidence)

    def summary(self) -> dict[str, Any]:
        """Config and summary statistics (no per-draw arrays), JSON-able."""
        fields = ("importances_mean", "importances_std", "standard_error", "ci_low", "ci_high", "clip_ci_low", "clip_ci_high")
        out = {f: np.asarray(getattr(self, f)).tolist() for f in fields}
        return {**self.config, "confidence": self.confidence, "ci_method": self.ci_method, **out}

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-able (arrays as lists); ``np.savez(path, **result.arrays())`` for NPZ."""
        return {**self.summary(), **{k: v.tolist() for k, v in self.arrays().items()}}

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-draw and per-clip arrays, for NPZ storage."""
        return {"importances": self.importances, "group_ids": self.group_ids, "clip_importances": self.clip_importances}


def _summarize(draws, groups, clip_means, *, key, confidence, ci_method, n_bootstrap, config) -> ImportanceResult:
    stats_key = jax.random.fold_in(key, _STATS_TAG)
    if ci_method == "normal":
        low, high = stats.normal_ci(draws, confidence=confidence)
    else:
        low, high = stats.percentile_bootstrap_ci(
            draws, key=jax.random.fold_in(stats_key, 0), n_resamples=n_bootstrap, confidence=confidence
        )
    clip_low, clip_high = stats.cluster_bootstrap_ci(
        clip_means, key=jax.random.fold_in(stats_key, 1), n_resamples=n_bootstrap, confidence=confidence
    )
    std = draws.std(axis=0, ddof=1) if draws.shape[0] > 1 else np.full(draws.shape[1:], np.nan)
    return ImportanceResult(
        importances=draws,
        group_ids=groups,
        importances_mean=draws.mean(axis=0),
        importances_std=std,
        standard_error=stats.mc_standard_error(draws),
        ci_low=low,
        ci_high=high,
        clip_importances=clip_means,
        clip_ci_low=clip_low,
        clip_ci_high=clip_high,
        confidence=float(confidence),
        ci_method=ci_method,
        config=config,
    )


def _check_family(family) -> None:
    """A permutation family: ``sample(key)``, ``n_bins`` and hashable (a static jit argument)."""
    if not callable(getattr(family, "sample", None)) or not isinstance(getattr(family, "n_bins", None), (int, np.integer)):
        raise ValueError(
            f"family must be a permutation family from amt_jax.permutations (with sample(key) and n_bins), got {family!r}"
        )
    try:
        hash(family)
    except TypeError as e:
        raise ValueError(f"family must be hashable (a frozen dataclass), got {family!r}") from e


def _validate_features(features, family) -> np.ndarray:
    validate.exact_rank("features", features, 3, "[n_clips, F, T]")
    if np.shape(features)[0] == 0:
        raise ValueError(f"features must hold at least one clip (axis 0), got shape {np.shape(features)}")
    if np.shape(features)[1] != family.n_bins:
        raise ValueError(f"features must have F = family.n_bins = {family.n_bins} bins (axis 1), got shape {np.shape(features)}")
    validate.finite("features", features)
    return np.asarray(features, np.float32)


def permutation_importance(
    apply_fn: Callable,
    params,
    features,
    *,
    family,
    n_permutations: int,
    key: jax.Array,
    metric: str | Callable = "output_l1",
    targets=None,
    chunk_size: int | None = None,
    mesh: Mesh | None = None,
    output: str | None = None,
    per_pitch: bool = False,
    threshold: float = 0.5,
    greater_is_better: bool | None = None,
    confidence: float = 0.95,
    ci_method: str = "normal",
    n_bootstrap: int = 1000,
    target_halfwidth: float | None = None,
    max_permutations: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportanceResult:
    """Permutation importance of a family of frequency permutations.

    Args:
      apply_fn: ``apply_fn(params, x [B, F, T]) -> [B, P, T]`` or a dict of them.
      params: pytree passed to ``apply_fn``.
      features: ``[n_clips, F, T]`` finite features (F = ``family.n_bins``).
      family: a family from :mod:`amt_jax.permutations`.
      n_permutations: draws (the minimum, with adaptive stopping).
      key: root PRNG key; draw i uses ``fold_in(key, i)``.
      metric: ``"output_l1"`` (label-free mean |Y(πX) − Y(X)|, a loss), ``"bce"`` (a loss) or
        ``"frame_f1"`` (a score; both against ``targets``), or a jit-able
        ``metric(y, y_ref, targets)`` returning ``[n_clips]`` (``[n_clips, P]`` with
        ``per_pitch=True``; checked when traced), a loss unless ``greater_is_better``.
      targets: ``[n_clips, P, T]`` reference rolls (for ``bce``/``frame_f1``).
      chunk_size: draws per jitted call (default 8; rounded up to a multiple of the mesh size).
      mesh: shard draws over ``mesh``'s devices (all axes); None = default device.
      output: key of ``apply_fn``'s dict output to score (e.g. ``"note"``).
      per_pitch: importances per pitch, ``[n_permutations, P]``: built-in metrics compute them,
        a callable metric must then return ``[n_clips, P]``.
      threshold: binarisation threshold of ``frame_f1``, in (0, 1).
      greater_is_better: callable metrics only (None = False, a loss); built-in metrics have a
        fixed direction and passing it with one is an error.
      confidence: CI level (0.95).
      ci_method: Monte Carlo CI, ``"normal"`` (mean ± z·SE) or ``"percentile"`` (bootstrap over draws).
      n_bootstrap: resamples of the bootstrap CIs (percentile over draws, cluster over clips).
      target_halfwidth: adaptive stopping: after ``n_permutations``, keep drawing a chunk at a
        time until the normal CI half-width (largest over pitches) is ``<= target_halfwidth``
        or ``max_permutations`` draws are reached.
      max_permutations: cap for adaptive stopping, ``>= n_permutations`` (default
        ``100 · n_permutations``); only with ``target_halfwidth``.
      progress: called on the host after every chunk as ``progress(draws_done, draws_planned)``
        (e.g. to drive a progress bar; ``draws_planned`` grows under adaptive stopping).

    Returns:
      :class:`ImportanceResult`.
    """
    validate.positive_int("n_permutations", n_permutations)
    _check_key(key)
    _check_family(family)
    x = _validate_features(features, family)
    validate.one_of("ci_method", ci_method, CI_METHODS)
    validate.positive_int("n_bootstrap", n_bootstrap)
    stats.normal_interval(0.0, 1.0, confidence=confidence)  # validates confidence before any compute
    if mesh is not None and not isinstance(mesh, Mesh):
        raise ValueError(f"mesh must be a jax.sharding.Mesh or None, got {type(mesh).__name__}")
    n_devices = 1 if mesh is None else mesh.size
    if chunk_size is not None:
        validate.positive_int("chunk_size", chunk_size)
    chunk = min(DEFAULT_CHUNK_SIZE, n_permutations) if chunk_size is None else chunk_size
    chunk = -(-chunk // n_devices) * n_devices
    if target_halfwidth is not None:
        validate.positive("target_halfwidth", target_halfwidth)
    if max_permutations is not None:
        validate.positive_int("max_permutations", max_permutations)
        if target_halfwidth is None:
            raise ValueError(
                f"max_permutations caps adaptive stopping and needs target_halfwidth; got max_permutations={max_permutations!r} "
                "with target_halfwidth=None"
            )
        if max_permutations < n_permutations:
            raise ValueError(f"max_permutations must be >= n_permutations = {n_permutations}, got {max_permutations!r}")
    if target_halfwidth is None:
        cap = n_permutations
    else:
        cap = 100 * n_permutations if max_permutations is None else int(max_permutations)
    if targets is not None:
        validate.exact_rank("targets", targets, 3, "[n_clips, P, T]")
        validate.finite("targets", targets)
        targets = np.asarray(targets, np.float32)
        if targets.shape[0] != x.shape[0]:
            raise ValueError(f"targets must have one roll per clip ({x.shape[0]}), got shape {targets.shape}")
    m = _make_metric(metric, per_pitch=per_pitch, threshold=threshold, greater_is_better=greater_is_better, targets=targets)

    params, x, targets = (_replicated(mesh, a) for a in (params, x, targets))
    y_ref = _forward(params, x, apply_fn=apply_fn, output=output)
    if targets is not None and targets.shape != y_ref.shape:
        raise ValueError(f"targets must have the shape of the model output {y_ref.shape}, got {targets.shape}")
    base = _base_value(y_ref, targets, metric=m)
    run = partial(_chunk, apply_fn=apply_fn, family=family, metric=m, output=output, chunk_size=chunk, mesh=mesh)

    draws, groups, clip_sum, sum1, sum2 = [], [], 0.0, 0.0, 0.0
    done, launched, goal = 0, 0, n_permutations
    z = stats.normal_interval(0.0, 1.0, confidence=confidence)[1]
    in_flight = collections.deque()  # one chunk computes while the host reads the previous one
    while done < goal:
        while launched < goal and len(in_flight) < 2:
            in_flight.append(run(params, x, y_ref, base, targets, key, jax.device_put(np.int32(launched))))
            launched += chunk
        imp, grp = in_flight.popleft()
        k = min(chunk, goal - done)
        imp = np.asarray(imp, np.float64)[:k]  # [k, n_clips(, P)]
        draws.append(imp.mean(axis=1))
        groups.append(np.asarray(grp)[:k])
        clip_sum = clip_sum + imp.sum(axis=0)
        sum1, sum2 = sum1 + draws[-1].sum(axis=0), sum2 + (draws[-1] ** 2).sum(axis=0)
        done += k
        if done == goal and target_halfwidth is not None and done < cap and done > 1:
            variance = np.maximum(sum2 - sum1**2 / done, 0.0) / (done - 1)
            if z * np.sqrt(np.max(variance) / done) > target_halfwidth:  # normal CI half-width
                goal, launched = min(cap, done + chunk), done  # draw ids stay contiguous
        if progress is not None:
            progress(done, goal)

    config = {
        "family": _family_config(family),
        "metric": m.name,
        "greater_is_better": m.greater_is_better,
        "per_pitch": draws[0].ndim > 1,
        "output": output,
        "n_permutations": done,
        "chunk_size": chunk,
        "n_devices": n_devices,
        "n_clips": int(x.shape[0]),
        "feature_shape": list(x.shape[1:]),
        "key": _key_data(key),
    }
    return _summarize(
        np.concatenate(draws),
        np.concatenate(groups).astype(np.int64),
        clip_sum / done,
        key=key,
        confidence=confidence,
        ci_method=ci_method,
        n_bootstrap=n_bootstrap,
        config=config,
    )


def _is_control_of(control: dict, family: dict) -> bool:
    """Whether family config ``control`` is the size-matched control of family config ``family``
    (e.g. ``HarmonicControl(target=harmonic)`` for ``harmonic``)."""
    control, family = json.loads(json.dumps(control)), json.loads(json.dumps(family))  # tuples == lists
    target = control.get("target")
    if control.get("name") != f"{family.get('name')}Control" or not isinstance(target, dict):
        return False
    strip = lambda d: {k: v for k, v in d.items() if k != "name"}  # noqa: E731
    return strip(target) == strip(family)


def paired_contrast(result: ImportanceResult, control: ImportanceResult) -> dict[str, np.ndarray]:
    """Paired contrast of a family against its size-matched control, per group.

    ``control`` must be the size-matched control of ``result``'s family (e.g. ``harmonic`` and
    ``harmonic_control`` with the same arguments), run with the same key, metric and number of
    draws on the same clips, so draw i of each targets the same group (a ``ValueError`` names
    what differs; the clips' contents are not compared, only their count and shape). Returns
    :func:`amt_jax.stats.paired_contrast` of ``result − control``: per group n, mean
    difference, SE, CI, t, p, and Benjamini–Hochberg q across groups.
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
    for field in ("key", "n_clips", "feature_shape", "metric", "greater_is_better", "per_pitch", "output", "n_permutations"):
        if a.get(field) != b.get(field):
            raise ValueError(
                f"control must pair with result draw for draw: {field} differs (result {a.get(field)!r}, control {b.get(field)!r})"
            )
    if result.importances.shape != control.importances.shape or not np.array_equal(result.group_ids, control.group_ids):
        raise ValueError(
            "control must pair with result draw for draw (same key, n_permutations, clips and group ids); "
            f"got shapes {control.importances.shape} vs {result.importances.shape}"
        )
    return stats.paired_contrast(result.importances, control.importances, groups=result.group_ids, confidence=result.confidence)


# --------------------------------------------------------------------------- noise response


@dataclass(frozen=True, eq=False)
class NoiseResponse:
    """Response of a model to noise input.

    Attributes:
      output_power: ``[P]`` mean output per pitch over samples and frames (pitches never
        activated stay near their floor); ``output_power_ci_low/high`` its CI.
      weights: ``[F, P]`` first-order reverse-correlation kernel
        ``w[f, p] = Cov(x_f, y_p) / Var(x_f)`` over samples and frames (same frame);
        ``weights_standard_error`` and ``weights_ci_low/high`` from a delete-one-batch jackknife.
      config: JSON-able description.
    """

    output_power: np.ndarray
    output_power_ci_low: np.ndarray
    output_power_ci_high: np.ndarray
    weights: np.ndarray
    weights_standard_error: np.ndarray
    weights_ci_low: np.ndarray
    weights_ci_high: np.ndarray
    config: dict

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: config and arrays as lists."""
        arrays = {f.name: getattr(self, f.name).tolist() for f in dataclasses.fields(self) if f.name != "config"}
        return {**self.config, **arrays}


@partial(jax.jit, static_argnames=("apply_fn", "output", "shape", "chunk_size", "n_batches"))
def _noise_chunk(params, key, start, n_samples, mean, std, lo, hi, *, apply_fn, output, shape, chunk_size, n_batches):
    """Per-batch sums of noise samples ``start ..``: n, Σx, Σx², Σy, Σxy (x centred on ``mean``)."""
    ids = start + jnp.arange(chunk_size, dtype=jnp.int32)
    x = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), shape))(ids)
    x = jnp.clip(mean[:, None] + std[:, None] * x, lo[:, None], hi[:, None])  # [C, F, T]
    y = _select(apply_fn(params, x), output)  # [C, P, T]
    w = jax.nn.one_hot(ids % n_batches, n_batches) * (ids < n_samples)[:, None]  # [C, K]: batch, masked
    xc = x - mean[:, None]
    return (
        w.sum(0) * shape[1],
        jnp.einsum("ck,cft->kf", w, xc),
        jnp.einsum("ck,cft->kf", w, xc * xc),
        jnp.einsum("ck,cpt->kp", w, y),
        jnp.einsum("ck,cft,cpt->kfp", w, xc, y),
    )


def _per_bin(name: str, value, n_bins: int) -> np.ndarray:
    """A scalar or ``[F]`` value as a float32 ``[F]`` array."""
    if np.shape(value) not in ((), (n_bins,)):
        raise ValueError(f"{name} must be a scalar or have shape [{n_bins}], got shape {np.shape(value)}")
    validate.finite(name, value)
    return np.full(n_bins, value, np.float32)


def noise_response(
    apply_fn: Callable,
    params,
    *,
    shape: tuple[int, int],
    n_samples: int,
    key: jax.Array,
    mean=0.0,
    std=1.0,
    value_range: tuple[float, float] | None = None,
    output: str | None = None,
    chunk_size: int = 32,
    n_batches: int = 20,
    confidence: float = 0.95,
) -> NoiseResponse:
    """Feed noise ``x [F, T] = mean + std · N(0, 1)`` per bin (clipped to ``value_range``,
    the feature's range, if given) and measure the output.

    Args:
      apply_fn, params, output: the model, as in :func:`permutation_importance`.
      shape: ``(F, T)`` of one noise input.
      n_samples: number of noise inputs; sample i uses ``fold_in(key, i)``.
      mean, std: scalars or ``[F]`` (e.g. per-bin statistics of a dataset).
      value_range: ``(lo, hi)`` clip range, or None.
      chunk_size: samples per jitted call.
      n_batches: samples go to batch ``i % n_batches`` for the jackknife CIs (>= 2).
      confidence: CI level.

    Returns:
      :class:`NoiseResponse` with ``output_power [P]`` and ``weights [F, P]`` plus CIs.
    """
    if not (isinstance(shape, (tuple, list)) and len(shape) == 2 and all(isinstance(s, int) and s > 0 for s in shape)):
        raise ValueError(f"shape must be (F, T) of positive ints, got {shape!r}")
    validate.positive_int("n_samples", n_samples)
    _check_key(key)
    validate.positive_int("chunk_size", chunk_size)
    validate.positive_int("n_batches", n_batches)
    if n_batches < 2 or n_samples < n_batches:
        raise ValueError(f"n_batches must be in [2, n_samples={n_samples}], got {n_batches}")
    stats.normal_interval(0.0, 1.0, confidence=confidence)  # validates confidence before any compute
    n_bins = shape[0]
    mean_f, std_f = _per_bin("mean", mean, n_bins), _per_bin("std", std, n_bins)
    if np.any(std_f <= 0):
        raise ValueError(f"std must be > 0 in every bin, got min {std_f.min()}")
    if value_range is None:
        lo, hi = np.full(n_bins, -np.inf, np.float32), np.full(n_bins, np.inf, np.float32)
    else:
        if not (isinstance(value_range, (tuple, list)) and len(value_range) == 2 and value_range[0] < value_range[1]):
            raise ValueError(f"value_range must be (lo, hi) with lo < hi, got {value_range!r}")
        lo, hi = np.full(n_bins, value_range[0], np.float32), np.full(n_bins, value_range[1], np.float32)

    run = partial(_noise_chunk, apply_fn=apply_fn, output=output, shape=tuple(shape), chunk_size=chunk_size, n_batches=n_batches)
    params, n_samples_d, mean_d, std_d, lo_d, hi_d = jax.device_put((params, np.int32(n_samples), mean_f, std_f, lo, hi))  # once
    sums = None
    for start in range(0, n_samples, chunk_size):
        part = [np.asarray(s, np.float64) for s in run(params, key, jax.device_put(np.int32(start)), n_samples_d, mean_d, std_d, lo_d, hi_d)]
        sums = part if sums is None else [a + b for a, b in zip(sums, part)]
    n_k, sx_k, sxx_k, sy_k, sxy_k = sums  # per batch: [K], [K, F], [K, F], [K, P], [K, F, P]

    def estimate(n, sx, sxx, sy, sxy):
        mx, my = sx / n, sy / n
        return my, (sxy / n - mx[:, None] * my[None, :]) / (sxx / n - mx * mx)[:, None]

    total = [s.sum(0) for s in sums]
    power, weights = estimate(*total)
    leave_out = [estimate(*(t - s[k] for t, s in zip(total, sums))) for k in range(n_batches)]
    k = n_batches

    def jackknife_se(values):
        values = np.stack(values)
        return np.sqrt((k - 1) / k * np.sum((values - values.mean(0)) ** 2, axis=0))

    power_se = jackknife_se([p for p, _ in leave_out])
    weights_se = jackknife_se([w for _, w in leave_out])
    p_low, p_high = stats.normal_interval(power, power_se, confidence=confidence)
    w_low, w_high = stats.normal_interval(weights, weights_se, confidence=confidence)
    config = {
        "shape": list(shape),
        "n_samples": int(n_samples),
        "n_batches": int(n_batches),
        "value_range": None if value_range is None else [float(v) for v in value_range],
        "output": output,
        "confidence": float(confidence),
        "key": _key_data(key),
    }
    return NoiseResponse(power, p_low, p_high, weights, weights_se, w_low, w_high, config)
