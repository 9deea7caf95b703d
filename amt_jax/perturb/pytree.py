"""Families as jit arguments: their data traced, their structure static.

A family is a frozen dataclass (hashable; its fields are the config a result records). :func:`register`
makes it a pytree whose leaves are its ``tables`` — the arrays its draws read (key weights, comb
offsets, f0 weights, ...), computed from its fields — and whose static part is the fields that shape
the program (sizes, modes). Families that differ only in data (another key weighting, another comb of
the same size) then share one compiled program. Rebuilt inside ``jit``, a family holds its static
fields and its ``tables`` (tracers) only, so its draw code reads data from ``tables`` alone.

:func:`split` and :func:`join` are what the jitted engine uses: a family's traced data and its static
rest (a family that is not a pytree, e.g. a user's own frozen dataclass, is all static).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np


class Tabled:
    """A family whose data are ``tables``: ``make_tables()`` (numpy) computed once, cached."""

    def make_tables(self) -> dict[str, Any]:
        return {}

    @functools.cached_property
    def tables(self) -> dict[str, Any]:
        """The arrays the family's draws read (numpy; tracers inside ``jit``)."""
        return {name: np.asarray(value) for name, value in self.make_tables().items()}


def register(*static: str):
    """Class decorator: a :class:`Tabled` frozen dataclass as a pytree with its ``tables`` as leaves
    and the attributes ``static`` (hashable fields, or ``functools.cached_property`` values derived
    from the data fields, such as a size) as its static part."""

    def decorate(cls):
        def flatten(family):
            tables = family.tables
            names = tuple(sorted(tables))
            return [tables[n] for n in names], (names, tuple(getattr(family, s) for s in static))

        def unflatten(aux, leaves):
            names, values = aux
            family = object.__new__(cls)
            family.__dict__.update(zip(static, values))
            family.__dict__["tables"] = dict(zip(names, leaves))
            return family

        jax.tree_util.register_pytree_node(cls, flatten, unflatten)
        return cls

    return decorate


def split(family) -> tuple[list, Any]:
    """``(data, static)``: the arrays of ``family`` that jit traces (its pytree leaves; none for a
    family that is not a pytree) and the rest, static and hashable (its treedef, or the family itself)."""
    leaves, treedef = jax.tree.flatten(family)
    if len(leaves) == 1 and leaves[0] is family:  # not a pytree: all of it static
        return [], family
    return leaves, treedef


def join(data, static):
    """The family of :func:`split`'s ``(data, static)``."""
    return jax.tree.unflatten(static, data) if isinstance(static, jax.tree_util.PyTreeDef) else static
