"""``python -m amt_jax.bench model``: Basic Pitch windows/s, our jitted frontend+apply vs onnxruntime.

Both run the same batch of windows (audio [batch, 43844] -> note/onset/contour) in this process,
warm, alternating, several repeats; medians are reported (goal: ``ratio`` = ours / onnxruntime
>= 1.5 at the default batch of 16), with each side's fraction of this machine's float32
multiply-add peak (``amt_jax.bench.peak``; the multiply-adds are the direct convolutions' and
the CQT's, however an implementation rearranges them) and the cores other processes used
meanwhile (load slowed onnxruntime more than ours in our measurements: compare runs alike). The last
line is one JSON object.

``--profile`` times each stage alone instead (CQT frontend, NormalizedLog, harmonic stack, each
convolution with its BN/ReLU, each sigmoid), jitted separately on the batch each stage sees
inside the model, and prints ms per window (wall, and this process's CPU time, which load from
other processes disturbs less), multiply-adds and achieved G multiply-adds/s.

``--model pesto`` times PESTO against the original on torch instead (:mod:`amt_jax.bench.pesto`).
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
import jax.numpy as jnp
import numpy as np

from amt_jax.bench import peak
from amt_jax.constants import WINDOW_FRAMES, WINDOW_SAMPLES
from amt_jax.frontend import features
from amt_jax.frontend.cqt2010 import cqt2010
from amt_jax.models import basic_pitch, onnx_weights, pretrained

RATIO_GOAL = 1.5

def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def window_macs(bp: pretrained.Pretrained) -> dict[str, int]:
    """Multiply-adds per window: {"frontend": CQT, "model": all convolutions}."""
    model = sum(peak.basic_pitch_macs(bp.config, WINDOW_FRAMES).values())
    return {"frontend": peak.cqt2010_macs(bp.frontend_config, WINDOW_SAMPLES), "model": model}


def _stages(bp: pretrained.Pretrained):
    """The forward as separately jittable stages: [(name, multiply-adds per window, fn, inputs, output(s))].

    The same computation as ``bp.apply(bp.params, bp.frontend(audio))`` (``profile`` checks the
    chained result against it), cut where the per-layer cost is wanted. The first two stages
    (the frontend) see the whole batch, the others the model's inference chunk.
    """
    cfg, fcfg = bp.config, bp.frontend_config
    p, stats = bp.params["params"], bp.params["batch_stats"]
    blocks = dict(cfg.conv_blocks)
    macs = peak.basic_pitch_macs(cfg, WINDOW_FRAMES)

    def bn(name, x):
        scale = p[name]["scale"] * jax.lax.rsqrt(stats[name]["var"] + cfg.bn_epsilon)
        return (x - stats[name]["mean"]) * scale + p[name]["bias"]

    def conv(name, x, stride=1):
        y = basic_pitch.freq_blocked_conv(x, p[name]["kernel"], stride=stride, block=blocks.get(name, 1))
        return y + p[name]["bias"]

    def stack(x):
        x = bn("input_bn", x[..., None])[..., 0]
        s = features.harmonic_stack(x, harmonics=cfg.harmonics, bins_per_octave=cfg.bins_per_octave,
                                    n_output_bins=cfg.n_contour_bins)
        return jnp.swapaxes(x, 1, 2), jnp.transpose(s, (0, 3, 2, 1))

    def contour_conv(x_t):
        shifts = features.harmonic_shifts(cfg.harmonics, cfg.bins_per_octave)
        h = basic_pitch.harmonic_stack_conv(x_t, p["contour_conv"]["kernel"], shifts=shifts, n_bins=cfg.n_contour_bins,
                                            block=blocks.get("contour_conv", 1))
        return jax.nn.relu(bn("contour_bn", h + p["contour_conv"]["bias"]))

    def onset_out(note, h):  # the kernel's input channels are [note, h]
        w = p["onset_out"]["kernel"]
        block = blocks.get("onset_out", 1)
        return (basic_pitch.freq_blocked_conv(note, w[:, :, :1], block=block)
                + basic_pitch.freq_blocked_conv(h, w[:, :, 1:], block=block) + p["onset_out"]["bias"])

    def frontend(audio):
        return cqt2010(audio, sr=fcfg.sr, hop_length=fcfg.hop_length, fmin=fcfg.fmin, n_bins=fcfg.n_bins,
                       bins_per_octave=fcfg.bins_per_octave, filter_scale=fcfg.filter_scale)

    B = cfg.bins_per_semitone
    return [
        ("CQT frontend", peak.cqt2010_macs(fcfg, WINDOW_SAMPLES), frontend, ("audio",), "cqt"),
        ("NormalizedLog", 0, features.normalized_log, ("cqt",), "x"),
        ("input BN + harmonic stack", 0, stack, ("x",), ("x_t", "stack")),
        ("contour_conv + BN + ReLU", macs["contour_conv"], contour_conv, ("x_t",), "h_contour"),
        ("contour_out", macs["contour_out"], lambda h: conv("contour_out", h), ("h_contour",), "z_contour"),
        ("sigmoid (contour)", 0, jax.nn.sigmoid, ("z_contour",), "contour"),
        ("note_conv + ReLU", macs["note_conv"], lambda c: jax.nn.relu(conv("note_conv", c, B)), ("contour",), "h_note"),
        ("note_out", macs["note_out"], lambda h: conv("note_out", h), ("h_note",), "z_note"),
        ("sigmoid (note)", 0, jax.nn.sigmoid, ("z_note",), "note"),
        ("onset_conv + BN + ReLU", macs["onset_conv"],
         lambda s: jax.nn.relu(bn("onset_bn", conv("onset_conv", s, B))), ("stack",), "h_onset"),
        ("onset_out", macs["onset_out"], onset_out, ("note", "h_onset"), "z_onset"),
        ("sigmoid (onset)", 0, jax.nn.sigmoid, ("z_onset",), "onset"),
        ("outputs to [N, P, T]", 0, lambda *ys: [jnp.swapaxes(y[..., 0], -1, -2) for y in ys],
         ("note", "onset", "contour"), "outputs"),
    ]


def profile(bp: pretrained.Pretrained, audio: np.ndarray, repeats: int, machine: dict) -> dict:
    """Per-stage medians over ``repeats`` interleaved rounds, plus the whole forward for comparison.

    The frontend stages run on all of ``audio``, the model's on the examples of one inference
    chunk (``basic_pitch.eval_chunk``), as inside the model; times are per window.
    """
    n, chunk = audio.shape[0], basic_pitch.eval_chunk(audio.shape[0])
    stages = _stages(bp)
    values = {"audio": jax.device_put(audio)}
    jitted, batch = [], []
    for name, _, fn, inputs, output in stages:
        f = jax.jit(fn)
        if inputs == ("x",):  # the model's input: one chunk from here on
            values["x"] = values["x"][:chunk]
        out = jax.block_until_ready(f(*(values[k] for k in inputs)))
        values.update(zip(output, out) if isinstance(output, tuple) else [(output, out)])
        jitted.append(f)
        batch.append(len(jax.tree.leaves(out)[0]))
    whole = jax.jit(lambda params, a: bp.apply(params, bp.frontend(a)))
    expected = jax.block_until_ready(whole(bp.params, values["audio"]))
    expected = {k: v[:chunk] for k, v in expected.items()}
    chained = dict(zip(("note", "onset", "contour"), values["outputs"]))
    mismatch = max(float(jnp.abs(chained[k] - expected[k]).max()) for k in expected)
    if not mismatch <= 1e-5:
        raise RuntimeError(f"the profiled stages drifted from the model: max abs difference {mismatch:.2e}")

    times = {name: [] for name, *_ in stages}
    times["whole forward"] = []
    cpu = {name: [] for name in times}

    def timed(name, fn):
        start = time.process_time()
        times[name].append(_seconds(fn))
        cpu[name].append(time.process_time() - start)

    with peak.OtherLoad() as load:
        for _ in range(repeats):  # interleaved: a burst of load hits every stage alike
            for (name, _, _, inputs, _), f in zip(stages, jitted):
                args = [values[k] for k in inputs]
                timed(name, lambda: jax.block_until_ready(f(*args)))
            timed("whole forward", lambda: jax.block_until_ready(whole(bp.params, values["audio"])))
    peak_g = machine["peak_gmacs_per_s"]
    rows = []
    for (name, macs, *_), size in zip([*stages, ("whole forward", sum(s[1] for s in stages))], [*batch, n]):
        seconds = statistics.median(times[name]) / size
        rate = macs / seconds / 1e9
        rows.append({"stage": name, "batch": size, "ms_per_window": round(1e3 * seconds, 3),
                     "cpu_ms_per_window": round(1e3 * statistics.median(cpu[name]) / size, 3),
                     "mmacs_per_window": round(macs / 1e6, 2), "gmacs_per_s": round(rate, 2),
                     "fraction_of_peak": round(rate / peak_g, 4) if peak_g else None})
    stage_sum = sum(r["ms_per_window"] for r in rows[:-1])
    print(f"{'stage':28s} {'batch':>5s} {'ms/window':>10s} {'cpu ms/win':>10s} {'M MAC/win':>10s} {'G MAC/s':>9s} "
          f"{'of peak':>8s}")
    for r in rows:
        frac = "" if r["fraction_of_peak"] is None else f"{100 * r['fraction_of_peak']:7.1f}%"
        print(f"{r['stage']:28s} {r['batch']:5d} {r['ms_per_window']:10.3f} {r['cpu_ms_per_window']:10.3f} "
              f"{r['mmacs_per_window']:10.2f} {r['gmacs_per_s']:9.2f} {frac:>8s}")
    print(f"{'sum of stages':28s} {'':5s} {stage_sum:10.3f}")
    print(f"(other processes used {load.cores and round(load.cores, 2)} cores meanwhile)")
    return {"stages": rows, "sum_of_stages_ms_per_window": round(stage_sum, 3),
            "max_abs_diff_stages_vs_model": mismatch, "other_processes_cores": load.cores and round(load.cores, 2)}


def _parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m amt_jax.bench model", description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16, help="windows per call (default 16)")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per side (default 7)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="time each stage of our forward alone instead")
    parser.add_argument("--model", choices=("basic-pitch", "pesto"), default="basic-pitch",
                        help="basic-pitch (vs onnxruntime, default) or pesto (vs the original on torch: "
                             "AMT_JAX_TORCH_PYTHON names a Python with torch and pesto-pitch)")
    parser.add_argument("--seconds", type=float, default=10.0, help="pesto: seconds of 16 kHz audio per call (default 10)")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.repeats < 1:
        parser.error("--batch and --repeats must be >= 1")
    if not args.seconds >= 1:
        parser.error(f"--seconds must be >= 1, got {args.seconds}")
    if args.model == "pesto" and args.profile:
        parser.error("--profile times Basic Pitch's stages; it does not apply to --model pesto")
    return args


def _versions() -> dict:
    """Device kind, CPU count and the versions the numbers were measured with."""
    return {
        "device": jax.devices()[0].device_kind,
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "onnxruntime": importlib.metadata.version("onnxruntime"),
        "python": platform.python_version(),
    }


def compare(bp: pretrained.Pretrained, audio: np.ndarray, repeats: int, machine: dict) -> dict:
    """Our jitted frontend+apply vs onnxruntime on ``audio``: warm, alternating, ``repeats`` timed
    calls each; prints one line and returns the benchmark's fields (windows/s, ratio, fractions of
    peak, compile time, largest output difference)."""
    batch = audio.shape[0]
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
    with peak.OtherLoad() as load:
        for _ in range(repeats):  # alternate so both see the same machine load
            ours_s.append(_seconds(run_ours))
            ref_s.append(_seconds(run_ref))
    ours_wps = batch / statistics.median(ours_s)
    ref_wps = batch / statistics.median(ref_s)
    macs = window_macs(bp)
    per_window = macs["frontend"] + macs["model"]
    ours_frac = peak.fraction_of_peak(ours_wps, per_window, machine)
    ref_frac = peak.fraction_of_peak(ref_wps, per_window, machine)
    limit = machine["peak_gmacs_per_s"] * 1e9 / per_window if machine["peak_gmacs_per_s"] else None

    def pct(f):
        return "unknown" if f is None else f"{100 * f:.1f}%"

    print(f"ours: {ours_wps:.1f} windows/s ({pct(ours_frac)} of peak), onnxruntime: {ref_wps:.1f} windows/s "
          f"({pct(ref_frac)} of peak), ratio {ours_wps / ref_wps:.2f} (goal >= {RATIO_GOAL}; batch {batch}; peak "
          f"{machine['peak_gmacs_per_s']} G multiply-adds/s = {limit and round(limit)} windows/s; "
          f"other processes used {load.cores and round(load.cores, 2)} cores meanwhile)")
    return {
        "ours_windows_per_s": round(ours_wps, 2),
        "onnxruntime_windows_per_s": round(ref_wps, 2),
        "ratio": round(ours_wps / ref_wps, 3),
        "ratio_goal": RATIO_GOAL,
        "ours_fraction_of_peak": ours_frac and round(ours_frac, 4),
        "onnxruntime_fraction_of_peak": ref_frac and round(ref_frac, 4),
        "macs_per_window": macs,
        "peak_limit_windows_per_s": limit and round(limit, 1),
        "peak": machine,
        "other_processes_cores": load.cores and round(load.cores, 2),
        "ours_compile_s": round(compile_s, 2),
        "max_abs_diff": max_abs,
    }


def main(argv=None) -> int:
    args = _parse_args(argv)
    if args.model == "pesto":
        from amt_jax.bench import pesto

        return pesto.main(args.seconds, args.repeats, args.seed)
    audio = (0.1 * np.random.default_rng(args.seed).standard_normal((args.batch, WINDOW_SAMPLES))).astype(np.float32)
    bp = pretrained.basic_pitch()
    machine = peak.cpu_peak()
    if args.profile:
        result = {"benchmark": "model --profile", "batch": args.batch, "repeats": args.repeats,
                  **profile(bp, audio, args.repeats, machine), "peak": machine, **_versions()}
    else:
        result = {"benchmark": "model", "batch": args.batch, "repeats": args.repeats,
                  **compare(bp, audio, args.repeats, machine), **_versions()}
    print(json.dumps(result))
    return 0
