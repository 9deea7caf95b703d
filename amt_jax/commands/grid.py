"""``python -m amt_jax grid run CONFIG --workdir DIR --data-dir DIR [--shard I/N] [--config.FIELD=VALUE ...]``,
``python -m amt_jax grid report --workdir DIR [--json OUT]`` and ``python -m amt_jax grid params CONFIG
[--config.FIELD=VALUE ...]``: a training grid of Basic Pitch variants (``params``: each variant's
widths and trainable parameter count, without training)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from amt_jax.commands import config_args

SAFE_POINTS = True  # Ctrl-C / SIGTERM stop it between units of work (amt_jax.interrupt)
HELP = "Train a grid of Basic Pitch variants (B x harmonic stack x seeds; resumable, sharded) and report held-out F1 and contrasts."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = sub.add_parser("run", help="train and score this shard's runs into --workdir (finished runs are skipped)")
    r.add_argument("config", help="tiny (tests), small (for 2 CPU cores), matched (capacity-matched, to a validation "
                                  "plateau), full and converged (accelerators): see experiments/configs/grid/ (the "
                                  "README's 'Reproducing the study' gives measured times); or a .py defining get_config()")
    r.add_argument("--workdir", type=Path, required=True, help="runs/<id>/ (checkpoints, metrics, eval.json) go here")
    r.add_argument("--data-dir", type=Path, required=True, help="tfds data directory holding the built dataset")
    r.add_argument("--shard", default="0/1", help="run every N-th run starting at I, as I/N (default %(default)s)")
    config_args.add_override_argument(r)
    p = sub.add_parser("report", help="per-variant F1 and contrasts with piece-level CIs (stdout + JSON)")
    p.add_argument("--workdir", type=Path, required=True, help="a grid workdir")
    p.add_argument("--json", type=Path, default=None, help="write the report here (default WORKDIR/report.json)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval level (default %(default)s)")
    c = sub.add_parser("params", help="each variant's widths and trainable parameter count (Flax's own count; "
                                      "capacity-matched grids solve the widths first), without training")
    c.add_argument("config", help="a grid config name (tiny, small, matched, full, converged) or a .py defining get_config()")
    config_args.add_override_argument(c)


def run(args: argparse.Namespace) -> int:
    from amt_jax.training import grid, grid_report

    if args.action == "report":
        if not 0 < args.confidence < 1:
            raise ValueError(f"--confidence must be in (0, 1), got {args.confidence}")
        report = grid_report.write_report(args.workdir, confidence=args.confidence, path=args.json)
        print(grid_report.format_report(report))
        print(f"wrote {args.json or args.workdir / grid_report.REPORT_FILE}", file=sys.stderr)
        return 0
    if args.action == "params":
        from amt_jax.training import capacity

        config = grid.get_grid_config(args.config, args.config_overrides)
        models = grid.variant_models(config)
        counts = {v: capacity.count_parameters(m) for v, m in models.items()}
        target = config.target_parameters
        goal = None if target is None else capacity.resolve_target(
            [grid.variant_models(dataclasses.replace(config, target_parameters=None))[v] for v in models], target)
        print(f"grid {config.name}: trainable parameters per variant (widths: contour, notes, onsets)"
              + ("" if goal is None else f"; target {goal:,}" + (f" ({target})" if target == capacity.LARGEST else "")))
        for (b, stack), model in models.items():
            off = "" if goal is None else f"  {100 * (counts[(b, stack)] - goal) / goal:+.2f} % of the target"
            print(f"B={b} {stack:<5} widths {str(capacity.widths(model)):<16} {counts[(b, stack)]:>9,}{off}")
        print(f"spread (max − min) / min: {100 * capacity.spread(list(counts.values())):.2f} %")
        return 0
    from amt_jax.sweep.config import parse_shard

    shard = parse_shard(args.shard, "--shard")
    config = grid.get_grid_config(args.config, args.config_overrides)
    statuses = grid.run_grid(config, workdir=args.workdir, data_dir=args.data_dir, shard=shard,
                             log=lambda line: print(line, file=sys.stderr, flush=True))
    done = sum(s == "done" for _, s in statuses)
    print(f"grid {config.name} shard {shard[0]}/{shard[1]}: {done} runs trained, {len(statuses) - done} finished earlier; "
          f"report: python -m amt_jax grid report --workdir {args.workdir}")
    return 0
