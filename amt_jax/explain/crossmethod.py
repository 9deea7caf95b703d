"""Every attribution method on the same groups of bins, clip by clip: the cross-method table.

For each clip the objectives are its sounding keys' labelled frames (one per key) and all its
labelled frames (key −1); the groups (:mod:`amt_jax.explain.groups`) are harmonic k = 1..h of each
sounding key, every key's semitone and the octave bands. Methods (:data:`METHODS`):

| method | score of a group |
|---|---|
| ``gradient`` | Σ over its bins and all frames of ∂o/∂x (the response to raising the group uniformly) |
| ``grad_x_input`` | Σ (x − b) ⊙ ∂o/∂x, b the baseline (first-order estimate of occluding it) |
| ``smoothgrad`` | Σ of the SmoothGrad gradient |
| ``integrated_gradients`` | Σ of IG from the baseline b (completeness gap reported per objective) |
| ``lrp`` | Σ of LRP relevance (``Settings.composite``, default ε-γ-box; conservation reported) |
| ``lrp_plus`` | Σ of LRP relevance with the ε-z⁺-box composite (bias-free middle layers) |
| ``occlusion`` | o(x) − o(group set to the baseline b) |
| ``permutation`` | o(x) − o(group moved to other frames), mean over draws |
| ``contrast`` | permutation minus the same for as many random bins (the reliance contrast) |

The baseline b (``Settings.baseline``) is the features of silent audio, or of quiet noise for a
model that normalises each frame over bins (:mod:`amt_jax.explain.baselines`). LRP explains what the model's LRP
adapter outputs (its ``explains``): the logits, unless they are not a linear read of the network
(a softmax's key log-odds: the adapter explains a linear stand-in), while the other methods
differentiate or perturb the ``logits`` capability itself.

Each clip's scores are collapsed to summary labels (``harmonic k`` averaged over the clip's keys,
``semitone s``, ``band b``) and collected into ``[n_clips, L]`` per method, the input of
:func:`amt_jax.explain.groups.agreement`. Per-key maps ``[P, F]`` (the mean map per labelled frame
of each key, class-wise) are kept for map similarity (SSIM) and figures.

The null of every comparison: ``Settings.n_null`` independent random maps per clip and objective
(standard normal per bin, the same for every method and model) scored through the same groups
(:attr:`Table.null`; drop-type methods are compared with the same maps). :func:`compare` judges
whether a randomised model's scores keep more of the trained model's ranking than such maps do —
no fixed ρ threshold. Beside it, the input itself (:attr:`Table.input`: the mean spectrum over each
objective's frames, through the same groups) says how much of the trained ranking the input alone
already has: a ranking that survives randomisation and matches the input's is the input's (or the
architecture's), not learned.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import numpy as np

from amt_jax import stats, validate
from amt_jax.explain import attribution as attr
from amt_jax.explain import groups as grp
from amt_jax.explain import lrp
from amt_jax.stats import similarity

METHODS = ("gradient", "grad_x_input", "smoothgrad", "integrated_gradients", "lrp", "lrp_plus", "occlusion",
           "permutation", "contrast")
MAP_METHODS = ("gradient", "grad_x_input", "smoothgrad", "integrated_gradients", "lrp", "lrp_plus")


@dataclasses.dataclass(frozen=True)
class Settings:
    """What :func:`score_clips` computes. ``max_keys``: objectives per clip are padded to this many
    keys (fixed shapes: one compilation per method); a clip with more sounding keys keeps the
    ``max_keys`` with the most labelled frames. ``baseline``: the reference of grad × input, IG and
    occlusion on the model's features, a scalar, a spectrum ``[F]`` or a map ``[F, T]`` (tuples):
    silence (0 for NormalizedLog features; a dB frontend's floor for one in dB: e.g. the frontend of
    silent audio), or for a model that normalises each frame over bins one whose frames are not flat
    (e.g. the frontend of quiet noise; :func:`amt_jax.explain.attribution.frame_offset_sensitivity`)."""

    methods: tuple[str, ...] = METHODS
    n_harmonics: int = 8
    smoothgrad_samples: int = 16
    noise_level: float = 0.1
    ig_nodes: int = 64  # IG's completeness gap on Basic Pitch: < 0.2 % at 64 nodes, 3 % at 32 (tests)
    n_draws: int = 2
    composite: str = "epsilon_gamma_box"
    chunk_size: int = 8
    max_keys: int = 12
    n_null: int = 16
    baseline: float | tuple = attr.SILENCE

    def __post_init__(self):
        for m in self.methods:
            validate.one_of("methods", m, METHODS)
        for name in ("n_harmonics", "smoothgrad_samples", "ig_nodes", "n_draws", "chunk_size", "max_keys", "n_null"):
            validate.positive_int(name, getattr(self, name))
        validate.one_of("composite", self.composite, lrp.COMPOSITES)
        if np.ndim(self.baseline) > 2 or not np.all(np.isfinite(self.baseline)):
            raise ValueError(f"baseline must be a finite scalar, spectrum [F] or map [F, T], got shape "
                             f"{np.shape(self.baseline)} with {np.sum(~np.isfinite(self.baseline))} non-finite")


class Table(NamedTuple):
    """``labels [L]``; ``scores``: method → ``[n_clips, L]``; ``key_maps``: method → ``[P, F]``;
    ``diagnostics``: per clip, IG's relative completeness gap and LRP's conservation (lists);
    ``null``: ``[n_null, n_clips, L]`` the scores of independent random maps through the same groups
    (None: not computed); ``input``: ``[n_clips, L]`` the input's own scores (the mean spectrum over
    each objective's frames through the same groups; None: not computed)."""

    labels: list[str]
    scores: dict
    key_maps: dict
    diagnostics: dict
    null: np.ndarray | None = None
    input: np.ndarray | None = None


def sounding_keys(targets, max_keys: int) -> np.ndarray:
    """Keys labelled in at least one frame of ``targets [P, T]``, the ``max_keys`` with most frames, ascending."""
    counts = np.asarray(targets).sum(axis=1)
    keys = np.flatnonzero(counts > 0)
    keys = keys[np.argsort(-counts[keys], kind="stable")[:max_keys]]
    return np.sort(keys)


def clip_groups(layout, keys, settings: Settings) -> grp.Groups:
    """Harmonics of the clip's keys, every key's semitone, the octave bands."""
    return grp.concat(grp.harmonic_groups(layout, keys, n_harmonics=settings.n_harmonics),
                      grp.semitone_groups(layout), grp.band_groups(layout, layout.octave_bands()))


def _maps(model, logit_fn, x, masks, settings: Settings, key, diagnostics) -> dict:
    """Per-objective maps summed over frames ``[K, F]`` of the gradient-type methods and LRP."""
    out, m = {}, settings.methods
    if "gradient" in m or "grad_x_input" in m:
        g = attr.gradient(logit_fn, model.params, x, masks)
        out["gradient"] = attr.reduce_time(g)[:, 0]
        out["grad_x_input"] = attr.reduce_time(g * (x - attr.broadcast_baseline(settings.baseline, x))[None])[:, 0]
    if "smoothgrad" in m:
        sg = attr.smoothgrad(logit_fn, model.params, x, masks, key=key, n_samples=settings.smoothgrad_samples,
                             noise_level=settings.noise_level, chunk_size=settings.chunk_size)
        out["smoothgrad"] = attr.reduce_time(sg)[:, 0]
    if "integrated_gradients" in m:
        ig = attr.integrated_gradients(logit_fn, model.params, x, masks, baseline=settings.baseline,
                                       n_nodes=settings.ig_nodes, chunk_size=settings.chunk_size)
        out["integrated_gradients"] = attr.reduce_time(ig.attribution)[:, 0]
        diagnostics["ig_relative_gap"] = np.asarray(ig.relative_gap)[:, 0]
        diagnostics["ig_delta"] = np.asarray(ig.delta)[:, 0]
    for name, composite in (("lrp", settings.composite), ("lrp_plus", "epsilon_plus_box")):
        if name in m:
            r = lrp.relevance(model.params, x, masks, graph=model.require("lrp", f"method {name!r}"), composite=composite)
            out[name] = attr.reduce_time(r.input)[:, 0]
            diagnostics[f"{name}_conservation_error"] = np.asarray(r.conservation_error)[:, 0]
            diagnostics[f"{name}_residual"] = np.asarray(r.residual)[:, 0]
            diagnostics[f"{name}_absorbed"] = {k: np.asarray(v)[:, 0] for k, v in r.absorbed.items()}
            diagnostics[f"{name}_stack"] = np.asarray(r.stack)[:, 0]
            diagnostics[f"{name}_top"] = np.asarray(r.top)[:, 0]
    return {k: v for k, v in out.items() if k in m}


def random_map_summaries(groups: grp.Groups, objectives, *, key, n: int) -> list[dict]:
    """``n`` summaries (label → score) of independent standard-normal maps ``[K, F]`` (one per
    objective key) scored through ``groups``: what two unrelated maps share through the groups alone."""
    noise = np.asarray(jax.random.normal(key, (n, len(objectives), groups.members.shape[1])), np.float64)
    return [grp.summarize(groups, grp.map_scores(groups, m, objectives)) for m in noise]


def input_maps(x, masks) -> np.ndarray:
    """``[K, F]``: the mean of ``x [F, T]`` over each objective's frames (``masks [K, 1, P, T]``: a frame
    counts where any key of the objective is labelled): the input's own "map" per objective."""
    frames = (np.asarray(masks)[:, 0].sum(axis=1) > 0).astype(np.float64)  # [K, T]
    return frames @ np.asarray(x, np.float64).T / np.maximum(frames.sum(axis=1, keepdims=True), 1)


def score_clip(model, logit_fn, x, targets, *, key, settings: Settings) -> tuple[dict, dict, np.ndarray, dict, list]:
    """One clip ``x [F, T]``, ``targets [P, T]``: ``(summaries, maps, keys, diagnostics, null)`` with
    summaries method → {label: score}, maps method → ``[K, F]`` for the objective keys ``keys [K]``
    (the sounding keys, then −1), diagnostics per objective, null: ``settings.n_null`` summaries of
    random maps (:func:`random_map_summaries`, from ``fold_in(key, 2)``), then the input's own
    (:func:`input_maps`)."""
    layout = model.layout
    keys = sounding_keys(targets, settings.max_keys)
    objectives = np.concatenate([keys, [-1]])
    padded = np.concatenate([keys, np.full(settings.max_keys - len(keys), -2), [-1]])  # −2: empty mask
    masks = attr.key_masks(targets[None], np.where(padded == -2, 0, padded))
    masks[padded == -2] = 0.0
    real = padded != -2
    x = np.asarray(x, np.float32)[None]
    table = clip_groups(layout, keys, settings)
    diagnostics: dict = {}
    maps = {k: v[real] for k, v in _maps(model, logit_fn, x, masks, settings, jax.random.fold_in(key, 0),
                                          diagnostics).items()}
    diagnostics = {k: ({n: a[real] for n, a in v.items()} if isinstance(v, dict) else v[real])
                   for k, v in diagnostics.items()}
    scores = {k: grp.map_scores(table, v, objectives) for k, v in maps.items()}
    if "occlusion" in settings.methods:
        drops = attr.occlusion(logit_fn, model.params, x, table.members, masks, baseline=settings.baseline,
                               chunk_size=settings.chunk_size)
        scores["occlusion"] = grp.drop_scores(table, np.asarray(drops)[:, real, 0], objectives)
    if "permutation" in settings.methods or "contrast" in settings.methods:
        allowed = np.zeros(layout.n_bins, bool)
        allowed[slice(*layout.key_bins)] = True
        perm = attr.time_permutation(logit_fn, model.params, x, table.members, masks, key=jax.random.fold_in(key, 1),
                                     n_draws=settings.n_draws, allowed=allowed, chunk_size=settings.chunk_size)
        for name, d in (("permutation", perm.group), ("contrast", perm.contrast)):
            if name in settings.methods:
                scores[name] = grp.drop_scores(table, np.asarray(d).mean(axis=0)[:, real, 0], objectives)
    summaries = {k: grp.summarize(table, v) for k, v in scores.items()}
    null = random_map_summaries(table, objectives, key=jax.random.fold_in(key, 2), n=settings.n_null)
    null.append(grp.summarize(table, grp.map_scores(table, input_maps(x[0], masks[real]), objectives)))
    return summaries, maps, objectives, diagnostics, null


def score_clips(model, features, targets, *, key, settings: Settings = Settings(),
                progress: Callable[[int, int], None] | None = None) -> Table:
    """Every method on every clip (``features [n_clips, F, T]``, ``targets [n_clips, P, T]``);
    clip i uses ``fold_in(key, i)``."""
    features, targets = np.asarray(features, np.float32), np.asarray(targets, np.float32)
    validate.exact_rank("features", features, 3, "[n_clips, F, T]")
    if targets.shape != (features.shape[0], model.layout.n_pitches, features.shape[2]):
        raise ValueError(f"targets must be [n_clips, P, T] = {(features.shape[0], model.layout.n_pitches, features.shape[2])}, "
                         f"got {targets.shape}")
    logit_fn = attr.logit_fn_of(model)
    rows: dict[str, list] = {}
    sums: dict[str, np.ndarray] = {}
    counts = np.zeros(model.layout.n_pitches)
    diagnostics: list[dict] = []
    nulls: list[list[dict]] = []
    for i in range(features.shape[0]):
        summaries, maps, objectives, diag, null = score_clip(model, logit_fn, features[i], targets[i],
                                                             key=jax.random.fold_in(key, i), settings=settings)
        nulls.append(null)
        for k, v in summaries.items():
            rows.setdefault(k, []).append(v)
        frames = targets[i].sum(axis=1)
        counts[objectives[:-1]] += frames[objectives[:-1]]  # only the keys whose maps were computed
        for k, v in maps.items():
            acc = sums.setdefault(k, np.zeros((model.layout.n_pitches, features.shape[1])))
            acc[objectives[:-1]] += v[:-1]
        diagnostics.append(diag)
        if progress is not None:
            progress(i + 1, features.shape[0])
    labels = grp.collect(next(iter(rows.values())))[0] if rows else []
    scores = {k: grp.collect(v, labels)[1] for k, v in rows.items()}
    with np.errstate(invalid="ignore", divide="ignore"):
        key_maps = {k: np.where(counts[:, None] > 0, v / counts[:, None], np.nan) for k, v in sums.items()}
    null = np.stack([grp.collect([clip[d] for clip in nulls], labels)[1] for d in range(settings.n_null)])
    own = grp.collect([clip[-1] for clip in nulls], labels)[1]
    return Table(labels, scores, key_maps, {"per_clip": diagnostics}, null, own)


def lrp_topn_maps(model, features, targets, *, n: int, composite: str = "epsilon_gamma_box", max_keys: int = 12) -> dict:
    """Class-wise top-n LRP maps: for each key, the mean relevance map ``[F]`` over its ``n``
    labelled frames with the largest logits (over all clips), and the maps' kurtosis.
    Returns ``{"maps": [P, F], "counts": [P], "kurtosis": [P]}`` (NaN rows for keys never labelled)."""
    graph = model.require("lrp", "LRP maps")
    logit_fn = attr.logit_fn_of(model)
    features, targets = np.asarray(features, np.float32), np.asarray(targets, np.float32)
    logits = np.asarray(jax.jit(logit_fn)(model.params, features))
    selected = lrp.topn_masks(logits, targets, n)
    by_clip = np.zeros((features.shape[0], graph.n_pitches, features.shape[1]))
    for i in range(features.shape[0]):
        keys = sounding_keys(selected[i], graph.n_pitches)
        for start in range(0, len(keys), max_keys):
            chunk = keys[start:start + max_keys]
            padded = np.concatenate([chunk, np.full(max_keys - len(chunk), -1)])
            masks = attr.key_masks(selected[i][None], np.maximum(padded, 0))
            masks[padded < 0] = 0.0
            r = lrp.relevance(model.params, features[i][None], masks, graph=graph, composite=composite)
            by_clip[i, chunk] = attr.reduce_time(r.input)[: len(chunk), 0]
    maps, counts = lrp.key_maps(by_clip, selected)
    return {"maps": maps, "counts": counts, "kurtosis": lrp.map_kurtosis(maps)}


# --------------------------------------------------------------------------- sanity checks

KIND_SETS = (("all", None), ("harmonic", "harmonic"), ("semitone", "semitone"), ("band", "band"))
# survival is judged within each kind of group: ranking groups of different sizes and objectives
# together ("all") correlates a map with random maps through the groups' sizes alone
SURVIVAL_KINDS = ("harmonic", "semitone", "band")
SURVIVAL = ("survives: in every kind of SURVIVAL_KINDS, the 95 % piece-bootstrap interval of rho minus the random "
            "maps' rho (per piece) lies above 0")


def map_similarity(a, b, *, window: int = 7) -> float:
    """SSIM of two per-key maps ``[P, F]`` on the keys both have (rows without NaN), each divided by
    its largest absolute value (data range 2); NaN with fewer than 3 such keys."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rows = np.all(np.isfinite(a), axis=1) & np.all(np.isfinite(b), axis=1)
    if rows.sum() < 3:
        return float("nan")
    w = min(window, int(rows.sum()))
    return similarity.ssim(similarity.normalize_map(a[rows]), similarity.normalize_map(b[rows]), window=w, data_range=2.0)


def compare(reference: Table, other: Table, clusters=None, *, key, n_resamples: int = 1000,
            confidence: float = 0.95) -> dict:
    """How much of ``reference``'s ranking (the trained model's table) ``other`` (a randomised
    model's table on the same clips) keeps, per method and per kind of group (:data:`KIND_SETS`),
    of the signed scores and of their absolute values (``abs_``: a randomised top layer can flip
    every sign and keep the ranking of magnitudes, as Adebayo et al. compare both):

    - ``rho``: the mean over pieces of each piece's Spearman ρ (a piece's scores: the mean over its
      clips), with its piece-bootstrap interval ``ci_low``/``ci_high``;
    - ``null_rho``: the same ρ of ``reference`` with random maps through the same groups
      (``reference.null``, the mean over its maps per piece) — what the groups alone share;
    - ``excess`` = ρ − null ρ per piece, averaged, with its piece-bootstrap interval
      ``excess_ci_low``/``excess_ci_high`` (the random maps are drawn per clip, so they are nested
      in pieces and the piece bootstrap covers them);
    - ``survives`` / ``survives_abs``: within every kind of :data:`SURVIVAL_KINDS` the excess'
      interval lies above 0 — more of the trained ranking is left than random maps keep (driven by
      the architecture or the input, not by learning). ``all`` (every group ranked together) is
      reported, not judged;
    - ``input_rho``: the trained ranking's ρ with the input's own scores (:attr:`Table.input`), when
      the reference has them: a surviving ranking close to it is the input's.

    Plus ``ssim`` of the per-key maps where both tables have them.
    """
    if reference.labels != other.labels:
        raise ValueError("other must score the same groups as reference (same clips), got different labels")
    if reference.null is None:
        raise ValueError("reference must carry the random maps' scores (Table.null), got None: score it with score_clips")
    clusters = stats.check_clusters("clusters", clusters, reference.null.shape[1])
    alpha = 1 - confidence
    out = {}
    for i, method in enumerate(m for m in reference.scores if m in other.scores):
        row = {}
        for prefix, f in (("", lambda v: v), ("abs_", np.abs)):
            for name, kind in KIND_SETS:
                mask = grp.select(reference.labels, kind)
                if mask.sum() < 3:
                    continue
                ref = stats.cluster_means(f(reference.scores[method])[:, mask], clusters)[1]
                rho = similarity.spearman(ref, stats.cluster_means(f(other.scores[method])[:, mask], clusters)[1])
                null = np.mean([similarity.spearman(ref, stats.cluster_means(f(n)[:, mask], clusters)[1])
                                for n in reference.null], axis=0)
                rows = grp.bootstrap_rows(jax.random.fold_in(key, i), n_resamples, len(rho))
                cell = {"rho": _mean(rho), "null_rho": _mean(null), "excess": _mean(rho - null), "n_pieces": len(rho)}
                if reference.input is not None:  # how much of the trained ranking the input alone has
                    own = stats.cluster_means(f(reference.input)[:, mask], clusters)[1]
                    cell["input_rho"] = _mean(similarity.spearman(ref, own))
                for field, v in (("ci", rho), ("excess_ci", rho - null)):
                    boot = _mean(v[rows], axis=1)
                    low, high = np.quantile(boot[np.isfinite(boot)], [alpha / 2, 1 - alpha / 2]) if np.isfinite(boot).any() \
                        else (np.nan, np.nan)
                    cell[f"{field}_low"], cell[f"{field}_high"] = float(low), float(high)
                row[prefix + name] = cell
        if method in reference.key_maps and method in other.key_maps:
            row["ssim"] = map_similarity(reference.key_maps[method], other.key_maps[method])
        for prefix in ("", "abs_"):
            lows = [row.get(prefix + name, {}).get("excess_ci_low", float("nan")) for name in SURVIVAL_KINDS]
            row[f"survives{'_abs' if prefix else ''}"] = bool(all(np.isfinite(lows)) and min(lows) > 0)
        out[method] = row
    return out


def _mean(x, axis=None):
    """NaN-skipping mean (NaN when nothing is finite; no warning)."""
    x = np.asarray(x, np.float64)
    n = np.isfinite(x).sum(axis=axis)
    total = np.nansum(x, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return float(out) if axis is None else out


def harmonic_profiles(table: Table, clusters=None) -> dict:
    """Method → the piece-level profile (:func:`amt_jax.explain.groups.piece_profile`) of its
    scores over the harmonic groups of the table."""
    mask = grp.select(table.labels, "harmonic")
    return {m: grp.piece_profile(v[:, mask], clusters) for m, v in table.scores.items()}


def agreements(table: Table, clusters=None, *, key, n_resamples: int = 1000) -> dict:
    """Per kind of group (:data:`KIND_SETS`): every pair of methods' per-piece Spearman ρ with its
    piece-bootstrap interval (:func:`amt_jax.explain.groups.agreement`), kind i's resamples from
    ``fold_in(key, i)``."""
    out = {}
    for i, (name, kind) in enumerate(KIND_SETS):
        mask = grp.select(table.labels, kind)
        out[name] = grp.agreement(table.scores, clusters, key=jax.random.fold_in(key, i), n_resamples=n_resamples,
                                  mask=mask).to_dict()
    return out
