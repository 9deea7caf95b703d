"""Which frames of each clip CKA compares: frames drawn per clip (:func:`frame_rows`), and the same
instants on networks that frame the audio at different steps (:func:`aligned_rows`, by nearest
frame: :func:`nearest_frames`). A network here is anything with ``hop_length`` and ``sample_rate``
(:class:`amt_jax.explain.cka.Network`): a frame every ``hop_length`` samples at ``sample_rate`` Hz,
frame t centred on sample ``t·hop``, so ``n_samples // hop + 1`` frames."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import validate


def frame_rows(key: jax.Array, n_clips: int, n_frames: int, frames_per_clip: int) -> np.ndarray:
    """Frames ``[n_clips, frames_per_clip]`` of each clip, without replacement, clip c from ``fold_in(key, c)``."""
    validate.positive_int("frames_per_clip", frames_per_clip)
    if not 4 <= frames_per_clip <= n_frames:
        raise ValueError(f"frames_per_clip must be in [4, {n_frames}] (the clips' frames), got {frames_per_clip}")
    return np.sort(np.asarray(_frame_draws(key, n_clips, n_frames, frames_per_clip)), axis=1)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _frame_draws(key, n_clips, n_frames, frames_per_clip):
    return jax.vmap(lambda c: jax.random.permutation(jax.random.fold_in(key, c), n_frames)[:frames_per_clip])(
        jnp.arange(n_clips))


def nearest_frames(times_s, *, hop_length: int, sample_rate: int, n_frames: int) -> np.ndarray:
    """Index of the frame nearest to each time ``times_s`` (seconds) of a frontend framing every
    ``hop_length`` samples at ``sample_rate`` Hz (frame t centred on sample ``t·hop``), clipped to
    ``[0, n_frames − 1]``."""
    t = np.round(np.asarray(times_s, np.float64) * sample_rate / hop_length).astype(np.int64)
    return np.clip(t, 0, n_frames - 1)


def aligned_rows(nets, n_frames, n_samples: int, *, key: jax.Array, n_clips: int, frames_per_clip: int):
    """The rows ``[n_clips, frames_per_clip]`` of each network (frame indices at the same instants)
    and the largest time offset (ms) between two networks' frames of a row (0 when all frame alike).

    ``n_frames``: each network's frame count on clips of ``n_samples`` samples. Rows are drawn
    (:func:`frame_rows`, ``key``) among the frames of the network with the coarsest step; the
    others take their nearest frames (:func:`nearest_frames`). Networks of unknown step must all
    give the same frames (the rows are then the same indices)."""
    known = [n.hop_length is not None and n.sample_rate is not None for n in nets]
    if not any(known):
        if len(set(n_frames)) > 1:
            raise ValueError(f"the frontends give different frame counts {list(n_frames)} and no frame step to align them")
        rows = frame_rows(key, n_clips, n_frames[0], frames_per_clip)
        return [rows] * len(nets), 0.0
    if not all(known):
        raise ValueError("every network or none must give its frame step (hop_length and sample_rate)")
    for net, t in zip(nets, n_frames):
        if t != n_samples // net.hop_length + 1:
            raise ValueError(f"a frontend framed every {net.hop_length} samples gives {n_samples // net.hop_length + 1} "
                             f"frames (centred) of {n_samples} samples, got {t}: its frame step is not hop_length")
    steps = [n.hop_length / n.sample_rate for n in nets]
    ref = int(np.argmax(steps))
    rows = frame_rows(key, n_clips, n_frames[ref], frames_per_clip)
    times = rows * steps[ref]
    out = [rows if step == steps[ref] else
           nearest_frames(times, hop_length=n.hop_length, sample_rate=n.sample_rate, n_frames=t)
           for n, t, step in zip(nets, n_frames, steps)]
    offset = max(float(np.max(np.abs(r * s - times))) for r, s in zip(out, steps))
    return out, 1000.0 * offset
