"""``python -m amt_jax demo [--out outputs/demo]``: the main job, offline, on a fresh machine.

1. builds the default corpus (rendered Bach chorales) at demo size into ``OUT/data``;
2. loads pretrained Basic Pitch and scores it on the test split (mir_eval table) → ``OUT/evaluation.json``;
3. runs the ``demo`` sweep (all four families on test clips) → ``OUT/sweep``;
4. draws the figures and summary tables → ``OUT/sweep/figures``, ``OUT/sweep/summary.md``;
5. prints where to look.

Each step is skipped when its outputs exist, so a rerun after an interruption resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HELP = "The main job: build the demo corpus, evaluate Basic Pitch, run the demo sweep, draw figures (-> outputs/demo/)."

DEMO_PIECES = 10  # chorales built: 8 train, 1 validation, 1 test (the test piece gives the sweep's clips)
DATASET = "chorales"
SWEEP_CONFIG = "demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output directory (default %(default)s)")
    parser.add_argument("--n-pieces", type=int, default=DEMO_PIECES, help="chorales to build (default %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _step(n: int, text: str) -> None:
    print(f"\n== step {n}/4: {text}", flush=True)


def _build_data(data_dir: Path, n_pieces: int) -> None:
    from amt_jax import data

    try:
        source = data.load(DATASET, "test", data_dir=data_dir)
        print(f"corpus already built in {data_dir} ({len(source)} test pieces); skipped")
        return
    except FileNotFoundError:
        pass
    report = data.build(DATASET, data_dir=data_dir, n_pieces=n_pieces, progress=lambda line: print(f"  {line}", flush=True))
    counts = ", ".join(f"{split} {k}" for split, k in report.examples.items())
    print(f"built {report.name} in {report.seconds:.1f} s: {counts}; skipped {len(report.skipped)}")


def _evaluate(data_dir: Path, out: Path) -> None:
    from amt_jax.commands import evaluate as evaluate_command

    if out.exists():
        scores = json.loads(out.read_text())
        f1 = ", ".join(f"{level} F1 {scores[level]['f1']:.3f}" for level in ("frame", "note_onset", "note"))
        print(f"evaluation already in {out} ({f1}); skipped")
        return
    parser = argparse.ArgumentParser()
    evaluate_command.add_arguments(parser)
    evaluate_command.run(parser.parse_args(
        ["--model", "basic-pitch", "--data", f"{DATASET}:test", "--data-dir", str(data_dir), "--json", str(out)]
    ))


def run(args: argparse.Namespace) -> int:
    from amt_jax import report, sweep

    start = time.perf_counter()
    out = args.out
    data_dir, evaluation, workdir = out / "data", out / "evaluation.json", out / "sweep"
    out.mkdir(parents=True, exist_ok=True)

    _step(1, f"corpus ({args.n_pieces} Bach chorales rendered offline) -> {data_dir}")
    _build_data(data_dir, args.n_pieces)

    _step(2, f"Basic Pitch on {DATASET}:test, scored with mir_eval -> {evaluation}")
    _evaluate(data_dir, evaluation)

    _step(3, f"sweep '{SWEEP_CONFIG}' (harmonic, microtonal, random spectral, noise) -> {workdir}")
    config = sweep.load_config(SWEEP_CONFIG)
    statuses = sweep.run_sweep(config, workdir=workdir, data_dir=data_dir, progress=not args.no_progress,
                               log=lambda line: print(line, flush=True))
    print(f"{sum(s.status == 'done' for s in statuses)} cells computed, {sum(s.status == 'skipped' for s in statuses)} finished earlier")

    _step(4, f"figures and summary -> {workdir / 'figures'}")
    written = report.write_report(workdir)
    print(f"drew {', '.join(written.figures)}" + (f"; not drawn: {', '.join(written.missing)}" if written.missing else ""))

    minutes = (time.perf_counter() - start) / 60
    print(f"\ndone in {minutes:.1f} min. Look at:")
    print(f"  {written.summary_md}   summary table (mean, CI, p vs control per cell)")
    print(f"  {workdir / 'figures'}/   {len(written.figures)} figures (.png, .pdf)")
    print(f"  {evaluation}   Basic Pitch's mir_eval scores on the test split")
    print(f"  {workdir / 'cells'}/   per-cell results (JSON + NPZ per-draw importances)")
    return 0
