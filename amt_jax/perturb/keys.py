"""Which key a draw of a key-targeted family targets (:mod:`amt_jax.perturb.key_families`).

Keys are drawn from ``key_weights``:

- ``[n_clips, P]`` (:func:`key_weights_from_targets` with ``per_clip=True``; the default of the
  estimators): each clip draws its own key among the keys sounding in it, weighted by their
  frames, so every clip contributes on every draw and every key that sounds can be targeted; the
  draw's group is then ``[n_clips]`` (one key per clip);
- ``[P]`` (e.g. the frames each key sounds, pooled over clips): one key for all clips, weighted;
- None: one key for all clips, uniform over the layout's keys;
- ``stratified``: one key for all clips, in turn: draw i targets the (i mod n)-th of the n keys
  with positive (pooled) weight, so a run of a multiple of n draws is balanced over every sounding
  key (:func:`amt_jax.estimators.spec.build_spec` checks the multiple).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import validate
from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.perturb.sampling import categorical


def key_weights_from_targets(targets, *, per_clip: bool = False) -> np.ndarray:
    """Weights of the keys a draw may target: the active frames of each key in ``targets
    [n_clips, P, T]``, ``[n_clips, P]`` per clip (``per_clip=True``) or ``[P]`` pooled over the clips."""
    targets = np.asarray(targets)
    validate.exact_rank("targets", targets, 3, "[n_clips, P, T]")
    validate.finite("targets", targets)
    frames = (targets > 0).sum(axis=2).astype(np.float64)
    return frames if per_clip else frames.sum(axis=0)


Weights = tuple[float, ...] | tuple[tuple[float, ...], ...] | None  # [P] or [n_clips, P] (hashable; traced as tables)


def check_weights(key_weights, n_pitches: int) -> Weights:
    """``key_weights`` ``[P]`` or ``[n_clips, P]`` as nested tuples (ValueError naming the argument)."""
    if key_weights is None:
        return None
    w = np.asarray(key_weights, np.float64)
    ok = w.ndim in (1, 2) and w.shape[-1] == n_pitches and w.size and np.all(np.isfinite(w)) and np.all(w >= 0)
    if not ok or w.sum() <= 0:
        raise ValueError(f"key_weights must be [{n_pitches}] or [n_clips, {n_pitches}] finite weights >= 0 with a "
                         f"positive sum (one per key), got shape {w.shape} and sum {w.sum() if w.size and ok else 'n/a'}")
    if w.ndim == 1:
        return tuple(float(v) for v in w)
    return tuple(tuple(float(v) for v in row) for row in w)


_CLIP_TAG = 0x7FFFFFFE  # fold_in tag of the per-clip key bits (other tags of a draw stay below it)


@dataclass(frozen=True)
class KeyDraw:
    """How a family picks its key: uniform over ``n_pitches``, weighted (one key for all clips, or
    one per clip), or in turn (stratified)."""

    n_pitches: int
    key_weights: Weights
    stratified: bool

    @property
    def per_clip(self) -> bool:
        """Whether each clip draws its own key (``[n_clips, P]`` weights, not stratified)."""
        return self.key_weights is not None and isinstance(self.key_weights[0], tuple) and not self.stratified

    @property
    def n_clips(self) -> int | None:
        """Clips the per-clip weights are for (None: any)."""
        return len(self.key_weights) if self.per_clip else None

    @property
    def pooled(self) -> np.ndarray | None:
        """``[P]`` weights pooled over clips (None: uniform)."""
        if self.key_weights is None:
            return None
        w = np.asarray(self.key_weights)
        return w if w.ndim == 1 else w.sum(axis=0)

    @property
    def sounding(self) -> tuple[int, ...]:
        """Keys a draw can target."""
        if self.key_weights is None:
            return tuple(range(self.n_pitches))
        return tuple(int(p) for p in np.flatnonzero(self.pooled > 0))

    @property
    def tables(self) -> dict[str, np.ndarray]:
        """What a draw reads (traced by jit; its names say how keys are drawn): ``key_sounding [P]``
        (the sounding keys, padded with the last) and ``key_count`` (stratified); ``key_cumulative
        [P]`` (one weighted key); ``key_clip_cumulative [n_clips, P]`` (a key per clip); none (uniform)."""
        if self.stratified:
            keys = np.asarray(self.sounding, np.int32)
            return {"key_sounding": np.pad(keys, (0, self.n_pitches - keys.size), mode="edge"),
                    "key_count": np.int32(keys.size)}
        if self.key_weights is None:
            return {}
        if not self.per_clip:
            return {"key_cumulative": np.asarray(_cumulative(self.pooled), np.float32)}
        w = np.asarray(self.key_weights)
        w = np.where(w.sum(axis=1, keepdims=True) > 0, w, 1.0)  # a silent clip: any key (it has no frames to score)
        return {"key_clip_cumulative": np.asarray(np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True), np.float32)}


def draw_key(tables: dict, n_pitches: int, key: jax.Array, bits: jax.Array, draw) -> jax.Array:
    """A draw's key from a family's ``tables`` (:attr:`KeyDraw.tables`): int32 scalar, or ``[n_clips]``
    per clip (from ``fold_in(key, _CLIP_TAG)``); ``bits``: one uint32."""
    if "key_sounding" in tables:
        if draw is None:
            raise ValueError("a stratified family needs the draw index: sample(key, draw) / perturb(key, x, draw)")
        return jnp.asarray(tables["key_sounding"])[jnp.asarray(draw, jnp.int32) % tables["key_count"]]
    if "key_cumulative" in tables:
        return jnp.minimum(categorical(bits, tables["key_cumulative"]), n_pitches - 1)
    if "key_clip_cumulative" not in tables:
        return (bits % jnp.uint32(n_pitches)).astype(jnp.int32)
    cumulative = tables["key_clip_cumulative"]
    clip_bits = jax.random.bits(jax.random.fold_in(key, _CLIP_TAG), (cumulative.shape[0],), jnp.uint32)
    return jnp.minimum(jax.vmap(categorical)(clip_bits, cumulative), n_pitches - 1)


def _cumulative(w: np.ndarray) -> np.ndarray:
    return np.cumsum(w) / w.sum()


class KeyFamily:
    """What the key-targeted families share (they define ``layout``, ``key_weights``, ``stratified``)."""

    groups_are_keys = True  # a draw's group is a key (what key_drop reads)

    @property
    def n_bins(self) -> int:
        return self.layout.n_bins

    @property
    def keys(self) -> KeyDraw:
        """How a draw picks its key."""
        return KeyDraw(self.layout.n_pitches, self.key_weights, self.stratified)

    @property
    def groups(self) -> tuple[int, ...]:
        return self.keys.sounding

    @property
    def n_clips(self) -> int | None:
        """The clips a per-clip family's weights are for (its features must have as many); None: any."""
        return self.keys.n_clips


def blocks(layout: FrequencyLayout, q: jax.Array, offsets: tuple[int, ...], width: int) -> jax.Array:
    """First bins ``[K]`` of the ``width``-bin blocks centred on key q's positions ``pitch_bin(q) + offsets``."""
    return q * layout.bins_per_semitone + layout.center_offset + jnp.asarray(offsets, jnp.int32) - width // 2
