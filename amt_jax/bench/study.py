"""Where a sweep's wall time goes: ``python -m amt_jax.bench study``.

Runs one sweep config (default ``tiny``, on synthetic data; ``--config study --data-dir D`` for the
study) into a fresh workdir, in this process, and splits its wall time into phases:

- ``load_model``: the registry loads (weights from the wheel, init of random controls);
- ``load_data``: the corpus's windows (audio and labels) read and chosen;
- ``features``: the rest of loading a model's inputs: its frontend on the windows;
- ``cell:<kind>``: each probe kind's cells (their draws, models and estimators);
- ``write``: the cells' NPZ and JSON, written atomically;
- ``other``: the rest (expansion, manifest, fingerprints, summaries).

Inside every phase, ``compile_s`` is the time JAX spent tracing, lowering and compiling
(``jax.monitoring``'s ``/jax/core/compile/*`` durations, which are wall time inside that phase) and
``n_compiles`` the number of XLA compilations; ``compute_s = seconds − compile_s``. For the
Monte Carlo engine's jitted chunks (every permutation-importance cell) the FLOPs come from XLA's
cost analysis of the chunk as lowered, times the calls; ``fraction_of_peak`` is those
multiply-adds (FLOPs / 2) per second of the phase's ``compute_s`` over this machine's float32 peak
(:mod:`amt_jax.bench.peak`): a lower bound, since other work in the phase (estimators, the
unperturbed forward) is in the denominator but not the numerator. A chunk with a loop in it
(Basic Pitch's chunked inference, ``nn.scan``; a frame-wise model's tiles; a derangement's
rejection loop in the key-replacement families) has no count — XLA's analysis
counts a loop's body once — so its phase says ``fraction_of_peak_unknown`` instead.

``--against REV`` instead times whole sweeps side by side in one run: ``python -m amt_jax sweep``
of this checkout and of commit ``REV`` (a temporary ``git worktree``), alternating, each into a
fresh workdir with the persistent compilation cache off, ``--repeats`` times; it prints the median
wall times and their ratio (this checkout / REV); repeats alternate the order (ABBA). ``--demo``
also times ``python -m amt_jax demo`` (``./run.sh demo``'s command, venv present) the same way, so
one command prints both ratios. The cells both sides computed (same cell id) are then compared
array by array (:func:`amt_jax.bench.side_by_side.compare_cells`): the speed must not have changed the numbers.

The last line printed is one JSON object (also written to ``--json``).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import re
import sys
import tempfile
import time
from pathlib import Path

COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")
BACKEND_COMPILE = COMPILE_EVENTS[-1]
LOOP = re.compile(r"\bstablehlo\.while\b")  # in a lowered chunk: XLA's cost analysis counts the body once


class Profile:
    """Wall time, compile time, compilations and engine FLOPs per phase (a stack: the innermost
    phase gets the time; its parent's ``seconds`` exclude it)."""

    def __init__(self):
        self.stack: list[str] = []
        self.seconds = collections.Counter()
        self.compile_s = collections.Counter()
        self.n_compiles = collections.Counter()
        self.flops = collections.Counter()
        self.chunk_calls = collections.Counter()
        self.unknown_flops: set[str] = set()  # phases with a chunk whose FLOPs XLA cannot count (a loop)
        self.no_analysis: set[str] = set()  # ... of which: the backend gave no cost analysis at all
        self.cells = collections.Counter()
        self._entered: list[float] = []
        self.cost_s = 0.0  # time spent on the profiler's own cost analyses (excluded from every phase)
        self.paused = False

    @property
    def phase(self) -> str:
        return self.stack[-1] if self.stack else "other"

    @contextlib.contextmanager
    def enter(self, name: str):
        now = time.perf_counter()
        if self.stack:
            self.seconds[self.stack[-1]] += now - self._entered[-1]
        self.stack.append(name)
        self._entered.append(now)
        try:
            yield
        finally:
            now = time.perf_counter()
            self.seconds[self.stack.pop()] += now - self._entered.pop()
            if self._entered:
                self._entered[-1] = now

    def on_duration(self, event: str, duration: float, **_) -> None:
        if event in COMPILE_EVENTS and not self.paused:
            self.compile_s[self.phase] += duration
            self.n_compiles[self.phase] += event == BACKEND_COMPILE

    @contextlib.contextmanager
    def pause(self):
        """A block whose time leaves the current phase (the profiler's overhead) and whose compile
        events are ignored."""
        start = time.perf_counter()
        self.paused = True
        try:
            yield
        finally:
            self.paused = False
            dt = time.perf_counter() - start
            self.cost_s += dt
            if self._entered:
                self._entered[-1] += dt

    def table(self, total_s: float, peak: dict) -> dict:
        accounted = sum(self.seconds.values())
        seconds = dict(self.seconds)
        seconds["other"] = seconds.get("other", 0.0) + max(0.0, total_s - accounted - self.cost_s)
        rows = {}
        for name in sorted(seconds, key=lambda k: -seconds[k]):
            s, c = seconds[name], self.compile_s.get(name, 0.0)
            row = {"seconds": round(s, 3), "compile_s": round(c, 3), "compute_s": round(max(0.0, s - c), 3),
                   "n_compiles": int(self.n_compiles.get(name, 0))}
            if name in self.cells:
                row["n_cells"] = int(self.cells[name])
            if self.chunk_calls.get(name) and name in self.unknown_flops:
                row.update(engine_chunk_calls=int(self.chunk_calls[name]), engine_gmacs=None,
                           fraction_of_peak_unknown="no cost analysis from this backend" if name in self.no_analysis
                           else "a chunk loops (a model's scan over examples, a frame-wise model's tiles, "
                                "a perturbation's loop): XLA counts a loop's body once")
            elif self.chunk_calls.get(name):
                gmacs = self.flops[name] / 2 / 1e9
                row.update(engine_chunk_calls=int(self.chunk_calls[name]), engine_gmacs=round(gmacs, 3))
                if peak.get("peak_gmacs_per_s") and row["compute_s"] > 0:
                    row["fraction_of_peak"] = round(gmacs / row["compute_s"] / peak["peak_gmacs_per_s"], 4)
            rows[name] = row
        compile_total = sum(self.compile_s.values())
        return {"total_s": round(total_s, 3), "compile_s": round(compile_total, 3),
                "n_compiles": int(sum(self.n_compiles.values())), "profiler_overhead_s": round(self.cost_s, 3),
                "phases": rows}


def _wrap(profile: Profile, module, name: str, phase):
    """Replace ``module.name`` by a wrapper that runs it inside ``phase(*args)`` (a name or a
    function of the arguments); returns an undo function."""
    original = getattr(module, name)

    def wrapped(*args, **kwargs):
        with profile.enter(phase(*args, **kwargs) if callable(phase) else phase):
            return original(*args, **kwargs)

    setattr(module, name, wrapped)
    return lambda: setattr(module, name, original)


def _spy_chunk(profile: Profile, importance_module):
    """Count the engine's chunk calls and their FLOPs (XLA's cost analysis of each distinct lowering,
    cached by the static arguments and shapes)."""
    import jax

    original = importance_module._chunk
    costs: dict = {}

    def spy(*args, **kwargs):
        shapes = tuple((getattr(a, "shape", None), str(getattr(a, "dtype", type(a).__name__))) for a in jax.tree.leaves(args))
        key = (shapes, tuple(sorted((k, id(v) if not _hashable(v) else v) for k, v in kwargs.items())))
        out = original(*args, **kwargs)  # first, so tracing and lowering are timed in the phase
        if key not in costs:
            with profile.pause():  # a lowering now hits JAX's caches: only the analysis is overhead
                try:
                    lowered = original.lower(*args, **kwargs)
                    if LOOP.search(lowered.as_text()):  # a loop's body is counted once: FLOPs unknown
                        costs[key] = None
                    else:
                        analysis = lowered.cost_analysis()
                        analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
                        costs[key] = float((analysis or {}).get("flops", 0.0))
                except Exception:  # a backend without cost analysis: FLOPs unknown (said apart from a loop)
                    costs[key] = None
                    profile.no_analysis.add(profile.phase)
        if costs[key] is None:
            profile.unknown_flops.add(profile.phase)
        else:
            profile.flops[profile.phase] += costs[key]
        profile.chunk_calls[profile.phase] += 1
        return out

    importance_module._chunk = spy
    return lambda: setattr(importance_module, "_chunk", original)


def _hashable(v) -> bool:
    try:
        hash(v)
        return True
    except TypeError:
        return False


def profile_sweep(config, *, workdir, data_dir=None) -> dict:
    """Run ``config`` (a :class:`amt_jax.sweep.SweepConfig`) into ``workdir`` under a
    :class:`Profile`; returns its table (see the module docstring)."""
    import jax

    from amt_jax.bench import peak as peak_lib
    from amt_jax.estimators import importance
    from amt_jax.sweep import inputs as inputs_module
    from amt_jax.sweep import runner, store

    profile = Profile()
    jax.monitoring.register_event_duration_secs_listener(profile.on_duration)

    def cell_phase(cell, *args, **kwargs):
        profile.cells[f"cell:{cell.kind}"] += 1
        return f"cell:{cell.kind}"

    undo = [
        _wrap(profile, runner, "load_inputs", "features"),  # what load_model and load_data leave is the frontend
        _wrap(profile, inputs_module.registry, "load", "load_model"),
        _wrap(profile, inputs_module, "audio_windows", "load_data"),
        _wrap(profile, runner, "_compute", cell_phase),
        _wrap(profile, store, "save_cell", "write"),
        _spy_chunk(profile, importance),
    ]
    start = time.perf_counter()
    try:
        statuses = runner.run_sweep(config, workdir=workdir, data_dir=data_dir, progress=False, log=lambda s: None,
                                   cells_at_once=1)  # the phases are a stack: one cell at a time
    finally:
        for u in reversed(undo):
            u()
        jax.monitoring.unregister_event_duration_listener(profile.on_duration)
    total = time.perf_counter() - start
    table = profile.table(total, peak_lib.cpu_peak())
    table["n_cells_done"] = sum(s.status == "done" for s in statuses)
    return table


# --------------------------------------------------------------------------- side by side


def _parse(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m amt_jax.bench study", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="tiny", help="sweep config name (default tiny)")
    p.add_argument("--data-dir", default=None, help="built datasets (for configs on a corpus)")
    p.add_argument("--workdir", default=None, help="sweep workdir (default: a fresh temporary directory)")
    p.add_argument("--against", default=None, metavar="REV", help="time whole runs of this checkout and REV side by side")
    p.add_argument("--demo", action="store_true", help="with --against: also time the demo")
    p.add_argument("--repeats", type=int, default=2,
                   help="with --against: runs per side, alternating ABBA (default 2; 1 runs REV first)")
    p.add_argument("--json", default=None, help="also write the JSON here")
    from amt_jax import configs

    try:
        rest, overrides = configs.split_overrides(argv)
    except ValueError as err:
        p.error(str(err))
    args = p.parse_args(rest)
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.demo and not args.against:
        p.error("--demo needs --against REV")
    args.overrides = list(overrides)  # FIELD=VALUE, as configs.apply_overrides takes them
    return args


def main(argv=None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.against:
        from amt_jax.bench import side_by_side as sbs

        out = sbs.side_by_side(args.against, config=args.config, data_dir=args.data_dir, repeats=args.repeats,
                           demo=args.demo, overrides=args.overrides)
        for name, row in out["commands"].items():
            same = row["results"]
            print(f"{name}: this {row['median_this_s']:.1f} s, {args.against} {row['median_against_s']:.1f} s, "
                  f"ratio {row['ratio']:.3f} (median of {args.repeats}); {same['n_compared']} cells compared, "
                  f"max |difference| {same['max_abs_diff']:.3g}"
                  + (f" ({same['where']})" if same["where"] else "")
                  + (f", {len(same['mismatched'])} arrays mismatched" if same["mismatched"] else "")
                  + (f", {len(same['only_this']) + len(same['only_against'])} cells on one side only"
                     if same["only_this"] or same["only_against"] else ""))
        disagree = {name: row["results"]["why"] for name, row in out["commands"].items() if not row["results"]["agree"]}
        out["results_agree"] = not disagree
    else:
        from amt_jax import configs
        from amt_jax.sweep import load_config

        config = configs.apply_overrides(load_config(args.config), args.overrides)
        with tempfile.TemporaryDirectory(prefix="amt_jax_bench_study_") as tmp:
            out = profile_sweep(config, workdir=args.workdir or tmp, data_dir=args.data_dir)
        out["config"] = args.config
        out["overrides"] = args.overrides
        for name, row in out["phases"].items():
            extra = (f", {row['fraction_of_peak']:.1%} of peak" if "fraction_of_peak" in row
                     else f", FLOPs unknown ({row['fraction_of_peak_unknown']})" if "fraction_of_peak_unknown" in row
                     else "")
            print(f"{name:28s} {row['seconds']:8.1f} s  compile {row['compile_s']:6.1f} s ({row['n_compiles']} programs)"
                  f"{extra}")
        print(f"{'total':28s} {out['total_s']:8.1f} s  compile {out['compile_s']:6.1f} s ({out['n_compiles']} programs)")
    if args.json:
        from amt_jax import io as amt_io

        amt_io.atomic_write(Path(args.json), json.dumps(out, indent=2).encode())
    print(json.dumps(out))
    if args.against and disagree:  # a faster run with other numbers is not a speed-up
        for name, why in disagree.items():
            print(f"python -m amt_jax.bench study: error: {name}: the results differ: {why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
