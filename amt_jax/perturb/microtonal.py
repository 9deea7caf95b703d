"""The within-semitone shuffle: the B bins of a semitone permuted among themselves (one drawn
semitone, or every semitone at once), the seed's third family."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from amt_jax import validate
from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.perturb import pytree
from amt_jax.perturb.sampling import draw_group, random_bits, shuffle_slots

MICROTONAL_SCOPES = ("all", "one")

@pytree.register("layout", "scope", "stratified")
@dataclass(frozen=True)
class Microtonal(pytree.Tabled):
    """Shuffle within the semitones of a :class:`~amt_jax.frontend.layout.FrequencyLayout` (its
    ``semitone_members``: semitone p covers the B bins from ``p·B + center_offset − B//2``, clipped
    to the axis, for every p whose bins start on the axis — the keys and the headroom above them).
    Bins in no semitone never move."""

    layout: FrequencyLayout
    scope: str
    stratified: bool = False

    @property
    def n_bins(self) -> int:
        return self.layout.n_bins

    @property
    def bins_per_semitone(self) -> int:
        return self.layout.bins_per_semitone

    @property
    def n_groups(self) -> int:
        return self.layout.n_semitones

    @property
    def groups(self) -> tuple[int, ...]:
        return tuple(range(self.n_groups)) if self.scope == "one" else (0,)

    def sample(self, key: jax.Array, draw=None) -> tuple[jax.Array, jax.Array]:
        members, valid = (jnp.asarray(a) for a in self.layout.semitone_members())
        if self.scope == "all":
            bits = random_bits(key, members.size).reshape(members.shape)
            return shuffle_slots(key, bits, members, valid, n_bins=self.n_bins, derangement=False), jnp.int32(0)
        bits = random_bits(key, 1 + self.bins_per_semitone)
        p = draw_group(bits[0], 0, self.n_groups, stratified=self.stratified, draw=draw)
        return shuffle_slots(key, bits[1:], members[p], valid[p], n_bins=self.n_bins, derangement=False), p


def microtonal(*, layout: FrequencyLayout | None = None, n_bins: int | None = None, bins_per_semitone: int | None = None,
               center_offset: int = 0, scope: str = "all", stratified: bool = False) -> Microtonal:
    """Shuffle bins within each semitone (``scope="all"``, group 0) or within one random
    semitone per draw (``scope="one"``, group = p).

    Args:
      layout: the model's :class:`~amt_jax.frontend.layout.FrequencyLayout` (``model.layout``); or
        describe the axis with the next three arguments:
      n_bins: F.
      bins_per_semitone: B >= 1; semitone p's group is the B bins starting at
        ``p·B + center_offset − B//2`` (centred on ``p·B + center_offset`` for odd B), clipped.
      center_offset: bin of semitone 0's centre; semitone 0's group must overlap the axis.
      scope: ``"all"`` or ``"one"``.
      stratified: with ``scope="one"``, draw i targets semitone ``i mod n_groups``.
    """
    validate.one_of("scope", scope, MICROTONAL_SCOPES)
    if layout is None:
        layout = FrequencyLayout.for_axis(n_bins=n_bins, bins_per_semitone=bins_per_semitone, center_offset=center_offset)
    elif not isinstance(layout, FrequencyLayout):
        raise ValueError(f"layout must be an amt_jax.FrequencyLayout, got {layout!r}")
    elif n_bins is not None or bins_per_semitone is not None:
        raise ValueError(f"give layout or n_bins/bins_per_semitone, not both; got layout={layout!r}, n_bins={n_bins!r}")
    return Microtonal(layout=layout, scope=scope, stratified=bool(stratified))
