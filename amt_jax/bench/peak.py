"""The machine's float32 multiply-add peak, and the multiply-adds of Basic Pitch, for the benchmarks.

Peak = cores × SIMD lanes × FMA units per core × clock, read from this machine:

- cores: CPUs this process may run on (``os.sched_getaffinity``), counted once per physical
  core (hyper-threads share their core's FMA units; ``physical id``/``core id`` in /proc/cpuinfo),
  at most a cgroup CPU quota (/sys/fs/cgroup/cpu.max, a container's limit);
- lanes: float32 lanes of the widest vector unit the CPU flags announce (avx512f 16, avx/avx2 8,
  sse 4; asimd/neon 4), at most the lanes of the FMA datapath where the vendor, family and model
  in /proc/cpuinfo name a core whose datapath is narrower than its registers (:data:`_NARROW_DATAPATH`:
  AMD Zen/Zen+ split 256-bit operations in two 128-bit halves, Zen 4 splits AVX-512 in two
  256-bit halves, so a Zen 4 core does 16 float32 multiply-adds a cycle, not 32);
- FMA units per core: 2 where the flags announce FMA (fma, avx512f, asimd), 1 multiply-add
  otherwise. /proc/cpuinfo cannot tell 1 from 2 (some AVX-512 Xeons have one 512-bit FMA
  unit), so this is an assumption, stated in the result;
- clock: the highest ``cpu MHz`` of those CPUs in /proc/cpuinfo (the nominal clock on a VM,
  the current one on a laptop), or cpufreq's ``base_frequency``/``cpuinfo_max_freq`` when
  /proc/cpuinfo has none.

The multiply-add counts are those of the direct computation (a K-tap filter costs K per
output), independent of how an implementation rearranges it.
"""

from __future__ import annotations

import math
import os
import platform
import time
from pathlib import Path

from amt_jax.io import cpu_quota

# (flag, float32 lanes), widest first
_VECTOR_FLAGS = (("avx512f", 16), ("avx2", 8), ("avx", 8), ("sse2", 4), ("asimd", 4), ("neon", 4))
_FMA_FLAGS = ("fma", "avx512f", "asimd")
_FMA_UNITS = 2  # per core where the flags announce FMA (Haswell and later, Zen 2 and later, most Xeons)
# (vendor_id, cpu family, first model, last model, float32 lanes of one FMA datapath, the cores):
# where the registers are wider than the units that compute on them (AMD's software optimisation
# guides for families 17h and 19h: Zen/Zen+ execute 256-bit operations as two 128-bit halves,
# Zen 4 executes AVX-512 as two 256-bit halves). Consistent with it: a 2048² float32 GEMM under XLA
# on a family-19h model-11h EPYC (2 cores, 2596 MHz nominal in the VM) ran at 83-99 G multiply-adds/s,
# 0.5-0.6 of the 16-lane figure and 1.0-1.2 of the 8-lane one at the nominal clock (the clock boosts
# above the nominal; no GEMM reaches the true peak, see measured_gemm). Not listed (their peak is
# taken from the registers, possibly 2x high): Hygon (family 18h, Zen-based) and mobile Zen 5
# (family 1Ah, 256-bit AVX-512 datapath on some models).
_NARROW_DATAPATH = (
    ("AuthenticAMD", 0x17, 0x00, 0x2F, 4, "Zen/Zen+: 128-bit datapath"),
    ("AuthenticAMD", 0x17, 0x30, 0xFF, 8, "Zen 2: 256-bit datapath"),
    ("AuthenticAMD", 0x19, 0x00, 0xFF, 8, "Zen 3/Zen 4: 256-bit datapath (AVX-512 in two halves)"),
)


def _cpuinfo_blocks(text: str) -> list[dict[str, str]]:
    blocks = []
    for chunk in text.strip().split("\n\n"):
        fields = {}
        for line in chunk.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def _datapath(block: dict[str, str]) -> tuple[int, str] | None:
    """(float32 lanes, which cores) of the FMA datapath of the CPU ``block`` names, where it is
    narrower than its registers (:data:`_NARROW_DATAPATH`); None otherwise."""
    try:
        vendor, family, model = block.get("vendor_id"), int(block.get("cpu family", "")), int(block.get("model", ""))
    except ValueError:
        return None
    return next(((lanes, cores) for v, f, lo, hi, lanes, cores in _NARROW_DATAPATH
                 if v == vendor and f == family and lo <= model <= hi), None)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def cpu_peak(
    cpuinfo: str | None = None,
    cpus: set[int] | None = None,
    cpufreq_khz: float | None = None,
    cpu_max: str | None = None,
) -> dict:
    """This machine's float32 multiply-add peak and how it was derived.

    Args:
        cpuinfo: the text of /proc/cpuinfo (read when None).
        cpus: the logical CPUs this process may use (``os.sched_getaffinity(0)`` when None).
        cpufreq_khz: a fallback clock in kHz (read from cpufreq sysfs when None and needed).
        cpu_max: the cgroup v2 CPU quota, "QUOTA PERIOD" or "max PERIOD" (read from
            /sys/fs/cgroup/cpu.max when None); a quota caps the cores (a container's CPU limit).

    Returns:
        ``{"peak_gmacs_per_s", "cores", "lanes", "fma_units_per_core", "clock_mhz", "derivation", ...}``;
        ``peak_gmacs_per_s`` is None when the CPU could not be identified.
    """
    if cpus is None:
        cpus = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    if cpuinfo is None:
        cpuinfo = _read("/proc/cpuinfo") or ""
    blocks = [b for b in _cpuinfo_blocks(cpuinfo) if "processor" in b and int(b["processor"]) in cpus]
    flags = set((blocks[0].get("flags") or blocks[0].get("Features") or "").split()) if blocks else set()
    lanes, vector = next(((n, flag) for flag, n in _VECTOR_FLAGS if flag in flags), (1, "scalar"))
    narrow = _datapath(blocks[0]) if blocks else None
    if narrow and narrow[0] < lanes:
        lanes, vector = narrow[0], f"{vector} registers, {narrow[1]}"
    fma = next((flag for flag in _FMA_FLAGS if flag in flags), None)
    fma_units = _FMA_UNITS if fma else 1
    physical = {(b.get("physical id", "0"), b["core id"]) for b in blocks if "core id" in b}
    cores = len(physical) if physical else len(cpus)
    core_source = f"{cores} physical cores ({len(cpus)} usable logical CPUs)"
    quota = cpu_quota(cpu_max)
    if quota is not None and quota < cores:
        cores = quota
        core_source += f", capped by the cgroup quota to {cores:g}"
    mhz = [float(b["cpu MHz"]) for b in blocks if "cpu MHz" in b]
    if mhz:
        clock_mhz, clock_source = max(mhz), "max 'cpu MHz' in /proc/cpuinfo over the usable CPUs"
    else:
        if cpufreq_khz is None:
            for name in ("base_frequency", "cpuinfo_max_freq"):
                text = _read(f"/sys/devices/system/cpu/cpu{min(cpus)}/cpufreq/{name}")
                if text:
                    cpufreq_khz, clock_source = float(text), f"cpufreq {name}"
                    break
        else:
            clock_source = "given"
        clock_mhz = cpufreq_khz / 1000 if cpufreq_khz else None
    model = blocks[0].get("model name", platform.processor()) if blocks else platform.processor()
    peak = cores * lanes * fma_units * clock_mhz / 1000 if clock_mhz and flags else None
    return {
        "peak_gmacs_per_s": None if peak is None else round(peak, 1),
        "cores": cores,
        "lanes": lanes,
        "fma_units_per_core": fma_units,
        "clock_mhz": clock_mhz,
        "derivation": (
            f"{core_source} × {lanes} float32 lanes ({vector}) × "
            f"{fma_units} FMA units per core ({'assumed 2, flag ' + fma if fma else 'no FMA flag: 1 multiply-add'}) × "
            f"{clock_mhz} MHz ({clock_source if clock_mhz else 'unknown'})"
        ),
        "cpu": model,
    }


class OtherLoad:
    """Context manager: CPU-seconds other processes used (all CPUs, from /proc/stat minus this
    process's own time) during the block, as ``cores`` = that over the block's wall time (None
    where /proc is missing). Timings taken while ``cores`` is well above 0 shared the machine."""

    cores: float | None = None

    @staticmethod
    def _cpu_seconds() -> tuple[float, float] | None:
        stat, own = _read("/proc/stat"), _read("/proc/self/stat")
        if not stat or not own:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        fields = [int(v) for v in stat.splitlines()[0].split()[1:9]]
        busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
        utime, stime = own.rsplit(")", 1)[1].split()[11:13]
        return busy / ticks, (int(utime) + int(stime)) / ticks

    def __enter__(self):
        self._start, self._wall = self._cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        end, wall = self._cpu_seconds(), time.perf_counter() - self._wall
        if self._start and end and wall > 0:
            self.cores = max(0.0, (end[0] - self._start[0]) - (end[1] - self._start[1])) / wall
        return False


def measured_gemm(n: int = 2048, repeats: int = 5) -> dict:
    """A float32 ``[n, n] @ [n, n]`` under XLA on the default device: the multiply-adds per second a
    dense kernel reaches here (median of ``repeats``), the empirical check of :func:`cpu_peak`.

    No kernel exceeds the true peak, so a GEMM above the derived peak says the derivation is wrong
    for this CPU (a datapath or clock it does not know); a tuned GEMM usually reaches 0.8-0.95 of it.

    Returns:
        ``{"gemm_gmacs_per_s", "n", "repeats"}``.
    """
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    matmul = jax.jit(jnp.matmul)
    matmul(a, b).block_until_ready()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).block_until_ready()
        seconds.append(time.perf_counter() - start)
    seconds.sort()
    return {"gemm_gmacs_per_s": round(n**3 / seconds[len(seconds) // 2] / 1e9, 1), "n": n, "repeats": repeats}


def peak_check(machine: dict, gemm: dict) -> str | None:
    """A warning when the measured GEMM beats the derived peak by more than 5 % (the derivation
    is wrong for this CPU, or its clock boosts above the nominal one /proc/cpuinfo gives on a VM);
    None otherwise."""
    derived, measured = machine.get("peak_gmacs_per_s"), gemm.get("gemm_gmacs_per_s")
    if derived and measured and measured > 1.05 * derived:
        return (f"a {gemm['n']}² float32 GEMM ran at {measured} G multiply-adds/s, above the derived peak "
                f"{derived} ({machine['derivation']}): fractions of peak here are overstated")
    return None


def fraction_of_peak(items_per_s: float, macs_per_item: float, peak: dict) -> float | None:
    """Achieved multiply-adds per second over the peak (None when the peak is unknown)."""
    if not peak.get("peak_gmacs_per_s"):
        return None
    return items_per_s * macs_per_item / (peak["peak_gmacs_per_s"] * 1e9)


def conv_macs(n_frames: int, n_bins_out: int, kernel: tuple[int, int], c_in: int, c_out: int) -> int:
    """Multiply-adds of a direct 'SAME' convolution with [n_frames, n_bins_out] outputs."""
    return n_frames * n_bins_out * math.prod(kernel) * c_in * c_out


def basic_pitch_macs(config, n_frames: int) -> dict[str, int]:
    """Multiply-adds of each Basic Pitch convolution for one example of ``n_frames`` frames."""
    B, H = config.bins_per_semitone, len(config.harmonics)
    f_contour, p = config.n_contour_bins, config.n_pitches
    span = config.contour_span_semitones * B
    return {
        "contour_conv": conv_macs(n_frames, f_contour, (3, span), H, config.n_filters_contour),
        "contour_out": conv_macs(n_frames, f_contour, (5, 5), config.n_filters_contour, 1),
        "note_conv": conv_macs(n_frames, p, (7, 7), 1, config.n_filters_notes),
        "note_out": conv_macs(n_frames, p, (7, 3), config.n_filters_notes, 1),
        "onset_conv": conv_macs(n_frames, p, (5, 5), H, config.n_filters_onsets),
        "onset_out": conv_macs(n_frames, p, (3, 3), config.n_filters_onsets + 1, 1),
    }


def cqt2010_macs(config, n_samples: int) -> int:
    """Multiply-adds of the CQT2010 frontend for one clip of ``n_samples``: the complex kernels on
    every octave's frames plus the 256-tap low-pass evaluated at each decimated sample."""
    from amt_jax.frontend import cqt2010

    const = cqt2010.filter_constants(config)
    n_frames = config.n_frames(n_samples)
    kernels = config.n_octaves * n_frames * const.n_fft * 2 * const.n_filters
    decimated = sum(n_samples // 2**k for k in range(1, config.n_octaves))
    return kernels + decimated * cqt2010.LOWPASS_TAPS
