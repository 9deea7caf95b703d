"""``python -m amt_jax.bench cqt``: our jitted CQT vs ``librosa.cqt`` on the same batch.

Default batch: 8 clips x 30 s at 22,050 Hz, hop 256, fmin 27.5 Hz, 264 bins, 36 per octave.
Both are warmed up, then timed ``--repeats`` times in alternation; the median is reported.
Last line: one JSON object with throughputs in seconds of audio per second, their ``ratio``
(ours / librosa) and ``max_rel_err`` (largest per-clip relative Frobenius error on that batch).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np


def _test_batch(n_clips: int, seconds: float, sr: int, seed: int) -> np.ndarray:
    """A mix of the signals the accuracy tests use: noise, sweeps, vibrato, harmonic tones."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    clips = []
    for i in range(n_clips):
        f0 = 55.0 * 2 ** rng.uniform(0, 4)
        kind = i % 4
        if kind == 0:
            y = 0.1 * rng.standard_normal(len(t))
        elif kind == 1:
            y = np.sin(2 * np.pi * 30 * seconds / np.log(150) * (150 ** (t / seconds) - 1))
        elif kind == 2:
            y = np.sin(2 * np.pi * f0 * t + 3 * np.sin(2 * np.pi * 5 * t))
        else:
            y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8)) * np.exp(-(t % 2.0))
        clips.append(y)
    return np.asarray(clips, dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amt_jax.bench cqt", description=__doc__.split("\n")[0])
    parser.add_argument("--n-clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import jax
    import librosa

    from amt_jax.frontend import cqt

    sr = 22050
    kw = dict(sr=sr, hop_length=256, fmin=27.5, n_bins=264, bins_per_octave=36)
    y = _test_batch(args.n_clips, args.seconds, sr, seed=0)
    audio_seconds = y.size / sr
    y_dev = jax.device_put(y)

    def ours():
        return cqt.cqt(y_dev, **kw).block_until_ready()

    def reference():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.abs(librosa.cqt(y, **kw))

    t0 = time.perf_counter()
    out = np.asarray(ours())
    compile_s = time.perf_counter() - t0
    ref = reference()
    rel = np.linalg.norm(out - ref, axis=(-2, -1)) / np.linalg.norm(ref, axis=(-2, -1))

    times = {"ours": [], "librosa": []}
    for _ in range(args.repeats):
        for name, fn in (("ours", ours), ("librosa", reference)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    ours_tp = audio_seconds / float(np.median(times["ours"]))
    ref_tp = audio_seconds / float(np.median(times["librosa"]))
    result = {
        "benchmark": "cqt",
        "batch": f"{args.n_clips} x {args.seconds:g} s",
        **kw,
        "device": str(jax.devices()[0].device_kind),
        "first_call_s": round(compile_s, 3),
        "ours_audio_s_per_s": round(ours_tp, 1),
        "librosa_audio_s_per_s": round(ref_tp, 1),
        "ratio": round(ours_tp / ref_tp, 2),
        "max_rel_err": float(f"{rel.max():.3e}"),
    }
    print(json.dumps(result))
    return 0
