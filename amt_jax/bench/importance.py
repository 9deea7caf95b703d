"""Benchmark of the permutation-importance engine: ``python -m amt_jax.bench importance``.

On one device, for the harmonic family on one 2-s window through pretrained Basic Pitch
(``"note"`` output, ``output_l1``), measured side by side in one run:

- ``engine_draws_per_s``: :func:`amt_jax.importance.permutation_importance` end to end;
- ``limit_draws_per_s``: the jitted model alone on the same number of already-permuted
  inputs, in batches of the engine's chunk size (the most the engine could reach);
- ``naive_draws_per_s``: per draw, permute in numpy, call the jitted model on one input,
  take the metric in numpy.

``reliance_engine_over_limit`` (goal >= 0.9) and ``reliance_engine_fraction_of_peak`` (goal >= 0.5):
the same for the harmonic-reliance probe (``harmonic_swap`` of the window's sounding keys scored
with ``key_drop`` per key; one forward per draw, so the same multiply-adds per draw).

``gemm_gmacs_per_s`` is a 2048² float32 matmul under XLA here (:func:`amt_jax.bench.peak.measured_gemm`),
the empirical check of the derived peak: ``*_fraction_of_gemm`` are the same rates over it (no
kernel passes the true peak, so these are upper bounds of the true fractions; a GEMM above the
derived peak is printed as a warning).

``engine_over_limit`` (goal >= 0.9) and ``engine_over_naive`` (goal >= 1.0 on CPU) are
ratios of medians over ``--repeats`` interleaved repetitions. ``engine_fraction_of_peak`` and
``limit_fraction_of_peak`` are draws/s times the model's multiply-adds per draw (its
convolutions) over this machine's float32 multiply-add peak (``peak``, derived in
``amt_jax.bench.peak``). ``rss_ratio`` (goal <= 1.1) is the peak RSS of a fresh process
running 100,000 draws of a small linear model over that of one running 1,000 draws (each in
its own subprocess, so neither sees the other's memory).
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from amt_jax import constants
from amt_jax.bench import peak
from amt_jax import estimators
from amt_jax import perturb

N_HARMONICS = 8
F0_RANGE = (0, constants.BP_CONTOUR_BINS)  # fundamentals on the 88 keys' bins
RSS_BINS, RSS_FRAMES, RSS_PITCHES = constants.BP_N_BINS, 8, constants.N_PITCHES


def _window_audio() -> np.ndarray:
    """One 2-s window ``[1, 43844]``: a decaying C-major triad with 10 harmonics per note."""
    t = np.arange(constants.WINDOW_SAMPLES) / constants.SAMPLE_RATE
    audio = np.zeros_like(t)
    for midi in (60, 64, 67):
        f0 = constants.midi_to_hz(midi)
        for k in range(1, 11):
            audio += np.sin(2 * np.pi * k * f0 * t) * np.exp(-2 * t) / k
    return (0.1 * audio / np.abs(audio).max())[None].astype(np.float32)


def _family(n_bins: int) -> perturb.Harmonic:
    return perturb.harmonic(
        n_bins=n_bins, bins_per_octave=constants.BP_BINS_PER_OCTAVE, n_harmonics=N_HARMONICS, f0_range=F0_RANGE
    )


def _numpy_harmonic_idx(rng: np.random.Generator, n_bins: int) -> np.ndarray:
    """A naive user's harmonic permutation, in numpy."""
    f0 = rng.integers(*F0_RANGE)
    members = np.array([f0 + round(constants.BP_BINS_PER_OCTAVE * math.log2(k)) for k in range(1, N_HARMONICS + 1)])
    members = members[members < n_bins]
    idx = np.arange(n_bins)
    idx[members] = members[rng.permutation(members.size)]
    return idx


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _basic_pitch_figures(n_draws: int, n_naive: int, chunk_size: int, repeats: int) -> dict:
    from amt_jax.models import pretrained

    bp = pretrained.basic_pitch()
    x = np.asarray(jax.jit(bp.frontend)(_window_audio()))  # [1, 309, 172]
    family = _family(x.shape[1])
    key = jax.random.key(0)

    def engine():
        res = estimators.permutation_importance(
            bp.apply, bp.params, x, family=family, n_permutations=n_draws, key=key, output="note", chunk_size=chunk_size
        )
        return res.importances_mean

    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n_draws))
    idx = np.asarray(jax.vmap(family.sample)(keys)[0])
    permuted = x[0][idx]  # [n_draws, F, T], the same draws as the engine's
    note = jax.jit(lambda p, xb: bp.apply(p, xb)["note"])
    batches = [permuted[i : i + chunk_size] for i in range(0, n_draws, chunk_size)]

    def limit():
        for xb in batches:
            jax.block_until_ready(note(bp.params, xb))

    y0 = np.asarray(note(bp.params, x))
    rng = np.random.default_rng(0)

    def naive():
        for _ in range(n_naive):
            y = np.asarray(note(bp.params, x[:, _numpy_harmonic_idx(rng, x.shape[1]), :]))
            float(np.mean(np.abs(y - y0)))

    engine(), limit(), naive()  # compile everything once
    rates = {"engine": [], "limit": [], "naive": []}
    for _ in range(repeats):  # interleaved, so drifting load hits all three alike
        rates["engine"].append(n_draws / _timed(engine))
        rates["limit"].append(n_draws / _timed(limit))
        rates["naive"].append(n_naive / _timed(naive))
    med = {k: statistics.median(v) for k, v in rates.items()}
    macs = sum(peak.basic_pitch_macs(bp.config, x.shape[-1]).values())
    machine = peak.cpu_peak()
    return {
        "engine_draws_per_s": med["engine"],
        "limit_draws_per_s": med["limit"],
        "naive_draws_per_s": med["naive"],
        "engine_over_limit": med["engine"] / med["limit"],
        "engine_over_naive": med["engine"] / med["naive"],
        "engine_fraction_of_peak": peak.fraction_of_peak(med["engine"], macs, machine),
        "limit_fraction_of_peak": peak.fraction_of_peak(med["limit"], macs, machine),
        "macs_per_draw": macs,
        "peak": machine,
        "draws_per_s_all_repeats": rates,
        "n_draws": n_draws,
        "n_naive_draws": n_naive,
        "chunk_size": chunk_size,
        "repeats": repeats,
    }


def _reliance_figures(n_draws: int, chunk_size: int, repeats: int) -> dict:
    """The harmonic-reliance probe (``harmonic_swap`` of the window's sounding keys, ``key_drop`` per
    key) on the same window: engine draws/s beside the model-only limit on the same permuted inputs."""
    from amt_jax.models import pretrained

    bp = pretrained.basic_pitch()
    x = np.asarray(jax.jit(bp.frontend)(_window_audio()))
    targets = np.zeros((1, constants.N_PITCHES, x.shape[-1]), np.float32)
    targets[0, [60 - constants.MIDI_OFFSET, 64 - constants.MIDI_OFFSET, 67 - constants.MIDI_OFFSET]] = 1.0  # the triad
    family = perturb.harmonic_swap(layout=bp.layout, n_harmonics=N_HARMONICS,
                                        key_weights=perturb.key_weights_from_targets(targets))
    key = jax.random.key(1)

    def engine():
        return estimators.permutation_importance(bp.apply, bp.params, x, family=family, n_permutations=n_draws, key=key,
                                                 output="note", metric="key_drop", per_pitch=True, targets=targets,
                                                 chunk_size=chunk_size).importances

    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n_draws))
    idx = np.asarray(jax.vmap(family.sample)(keys, jnp.arange(n_draws))[0])
    permuted = x[0][idx]
    note = jax.jit(lambda p, xb: bp.apply(p, xb)["note"])
    batches = [permuted[i : i + chunk_size] for i in range(0, n_draws, chunk_size)]

    def limit():
        for xb in batches:
            jax.block_until_ready(note(bp.params, xb))

    engine(), limit()
    rates = {"engine": [], "limit": []}
    for _ in range(repeats):
        rates["engine"].append(n_draws / _timed(engine))
        rates["limit"].append(n_draws / _timed(limit))
    med = {k: statistics.median(v) for k, v in rates.items()}
    macs, machine = sum(peak.basic_pitch_macs(bp.config, x.shape[-1]).values()), peak.cpu_peak()  # one forward a draw
    return {"reliance_engine_draws_per_s": med["engine"], "reliance_limit_draws_per_s": med["limit"],
            "reliance_macs_per_draw": macs,
            "reliance_engine_over_limit": med["engine"] / med["limit"],
            "reliance_engine_fraction_of_peak": peak.fraction_of_peak(med["engine"], macs, machine),
            "reliance_limit_fraction_of_peak": peak.fraction_of_peak(med["limit"], macs, machine)}


def _linear_apply(w, x):
    return jnp.einsum("fp,bft->bpt", w, x)


def _rss_child(n_draws: int, chunk_size: int) -> int:
    """Run ``n_draws`` of a small linear model and print this process's peak RSS (KiB)."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(RSS_BINS, RSS_PITCHES)).astype(np.float32)
    x = rng.random((1, RSS_BINS, RSS_FRAMES)).astype(np.float32)
    res = estimators.permutation_importance(
        _linear_apply, w, x, family=_family(RSS_BINS), n_permutations=n_draws, key=jax.random.key(0), chunk_size=chunk_size
    )
    print(json.dumps({"peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "n": res.importances.size}))
    return 0


def _peak_rss(n_draws: int, chunk_size: int) -> int:
    cmd = [sys.executable, "-m", "amt_jax.bench.importance", "--rss-child", str(n_draws), "--chunk-size", str(chunk_size)]
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=repo)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_kib"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amt_jax.bench importance", description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=192, help="draws per timed engine/limit run")
    parser.add_argument("--naive-draws", type=int, default=48, help="draws per timed naive run")
    parser.add_argument("--chunk-size", type=int, default=2, help="engine chunk = limit batch (small is fastest on CPU)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rss-draws", type=int, nargs=2, default=(1_000, 100_000), metavar=("SMALL", "LARGE"))
    parser.add_argument("--rss-chunk-size", type=int, default=500)
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        return _rss_child(args.rss_child, args.chunk_size)

    result = {"benchmark": "importance", "device": str(jax.devices()[0].device_kind), "backend": jax.default_backend()}
    result.update(_basic_pitch_figures(args.draws, args.naive_draws, args.chunk_size, args.repeats))
    result.update(_reliance_figures(args.draws, args.chunk_size, args.repeats))
    small, large = args.rss_draws
    rss_small, rss_large = _peak_rss(small, args.rss_chunk_size), _peak_rss(large, args.rss_chunk_size)
    result.update({"rss_draws": [small, large], "peak_rss_kib": [rss_small, rss_large], "rss_ratio": rss_large / rss_small})
    gemm = peak.measured_gemm()
    gmacs = gemm["gemm_gmacs_per_s"]
    result.update(gemm_gmacs_per_s=gmacs, gemm_n=gemm["n"], gemm_repeats=gemm["repeats"], peak_warning=peak.peak_check(result["peak"], gemm),
                  engine_fraction_of_gemm=peak.fraction_of_peak(result["engine_draws_per_s"], result["macs_per_draw"],
                                                                {"peak_gmacs_per_s": gmacs}),
                  reliance_engine_fraction_of_gemm=peak.fraction_of_peak(result["reliance_engine_draws_per_s"],
                                                                         result["reliance_macs_per_draw"],
                                                                         {"peak_gmacs_per_s": gmacs}))

    def pct(f):
        return "unknown" if f is None else f"{100 * f:.1f}%"

    print(f"engine {result['engine_draws_per_s']:.1f} draws/s ({pct(result['engine_fraction_of_peak'])} of peak), "
          f"model-only limit {result['limit_draws_per_s']:.1f} ({pct(result['limit_fraction_of_peak'])}), "
          f"engine_over_limit {result['engine_over_limit']:.2f}, engine_over_naive {result['engine_over_naive']:.2f}, "
          f"rss_ratio {result['rss_ratio']:.2f}")
    print(f"harmonic-reliance probe: engine {result['reliance_engine_draws_per_s']:.1f} draws/s "
          f"({pct(result['reliance_engine_fraction_of_peak'])} of peak), model-only limit "
          f"{result['reliance_limit_draws_per_s']:.1f} ({pct(result['reliance_limit_fraction_of_peak'])}), "
          f"engine_over_limit {result['reliance_engine_over_limit']:.2f}")
    print(f"peak {result['peak']['peak_gmacs_per_s']} G multiply-adds/s ({result['peak']['derivation']}); "
          f"a {result['gemm_n']}² GEMM here {result['gemm_gmacs_per_s']} ({pct(result['gemm_gmacs_per_s'] / result['peak']['peak_gmacs_per_s']) if result['peak']['peak_gmacs_per_s'] else 'unknown'} of peak); "
          f"engine {pct(result['engine_fraction_of_gemm'])} and reliance engine "
          f"{pct(result['reliance_engine_fraction_of_gemm'])} of that GEMM (the GEMM is below the true peak: upper bounds)")
    if result["peak_warning"]:
        print(f"warning: {result['peak_warning']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
