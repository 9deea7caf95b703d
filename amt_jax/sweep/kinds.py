"""The names of the probe families and kinds: the vocabulary a :class:`~amt_jax.sweep.config.SweepConfig`
is checked against (``families``, ``control_models``, ``questions``). The probe table
(:mod:`amt_jax.sweep.probes`) has one entry per kind here, in this order, and refuses to load if
the two disagree; so adding a kind is a name here and an entry there."""

from __future__ import annotations

# Families a config switches on and off (``SweepConfig.families``), in the probe table's order;
# the example is switched by ``SweepConfig.example`` instead.
FAMILIES: tuple[str, ...] = ("harmonic", "harmonic_reliance", "factorial", "microtonal", "resolution",
                             "random_spectral", "noise")

# Families a config runs only when it names them (``SweepConfig.families``): they are slow or need
# what not every model has (a frontend, logits).
OPT_IN_FAMILIES: tuple[str, ...] = ("edge_keys", "cross_method")

# Every kind of cell, in the probe table's order.
KINDS: tuple[str, ...] = ("harmonic", "harmonic_control", "harmonic_swap", "factorial", "microtonal_one",
                          "microtonal_all", "pooling_one", "pooling_all", "random_spectral", "noise", "probe_keys", "cross_method",
                          "example")
