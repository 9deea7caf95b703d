"""Perturbation families over the frequency axis of a feature ``X[n_clips, F, T]``.

A family is a frozen, hashable value with ``n_bins`` and ``groups`` (the families here are also
pytrees, :mod:`amt_jax.perturb.pytree`: jit traces their data and keeps only their structure
static), and one of:

- ``perturb(key, x, draw=None) -> (x', group)``: any perturbation of ``x [n_clips, F, T]`` (a
  replacement, say);
- ``sample(key, draw=None) -> (idx, group)``: a permutation, applied by :func:`perturb` as the
  gather ``x[:, idx, :]`` — the seed families below are all of this kind.

``draw`` is the draw's index (the engine passes it): families with ``stratified=True`` target group
``groups[draw % len(groups)]``, so a multiple of ``len(groups)`` draws gives every group the same
number; other families ignore it.

- ``idx``: int32 ``[F]``, a permutation of ``arange(F)`` applied as a gather along the
  frequency axis, ``X[..., idx, :]`` (the same permutation for every frame and clip); or
  ``[n_clips, F]``, one per clip (a key family drawing each clip's own key);
- ``group``: int32 scalar, the id of the group the draw targeted (``family.groups`` lists
  the possible ids; single-group families always return 0), or ``[n_clips]``, one per clip.

``sample`` is pure and vmappable over keys. Bin ranges are half-open ``(lo, hi)``: bins
``lo .. hi - 1``.

Internally a draw shuffles "slots": ``members [..., K]`` bin indices of which the first
``n_valid`` (a prefix, flagged by ``valid``) are shuffled among themselves, the rest ignored.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import validate
from amt_jax.perturb import pytree
from amt_jax.perturb.sampling import categorical, draw_group, random_bits, shuffle_slots
from amt_jax.frontend.layout import harmonic_shift
from amt_jax.perturb.microtonal import MICROTONAL_SCOPES, Microtonal, microtonal  # noqa: F401  (re-exported)

FREQUENCY_SCALES = ("log", "linear")


def check_family(family) -> None:
    """A family: ``sample(key)`` or ``perturb(key, x)``, an int ``n_bins``, and hashable (what jit
    keeps static: its structure, or all of it for a family that is not a pytree)."""
    kinds = callable(getattr(family, "sample", None)) or callable(getattr(family, "perturb", None))
    if not kinds or not isinstance(getattr(family, "n_bins", None), (int, np.integer)):
        raise ValueError(
            "family must be a perturbation family from amt_jax.permutations (with sample(key) or perturb(key, x), "
            f"and n_bins), got {family!r}"
        )
    try:
        hash(family)
    except TypeError as e:
        raise ValueError(f"family must be hashable (a frozen dataclass: jit keeps its structure static), got "
                         f"{family!r}") from e


def check_max_harmonics(max_harmonics, n_harmonics: int) -> int | None:
    """``max_harmonics``: None, or an int >= ``n_harmonics`` (ValueError naming it)."""
    if max_harmonics is None:
        return None
    validate.positive_int("max_harmonics", max_harmonics)
    if max_harmonics < n_harmonics:
        raise ValueError(f"max_harmonics must be >= n_harmonics = {n_harmonics}, got {max_harmonics}")
    return int(max_harmonics)


def perturb(family, key: jax.Array, x: jax.Array, draw=None) -> tuple[jax.Array, jax.Array]:
    """Draw number ``draw`` (key ``key``) of ``family`` applied to ``x [n_clips, F, T]``:
    ``(x', group)``; a permutation family's ``idx`` is applied as the gather ``x[:, idx, :]``
    (``idx [n_clips, F]``, one permutation per clip: ``x[c, idx[c], :]``)."""
    if hasattr(family, "perturb"):
        return family.perturb(key, x, draw)
    idx, group = family.sample(key, draw)
    if idx.ndim == 2:
        return jnp.take_along_axis(x, idx[:, :, None], axis=1), group
    return x[:, idx, :], group


def _bin_range(name: str, value, n_bins: int) -> tuple[int, int]:
    """Validate a half-open bin range ``(lo, hi)`` with ``0 <= lo < hi <= n_bins``."""
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
        and 0 <= value[0] < value[1] <= n_bins
    )
    if not ok:
        raise ValueError(f"{name} must be a bin range (lo, hi) of ints with 0 <= lo < hi <= {n_bins}, got {value!r}")
    return int(value[0]), int(value[1])


@pytree.register("n_bins", "size")
@dataclass(frozen=True)
class RandomSpectral(pytree.Tabled):
    """Shuffle every bin in ``[lo, hi)`` (the whole axis by default). One group, id 0."""

    n_bins: int
    lo: int
    hi: int

    @property
    def groups(self) -> tuple[int, ...]:
        return (0,)

    @functools.cached_property
    def size(self) -> int:
        """Bins in the band (static; where it starts is data: bands of one size share a program)."""
        return self.hi - self.lo

    def make_tables(self) -> dict:
        return {"lo": np.int32(self.lo)}

    def sample(self, key: jax.Array, draw=None) -> tuple[jax.Array, jax.Array]:
        members = self.tables["lo"] + jnp.arange(self.size, dtype=jnp.int32)
        bits = random_bits(key, members.shape[0])
        idx = shuffle_slots(key, bits, members, jnp.ones(members.shape, bool), n_bins=self.n_bins, derangement=False)
        return idx, jnp.int32(0)


@pytree.register("n_bins", "groups")
@dataclass(frozen=True)
class BinShift(pytree.Tabled):
    """See :func:`bin_shift`."""

    n_bins: int
    bins: int
    groups: tuple[int, ...] = (0,)

    def make_tables(self) -> dict:
        return {"bins": np.int32(self.bins)}  # data: shifts up and down share a program

    def sample(self, key: jax.Array, draw=None) -> tuple[jax.Array, jax.Array]:
        idx = jnp.clip(jnp.arange(self.n_bins, dtype=jnp.int32) - self.tables["bins"], 0, self.n_bins - 1)
        return idx, jnp.int32(0)


def bin_shift(*, n_bins: int, bins: int) -> BinShift:
    """The whole axis moved by ``bins`` bins, the same every draw (deterministic): ``bins = −1`` moves
    the content one bin down, ``X'[f] = X[f + 1]`` (a third of a semitone flat at B = 3), ``+1`` up;
    the bins it vacates repeat the edge bin. Not a permutation (edge bins repeat): a mistuning probe."""
    validate.positive_int("n_bins", n_bins)
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins == 0 or abs(bins) >= n_bins:
        raise ValueError(f"bins must be a non-zero integer shift smaller than n_bins = {n_bins}, got {bins!r}")
    return BinShift(int(n_bins), int(bins))


def random_spectral(*, n_bins: int, band: tuple[int, int] | None = None) -> RandomSpectral:
    """Shuffle all ``n_bins`` bins, or only those in ``band = (lo, hi)`` (half-open)."""
    validate.positive_int("n_bins", n_bins)
    lo, hi = (0, n_bins) if band is None else _bin_range("band", band, n_bins)
    return RandomSpectral(n_bins=int(n_bins), lo=lo, hi=hi)


@pytree.register("n_bins", "f0_lo", "f0_hi", "frequency_scale", "derangement", "stratified")
@dataclass(frozen=True)
class Harmonic(pytree.Tabled):
    """Harmonic series of a random fundamental bin ``f`` in ``[f0_lo, f0_hi)`` (weighted by
    ``f0_weights [n_bins]`` when given: only bins of positive weight); group = f.

    Log scale: harmonic k sits at ``f + offsets[k-1]`` with ``offsets = round(bpo·log2 k)``
    (duplicates from rounding removed). Linear scale (bin index ∝ frequency, bin 0 = 0 Hz):
    harmonic k sits at ``k·f``. Harmonics at or beyond ``n_bins`` are dropped.

    ``max_harmonics``: the offsets table padded to that many slots (invalid ones) so that families of
    every h up to it share one compiled program, with the same draws (not part of the config).
    """

    n_bins: int
    f0_lo: int
    f0_hi: int
    offsets: tuple[int, ...]  # log scale: bin offsets; linear scale: multipliers 1..h
    frequency_scale: str
    derangement: bool
    stratified: bool = False
    f0_weights: tuple[float, ...] | None = None
    max_harmonics: int | None = field(default=None, metadata={"config": False})

    @property
    def groups(self) -> tuple[int, ...]:
        if self.f0_weights is None:
            return tuple(range(self.f0_lo, self.f0_hi))
        return tuple(f for f in range(self.f0_lo, self.f0_hi) if self.f0_weights[f] > 0)

    def make_tables(self) -> dict:
        """``offsets [K]`` (padded with ``n_bins``: beyond the axis) and, with ``f0_weights``, the
        fundamentals ``f0_groups [F]`` (padded with the last), their number ``f0_count`` and
        cumulative weights ``f0_cumulative [F]`` (padded with 2: never reached)."""
        pad = (self.max_harmonics or len(self.offsets)) - len(self.offsets)
        tables = {"offsets": np.asarray(self.offsets + (self.n_bins,) * pad, np.int32)}
        if self.f0_weights is not None:
            groups = np.asarray(self.groups, np.int32)
            w = np.asarray([self.f0_weights[f] for f in self.groups])
            fill = self.n_bins - groups.size
            tables.update(f0_groups=np.pad(groups, (0, fill), mode="edge"), f0_count=np.int32(groups.size),
                          f0_cumulative=np.pad(np.asarray(np.cumsum(w) / w.sum(), np.float32), (0, fill),
                                               constant_values=2.0))
        return tables

    def draw_f0(self, bits: jax.Array, draw=None) -> jax.Array:
        """The fundamental bin of a draw (int32 scalar) from one uint32 (or the draw index, stratified)."""
        if "f0_groups" not in self.tables:
            return draw_group(bits, self.f0_lo, self.f0_hi, stratified=self.stratified, draw=draw)
        groups, count = jnp.asarray(self.tables["f0_groups"]), self.tables["f0_count"]
        if self.stratified:
            return groups[draw_group(bits, 0, count, stratified=True, draw=draw)]
        return groups[jnp.minimum(categorical(bits, self.tables["f0_cumulative"]), count - 1)]

    def members(self, f0: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Bins ``[K]`` of the harmonics of ``f0`` and their validity (a prefix: bins < n_bins)."""
        offsets = jnp.asarray(self.tables["offsets"], jnp.int32)
        bins = f0 * offsets if self.frequency_scale == "linear" else f0 + offsets
        return bins, bins < self.n_bins

    def sample(self, key: jax.Array, draw=None) -> tuple[jax.Array, jax.Array]:
        bits = random_bits(key, 1 + self.tables["offsets"].shape[0])
        f0 = self.draw_f0(bits[0], draw)
        members, valid = self.members(f0)
        return shuffle_slots(key, bits[1:], members, valid, n_bins=self.n_bins, derangement=self.derangement), f0


def _harmonic_family(
    n_bins: int,
    bins_per_octave: int | None,
    n_harmonics: int,
    f0_range: tuple[int, int] | None,
    frequency_scale: str,
    derangement: bool,
    stratified: bool = False,
    f0_weights=None,
    max_harmonics: int | None = None,
) -> Harmonic:
    validate.positive_int("n_bins", n_bins)
    validate.positive_int("n_harmonics", n_harmonics)
    max_harmonics = check_max_harmonics(max_harmonics, n_harmonics)
    validate.one_of("frequency_scale", frequency_scale, FREQUENCY_SCALES)
    lo, hi = (0, n_bins) if f0_range is None else _bin_range("f0_range", f0_range, n_bins)
    ks = range(1, n_harmonics + 1)
    if frequency_scale == "log":
        validate.positive_int("bins_per_octave", bins_per_octave)
        offsets = tuple(sorted({harmonic_shift(k, bins_per_octave) for k in ks}))
    else:
        if lo < 1:
            raise ValueError(f"f0_range must start at bin >= 1 on a linear axis (bin 0 is 0 Hz), got {f0_range!r}")
        offsets = tuple(ks)
    weights = None
    if f0_weights is not None:
        w = np.asarray(f0_weights, np.float64)
        if w.shape != (n_bins,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w[lo:hi].sum() <= 0:
            raise ValueError(f"f0_weights must be [{n_bins}] finite weights >= 0, positive somewhere in f0_range "
                             f"({lo}, {hi}), got shape {w.shape}")
        weights = tuple(float(v) for v in w)
    family = Harmonic(n_bins=int(n_bins), f0_lo=lo, f0_hi=hi, offsets=offsets, frequency_scale=frequency_scale,
                      derangement=bool(derangement), stratified=bool(stratified), f0_weights=weights,
                      max_harmonics=max_harmonics)
    if derangement:
        top = family.groups[-1]  # the highest fundamental has the fewest harmonics inside the axis
        n_top = int(np.sum(np.asarray(family.members(jnp.int32(top))[1])))
        if n_top < 2:
            raise ValueError(
                f"f0_range={f0_range!r}: fundamental bin {top} has {n_top} harmonic(s) below n_bins={n_bins}; "
                "derangement needs >= 2 — lower f0_range's upper end"
            )
    return family


def harmonic(
    *,
    n_bins: int,
    bins_per_octave: int | None = None,
    n_harmonics: int,
    f0_range: tuple[int, int] | None = None,
    frequency_scale: str = "log",
    derangement: bool = False,
    stratified: bool = False,
    f0_weights=None,
    max_harmonics: int | None = None,
) -> Harmonic:
    """Shuffle the bins of a random fundamental's first ``n_harmonics`` harmonics among themselves.

    Args:
      n_bins: F, bins on the frequency axis.
      bins_per_octave: bins per octave of a log-frequency axis (required when
        ``frequency_scale="log"``, ignored for ``"linear"``).
      n_harmonics: h >= 1; harmonics k = 1..h (k = 1 is the fundamental).
      f0_range: half-open range ``(lo, hi)`` of fundamental bins, sampled uniformly; the whole axis by default.
      frequency_scale: ``"log"`` (f + round(bpo·log2 k)) or ``"linear"`` (k·f).
      derangement: draw only derangements, so every member moves (needs >= 2 harmonics for every f0).
      stratified: draw i targets the (i mod n)-th of the n fundamentals a draw can take (every
        fundamental the same number of draws over a multiple of n draws) instead of a random one.
      f0_weights: ``[n_bins]`` weights of the fundamental bins (e.g. the frames of the key whose
        semitone holds the bin, :meth:`amt_jax.frontend.layout.FrequencyLayout.bin_weights`): draws
        take only bins of positive weight in ``f0_range``, in proportion; None: uniform.
      max_harmonics: pad the family's tables as for this many harmonics (>= n_harmonics; e.g. a
        sweep's largest h): families of every h up to it compile one program, with the same draws.

    Returns:
      A family whose ``sample(key, draw)`` returns ``(idx [F] int32, group = f0)``.
    """
    return _harmonic_family(n_bins, bins_per_octave, n_harmonics, f0_range, frequency_scale, derangement, stratified,
                            f0_weights, max_harmonics)


@partial(jax.tree_util.register_dataclass, data_fields=["target"], meta_fields=[])
@dataclass(frozen=True)
class HarmonicControl:
    """Size-matched null of a :class:`Harmonic` family: as many bins as the harmonic draw of
    the same key would move, at uniformly random positions on the whole axis; group = that f0.

    With the same key, ``harmonic`` and its control draw the same f0 and shuffle their slots in
    the same order, so their importances pair up draw for draw.
    """

    target: Harmonic

    @property
    def n_bins(self) -> int:
        return self.target.n_bins

    @property
    def groups(self) -> tuple[int, ...]:
        return self.target.groups

    @property
    def stratified(self) -> bool:
        return self.target.stratified

    def sample(self, key: jax.Array, draw=None) -> tuple[jax.Array, jax.Array]:
        n_members = self.target.tables["offsets"].shape[0]
        bits = random_bits(key, 1 + n_members)  # exactly the harmonic draw's: same f0, same slot order
        f0 = self.target.draw_f0(bits[0], draw)
        count = jnp.sum(self.target.members(f0)[1])
        position_bits = random_bits(jax.random.fold_in(key, 0), self.n_bins)  # derangement redraws use tags >= 1
        members = jnp.argsort(position_bits)[:n_members].astype(jnp.int32)  # distinct random bins
        valid = jnp.arange(n_members) < count
        return shuffle_slots(key, bits[1:], members, valid, n_bins=self.n_bins, derangement=self.target.derangement), f0


def harmonic_control(
    *,
    n_bins: int,
    bins_per_octave: int | None = None,
    n_harmonics: int,
    f0_range: tuple[int, int] | None = None,
    frequency_scale: str = "log",
    derangement: bool = False,
    stratified: bool = False,
    f0_weights=None,
    max_harmonics: int | None = None,
) -> HarmonicControl:
    """The size-matched control of :func:`harmonic` (same arguments): per draw, the same number
    of bins as the harmonic draw with that key, at random positions, shuffled the same way."""
    return HarmonicControl(_harmonic_family(n_bins, bins_per_octave, n_harmonics, f0_range, frequency_scale, derangement,
                                            stratified, f0_weights, max_harmonics))

