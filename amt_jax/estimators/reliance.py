"""Harmonic reliance, measured where it happens: the key whose harmonics moved against the keys
whose did not, in the same draw; and the factorial design for the missing fundamental.

:func:`harmonic_reliance` reads a :func:`~amt_jax.perturb.key_families.harmonic_swap` run scored
with ``key_drop`` per key: the *diagonal* is the drop of key q's own output (q: the key whose
harmonics moved) over q's frames; the *off-diagonal* is the mean drop of the other keys that sound
with q and none of whose comb bins (fundamental and harmonics 1..h) the draw moved, over the
frames where both sound. Both come from the same draw and the same frames, so they are matched on
how much input moved and on what else sounds: a model that does not single out a key's own
harmonics gives a contrast (diagonal − off-diagonal) whose expectation is 0.

:func:`factorial` runs the three replacement conditions of
:func:`~amt_jax.perturb.key_families.key_replacement` — fundamental (F), harmonics 2..h (H), both
(F∪H) — with one key, so draw i of each replaces the same key's bins with the same frames, and
scores the drop at that key over its own frames: v(F), v(H), v(F∪H) and the interaction
v(F∪H) − v(F) − v(H) (> 0: the model recovers a note from its harmonics when the fundamental is gone).

Every estimate is the mean over pieces of each piece's mean over draws, with three intervals
centred on it (:func:`amt_jax.stats.crossed_estimate`): crossed (draws and pieces both random: the
one to report), pieces (conditional on these draws) and Monte Carlo (for these pieces).

Keys are drawn per clip by default (``key_weights [n_clips, P]``: each clip its own key among
those sounding in it), so every clip contributes on every draw; the diagonal, off-diagonal and
contrast are then measured clip by clip, each at the clip's own key.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import stats, validate
from amt_jax.perturb import pytree
from amt_jax.perturb.key_families import HarmonicSwap, key_replacement
from amt_jax.perturb.keys import key_weights_from_targets
from amt_jax.estimators.result import ImportanceResult
from amt_jax.models.model import frame_wise, is_frame_wise

FACTORIAL_PARTS = {"F": "fundamental", "H": "harmonics", "FH": "both"}
REGISTERS = ("low", "middle", "high")


def _estimate(per_draw_clip: np.ndarray, clusters: np.ndarray, confidence: float) -> dict:
    """:func:`amt_jax.stats.crossed_estimate` of a draw × clip matrix ``[n_draws, n_clips]`` (nan:
    nothing measured), plus ``clip_means [n_clips]`` (each clip's mean over draws, nan-aware),
    ``draw_clip`` (the matrix, float32) and ``piece_mean`` (the estimate, kept under its old name)."""
    est = stats.crossed_estimate(per_draw_clip, clusters, confidence=confidence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        clip = np.nanmean(per_draw_clip, axis=0)
    return {**est, "piece_mean": est["mean"], "clip_means": clip, "draw_clip": np.asarray(per_draw_clip, np.float32)}


def by_register(per_draw_clip: np.ndarray, keys: np.ndarray, sounding, clusters: np.ndarray, layout,
                confidence: float) -> list[dict]:
    """The estimate (:func:`_estimate`, without its arrays) of a draw × clip matrix ``[n, C]`` for
    the low, middle and high thirds of the ``sounding`` keys (sorted, split as evenly as their
    count allows): each third keeps the cells whose key (``keys [n, C]``) lies in it. Each row
    also says the third's MIDI range and keys."""
    rows = []
    for name, third in zip(REGISTERS, np.array_split(np.sort(np.asarray(sounding)), len(REGISTERS))):
        if not third.size:
            continue
        est = _estimate(np.where(np.isin(keys, third), per_draw_clip, np.nan), clusters, confidence)
        rows.append({"register": name, "midi_low": int(layout.midi(third[0])), "midi_high": int(layout.midi(third[-1])),
                     "n_keys": int(third.size), **{k: v for k, v in est.items() if k not in ("clip_means", "draw_clip")}})
    return rows


def _root_key(result: ImportanceResult, key):
    if key is not None:
        return key
    return jax.random.wrap_key_data(np.asarray(result.config["key"], np.uint32))


MOVED_BLOCK = 64  # draws per call of _moved_draws


@functools.partial(jax.jit, static_argnames="family")
def _moved_draws(key, draws, data, *, family):
    """``(moved [n, (C,) F] bool, groups)`` of draws ``draws``: a permutation's moved bins, or a
    family's own ``moved(key, draw)`` mask (an attenuation). ``data``, ``family``: the family's traced
    data and static rest (:func:`amt_jax.perturb.pytree.split`)."""
    family = pytree.join(data, family)
    if hasattr(family, "moved"):
        return jax.vmap(lambda i: family.moved(jax.random.fold_in(key, i), i))(draws)
    idx, groups = jax.vmap(lambda i: family.sample(jax.random.fold_in(key, i), i))(draws)
    return idx != jnp.arange(family.n_bins), groups


def moved_bins(family, n_draws: int, key, groups: np.ndarray | None = None) -> np.ndarray:
    """``[n_draws, F]`` bool (``[n_draws, n_clips, F]`` for a family with a key per clip): the bins
    draw i of a permutation family moved (recomputed from its key; ValueError if the recomputed
    groups differ from ``groups``, the run's)."""
    validate.at_least("n_draws", n_draws, 0)
    data, static = pytree.split(family)
    # in blocks of MOVED_BLOCK draws (the last padded), so every n_draws shares one compiled program
    ids = np.arange(max(-(-n_draws // MOVED_BLOCK), 1) * MOVED_BLOCK, dtype=np.int32).reshape(-1, MOVED_BLOCK)
    parts = [_moved_draws(key, block, data, family=static) for block in ids]
    moved, got = (np.concatenate([np.asarray(p[i]) for p in parts])[:n_draws] for i in (0, 1))
    if groups is not None and not np.array_equal(got, groups):
        raise ValueError("the family and key do not reproduce the run's draws (other family arguments, or a key "
                         "that is not the run's: pass key=)")
    return np.asarray(moved)


def _comb_touched(family: HarmonicSwap, moved: np.ndarray) -> np.ndarray:
    """``[..., P]`` bool: whether the draw moved any bin of key p's comb blocks (harmonics 1..h),
    from ``moved [..., F]``."""
    keys = np.arange(family.layout.n_pitches)
    starts = family.layout.pitch_bin(keys)[:, None] + np.asarray(family.comb_offsets)[None, :] - family.width // 2
    bins = (starts[:, :, None] + np.arange(family.width)).reshape(len(keys), -1)
    on_axis = (bins >= 0) & (bins < family.n_bins)
    touched = moved[..., np.clip(bins, 0, family.n_bins - 1)] & on_axis
    return touched.any(axis=-1)


def harmonic_reliance(result: ImportanceResult, family: HarmonicSwap, *, key=None) -> dict[str, Any]:
    """The reliance contrast of a ``harmonic_swap`` run scored with ``metric="key_drop", per_pitch=True``.

    Per draw and clip (at the clip's key q): the diagonal, the drop at q over q's frames; the
    off-diagonal, the mean drop of the eligible keys over their frames shared with q; the contrast.
    Returns ``"diagonal"``, ``"off_diagonal"``, ``"contrast"`` (each :func:`_estimate`: the mean over
    pieces with its crossed, piece-level and Monte Carlo intervals, ``p`` (crossed, against 0), ``n``
    draws, ``n_pieces``, ``clip_means``), ``"n_dropped"`` (draw × clip cells with a diagonal but no
    eligible off-diagonal key), ``"map"`` ``[P, P]`` (R[q, p]: the mean drop at key p over the draw
    × clip cells whose key is q; nan where never measured) and ``"map_counts"`` ``[P]`` (cells per q).
    ``key``: the run's root key (default: rebuilt from ``result.config["key"]``, threefry).
    """
    if not isinstance(family, HarmonicSwap):
        raise ValueError(f"family must be a harmonic_swap family, got {type(family).__name__}")
    if result.config.get("metric") != "key_drop" or result.importances.ndim != 2:
        raise ValueError(f"result must come from metric='key_drop' with per_pitch=True, got metric="
                         f"{result.config.get('metric')!r} and importances of shape {result.importances.shape}")
    if result.config.get("family", {}).get("name") not in ("HarmonicSwap", "HarmonicAttenuation"):
        raise ValueError(f"result must come from a harmonic_swap family, got {result.config.get('family', {}).get('name')!r}")
    n, n_pitches = result.importances.shape
    per_clip = result.draw_clip_importances  # [n, C, P]
    n_clips = per_clip.shape[1]
    moved = moved_bins(family, n, _root_key(result, key), result.group_ids)
    q = np.broadcast_to(result.group_ids.reshape(n, -1), (n, n_clips))  # [n, C]: each clip's key
    touched = _comb_touched(family, moved)  # [n, P] or [n, C, P]
    eligible = np.array(np.broadcast_to(~touched.reshape(n, -1, n_pitches), per_clip.shape))
    draws, clips = np.meshgrid(np.arange(n), np.arange(n_clips), indexing="ij")
    eligible[draws, clips, q] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # clips without an eligible key: nan, counted below
        diag_clip = per_clip[draws, clips, q]  # [n, C]
        off_clip = np.nanmean(np.where(eligible, per_clip, np.nan), axis=2)
    conf = result.confidence
    return {
        "diagonal": _estimate(diag_clip, result.clusters, conf),
        "off_diagonal": _estimate(off_clip, result.clusters, conf),
        "contrast": _estimate(diag_clip - off_clip, result.clusters, conf),
        "by_register": by_register(diag_clip - off_clip, q, family.groups, result.clusters, family.layout, conf),
        "n_dropped": int(np.sum(np.isfinite(diag_clip) & ~np.isfinite(off_clip))),
        **_reliance_map(per_clip.reshape(n * n_clips, n_pitches), q.ravel(), n_pitches, np.isfinite(diag_clip).ravel()),
    }


def reliance_difference(a: dict, b: dict, clusters, *, part: str = "diagonal", confidence: float = 0.95) -> dict:
    """The paired difference ``a − b`` of two :func:`harmonic_reliance` outputs run with the same
    root key and key weights (so draw i of each targets the same key in every clip), e.g. the real
    comb against the sham comb: :func:`_estimate` of the difference of their ``part`` draw × clip
    matrices (``"diagonal"``: the drop at the key whose blocks moved)."""
    x, y = a[part]["draw_clip"], b[part]["draw_clip"]
    if x.shape != y.shape:
        raise ValueError(f"a and b must pair draw for draw and clip for clip, got {part} matrices {x.shape} and {y.shape}")
    return _estimate(x.astype(np.float64) - y, np.asarray(clusters), confidence)


def _reliance_map(values: np.ndarray, q: np.ndarray, n_pitches: int, measured: np.ndarray) -> dict[str, np.ndarray]:
    """R[q, p] over the draw × clip cells ``values [N, P]`` whose key is ``q [N]``, and the cells per
    q that measured anything (``measured [N]``: a diagonal; a silent clip's key is not counted)."""
    sums = np.zeros((n_pitches, n_pitches))
    counts = np.zeros((n_pitches, n_pitches))
    np.add.at(sums, q, np.nan_to_num(values))
    np.add.at(counts, q, np.isfinite(values))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"map": np.where(counts > 0, sums / np.maximum(counts, 1), np.nan),
                "map_counts": np.bincount(q[measured], minlength=n_pitches)}


SCALES = ("logit", "probability")
_EPS = 1e-6  # probabilities clipped to [eps, 1 − eps] before the logit of an apply-only model


@functools.lru_cache(maxsize=64)
def logit_of(apply_fn, output: str | None):
    """``log(p / (1 − p))`` of ``apply_fn``'s (selected) output clipped to [1e-6, 1 − 1e-6]: the logit
    scale of a model that gives only probabilities (cached: one function object per model, so jit
    reuses its compilation)."""
    from amt_jax.estimators.scoring import select

    def logits(params, x):
        p = jnp.clip(select(apply_fn(params, x), output), _EPS, 1 - _EPS)
        return jnp.log(p) - jnp.log1p(-p)

    return frame_wise(logits) if is_frame_wise(apply_fn) else logits  # elementwise: frame-wise as apply_fn is


def factorial(apply_fn, params, features, *, layout, targets, n_harmonics: int, n_permutations: int, key,
              key_weights=None, clusters=None, width: int | None = None, output: str | None = None,
              chunk_size: int | None = None, mesh=None, stratified: bool = False, confidence: float = 0.95,
              progress=None, scale: str = "logit", logits_fn=None, replace_from: str = "silent",
              max_harmonics: int | None = None) -> dict[str, Any]:
    """The factorial design for key q (drawn from ``key_weights``, by default the keys that sound in
    ``targets``, per clip: each clip its own key; ``stratified``: one key for all clips, in turn over
    the sounding keys): v(F), v(H), v(F∪H) — the drop at q over q's frames when its fundamental,
    its harmonics 2..h, or both are replaced from other frames — and the interaction
    v(F∪H) − v(F) − v(H), each an estimate as in :func:`harmonic_reliance`.

    ``scale``: ``"logit"`` (default) measures the drops on the model's pre-activation output
    (``logits_fn(params, x) -> [n, P, T]``, e.g. ``model.logits``; else the logit of the clipped
    probabilities), where a model additive in its cues has interaction 0 wherever it sits on its
    sigmoid; ``"probability"``: on ``apply_fn``'s output. ``replace_from``: ``"silent"`` (default)
    takes each replacement from a frame of the same clip where q is silent (``targets``), so the
    replacement never carries q's own note; ``"any"``: a derangement of all frames. ``max_harmonics``:
    pad the families' tables as for that many harmonics (one compiled program for every h up to it).

    Also returns ``"ratios"`` (v(F)/v(F∪H), v(H)/v(F∪H): the share of the whole note each cue
    carries alone), ``"by_register"`` (the interaction for the low, middle and high thirds of the
    sounding keys), ``"scale"`` and ``"results"``: the three :class:`ImportanceResult` s."""
    from amt_jax import validate
    from amt_jax.estimators.importance import permutation_importance

    validate.one_of("scale", scale, SCALES)
    validate.one_of("replace_from", replace_from, ("silent", "any"))
    if scale == "logit":
        apply_fn, output = (logits_fn, None) if logits_fn is not None else (logit_of(apply_fn, output), None)
    weights = key_weights_from_targets(targets, per_clip=not stratified) if key_weights is None else key_weights
    results = {}
    for name, part in FACTORIAL_PARTS.items():
        family = key_replacement(layout=layout, n_harmonics=n_harmonics, part=part, key_weights=weights, width=width,
                                 stratified=stratified, silent_from=targets if replace_from == "silent" else None,
                                 max_harmonics=max_harmonics)
        results[name] = permutation_importance(
            apply_fn, params, features, family=family, n_permutations=n_permutations, key=key, metric="key_drop",
            targets=targets, clusters=clusters, output=output, chunk_size=chunk_size, mesh=mesh, confidence=confidence,
            progress=progress,
        )
    groups = results["F"].group_ids
    if not all(np.array_equal(r.group_ids, groups) for r in results.values()):
        raise AssertionError("factorial conditions did not pair draw for draw (same key, same groups)")
    clip = {k: r.draw_clip_importances for k, r in results.items()}
    clip["interaction"] = clip["FH"] - clip["F"] - clip["H"]
    cl = results["F"].clusters
    keys = np.broadcast_to(groups.reshape(groups.shape[0], -1), clip["interaction"].shape)
    sounding = np.flatnonzero(np.asarray(weights).reshape(-1, layout.n_pitches).sum(axis=0) > 0)
    est = {k: _estimate(clip[k], cl, confidence) for k in ("F", "H", "FH", "interaction")}
    whole = est["FH"]["mean"]
    return {**est, "ratios": {"F": est["F"]["mean"] / whole if whole else float("nan"),
                              "H": est["H"]["mean"] / whole if whole else float("nan")},
            "by_register": by_register(clip["interaction"], keys, sounding, cl, layout, confidence),
            "scale": scale, "results": results}
