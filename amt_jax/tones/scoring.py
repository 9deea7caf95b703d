"""Scoring probe-tone windows: one jitted forward per model gives the model's measures per window
(output and recall at the tone's key, false positives, F1 over all keys' outputs) and the same F1 of
two non-learned baselines on the same features (:func:`baseline_outputs`); :class:`Batches` feeds
windows ``batch_size`` at a time (the last batch zero-padded, so one compilation)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax.tones.synth import METRICS

ENERGY_THRESHOLDS = np.round(np.arange(0.02, 1.0, 0.02), 2)  # the energy baseline's candidate thresholds


def baseline_outputs(x, layout):
    """The two baselines' outputs from features ``x [N, F, T]``: ``energy [N, P, T]``, the fundamental
    bin of each key (:func:`amt_jax.transcription.baseline.fundamental_energy`) scaled to [0, 1]
    per window (min to max over its keys and frames), and ``argmax [N, P, T]`` (bool), the key of
    the largest fundamental-bin energy in each frame."""
    from amt_jax.transcription.baseline import fundamental_energy

    e = fundamental_energy(x, layout=layout)
    low, high = e.min(axis=(1, 2), keepdims=True), e.max(axis=(1, 2), keepdims=True)
    energy = (e - low) / jnp.maximum(high - low, 1e-12)
    argmax = jnp.arange(e.shape[1])[None, :, None] == jnp.argmax(e, axis=1)[:, None, :]
    return energy, argmax


def f1_counts(on, key, others):
    """F1 of ``on [N, P, T']`` (bool) for a tone at ``key [N]`` with ``others [N, P]`` (bool, keys that
    also sound: neither hits nor false positives): ``[N]``."""
    own = jnp.arange(on.shape[1])[None, :] == key[:, None]  # [N, P]
    tp = jnp.take_along_axis(on, key[:, None, None], axis=1)[:, 0].sum(-1)
    fn = on.shape[-1] - tp
    fp = (on & ~(own | others)[..., None]).sum(axis=(1, 2))
    return 2 * tp / (2 * tp + fp + fn)


@functools.lru_cache(maxsize=8)
def forward(frontend, apply, output, threshold: float, edge_frames: int, layout):
    """Jitted ``(params, audio [N, n], key [N], others [N, P]) -> {metric: [N], "rates": [N, P],
    "f1_energy": [N, len(ENERGY_THRESHOLDS)]}`` (cached: models sharing frontend and apply compile once)."""

    def measure(params, audio, key, others):
        x = frontend(audio)
        y = apply(params, x)
        y = y[output] if output is not None else y  # [N, P, T]
        n_frames = y.shape[-1]
        if 2 * edge_frames >= n_frames:
            raise ValueError(f"edge_frames must leave frames in a {n_frames}-frame window, got {edge_frames}")
        kept = slice(edge_frames, n_frames - edge_frames)
        y = y[..., kept]
        on = y >= threshold
        at_key = jnp.take_along_axis(y, key[:, None, None], axis=1)[:, 0]  # [N, T']
        own = jnp.arange(y.shape[1])[None, :, None] == key[:, None, None]
        energy, argmax = (b[..., kept] for b in baseline_outputs(x, layout))
        f1_energy = jax.vmap(lambda t: f1_counts(energy >= t, key, others), out_axes=1)(jnp.asarray(ENERGY_THRESHOLDS))
        return {"output": at_key.mean(-1), "recall": (at_key >= threshold).mean(-1),
                "false_positive": (on & ~own & ~others[..., None]).any(axis=1).mean(-1), "rates": on.mean(-1),
                "f1": f1_counts(on, key, others), "f1_argmax": f1_counts(argmax, key, others), "f1_energy": f1_energy}

    return jax.jit(measure)


class Batches:
    """Collects windows and runs them through the model ``batch_size`` at a time (the last batch
    zero-padded, so one compilation); scatters the measures into ``samples`` and ``rates``."""

    def __init__(self, forward, params, batch_size: int, samples: dict, rates: np.ndarray, progress=None):
        self.forward, self.params, self.batch_size = forward, params, batch_size
        self.samples, self.rates, self.progress = samples, rates, progress
        self.audio, self.keys, self.others, self.where, self.done = [], [], [], [], 0
        self.energy = np.full((*samples["f1"].shape, len(ENERGY_THRESHOLDS)), np.nan)  # per candidate threshold

    def add(self, windows: np.ndarray, key: int, others: np.ndarray, where: list[tuple[int, int, int, int]]) -> None:
        self.audio.extend(windows)
        self.keys.extend([key] * len(windows))
        self.others.extend([others] * len(windows))
        self.where.extend(where)
        while len(self.audio) >= self.batch_size:
            self._run(self.batch_size)

    def finish(self) -> None:
        if self.audio:
            self._run(len(self.audio))

    def _run(self, n: int) -> None:
        audio = np.zeros((self.batch_size, self.audio[0].shape[-1]), np.float32)
        audio[:n] = np.stack(self.audio[:n])
        keys = np.zeros(self.batch_size, np.int32)
        keys[:n] = self.keys[:n]
        others = np.zeros((self.batch_size, self.rates.shape[-1]), bool)
        others[:n] = np.stack(self.others[:n])
        out = jax.device_get(self.forward(self.params, audio, keys, others))
        for i, index in enumerate(self.where[:n]):
            for metric in METRICS:
                if metric != "f1_energy":
                    self.samples[metric][index] = out[metric][i]
            self.energy[index] = out["f1_energy"][i]
            self.rates[index] = out["rates"][i]
        del self.audio[:n], self.keys[:n], self.others[:n], self.where[:n]
        self.done += n
        if self.progress is not None:
            self.progress(self.done)


def energy_threshold(f1: np.ndarray) -> tuple[float, list[float]]:
    """``(threshold, curve)``: the candidate of :data:`ENERGY_THRESHOLDS` with the largest mean F1 over
    every window of ``f1 [..., n_thresholds]`` (NaN windows left out; the lowest on ties), and the
    mean F1 at each candidate."""
    flat = f1.reshape(-1, f1.shape[-1])
    flat = flat[np.all(np.isfinite(flat), axis=1)]
    if not len(flat):
        return float(ENERGY_THRESHOLDS[0]), [float("nan")] * len(ENERGY_THRESHOLDS)
    curve = flat.mean(axis=0)
    return float(ENERGY_THRESHOLDS[int(np.argmax(curve))]), curve.tolist()
