"""PESTO's keys on its output axis: which of the 384 pitch bins belong to each key, and the
per-key reads of the output (mass, log-odds, the linear logit contrast LRP explains). One
definition shared by the package and its LRP adapter."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax.frontend.layout import FrequencyLayout

N_OUTPUT_BINS = 384
BINS_PER_SEMITONE = 3


def key_bins(layout: FrequencyLayout, n_bins: int = N_OUTPUT_BINS) -> tuple[np.ndarray, np.ndarray]:
    """The output bins of each key: ``(bins [P, B], valid [P, B])``, key p (MIDI ``m =
    layout.lowest_midi + p``) holding bins ``3m − 1 .. 3m + 1`` (output bin b = MIDI b/3), ``valid``
    where a bin lies on the ``n_bins`` axis. The one definition :func:`key_mass` and
    :func:`key_log_odds` share."""
    midi = layout.lowest_midi + np.arange(layout.n_pitches)
    bins = BINS_PER_SEMITONE * midi[:, None] + np.arange(-(BINS_PER_SEMITONE // 2), BINS_PER_SEMITONE // 2 + 1)
    return bins, (bins >= 0) & (bins < n_bins)


def key_mass(probabilities, layout: FrequencyLayout):
    """Each key's probability mass: ``[..., 384, T]`` -> ``[..., P, T]``, the sum over its
    :func:`key_bins`."""
    n = probabilities.shape[-2]
    bins, valid = key_bins(layout, n)
    taken = jnp.take(probabilities, np.clip(bins, 0, n - 1).reshape(-1), axis=-2)
    taken = taken.reshape(probabilities.shape[:-2] + bins.shape + probabilities.shape[-1:])
    return (taken * valid[..., None]).sum(-2)


def key_log_odds(logits, layout: FrequencyLayout):
    """Each key's log-odds ``log m_p − log(1 − m_p)`` of its mass under ``softmax(logits)``:
    ``[..., 384, T]`` pre-softmax -> ``[..., P, T]``, as ``logsumexp`` over the key's
    :func:`key_bins` minus ``logsumexp`` over every other bin (stable where ``m_p`` is near 0 or 1)."""
    n = logits.shape[-2]
    bins, valid = key_bins(layout, n)
    member = np.zeros((layout.n_pitches, n), bool)
    member[np.nonzero(valid)[0], bins[valid]] = True
    z = jnp.swapaxes(logits, -1, -2)[..., None, :]  # [..., T, 1, 384]
    inside = jax.nn.logsumexp(jnp.where(member, z, -jnp.inf), axis=-1)  # [..., T, P]
    outside = jax.nn.logsumexp(jnp.where(member, -jnp.inf, z), axis=-1)
    return jnp.swapaxes(inside - outside, -1, -2)


def key_contrast_matrix(layout: FrequencyLayout, n_bins: int = N_OUTPUT_BINS) -> np.ndarray:
    """``A [n_bins, P]`` float32: column p is ``1/|K_p|`` on key p's valid :func:`key_bins` ``K_p``
    and ``−1/(n_bins − |K_p|)`` on every other bin (each column sums to 0)."""
    bins, valid = key_bins(layout, n_bins)
    member = np.zeros((n_bins, layout.n_pitches), bool)
    member[bins[valid], np.nonzero(valid)[0]] = True
    inside = member.sum(0, keepdims=True)
    return np.where(member, 1.0 / inside, -1.0 / (n_bins - inside)).astype(np.float32)


def key_contrast(logits, layout: FrequencyLayout):
    """Each key's logit contrast: ``[..., 384, T]`` pre-softmax -> ``[..., P, T]``, the mean logit
    over its :func:`key_bins` minus the mean over every other bin (:func:`key_contrast_matrix`).
    Linear in the logits and, like the softmax, blind to a shift of all of them; it is
    :func:`key_log_odds` to first order about flat logits (where the softmax is uniform, the
    log-odds' gradient is ``1/|K_p|`` on the key's bins and ``−1/(n − |K_p|)`` elsewhere), minus
    the constant ``log(|K_p|/(n − |K_p|))``. What PESTO's LRP adapter explains (:mod:`.lrp`)."""
    a = key_contrast_matrix(layout, logits.shape[-2])
    return jnp.einsum("...bt,bp->...pt", logits, a)
