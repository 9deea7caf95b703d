"""``python -m amt_jax.bench model``: Basic Pitch windows/s, our jitted frontend+apply vs onnxruntime.

Both run the same batch of windows (audio [batch, 43844] -> note/onset/contour) in this process,
warm, alternating, several repeats; medians are reported. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import time

import jax
import numpy as np

from amt_jax.models import onnx_weights, pretrained
from amt_jax.constants import WINDOW_SAMPLES


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amt_jax.bench model", description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16, help="windows per call (default 16)")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per side (default 7)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.batch < 1 or args.repeats < 1:
        parser.error("--batch and --repeats must be >= 1")

    audio = (0.1 * np.random.default_rng(args.seed).standard_normal((args.batch, WINDOW_SAMPLES))).astype(np.float32)
    bp = pretrained.basic_pitch()
    ours_fn = jax.jit(lambda params, a: bp.apply(params, bp.frontend(a)))
    reference = onnx_weights.onnxruntime_reference()

    compile_start = time.perf_counter()
    ours = jax.block_until_ready(ours_fn(bp.params, audio))
    compile_s = time.perf_counter() - compile_start
    ref = reference(audio)
    max_abs = max(float(np.abs(np.asarray(ours[k]) - ref[k]).max()) for k in ref)

    def run_ours():
        jax.block_until_ready(ours_fn(bp.params, audio))

    def run_ref():
        reference(audio)

    for fn in (run_ours, run_ref):  # warm-up
        fn()
    ours_s, ref_s = [], []
    for _ in range(args.repeats):  # alternate so both see the same machine load
        ours_s.append(_seconds(run_ours))
        ref_s.append(_seconds(run_ref))
    ours_wps = args.batch / statistics.median(ours_s)
    ref_wps = args.batch / statistics.median(ref_s)
    print(f"ours: {ours_wps:.1f} windows/s, onnxruntime: {ref_wps:.1f} windows/s (batch {args.batch})")
    result = {
        "benchmark": "model",
        "batch": args.batch,
        "repeats": args.repeats,
        "ours_windows_per_s": round(ours_wps, 2),
        "onnxruntime_windows_per_s": round(ref_wps, 2),
        "ratio": round(ours_wps / ref_wps, 3),
        "ours_compile_s": round(compile_s, 2),
        "max_abs_diff": max_abs,
        "device": jax.devices()[0].device_kind,
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "onnxruntime": importlib.metadata.version("onnxruntime"),
        "python": platform.python_version(),
    }
    print(json.dumps(result))
    return 0
