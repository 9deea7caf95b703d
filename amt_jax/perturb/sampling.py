"""Random choices inside one draw, pure and vmappable: the building blocks of the perturbation
families (all the randomness of a draw comes from one ``jax.random.bits`` call where possible, which
compiles fast)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def draw_group(bits: jax.Array, lo: int, hi: int, *, stratified: bool, draw) -> jax.Array:
    """A draw's group in ``[lo, hi)``: ``lo + draw % (hi − lo)`` when stratified (every group the
    same number of draws), else uniform from one uint32 ``bits``."""
    if not stratified:
        return uniform_int(bits, lo, hi)
    if draw is None:
        raise ValueError("a stratified family needs the draw index: sample(key, draw) / perturb(key, x, draw)")
    return (lo + jnp.asarray(draw, jnp.int32) % (hi - lo)).astype(jnp.int32)


_LAST = 0xFFFFFFFF  # sort key of invalid slots: after every valid one (stable sort keeps their order)


def random_order(bits: jax.Array, valid: jax.Array) -> jax.Array:
    """Random order ``[..., K]`` of each row's valid prefix from random uint32 ``bits [..., K]``;
    invalid slots map to themselves. Uniform up to ties of 32-bit keys (probability < K²/2³³)."""
    return jnp.argsort(jnp.where(valid, bits, jnp.uint32(_LAST)), axis=-1, stable=True)


def derangement_order(key: jax.Array, bits: jax.Array, valid: jax.Array) -> jax.Array:
    """Uniform random derangement of the valid prefix (needs >= 2 valid slots), by rejection:
    the first attempt uses ``bits``, attempt a >= 1 ``bits(fold_in(key, a))``; expected attempts ≈ e."""
    slots = jnp.arange(valid.shape[-1])

    def has_fixed_point(state):
        _, perm = state
        return jnp.any(valid & (perm == slots))

    def redraw(state):
        attempt, _ = state
        return attempt + 1, random_order(jax.random.bits(jax.random.fold_in(key, attempt), valid.shape), valid)

    _, perm = jax.lax.while_loop(has_fixed_point, redraw, (1, random_order(bits, valid)))
    return perm


def shuffle_slots(
    key: jax.Array, bits: jax.Array, members: jax.Array, valid: jax.Array, *, n_bins: int, derangement: bool
) -> jax.Array:
    """Permutation ``idx [F]`` shuffling the values at ``members[valid]`` within each row.

    ``bits``/``members``/``valid``: ``[..., K]`` (random uint32, bins, validity: a prefix per
    row); rows must not share bins. ``key`` (not the one ``bits`` came from) feeds derangement redraws.
    """
    perm = derangement_order(key, bits, valid) if derangement else random_order(bits, valid)
    src = jnp.take_along_axis(members, perm, axis=-1)
    dst = jnp.where(valid, members, n_bins)  # out of range -> dropped
    idx = jnp.arange(n_bins, dtype=jnp.int32)
    return idx.at[dst.ravel()].set(src.ravel().astype(jnp.int32), mode="drop")


def random_bits(key: jax.Array, n: int) -> jax.Array:
    """All the randomness of one draw: ``n`` uint32 from one call (one threefry, fast to compile)."""
    return jax.random.bits(key, (n,), jnp.uint32)


def uniform_int(bits: jax.Array, lo: int, hi: int) -> jax.Array:
    """Integer in ``[lo, hi)`` from uint32 ``bits`` (modulo bias below (hi − lo)/2³²)."""
    return (lo + bits % jnp.uint32(hi - lo)).astype(jnp.int32)


def categorical(bits: jax.Array, cumulative: tuple[float, ...]) -> jax.Array:
    """Index ``i`` with probability proportional to weight i, from one uint32 ``bits`` and the
    normalised cumulative weights ``[K]`` (last = 1; a static tuple or an array)."""
    u = (bits >> jnp.uint32(8)).astype(jnp.float32) / jnp.float32(2**24)  # uniform in [0, 1), 24 bits
    return jnp.searchsorted(jnp.asarray(cumulative, jnp.float32), u, side="right").astype(jnp.int32)
