"""The benchmarks' accounting: the machine peak derived from /proc/cpuinfo, the multiply-add counts
(against XLA's own count of a direct convolution), and the per-stage profile (its chained stages
must reproduce the model)."""

import time
from pathlib import Path

import jax
import numpy as np
import pytest

from amt_jax.models import pretrained
from amt_jax.bench import model as bench_model
from amt_jax.bench import peak
from amt_jax.constants import WINDOW_FRAMES
from amt_jax.models.basic_pitch import BasicPitchConfig


def cpuinfo(n_logical: int, *, flags: str, mhz: float | None = 2400.0, threads_per_core: int = 1,
            vendor: str = "GenuineIntel", family: int = 6, model: int = 106) -> str:
    blocks = []
    for cpu in range(n_logical):
        lines = [f"processor\t: {cpu}", f"vendor_id\t: {vendor}", f"cpu family\t: {family}", f"model\t\t: {model}",
                 "model name\t: Test CPU", "physical id\t: 0", f"core id\t\t: {cpu // threads_per_core}"]
        if mhz is not None:
            lines.append(f"cpu MHz\t\t: {mhz:.3f}")
        lines.append(f"flags\t\t: fpu sse sse2 {flags}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


@pytest.mark.parametrize(
    "text, cpus, expected",
    [
        # the 2-core AVX2/FMA EPYC at 2.4 GHz: 2 × 8 × 2 × 2.4 = 76.8 G multiply-adds/s
        (cpuinfo(2, flags="avx avx2 fma"), {0, 1}, dict(cores=2, lanes=8, fma_units_per_core=2, peak_gmacs_per_s=76.8)),
        (cpuinfo(2, flags="avx avx2 fma avx512f", mhz=2100), {0, 1}, dict(lanes=16, peak_gmacs_per_s=134.4)),
        # 4 hyper-threads on 2 cores share the cores' FMA units
        (cpuinfo(4, flags="avx avx2 fma", threads_per_core=2), {0, 1, 2, 3}, dict(cores=2, peak_gmacs_per_s=76.8)),
        # an affinity mask of one CPU: one core
        (cpuinfo(4, flags="avx avx2 fma"), {2}, dict(cores=1, peak_gmacs_per_s=38.4)),
        # AMD Zen 4 (family 19h, model 11h, this project's CI machine): AVX-512 registers on a 256-bit
        # datapath, 2 × 8 × 2 × 2.596 = 83.1 at the nominal clock (not 166)
        (cpuinfo(2, flags="avx avx2 fma avx512f", mhz=2596.146, vendor="AuthenticAMD", family=25, model=17), {0, 1},
         dict(lanes=8, peak_gmacs_per_s=83.1)),
        # Zen 1 (family 17h, model 01h): AVX2 on a 128-bit datapath; Zen 2 (model 31h): 256-bit
        (cpuinfo(2, flags="avx avx2 fma", vendor="AuthenticAMD", family=23, model=1), {0, 1}, dict(lanes=4)),
        (cpuinfo(2, flags="avx avx2 fma", vendor="AuthenticAMD", family=23, model=49), {0, 1}, dict(lanes=8)),
        # Zen 5 (family 1Ah): a 512-bit datapath, as the registers
        (cpuinfo(2, flags="avx avx2 fma avx512f", vendor="AuthenticAMD", family=26, model=17), {0, 1}, dict(lanes=16)),
        # AVX without FMA: one multiply-add per lane per cycle
        (cpuinfo(2, flags="avx"), {0, 1}, dict(lanes=8, fma_units_per_core=1, peak_gmacs_per_s=38.4)),
    ],
)
def test_cpu_peak_from_cpuinfo(text, cpus, expected):
    result = peak.cpu_peak(text, cpus, cpu_max="max 100000")
    for key, value in expected.items():
        assert result[key] == pytest.approx(value), key
    assert "FMA" in result["derivation"] and "MHz" in result["derivation"]


def test_cpu_peak_is_capped_by_a_cgroup_quota():
    text = cpuinfo(4, flags="avx avx2 fma")
    assert peak.cpu_peak(text, {0, 1, 2, 3}, cpu_max="150000 100000")["peak_gmacs_per_s"] == pytest.approx(57.6)
    assert peak.cpu_peak(text, {0, 1, 2, 3}, cpu_max="800000 100000")["cores"] == 4


def test_cpu_peak_clock_fallback_and_unknown():
    no_mhz = cpuinfo(2, flags="avx avx2 fma", mhz=None)
    assert peak.cpu_peak(no_mhz, {0, 1}, cpufreq_khz=3_000_000, cpu_max="max 100000")["peak_gmacs_per_s"] == \
        pytest.approx(96.0)
    unknown = peak.cpu_peak("", {0}, cpu_max="max 100000")
    assert unknown["peak_gmacs_per_s"] is None
    assert peak.fraction_of_peak(10.0, 1e9, unknown) is None
    assert peak.fraction_of_peak(10.0, 1e9, {"peak_gmacs_per_s": 100.0}) == pytest.approx(0.1)


def test_peak_check_warns_when_a_gemm_beats_the_derivation():
    machine = peak.cpu_peak(cpuinfo(2, flags="avx avx2 fma avx512f", mhz=2596.146), {0, 1}, cpu_max="max 100000")
    assert machine["peak_gmacs_per_s"] == pytest.approx(166.2)  # 16 lanes: an Intel core's two 512-bit units
    assert peak.peak_check(machine, {"gemm_gmacs_per_s": 150.0, "n": 2048}) is None
    warning = peak.peak_check(machine, {"gemm_gmacs_per_s": 180.0, "n": 2048})
    assert "180.0" in warning and "166.2" in warning and "overstated" in warning
    gemm = peak.measured_gemm(n=128, repeats=1)
    assert gemm["gemm_gmacs_per_s"] > 0 and gemm["n"] == 128


def test_this_machine_has_a_peak():
    result = peak.cpu_peak()
    assert result["cores"] >= 1 and result["lanes"] >= 1
    assert result["peak_gmacs_per_s"] is None or result["peak_gmacs_per_s"] > 0


@pytest.mark.parametrize("config", [BasicPitchConfig(), BasicPitchConfig(bins_per_semitone=1, harmonics=(1, 2, 3))])
def test_basic_pitch_macs_equal_xla_count_of_direct_convs(config):
    """Each layer's count equals XLA's flop count / 2 for that layer's convolution over its zero-padded
    input (XLA does not count taps that fall in 'SAME' padding; a dense implementation computes them)."""
    B, H, t = config.bins_per_semitone, len(config.harmonics), 16
    shapes = {  # name: (bins in, kernel, c_in, c_out, stride)
        "contour_conv": (config.n_contour_bins, (3, config.contour_span_semitones * B), H, config.n_filters_contour, 1),
        "contour_out": (config.n_contour_bins, (5, 5), config.n_filters_contour, 1, 1),
        "note_conv": (config.n_contour_bins, (7, 7), 1, config.n_filters_notes, B),
        "note_out": (config.n_pitches, (7, 3), config.n_filters_notes, 1, 1),
        "onset_conv": (config.n_contour_bins, (5, 5), H, config.n_filters_onsets, B),
        "onset_out": (config.n_pitches, (3, 3), config.n_filters_onsets + 1, 1, 1),
    }
    counts = peak.basic_pitch_macs(config, t)
    assert counts.keys() == shapes.keys()
    for name, (f, kernel, ci, co, stride) in shapes.items():
        pads = jax.lax.padtype_to_pads((t, f), kernel, (1, stride), "SAME")
        x = jax.ShapeDtypeStruct((1, t + sum(pads[0]), f + sum(pads[1]), ci), np.float32)
        w = jax.ShapeDtypeStruct((*kernel, ci, co), np.float32)

        def conv(x, w, stride=stride):
            return jax.lax.conv_general_dilated(x, w, (1, stride), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))

        flops = jax.jit(conv).lower(x, w).cost_analysis()["flops"]
        assert counts[name] == flops / 2, name
    if config == BasicPitchConfig():  # the issue's ≈ 0.48 G multiply-adds per window
        assert sum(peak.basic_pitch_macs(config, WINDOW_FRAMES).values()) == pytest.approx(0.484e9, rel=1e-3)


def test_profile_stages_chain_to_the_model(capsys):
    bp = pretrained.basic_pitch()
    audio = (0.1 * np.random.default_rng(0).standard_normal((1, 43844))).astype(np.float32)
    result = bench_model.profile(bp, audio, repeats=1, machine=peak.cpu_peak())
    rows = {r["stage"]: r for r in result["stages"]}
    assert result["max_abs_diff_stages_vs_model"] <= 1e-5
    macs = bench_model.window_macs(bp)
    total = (macs["frontend"] + macs["model"]) / 1e6
    assert rows["whole forward"]["mmacs_per_window"] == pytest.approx(total, abs=0.01)
    assert all(r["ms_per_window"] > 0 for r in result["stages"])
    assert "contour_conv" in capsys.readouterr().out


def test_other_load_sees_another_process():
    import subprocess
    import sys
    import time

    busy = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass"
    with peak.OtherLoad() as load:
        subprocess.run([sys.executable, "-c", busy], check=True)
        time.sleep(0.01)
    assert load.cores is not None and load.cores > 0.2


# --------------------------------------------------------------------------- bench study


def test_study_profile_gives_time_to_the_innermost_phase_and_drops_its_own_cost():
    from amt_jax.bench.study import BACKEND_COMPILE, COMPILE_EVENTS, Profile

    p = Profile()
    with p.enter("features"):
        with p.enter("load_model"):
            p.on_duration(COMPILE_EVENTS[0], 0.25)
        p.on_duration(BACKEND_COMPILE, 0.5)
        with p.pause():
            p.on_duration(BACKEND_COMPILE, 9.0)  # the profiler's own lowering: not the sweep's
            time.sleep(0.05)
    p.on_duration("/jax/some/other_event", 1.0)
    table = p.table(total_s=sum(p.seconds.values()) + p.cost_s + 0.01, peak={})
    rows = table["phases"]
    assert rows["load_model"]["compile_s"] == 0.25 and rows["load_model"]["n_compiles"] == 0
    assert rows["features"]["compile_s"] == 0.5 and rows["features"]["n_compiles"] == 1
    assert table["n_compiles"] == 1 and table["profiler_overhead_s"] >= 0.05
    assert rows["features"]["seconds"] < 0.05  # the pause is not the phase's time
    assert rows["other"]["seconds"] == pytest.approx(0.01, abs=1e-3)


@pytest.mark.slow
def test_bench_study_accounts_for_a_sweeps_wall_time(tmp_path):
    import dataclasses

    from amt_jax.bench.study import profile_sweep
    from amt_jax.sweep import load_config

    config = dataclasses.replace(load_config("tiny"), models=("planted-b3",), families=("resolution",),
                                 questions=(), n_permutations=8, n_permutations_semitone=8)
    out = profile_sweep(config, workdir=tmp_path / "a")
    rows = out["phases"]
    cells = {k: v for k, v in rows.items() if k.startswith("cell:")}
    assert sum(v["n_cells"] for v in cells.values()) == out["n_cells_done"] > 0
    assert sum(v["seconds"] for v in rows.values()) + out["profiler_overhead_s"] == pytest.approx(out["total_s"], rel=0.02)
    assert out["n_compiles"] > 0 and all(v["compile_s"] <= v["seconds"] + 0.05 for v in rows.values())
    assert any((v.get("engine_gmacs") or 0) > 0 for v in cells.values())  # the engine's chunks were counted
    assert rows["write"]["seconds"] > 0


def test_bench_study_compares_the_cells_both_sides_computed(tmp_path):
    from amt_jax.bench.side_by_side import compare_cells

    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "cells").mkdir(parents=True)
    x = np.linspace(0, 1, 12).reshape(3, 4)
    np.savez(a / "cells" / "c1.npz", importance=x, group=np.arange(3), label=np.array("k"))
    np.savez(b / "cells" / "c1.npz", importance=x + np.where(x > 0.9, 2e-3, 0), group=np.arange(3), label=np.array("k"))
    np.savez(a / "cells" / "c2.npz", importance=x)
    np.savez(b / "cells" / "c2.npz", importance=x[:2])
    np.savez(a / "cells" / "c3.npz", importance=x)
    out = compare_cells(a, b)
    assert out["n_compared"] == 2 and out["only_this"] == ["c3"] and out["only_against"] == []
    assert out["max_abs_diff"] == pytest.approx(2e-3) and out["where"] == "c1:importance"
    assert out["mismatched"] == ["c2:importance (float64[3, 4] vs float64[2, 4])"]
    assert not out["agree"] and "1 cells on one side only" in out["why"] and "× the tolerance" in out["why"]
    np.savez(b / "cells" / "c1.npz", importance=x, group=np.arange(3), label=np.array("other"))
    assert compare_cells(a, b)["mismatched"][0] == "c1:label (differs)"


def test_bench_study_agreement_needs_cells_on_both_sides_of_the_same_dtype(tmp_path):
    """No cell in common is no agreement; a float32 → float64 change is a change; rounding agrees
    (1e-6 absolute, or 1e-5 of the array's scale), a larger difference does not."""
    from amt_jax.bench.side_by_side import compare_cells

    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "cells").mkdir(parents=True)
    empty = compare_cells(a, b)
    assert empty["n_compared"] == 0 and not empty["agree"] and "no cell on both sides" in empty["why"]
    x = np.linspace(0, 1, 6, dtype=np.float32)
    np.savez(a / "cells" / "c.npz", importance=x)
    np.savez(b / "cells" / "c.npz", importance=x + np.float32(5e-7))
    assert compare_cells(a, b)["agree"]
    np.savez(a / "cells" / "c.npz", importance=100 * x)  # logit-scale numbers: 1e-5 of 100 is 1e-3
    np.savez(b / "cells" / "c.npz", importance=100 * x + np.float32(5e-4))
    assert compare_cells(a, b)["agree"]
    np.savez(b / "cells" / "c.npz", importance=100 * x + np.float32(5e-3))
    assert not compare_cells(a, b)["agree"]
    np.savez(a / "cells" / "c.npz", importance=x)
    np.savez(b / "cells" / "c.npz", importance=x.astype(np.float64))
    out = compare_cells(a, b)
    assert not out["agree"] and out["mismatched"] == ["c:importance (float32[6] vs float64[6])"]
    counts = np.array([100000, 3])  # integers exactly: no relative slack for an off-by-one
    np.savez(a / "cells" / "c.npz", counts=counts)
    np.savez(b / "cells" / "c.npz", counts=counts + [1, 0])
    assert compare_cells(a, b)["mismatched"] == ["c:counts (differs)"]
    with_inf = np.array([np.inf, 1.0, 2.0])  # an inf gives no scale: 2 vs 3 still differs
    np.savez(a / "cells" / "c.npz", v=with_inf)
    np.savez(b / "cells" / "c.npz", v=with_inf + [0, 0, 1])
    assert not compare_cells(a, b)["agree"]
    np.savez(b / "cells" / "c.npz", v=np.array([-np.inf, 1.0, 2.0]))
    assert compare_cells(a, b)["mismatched"] == ["c:v (±inf where the other is not)"]


def test_bench_study_profile_says_when_a_chunks_flops_are_unknown():
    """XLA counts a loop's body once: a phase whose chunk loops gets no fraction of peak, not a wrong one."""
    from amt_jax.bench.study import Profile

    p = Profile()
    with p.enter("cell:a"):
        p.chunk_calls["cell:a"] += 1
        p.unknown_flops.add("cell:a")
        time.sleep(0.01)
    with p.enter("cell:b"):
        p.chunk_calls["cell:b"] += 1
        p.flops["cell:b"] += 2e9
        time.sleep(0.01)
    rows = p.table(total_s=0.05, peak={"peak_gmacs_per_s": 100.0})["phases"]
    assert "fraction_of_peak" not in rows["cell:a"] and "loop" in rows["cell:a"]["fraction_of_peak_unknown"]
    assert rows["cell:b"]["fraction_of_peak"] > 0


def test_bench_study_exits_non_zero_when_the_results_differ(tmp_path, monkeypatch, capsys):
    from amt_jax.bench import side_by_side, study

    def fake(rev, **_):
        results = {"n_compared": 3, "only_this": [], "only_against": [], "max_abs_diff": 0.5, "where": "c:x",
                   "mismatched": [], "agree": False, "why": "max |difference| 0.5 > 1e-06 at c:x"}
        return {"this": "h", "against": rev, "repeats": 2, "commands": {
            "sweep tiny": {"median_this_s": 1.0, "median_against_s": 2.0, "ratio": 0.5, "results": results}}}

    monkeypatch.setattr(side_by_side, "side_by_side", fake)
    assert study.main(["--against", "HEAD~1"]) == 1
    assert "the results differ: max |difference| 0.5" in capsys.readouterr().err


def test_bench_study_overrides_reach_the_config_in_both_spellings():
    from amt_jax.bench.study import _parse

    args = _parse(["--config", "study", "--config.n_clips=4", "--config.models", "('pesto',)"])
    assert args.overrides == ["n_clips=4", "models=('pesto',)"] and args.repeats == 2
    from amt_jax import configs
    from amt_jax.sweep import load_config

    config = configs.apply_overrides(load_config("tiny"), args.overrides)
    assert config.n_clips == 4 and config.models == ("pesto",)


def test_bench_study_seeds_the_demos_sdists_so_no_side_times_the_network(tmp_path):
    from amt_jax.bench.side_by_side import seed_offline_inputs

    sdist = tmp_path / "libsoni-1.1.0.tar.gz"
    sdist.write_bytes(b"archive")
    seed_offline_inputs("sweep tiny", tmp_path / "sweep", [sdist])
    assert not (tmp_path / "sweep").exists()
    seed_offline_inputs("demo", tmp_path / "demo", [sdist])
    from amt_jax.data.real.real_dataset_builder import Real

    cache = Path(Real(data_dir=str(tmp_path / "demo" / "real_data")).cache_dir)  # where its builder looks
    assert (cache / sdist.name).read_bytes() == b"archive"


def test_bench_study_side_by_side_commands_parse_with_the_cli(tmp_path):
    """Each command ``bench study --against`` times is one the CLI accepts, writing where
    :func:`cells_dir` reads (the demo takes ``--out``; its sweep is ``OUT/sweep``)."""
    from amt_jax.__main__ import parse
    from amt_jax.bench.side_by_side import cells_dir, timed_commands

    commands = timed_commands("tiny", str(tmp_path / "data"), True, ["n_permutations=4"])
    assert set(commands) == {"sweep tiny", "demo"}
    for name, argv in commands.items():
        args = parse(argv(tmp_path / "w"))
        if name.startswith("sweep"):
            assert args.config_overrides == ("n_permutations=4",)
        where = args.workdir if name.startswith("sweep") else args.out / "sweep"
        assert Path(where) == cells_dir(name, tmp_path / "w")


def test_bench_study_finds_a_loop_in_a_lowered_chunk():
    """The engine's chunk spied on: a looping program gets no FLOP count, a straight one does."""
    import types

    import jax
    import jax.numpy as jnp

    from amt_jax.bench.study import Profile, _spy_chunk

    looping = jax.jit(lambda x: jax.lax.fori_loop(0, 3, lambda i, a: a @ a, x))
    straight = jax.jit(lambda x: x @ x)
    p = Profile()
    for name, fn in (("cell:loop", looping), ("cell:straight", straight)):
        module = types.SimpleNamespace(_chunk=fn)
        undo = _spy_chunk(p, module)
        with p.enter(name):
            module._chunk(jnp.ones((256, 256)))
        undo()
    rows = p.table(total_s=10.0, peak={"peak_gmacs_per_s": 100.0})["phases"]
    assert rows["cell:loop"]["engine_gmacs"] is None and "loops" in rows["cell:loop"]["fraction_of_peak_unknown"]
    assert rows["cell:straight"]["engine_gmacs"] > 0
