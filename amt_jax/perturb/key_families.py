"""Perturbation families that target a key the music plays (its group is the key, 0..P−1).

- :func:`harmonic_swap`: harmonics 2..h of key q (and the fundamental, optionally) each swap places
  with a *mistuned partner*: a block of bins (the partial's semitone by default) 1–2 semitones
  away that lies on none of q's harmonics 1..h. The harmonic positions lose their energy; the
  count, register and span of what moves stay those of the comb. ``comb="sham"`` moves blocks at
  inharmonic offsets instead (between harmonics k and k + 1): the same key, the same draw
  structure, the control that tells harmonics from any nearby bins. ``manipulation="attenuate"``
  sets the blocks to the clip's floor instead of swapping them.
- :func:`key_replacement`: the bins of q's fundamental, of its harmonics 2..h, or of both, are
  replaced by the same bins of other frames of the same clip (one time derangement per draw), so
  every bin keeps its own distribution: the conditions F, H and F∪H of the factorial design.
- :func:`semitone_pooling`: each semitone's B bins replaced by their mean (all keys, or one key
  per draw): what a model loses when it cannot see below a semitone.

Keys are drawn by :mod:`amt_jax.perturb.keys` (per clip by frames, one for all clips, or in turn).
A family and its partner conditions drawn with the same key target the same keys and make the same
random choices. Positions come from the model's :class:`~amt_jax.frontend.layout.FrequencyLayout`.

The families are pytrees (:mod:`amt_jax.perturb.pytree`): the key weights, the offsets of the
blocks that move (the comb, the sham comb, the part replaced) and the silences are traced tables, so
the real comb, its sham, its matched version and (with ``max_harmonics``) every h share one compiled
program; a table's unused slots hold blocks beyond the axis, which never move.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import validate
from amt_jax.perturb import pytree
from amt_jax.perturb.keys import KeyFamily, Weights, blocks, check_weights, draw_key
from amt_jax.perturb.permutations import check_max_harmonics
from amt_jax.perturb.sampling import derangement_order, random_bits
from amt_jax.frontend.layout import FrequencyLayout

REPLACED_PARTS = ("fundamental", "harmonics", "both")
COMBS = ("harmonic", "sham")
MANIPULATIONS = ("swap", "attenuate")


def _padded(offsets: tuple[int, ...], size: int, layout: FrequencyLayout) -> np.ndarray:
    """``offsets`` padded to ``size`` with an offset whose blocks lie beyond the axis for every key."""
    beyond = 2 * layout.n_bins + 2 * layout.bins_per_semitone
    return np.asarray(tuple(offsets) + (beyond,) * (size - len(offsets)), np.int32)


@pytree.register("layout", "width", "stratified")
@dataclass(frozen=True)
class HarmonicSwap(KeyFamily, pytree.Tabled):
    """See :func:`harmonic_swap`."""

    layout: FrequencyLayout
    n_harmonics: int
    key_weights: Weights
    include_fundamental: bool
    width: int
    stratified: bool = False
    comb: str = "harmonic"
    matched: bool = False
    max_harmonics: int | None = field(default=None, metadata={"config": False})

    @property
    def comb_offsets(self) -> tuple[int, ...]:
        """Offsets of harmonics 1..h from the fundamental (distinct): the key's real comb."""
        return tuple(dict.fromkeys(self.layout.harmonic_offsets(self.n_harmonics)))

    def members_of(self, comb: str) -> tuple[int, ...]:
        """Offsets of the blocks comb ``comb`` moves: harmonics 2..h (``"harmonic"``) or the sham
        offsets (``"sham"``), and the fundamental with ``include_fundamental``."""
        moved = self.comb_offsets[1:] if comb == "harmonic" else self.layout.sham_offsets(self.n_harmonics)
        return ((0,) if self.include_fundamental else ()) + tuple(o for o in moved if o != 0)

    @property
    def member_offsets(self) -> tuple[int, ...]:
        """Offsets of the blocks this family moves (:meth:`members_of` its ``comb``)."""
        return self.members_of(self.comb)

    @property
    def partner_offsets(self) -> tuple[int, ...]:
        """Candidate detunings of a partner block: ±(m .. m + B) bins with m = max(B, width): one to
        two semitones away, never overlapping the block it swaps with."""
        m = max(self.layout.bins_per_semitone, self.width)
        steps = range(m, m + self.layout.bins_per_semitone + 1)
        return tuple(s for d in steps for s in (d, -d))

    def make_tables(self) -> dict:
        """The key tables (:attr:`~amt_jax.perturb.keys.KeyDraw.tables`); the offsets of the blocks
        this comb moves (``members``) and of those no partner may overlap (``protected``: key q's comb,
        harmonics 1..h, and the moving blocks); the same for the other comb (``other_members``,
        ``other_protected``: the sham's for the real comb), whose count caps this one's when
        ``capped`` (the sham, or the real comb ``matched``). Padded to ``max_harmonics`` harmonics."""
        h = self.max_harmonics or self.n_harmonics
        n_members, n_protected = h - 1 + self.include_fundamental, 2 * h - 1
        other = "sham" if self.comb == "harmonic" else "harmonic"
        tables = dict(self.keys.tables, capped=np.bool_(self.comb == "sham" or self.matched))
        for prefix, comb in (("", self.comb), ("other_", other)):
            protected = tuple(dict.fromkeys(self.comb_offsets + self.members_of(comb)))
            tables[prefix + "members"] = _padded(self.members_of(comb), n_members, self.layout)
            tables[prefix + "protected"] = _padded(protected, n_protected, self.layout)
        return tables

    def draw_key(self, key: jax.Array, draw=None) -> tuple[jax.Array, jax.Array]:
        """``(q, bits)``: the draw's key (scalar, or ``[n_clips]``) and the bits of its partner choices."""
        n_members = self.tables["members"].shape[0]
        bits = random_bits(key, 1 + n_members * len(self.partner_offsets)).astype(jnp.uint32)
        return draw_key(self.tables, self.layout.n_pitches, key, bits[0], draw), bits[1:]

    def sample(self, key: jax.Array, draw=None) -> tuple[jax.Array, jax.Array]:
        """``(idx [F], q)``, or ``(idx [n_clips, F], q [n_clips])`` with per-clip key weights (the
        partners' random choices are the draw's, shared by the clips)."""
        q, bits = self.draw_key(key, draw)
        if q.ndim:
            return jax.vmap(lambda k: self.swap(k, bits))(q), q
        return self.swap(q, bits), q

    def plan(self, q: jax.Array, bits: jax.Array, members, protected) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(starts [K], partners [K], valid [K])``: key q's blocks at offsets ``members`` (a comb's,
        from ``tables``) and the partners ``bits`` choose for them in turn (a partner may not overlap a
        block at offsets ``protected``, or an earlier partner; a member off the axis or without an
        allowed partner is not valid)."""
        candidates = jnp.asarray(self.partner_offsets, jnp.int32)
        protected = blocks(self.layout, q, protected, self.width)
        starts = blocks(self.layout, q, members, self.width)
        w, f, n_cand = self.width, self.n_bins, len(self.partner_offsets)
        far = jnp.int32(-10 * f)  # where a member has no partner: far away, never overlaps
        cands = starts[:, None] + candidates[None, :]  # [K, C]
        ok = (cands >= 0) & (cands + w <= f) & ((starts >= 0) & (starts + w <= f))[:, None]
        ok &= jnp.all(jnp.abs(cands[:, :, None] - protected[None, None, :]) >= w, axis=2)
        scores = bits[: len(starts) * n_cand].reshape(len(starts), n_cand)

        def choose(partners, k):  # member k's partner may not overlap an earlier member's
            free = ok[k] & jnp.all(jnp.abs(cands[k][:, None] - partners[None, :]) >= w, axis=1)
            valid = jnp.any(free)
            partner = jnp.where(valid, cands[k][jnp.argmax(jnp.where(free, scores[k], 0))], far)
            return partners.at[k].set(partner), valid

        partners, valid = jax.lax.scan(choose, jnp.full(len(starts), far), jnp.arange(len(starts)), unroll=True)
        return starts, partners, valid

    def swap(self, q: jax.Array, bits: jax.Array) -> jax.Array:
        """The permutation ``idx [F]`` moving key q's member blocks to partners chosen by ``bits``.

        The sham comb (and the real one with ``matched``) moves as many blocks as the other comb of
        the same key and bits: each keeps its first n members that have a partner, n the fewer of
        the two combs' counts (a sham block's partners often land on a real harmonic and are refused:
        at h = 8 and width B the sham finds partners for about 4 of 7 blocks)."""
        t = self.tables
        starts, partners, valid = self.plan(q, bits, t["members"], t["protected"])
        other = self.plan(q, bits, t["other_members"], t["other_protected"])[2]
        capped = valid & (jnp.cumsum(valid) <= jnp.minimum(valid.sum(), other.sum()))
        valid = jnp.where(t["capped"], capped, valid)
        lane = jnp.arange(self.width)
        src, dst = (starts[:, None] + lane).ravel(), (partners[:, None] + lane).ravel()
        ok = jnp.repeat(valid, self.width)
        # one scatter: no bin is written twice (the member blocks never overlap, harmonic_swap checks it;
        # a partner never overlaps a member or another partner, plan)
        where = jnp.where(jnp.concatenate([ok, ok]), jnp.concatenate([src, dst]), self.n_bins)
        return jnp.arange(self.n_bins, dtype=jnp.int32).at[where].set(jnp.concatenate([dst, src]), mode="drop")


@pytree.register("layout", "width", "stratified")
@dataclass(frozen=True)
class HarmonicAttenuation(HarmonicSwap):
    """See :func:`harmonic_swap` with ``manipulation="attenuate"``: key q's member blocks set to each
    clip's floor (its smallest feature value); q drawn exactly as the swap draws it. Every member
    block on the axis is attenuated: no partners, so no count cap (a real and a sham attenuation
    differ in count only where blocks fall off the top of the axis)."""

    def mask(self, q: jax.Array) -> jax.Array:
        """Bins ``[F]`` (bool) of key q's member blocks."""
        starts = blocks(self.layout, q, self.tables["members"], self.width)
        bins = (starts[:, None] + jnp.arange(self.width)[None, :]).ravel()
        bins = jnp.where(bins >= 0, bins, self.n_bins)
        return jnp.zeros(self.n_bins, bool).at[bins].set(True, mode="drop")

    def moved(self, key: jax.Array, draw=None) -> tuple[jax.Array, jax.Array]:
        """``(mask [F] or [n_clips, F], q)``: the bins the draw attenuates."""
        q, _ = self.draw_key(key, draw)
        return (jax.vmap(self.mask)(q) if q.ndim else self.mask(q)), q

    def perturb(self, key: jax.Array, x: jax.Array, draw=None) -> tuple[jax.Array, jax.Array]:
        mask, q = self.moved(key, draw)
        floor = jnp.min(x, axis=(-2, -1), keepdims=True)  # [n_clips, 1, 1]
        mask = mask[:, :, None] if mask.ndim == 2 else mask[:, None]
        return jnp.where(mask, floor, x), q


def harmonic_swap(*, layout: FrequencyLayout, n_harmonics: int, key_weights=None, include_fundamental: bool = False,
                  width: int | None = None, stratified: bool = False, comb: str = "harmonic",
                  manipulation: str = "swap", matched: bool = False, max_harmonics: int | None = None) -> HarmonicSwap:
    """Move the harmonics of one key q out: each block of ``width`` bins centred on harmonic k of q
    (k = 2..h; k = 1 too with ``include_fundamental``) swaps places with a mistuned partner block,
    detuned by one to two semitones (a random choice among the candidates), lying on none of q's
    harmonics 1..h and on no other member's partner. Group = q.

    Args:
      layout: the model's frequency layout.
      n_harmonics: h >= 2.
      key_weights: weights of the keys a draw may target: ``[n_clips, P]`` (each clip its own key,
        :func:`key_weights_from_targets` with ``per_clip=True``) or ``[P]`` (one key for all clips);
        None: uniform over the layout's keys.
      include_fundamental: also move the fundamental.
      width: bins per block (default B: the partial's whole semitone; 1: the centre bin only).
      stratified: one key for all clips, draw i the (i mod n)-th of the n keys with positive weight.
      comb: ``"harmonic"`` (harmonics 2..h move) or ``"sham"``: blocks at inharmonic offsets
        ``round(12·B·log2(k + ½))``, k = 2..h (:meth:`FrequencyLayout.sham_offsets`), move instead,
        with the same key, partners and draw structure (the fundamental still with
        ``include_fundamental``); a sham block may not overlap a real harmonic's block. The sham
        moves as many blocks as the real comb would for the same key and bits (fewer at large h,
        where its partners have no room between the harmonics).
      matched: a real comb that moves only as many blocks as its sham would (the sham's paired
        partner: ``real(matched) − sham`` compares equal counts).
      manipulation: ``"swap"`` (default) or ``"attenuate"``: the blocks are set to each clip's floor
        (its smallest value) instead (a :class:`HarmonicAttenuation`, drawing the same keys).
      max_harmonics: pad the family's tables as for this many harmonics (>= n_harmonics; e.g. a
        sweep's largest h): families of every h up to it compile one program, with the same draws
        (not part of the config).
    """
    if not isinstance(layout, FrequencyLayout):
        raise ValueError(f"layout must be an amt_jax.FrequencyLayout, got {layout!r}")
    validate.positive_int("n_harmonics", n_harmonics)
    if n_harmonics < 2:
        raise ValueError(f"n_harmonics must be >= 2 (harmonics 2..h move), got {n_harmonics}")
    max_harmonics = check_max_harmonics(max_harmonics, n_harmonics)
    width = layout.bins_per_semitone if width is None else width
    validate.positive_int("width", width)
    if width > layout.bins_per_semitone:
        raise ValueError(f"width must be <= bins_per_semitone = {layout.bins_per_semitone}, got {width}")
    validate.one_of("comb", comb, COMBS)
    validate.one_of("manipulation", manipulation, MANIPULATIONS)
    if comb == "sham" or matched:  # a matched real comb counts the sham's blocks: the sham must exist
        real = layout.harmonic_offsets(n_harmonics)
        clash = [(s, r) for s in layout.sham_offsets(n_harmonics) for r in real if abs(s - r) < width]
        if clash:
            raise ValueError(f"comb='sham': the sham block at +{clash[0][0]} bins overlaps the harmonic at +{clash[0][1]} "
                             f"with width={width}; use a smaller width or n_harmonics")
    make = HarmonicAttenuation if manipulation == "attenuate" else HarmonicSwap
    family = make(layout, int(n_harmonics), check_weights(key_weights, layout.n_pitches), bool(include_fundamental),
                  int(width), bool(stratified), comb, bool(matched), max_harmonics)
    moved = sorted(family.member_offsets)
    close = [(a, b) for a, b in zip(moved, moved[1:]) if b - a < width]
    if manipulation == "swap" and close:  # high harmonics crowd together on a log axis
        raise ValueError(f"n_harmonics={n_harmonics}: the {comb} comb's blocks at +{close[0][0]} and +{close[0][1]} bins "
                         f"overlap with width={width} (a swap moves each block whole); use a smaller n_harmonics or width")
    return family


@pytree.register("layout", "width", "stratified")
@dataclass(frozen=True)
class KeyReplacement(KeyFamily, pytree.Tabled):
    """See :func:`key_replacement`."""

    layout: FrequencyLayout
    n_harmonics: int
    part: str
    key_weights: Weights
    width: int
    stratified: bool = False
    silence: bytes | None = None  # packed bits of [n_clips, P, T]: where each key is silent
    silence_shape: tuple[int, int, int] | None = None
    max_harmonics: int | None = field(default=None, metadata={"config": False})

    def make_tables(self) -> dict:
        """The key tables, the offsets of the blocks the part replaces (``offsets``, padded to
        ``max_harmonics``) and, replacing from silent frames, ``silent`` (:meth:`silent`)."""
        offsets = tuple(dict.fromkeys(self.layout.harmonic_offsets(self.n_harmonics)))
        chosen = {"fundamental": offsets[:1], "harmonics": offsets[1:], "both": offsets}[self.part]
        tables = dict(self.keys.tables, offsets=_padded(chosen, self.max_harmonics or self.n_harmonics, self.layout))
        if self.silence is not None:
            tables["silent"] = self.silent()
        return tables

    def silent(self) -> np.ndarray | None:
        """``[n_clips, P, T]`` bool: where each key is silent (None: replace from any other frame)."""
        if self.silence is None:
            return None
        n = int(np.prod(self.silence_shape))
        return np.unpackbits(np.frombuffer(self.silence, np.uint8))[:n].reshape(self.silence_shape).astype(bool)

    def mask(self, q: jax.Array) -> jax.Array:
        """Bins ``[F]`` (bool) this condition replaces for key q."""
        starts = blocks(self.layout, q, self.tables["offsets"], self.width)
        bins = (starts[:, None] + jnp.arange(self.width)[None, :]).ravel()
        bins = jnp.where(bins >= 0, bins, self.n_bins)  # below the axis: dropped (not wrapped)
        return jnp.zeros(self.n_bins, bool).at[bins].set(True, mode="drop")

    def perturb(self, key: jax.Array, x: jax.Array, draw=None) -> tuple[jax.Array, jax.Array]:
        n_frames = x.shape[-1]
        bits = random_bits(key, 1 + n_frames)
        q = draw_key(self.tables, self.layout.n_pitches, key, bits[0], draw)
        frames = derangement_order(jax.random.fold_in(key, 1), bits[1:], jnp.ones(n_frames, bool))
        mask = jax.vmap(self.mask)(q)[:, :, None] if q.ndim else self.mask(q)[:, None]  # [n_clips, F, 1] or [F, 1]
        silent = self.tables.get("silent")
        if silent is None:
            return jnp.where(mask, x[..., frames], x), q
        if silent.shape[0] != x.shape[0] or silent.shape[2] != n_frames:
            raise ValueError(f"key_replacement was built for silence of shape {silent.shape}, got features {x.shape}")
        sources = jnp.broadcast_to(_silent_sources(key, silent, q, frames), x.shape)
        return jnp.where(mask, jnp.take_along_axis(x, sources, axis=-1), x), q


def _silent_sources(key: jax.Array, silent: np.ndarray, q: jax.Array, fallback: jax.Array) -> jax.Array:
    """``[n_clips, 1, T]`` source frame of every frame: uniform among the frames of the same clip where
    its key q sounds not (``silent [n_clips, P, T]``); the ``fallback`` derangement ``[T]`` in a clip
    where q never falls silent."""
    n_clips, _, n_frames = silent.shape
    q = jnp.broadcast_to(q, (n_clips,))
    quiet = jnp.asarray(silent)[jnp.arange(n_clips), q]  # [n_clips, T]
    count = quiet.sum(axis=1, keepdims=True)
    u = jax.random.uniform(jax.random.fold_in(key, 2), (n_clips, n_frames))
    rank = jnp.minimum(jnp.floor(u * count), jnp.maximum(count - 1, 0)).astype(jnp.int32)  # which silent frame
    source = jax.vmap(lambda c, r: jnp.searchsorted(c, r, side="right"))(jnp.cumsum(quiet, axis=1), rank)
    source = jnp.where(count > 0, jnp.minimum(source, n_frames - 1), fallback[None, :])
    return source[:, None, :]


def key_replacement(*, layout: FrequencyLayout, n_harmonics: int, part: str, key_weights=None, width: int | None = None,
                    stratified: bool = False, silent_from=None, max_harmonics: int | None = None) -> KeyReplacement:
    """Replace key q's ``part`` — ``"fundamental"`` (F), ``"harmonics"`` 2..h (H) or ``"both"``
    (F∪H) — by the same bins of other frames of the same clip (a random derangement of the frames,
    the same for every clip of a draw), in blocks of ``width`` bins (default B, the semitone around
    each position). The three parts drawn with the same key target the same key with the same
    derangement, so they pair draw for draw. Group = q (``[n_clips]`` with per-clip ``key_weights``,
    see :func:`harmonic_swap`).

    ``silent_from``: labels ``[n_clips, P, T]``; then every frame takes its replacement from a frame
    of the same clip where q is silent (uniformly among them; the derangement only in a clip where q
    never falls silent), so a replacement never carries q's own note. The features must then be
    those clips'. ``max_harmonics``: as in :func:`harmonic_swap` (the three parts of any h up to it
    share one compiled program)."""
    if not isinstance(layout, FrequencyLayout):
        raise ValueError(f"layout must be an amt_jax.FrequencyLayout, got {layout!r}")
    validate.positive_int("n_harmonics", n_harmonics)
    max_harmonics = check_max_harmonics(max_harmonics, n_harmonics)
    validate.one_of("part", part, REPLACED_PARTS)
    width = layout.bins_per_semitone if width is None else width
    validate.positive_int("width", width)
    silence, shape = None, None
    if silent_from is not None:
        labels = np.asarray(silent_from)
        validate.exact_rank("silent_from", labels, 3, f"[n_clips, {layout.n_pitches}, T]")
        if labels.shape[1] != layout.n_pitches:
            raise ValueError(f"silent_from must be [n_clips, {layout.n_pitches}, T] labels, got shape {labels.shape}")
        silence, shape = np.packbits(labels <= 0).tobytes(), tuple(int(n) for n in labels.shape)
    return KeyReplacement(layout, int(n_harmonics), part, check_weights(key_weights, layout.n_pitches), int(width),
                          bool(stratified), silence, shape, max_harmonics)


@pytree.register("layout", "scope", "stratified")
@dataclass(frozen=True)
class SemitonePooling(KeyFamily, pytree.Tabled):
    """See :func:`semitone_pooling`."""

    layout: FrequencyLayout
    scope: str
    key_weights: Weights = None
    stratified: bool = False

    @property
    def groups_are_keys(self) -> bool:
        return self.scope == "one"

    def make_tables(self) -> dict:
        return self.keys.tables

    @property
    def groups(self) -> tuple[int, ...]:
        return (0,) if self.scope == "all" else self.keys.sounding

    def perturb(self, key: jax.Array, x: jax.Array, draw=None) -> tuple[jax.Array, jax.Array]:
        members, valid = (jnp.asarray(a) for a in self.layout.semitone_members())
        members, valid = members[: self.layout.n_pitches], valid[: self.layout.n_pitches]  # the keys' semitones
        if self.scope == "all":
            group, rows = jnp.int32(0), jnp.ones(members.shape[0], bool)
        else:
            group = draw_key(self.tables, self.layout.n_pitches, key, random_bits(key, 1)[0], draw)
            if group.ndim:
                raise ValueError("semitone_pooling draws one key for all clips: key_weights must be [P], not per clip")
            rows = jnp.arange(members.shape[0]) == group
        vals = x[..., members, :]  # [n, P, B, T]
        mean = jnp.sum(jnp.where(valid[:, :, None], vals, 0), axis=-2) / jnp.sum(valid, axis=-1)[:, None]
        pooled = jnp.where(valid[:, :, None], mean[..., None, :], vals)
        update = jnp.where((rows[:, None] & valid)[:, :, None], pooled, vals)
        target = jnp.where(valid, members, self.n_bins)  # clipped slots repeat a neighbour's bin: dropped
        return x.at[..., target, :].set(update, mode="drop"), group


def semitone_pooling(*, layout: FrequencyLayout, scope: str = "all", key_weights=None, stratified: bool = False) -> SemitonePooling:
    """Replace the B bins of each key's semitone by their mean (``scope="all"``: every key, group 0;
    ``"one"``: one key per draw, group = the key), so only semitone resolution remains. A model with
    B = 1 already pools: its importance is 0 by construction."""
    if not isinstance(layout, FrequencyLayout):
        raise ValueError(f"layout must be an amt_jax.FrequencyLayout, got {layout!r}")
    validate.one_of("scope", scope, ("all", "one"))
    return SemitonePooling(layout, scope, check_weights(key_weights, layout.n_pitches), bool(stratified))
