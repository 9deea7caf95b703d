"""Models: one module per family (``pretrained``: Basic Pitch with its weights from the wheel;
``trained``: variants trained here; ``planted``; ``oracle``; ``randomize``: random weights and the
randomisation cascade), each a :class:`Model` with explicit capabilities (:mod:`~amt_jax.models.model`),
and the registry that turns a spec into one (``registry.load("basic-pitch")``, ``"py:FILE.py:FUNCTION"``
for a user's own model). Code outside this package reads models through these names; by their roles
``training`` (the Basic Pitch family's trainer) and ``bench`` (its benchmark) also use the family's
modules (``tests/test_structure.py`` holds every other module to that)."""

from amt_jax.models import registry
from amt_jax.models.model import CAPABILITIES, OUTPUT_KINDS, Inverse, Model, Output
from amt_jax.models.registry import check, load

__all__ = ["CAPABILITIES", "OUTPUT_KINDS", "Inverse", "Model", "Output", "check", "load", "registry"]
