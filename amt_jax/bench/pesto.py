"""``python -m amt_jax.bench model --model pesto``: PESTO frames/s, our jitted VQT+network vs the
original (pesto-pitch 2.0.1) on torch CPU.

Both sides run the same seeded audio (``--seconds`` of 16 kHz, 10 ms frames: audio [n] ->
pitch distribution [384, T] and confidence [T]), warm, ``--repeats`` timed calls each; medians
are reported, as frames per second, ours / torch as ``ratio``, and each side's fraction of this
machine's float32 multiply-add peak (:mod:`amt_jax.bench.peak`; the multiply-adds are the VQT's
strided correlation and the network's convolutions, however an implementation arranges them).

torch runs in a subprocess: the interpreter in ``AMT_JAX_TORCH_PYTHON`` (e.g. a venv with torch
and ``pip install --no-deps pesto-pitch==2.0.1``), else this one if it imports torch; without
either the torch side is skipped (said on one line; our side is still timed). The sides alternate
call by call (the torch process stays up, timing one call per request), so both see the same
machine load. The last line is one JSON object.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import jax
import numpy as np

from amt_jax.bench import peak
from amt_jax.models import registry
from amt_jax.models.pesto import SAMPLE_RATE, STEP_MS, vqt

TORCH_PYTHON_ENV = "AMT_JAX_TORCH_PYTHON"

# Run by the torch interpreter: argv = [seconds, seed, sr, step_ms]; loads the model, runs one warm-up
# call, prints {"frames", "threads", "torch"}; then times one call per line read from stdin (printing
# its seconds), so the two sides can alternate.
_TORCH_SIDE = r"""
import importlib.util, json, sys, time, types
import numpy as np
if importlib.util.find_spec("torchaudio") is None:
    sys.modules["torchaudio"] = types.ModuleType("torchaudio")  # pesto imports it for file loading only
import torch
from pesto import load_model
seconds, seed, sr, step = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
audio = (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)
x = torch.from_numpy(audio)
model = load_model("mir-1k_g7", step, sampling_rate=sr)
with torch.inference_mode():
    act = model(x.clone(), sr=sr, convert_to_freq=False)[3]
    print(json.dumps({"frames": int(act.shape[0]), "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        model(x.clone(), sr=sr, convert_to_freq=False)
        print(time.perf_counter() - start, flush=True)
"""


def frame_macs(sample_rate: int = SAMPLE_RATE, step_ms: float = STEP_MS) -> dict[str, int]:
    """Multiply-adds per frame: ``{"vqt": L · 2·251, "network": convolutions + Toeplitz + confidence}``."""
    k = vqt.kernels(sample_rate, step_ms)
    bins, c = 219, (40, 30, 30, 10, 3)
    network = bins * c[0] * 39 + 2 * bins * c[0] * c[0] * 39  # conv1 and the two prefilter convs
    network += bins * sum(a * b for a, b in zip(c[:-1], c[1:]))  # the 1×1 convs
    network += bins * c[-1] * 384 + 71 * 39 + 72  # the Toeplitz layer (as a dense map) and the confidence head
    return {"vqt": k.width * k.weights.shape[1], "network": network}


def torch_python() -> str | None:
    """The interpreter for the torch side, or None (then the reason is :func:`torch_missing`)."""
    path = os.environ.get(TORCH_PYTHON_ENV)
    if path:
        return path
    return sys.executable if importlib.util.find_spec("torch") is not None else None


class TorchSide:
    """The original in a subprocess of ``python``: ``info`` (frames, threads, torch version) once
    warm, :meth:`time_one` the seconds of one call. RuntimeError (one line) if it fails."""

    def __init__(self, python: str, seconds: float, seed: int):
        self.python = python
        try:
            self.proc = subprocess.Popen([python, "-c", _TORCH_SIDE, str(seconds), str(seed), str(SAMPLE_RATE),
                                          str(STEP_MS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
        except OSError as err:
            raise RuntimeError(f"cannot run the torch side {python!r} ({TORCH_PYTHON_ENV}): {err.strerror}") from None
        self.info = json.loads(self._line())

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            last = (self.proc.stderr.read().strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"the torch side ({self.python}) failed: {last}")
        return line

    def time_one(self) -> float:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return float(self._line())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def compare(seconds: float, repeats: int, seed: int, machine: dict) -> dict:
    """Time ours and (when torch is available) the original, alternating; print one line, return the fields."""
    model = registry.load("pesto")
    audio = (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)
    forward = jax.jit(lambda params, a: model.apply(params, model.frontend(a)))
    start = time.perf_counter()
    frames = int(jax.block_until_ready(forward(model.params, audio))["pitch"].shape[-1])
    compile_s = time.perf_counter() - start

    def run_ours() -> float:
        begin = time.perf_counter()
        jax.block_until_ready(forward(model.params, audio))
        return time.perf_counter() - begin

    python = torch_python()
    side = None if python is None else TorchSide(python, seconds, seed)
    ours, ref = [], []
    try:
        with peak.OtherLoad() as load:
            for _ in range(repeats):  # alternate so both see the same machine load
                ours.append(run_ours())
                if side is not None:
                    ref.append(side.time_one())
    finally:
        if side is not None:
            side.close()
    macs = frame_macs()
    per_frame = macs["vqt"] + macs["network"]
    ours_fps = frames / statistics.median(ours)
    result = {"seconds_of_audio": seconds, "frames": frames, "ours_frames_per_s": round(ours_fps, 1),
              "ours_fraction_of_peak": _round(peak.fraction_of_peak(ours_fps, per_frame, machine)),
              "ours_compile_s": round(compile_s, 2), "macs_per_frame": macs, "peak": machine,
              "other_processes_cores": load.cores and round(load.cores, 2)}
    if side is None:
        print(f"ours: {ours_fps:.0f} frames/s ({_pct(result['ours_fraction_of_peak'])} of peak); torch side skipped: "
              f"torch is not importable here and {TORCH_PYTHON_ENV} is not set")
        return {**result, "torch": "skipped"}
    if side.info["frames"] != frames:
        raise RuntimeError(f"the torch side made {side.info['frames']} frames of the audio, ours {frames}")
    torch_fps = frames / statistics.median(ref)
    result.update({"torch_frames_per_s": round(torch_fps, 1), "ratio": round(ours_fps / torch_fps, 3),
                   "torch_fraction_of_peak": _round(peak.fraction_of_peak(torch_fps, per_frame, machine)),
                   "torch_threads": side.info["threads"], "torch": side.info["torch"], "torch_python": python})
    print(f"ours: {ours_fps:.0f} frames/s ({_pct(result['ours_fraction_of_peak'])} of peak), torch {side.info['torch']}: "
          f"{torch_fps:.0f} frames/s ({_pct(result['torch_fraction_of_peak'])} of peak), ratio "
          f"{ours_fps / torch_fps:.2f} ({seconds:g} s of audio = {frames} frames, {repeats} alternating calls each; "
          f"other processes used {result['other_processes_cores']} cores meanwhile)")
    return result


def _round(x):
    return None if x is None else round(x, 4)


def _pct(f) -> str:
    return "unknown" if f is None else f"{100 * f:.1f}%"


def main(seconds: float, repeats: int, seed: int) -> int:
    try:
        fields = compare(seconds, repeats, seed, peak.cpu_peak())
    except RuntimeError as err:
        print(f"python -m amt_jax.bench model --model pesto: error: {err}", file=sys.stderr)
        return 2
    result = {"benchmark": "model --model pesto", "repeats": repeats, **fields, "jax": jax.__version__}
    print(json.dumps(result))
    return 0
