"""``python -m amt_jax sweep CONFIG --workdir DIR [--shard I/N] [--data-dir DIR] [--cells-at-once N] [--config.FIELD=VALUE ...]``:
run or resume a sweep."""

from __future__ import annotations

import argparse
import time

from amt_jax import validate
from amt_jax.commands import config_args

SAFE_POINTS = True  # Ctrl-C / SIGTERM stop it between units of work (amt_jax.interrupt)
HELP = "Run (or resume) a sweep of permutation-importance cells into a workdir (local path or bucket)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config name (tiny, demo, study, paper; see experiments/configs/sweep/) or a .py file "
                                        "defining get_config()")
    parser.add_argument("--workdir", required=True, help="where results go (any etils.epath path, e.g. gs://bucket/run)")
    parser.add_argument("--shard", default="0/1", help="run every N-th cell starting at I, as I/N (job arrays; default %(default)s)")
    parser.add_argument("--data-dir", default=None, help="tfds data directory, for configs on a built dataset")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (one line per cell only)")
    parser.add_argument("--cells-at-once", type=int, default=None, metavar="N",
                        help="cells computed at the same time (default: 2 on one CPU device, else 1; the numbers "
                             "do not depend on it)")
    config_args.add_override_argument(parser)


def run(args: argparse.Namespace) -> int:
    from amt_jax import sweep

    shard = sweep.parse_shard(args.shard, "--shard")
    if args.cells_at_once is not None:
        validate.at_least("--cells-at-once", args.cells_at_once, 1)
    config = sweep.load_config(args.config, args.config_overrides)
    start = time.perf_counter()
    statuses = sweep.run_sweep(config, workdir=args.workdir, shard=shard, data_dir=args.data_dir, progress=not args.no_progress,
                               cells_at_once=args.cells_at_once)
    counts = {s: sum(st.status == s for st in statuses) for s in ("done", "skipped", "out_of_axis", "unsupported")}
    seconds = sum(st.seconds for st in statuses)
    print(
        f"sweep {config.name} shard {shard[0]}/{shard[1]}: {counts['done']} cells computed "
        f"({time.perf_counter() - start:.1f} s wall, {seconds:.1f} s summed over cells), "
        f"{counts['skipped']} finished earlier, {counts['out_of_axis']} out of axis, "
        f"{counts['unsupported']} unsupported by their model; results in {args.workdir}"
    )
    return 0
