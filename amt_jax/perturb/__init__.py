"""Perturbation families: ``perturb(family, key, x [..., F, T], draw) -> (x', group)``.

- :mod:`~amt_jax.perturb.permutations`: the seed families on the frequency axis (random spectral,
  harmonic shuffle and its size-matched control, within-semitone shuffle) and the whole-axis bin shift.
- :mod:`~amt_jax.perturb.key_families`: families that target a key the music plays (harmonic swap
  and its sham comb, attenuation, key replacement for the factorial, semitone pooling).
- :mod:`~amt_jax.perturb.keys`: which key a draw targets (per clip by frames, shared, in turn).
- :mod:`~amt_jax.perturb.sampling`: the random draws they share (groups, slots, derangements).
- :mod:`~amt_jax.perturb.pytree`: families as jit arguments (their data traced, their structure static).

``from amt_jax import permutations`` is this package (the public API's name).
"""

from amt_jax.perturb import key_families, keys, permutations, pytree, sampling
from amt_jax.perturb.permutations import (
    BinShift,
    bin_shift,
    FREQUENCY_SCALES,
    Harmonic,
    HarmonicControl,
    MICROTONAL_SCOPES,
    Microtonal,
    RandomSpectral,
    check_family,
    harmonic,
    harmonic_control,
    microtonal,
    perturb,
    random_spectral,
)
from amt_jax.perturb.key_families import (
    COMBS,
    MANIPULATIONS,
    HarmonicAttenuation,
    HarmonicSwap,
    KeyReplacement,
    REPLACED_PARTS,
    SemitonePooling,
    harmonic_swap,
    key_replacement,
    semitone_pooling,
)
from amt_jax.perturb.keys import KeyDraw, KeyFamily, key_weights_from_targets
from amt_jax.perturb.sampling import (
    categorical,
    derangement_order,
    draw_group,
    random_bits,
    random_order,
    shuffle_slots,
    uniform_int,
)

__all__ = ["BinShift", "COMBS", "bin_shift", "FREQUENCY_SCALES", "Harmonic", "HarmonicAttenuation", "HarmonicControl", "HarmonicSwap", "MANIPULATIONS", "KeyReplacement", "MICROTONAL_SCOPES", "Microtonal", "REPLACED_PARTS", "RandomSpectral", "SemitonePooling", "categorical", "check_family", "derangement_order", "draw_group", "harmonic", "harmonic_control", "harmonic_swap", "KeyDraw", "KeyFamily", "key_families", "key_replacement", "keys", "key_weights_from_targets", "microtonal", "permutations", "perturb", "pytree", "random_bits", "random_order", "random_spectral", "sampling", "semitone_pooling", "shuffle_slots", "uniform_int"]
