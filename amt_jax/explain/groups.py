"""One table of groups of input bins, scored by every method, and the agreement between methods.

A group is a set of bins of X's frequency axis (read from a
:class:`~amt_jax.frontend.layout.FrequencyLayout`) and the objective it is scored against:

| kind | bins | objective |
|---|---|---|
| ``harmonic`` k of key p | the B bins (one semitone) centred on harmonic k of p | key p's labelled frames |
| ``comb`` of key p | the centre bins of harmonics 1..h of p (the harmonic family's group) | key p's labelled frames |
| ``semitone`` s | semitone s's bins | every labelled frame |
| ``band`` b | the bins of semitones [lo, hi) | every labelled frame |

Scores: from an attribution map per objective ``[K, F]`` (summed over frames) a group's score is
the sum over its bins (:func:`map_scores`); occlusion and permutation give one drop per group
and objective (:func:`drop_scores`). Per clip, :func:`summarize` collapses key-specific groups to
"harmonic k" (mean over the clip's sounding keys), so clips with different keys share one row of
labels; :func:`agreement` compares methods by Spearman's ρ over the groups of the piece-level
profile (mean over pieces of per-piece means), with a percentile bootstrap over pieces
(resample b from ``fold_in(key, b)``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import numpy as np

from amt_jax import validate
from amt_jax.stats import similarity
from amt_jax import stats
from amt_jax.frontend.layout import FrequencyLayout

KINDS = ("harmonic", "comb", "semitone", "band")
KEYED = ("harmonic", "comb")  # kinds whose objective is one key


@dataclasses.dataclass(frozen=True, eq=False)
class Groups:
    """``G`` groups: ``kind [G]`` (str), ``key [G]`` (objective key, −1 = every labelled key),
    ``index [G]`` (harmonic number k, number of harmonics of a comb, semitone s, band number),
    ``members [G, F]`` (bool)."""

    kind: np.ndarray
    key: np.ndarray
    index: np.ndarray
    members: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)

    @property
    def labels(self) -> list[str]:
        """Summary label of each group: ``harmonic 3``, ``comb 8``, ``semitone 40``, ``band 2``."""
        return [f"{k} {i}" for k, i in zip(self.kind, self.index)]

    @property
    def objective_keys(self) -> np.ndarray:
        """The distinct objective keys (ascending; −1 first when present)."""
        return np.unique(self.key)

    def objective_index(self, keys) -> np.ndarray:
        """Position ``[G]`` of each group's objective key in ``keys`` (ValueError if absent)."""
        keys = list(np.asarray(keys).tolist())
        missing = sorted(set(self.key.tolist()) - set(keys))
        if missing:
            raise ValueError(f"keys must hold every group's objective key, missing {missing}")
        return np.array([keys.index(k) for k in self.key.tolist()], np.int64)


def _groups(kind, key, index, members, n_bins) -> Groups:
    members = np.asarray(members, bool).reshape(-1, n_bins)
    return Groups(np.asarray(kind, dtype=object).reshape(-1), np.asarray(key, np.int64).reshape(-1),
                  np.asarray(index, np.int64).reshape(-1), members)


def _keys(layout: FrequencyLayout, keys) -> np.ndarray:
    keys = np.asarray(keys, np.int64).reshape(-1)
    if np.any((keys < 0) | (keys >= layout.n_pitches)):
        raise ValueError(f"keys must lie in [0, {layout.n_pitches}), got {keys.tolist()}")
    return keys


def harmonic_groups(layout: FrequencyLayout, keys, *, n_harmonics: int, width: int | None = None) -> Groups:
    """Harmonic k = 1..h of each key: ``width`` bins (default B, a semitone) centred on the
    harmonic's bin ``layout.pitch_bin(p) + round(12B·log2 k)``, clipped; harmonics off the axis are left out."""
    keys = _keys(layout, keys)
    width = layout.bins_per_semitone if width is None else width
    validate.positive_int("width", width)
    rows = []
    for p in keys:
        for k, offset in enumerate(layout.harmonic_offsets(n_harmonics), start=1):
            lo = layout.pitch_bin(int(p)) + offset - width // 2
            m = np.zeros(layout.n_bins, bool)
            m[max(lo, 0):max(min(lo + width, layout.n_bins), 0)] = True
            if m.any():
                rows.append(("harmonic", p, k, m))
    return _stack(rows, layout.n_bins)


def comb_groups(layout: FrequencyLayout, keys, *, n_harmonics: int) -> Groups:
    """The centre bins of harmonics 1..h of each key (what a ``harmonic`` permutation draw moves)."""
    rows = []
    for p in _keys(layout, keys):
        m = np.zeros(layout.n_bins, bool)
        m[list(layout.harmonic_bins(int(p), n_harmonics))] = True
        rows.append(("comb", p, n_harmonics, m))
    return _stack(rows, layout.n_bins)


def semitone_groups(layout: FrequencyLayout, semitones=None) -> Groups:
    """Semitone s's bins for s in ``semitones`` (default: the keys), objective: every labelled key."""
    semitones = np.arange(layout.n_pitches) if semitones is None else np.asarray(semitones, np.int64).reshape(-1)
    rows = []
    for s in semitones:
        lo, hi = layout.semitone_bins(int(s))
        if lo >= hi:
            raise ValueError(f"semitone {int(s)} lies off the axis of {layout.n_bins} bins")
        m = np.zeros(layout.n_bins, bool)
        m[lo:hi] = True
        rows.append(("semitone", -1, s, m))
    return _stack(rows, layout.n_bins)


def band_groups(layout: FrequencyLayout, bands) -> Groups:
    """Band b = the bins of semitones ``bands[b] = (lo, hi)`` (half-open), objective: every labelled key."""
    rows = []
    for b, band in enumerate(bands):
        if len(band) != 2 or not band[0] < band[1]:
            raise ValueError(f"bands[{b}] must be a semitone range (lo, hi) with lo < hi, got {band!r}")
        lo, hi = layout.semitone_range(int(band[0]), int(band[1]))
        if lo >= hi:
            raise ValueError(f"bands[{b}] = {band!r} lies off the axis of {layout.n_bins} bins")
        m = np.zeros(layout.n_bins, bool)
        m[lo:hi] = True
        rows.append(("band", -1, b, m))
    return _stack(rows, layout.n_bins)


def _stack(rows, n_bins) -> Groups:
    if not rows:
        return _groups([], [], [], np.zeros((0, n_bins), bool), n_bins)
    kind, key, index, members = zip(*rows)
    return _groups(kind, key, index, np.stack(members), n_bins)


def concat(*groups: Groups) -> Groups:
    """The groups of several tables, in order."""
    n_bins = groups[0].members.shape[1]
    return _groups(np.concatenate([g.kind for g in groups]), np.concatenate([g.key for g in groups]),
                   np.concatenate([g.index for g in groups]), np.concatenate([g.members for g in groups]), n_bins)


def map_scores(groups: Groups, maps, keys) -> np.ndarray:
    """Scores ``[G]``: Σ over each group's bins of the map of its objective; ``maps [K, F]`` for
    objective keys ``keys [K]`` (−1: every labelled key)."""
    maps = np.asarray(maps, np.float64)
    if maps.shape != (len(keys), groups.members.shape[1]):
        raise ValueError(f"maps must be [K={len(keys)}, F={groups.members.shape[1]}], got shape {maps.shape}")
    return np.sum(groups.members * maps[groups.objective_index(keys)], axis=1)


def drop_scores(groups: Groups, drops, keys) -> np.ndarray:
    """Scores ``[G]`` from drops ``[G, K]`` (every group under every objective): each group's own objective."""
    drops = np.asarray(drops, np.float64)
    if drops.shape != (len(groups), len(keys)):
        raise ValueError(f"drops must be [G={len(groups)}, K={len(keys)}], got shape {drops.shape}")
    return drops[np.arange(len(groups)), groups.objective_index(keys)]


def summarize(groups: Groups, scores) -> dict[str, float]:
    """Label → score for one clip, key-specific groups averaged over the clip's keys."""
    scores = np.asarray(scores, np.float64)
    out: dict[str, list[float]] = {}
    for label, s in zip(groups.labels, scores):
        out.setdefault(label, []).append(float(s))
    return {label: float(np.mean(v)) for label, v in out.items()}


def collect(rows: list[dict[str, float]], labels: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """``(labels, values [n_clips, L])`` from per-clip summaries (NaN where a clip lacks a label).
    Labels sort by kind (:data:`KINDS` order), then index."""
    if labels is None:
        found = {label for row in rows for label in row}
        labels = sorted(found, key=lambda s: (KINDS.index(s.split()[0]), int(s.split()[1])))
    values = np.array([[row.get(label, np.nan) for label in labels] for row in rows], np.float64).reshape(len(rows), len(labels))
    return list(labels), values


def select(labels: list[str], kind: str | None) -> np.ndarray:
    """Bool ``[L]``: the labels of ``kind`` (all for None)."""
    if kind is not None:
        validate.one_of("kind", kind, KINDS)
    return np.array([kind is None or label.split()[0] == kind for label in labels], bool)


def piece_profile(values, clusters=None) -> np.ndarray:
    """``[L]``: the mean over pieces of each piece's mean (NaN-aware) of ``values [n_clips, L]``."""
    _, means = stats.cluster_means(values, clusters)
    with np.errstate(invalid="ignore"):
        return _nanmean(means, axis=0)


def _nanmean(x, axis):
    n = np.sum(np.isfinite(x), axis=axis)
    total = np.nansum(x, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


class Agreement(NamedTuple):
    """Agreement of M methods over groups, ``[M, M]`` arrays.

    Attributes:
      methods: names.
      rho: mean over pieces of each piece's Spearman ρ between the two methods' group scores (a
        piece's scores: the mean over its clips) — the estimand the intervals cover.
      ci_low, ci_high: percentile bootstrap over pieces (resample b from ``fold_in(key, b)``).
      t_low, t_high: t interval over the per-piece ρ (:func:`amt_jax.stats.cluster_ci`).
      profile_rho: Spearman ρ of the two piece-level profiles (mean over pieces first): the
        agreement of the averaged maps, biased towards 0 by noise near ties (no interval).
      n_groups: groups both methods score (in the profiles); n_pieces; confidence.
    """

    methods: list[str]
    rho: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    t_low: np.ndarray
    t_high: np.ndarray
    profile_rho: np.ndarray
    n_groups: np.ndarray
    n_pieces: int
    confidence: float

    def to_dict(self) -> dict:
        arrays = {f: np.where(np.isfinite(getattr(self, f)), getattr(self, f), np.nan).tolist()
                  for f in ("rho", "ci_low", "ci_high", "t_low", "t_high", "profile_rho", "n_groups")}
        return {"methods": self.methods, **arrays, "n_pieces": self.n_pieces, "confidence": self.confidence}


@functools.partial(jax.jit, static_argnames=("n",))
def _rows(key, ids, *, n):
    return jax.vmap(lambda b: jax.random.randint(jax.random.fold_in(key, b), (n,), 0, n))(ids)


def bootstrap_rows(key, n_resamples: int, n: int) -> np.ndarray:
    """``[n_resamples, n]`` row indices with replacement; resample b from ``fold_in(key, b)``."""
    return np.asarray(_rows(key, np.arange(n_resamples), n=n))


def agreement(scores: dict, clusters=None, *, key, n_resamples: int = 1000, confidence: float = 0.95,
              mask=None) -> Agreement:
    """Spearman agreement of methods: ``scores`` maps a method name to ``[n_clips, L]`` (the same
    clips and labels for every method; NaN = not scored); ``mask [L]`` (bool) restricts the groups.

    Each piece's group scores are the mean over its clips; ρ is computed per piece and averaged
    over pieces (each piece counts once); the CI resamples pieces with replacement.
    """
    names = list(scores)
    if len(names) < 2:
        raise ValueError(f"scores must hold at least 2 methods, got {names}")
    values = [np.asarray(scores[m], np.float64) for m in names]
    shape = values[0].shape
    if any(v.shape != shape for v in values) or len(shape) != 2:
        raise ValueError(f"every method's scores must be [n_clips, L] of one shape, got {[v.shape for v in values]}")
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != (shape[1],):
            raise ValueError(f"mask must be a bool [L] = [{shape[1]}], got shape {mask.shape}")
        values = [v[:, mask] for v in values]
    validate.positive_int("n_resamples", n_resamples)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    clusters = stats.check_clusters("clusters", clusters, shape[0])
    piece_means = [stats.cluster_means(v, clusters)[1] for v in values]  # [n_pieces, L] each
    n_pieces = piece_means[0].shape[0]
    rows = bootstrap_rows(key, n_resamples, n_pieces)
    m, alpha = len(names), 1 - confidence
    out = {f: np.full((m, m), np.nan) for f in ("rho", "ci_low", "ci_high", "t_low", "t_high", "profile_rho", "n_groups")}
    for i in range(m):
        for j in range(m):
            per_piece = similarity.spearman(piece_means[i], piece_means[j])  # [n_pieces]
            ok = np.isfinite(per_piece)
            profiles = [_nanmean(piece_means[k], axis=0) for k in (i, j)]
            out["profile_rho"][i, j] = similarity.spearman(*profiles)
            out["n_groups"][i, j] = np.sum(np.isfinite(profiles[0]) & np.isfinite(profiles[1]))
            if not ok.any():
                continue
            out["rho"][i, j] = per_piece[ok].mean()
            if ok.sum() >= 2:
                boot = _nanmean(per_piece[rows], axis=1)
                out["ci_low"][i, j], out["ci_high"][i, j] = np.quantile(boot[np.isfinite(boot)], [alpha / 2, 1 - alpha / 2])
                t = stats.cluster_ci(per_piece[ok], confidence=confidence)
                out["t_low"][i, j], out["t_high"][i, j] = t["ci_low"], t["ci_high"]
    return Agreement(names, out["rho"], out["ci_low"], out["ci_high"], out["t_low"], out["t_high"], out["profile_rho"],
                     out["n_groups"].astype(int), int(n_pieces), float(confidence))
