"""Explanation methods, each on a model's capabilities (``logits``, ``intermediates``, ``lrp``):

- :mod:`~amt_jax.explain.attribution`: gradients, gradient × input, SmoothGrad, integrated
  gradients, occlusion, time permutation of groups of bins;
- :mod:`~amt_jax.explain.lrp`: LRP rules and composites (each model family supplies its adapter);
- :mod:`~amt_jax.explain.stack`: importance of the harmonic stack's channels;
- :mod:`~amt_jax.explain.groups`: groups of bins (harmonics, combs, semitones, bands) and agreement;
- :mod:`~amt_jax.explain.crossmethod`: every method on the same groups, and the randomisation cascade;
- :mod:`~amt_jax.explain.cka`: centred kernel alignment between layers of two networks (at the same
  instants when they frame the audio at different steps: :mod:`~amt_jax.explain.cka_frames`).

``from amt_jax.explain import attribution`` (each submodule is the public unit).
"""

from amt_jax.explain import attribution, cka, crossmethod, groups, lrp, stack

__all__ = ["attribution", "cka", "crossmethod", "groups", "lrp", "stack"]
