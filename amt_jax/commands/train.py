"""``python -m amt_jax train --config NAME --workdir DIR [--data-dir DIR] [--steps N] [--bins-per-semitone B]
[--config.FIELD=VALUE ...]``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from amt_jax.commands import config_args
from amt_jax.io import atomic_write, environment

HELP = "Train a Basic Pitch variant (resumes from DIR), then score it and the CQT-energy baseline on held-out frames."

DEFAULT_DATA_DIR = Path(os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")).expanduser()  # tfds' default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True,
                        help="named config: tiny (a few minutes on 2 CPU cores) or default (Basic Pitch's recipe), "
                             "see experiments/configs/train/; or a .py file defining get_config()")
    parser.add_argument("--workdir", type=Path, required=True,
                        help="checkpoints, metrics.jsonl and eval.json go here; an earlier run there is resumed")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="tfds data directory holding the built dataset (default %(default)s)")
    parser.add_argument("--steps", type=int, default=None, help="total training steps (default: the config's)")
    parser.add_argument("--bins-per-semitone", type=int, choices=(1, 3, 5), default=None,
                        help="CQT bins per semitone B (default: the config's)")
    config_args.add_override_argument(parser)


def _print_record(record: dict) -> None:
    if "resumed_from" in record:
        print(f"resumed from step {record['resumed_from']}", file=sys.stderr, flush=True)
        return
    if "stopped" in record:
        stop = record["stopped"]
        print(f"stopped at step {stop['step']} ({stop['reason']}; best validation frame F1 {stop['best_f1']:.3f} "
              f"at step {stop['best_step']})", file=sys.stderr, flush=True)
        return
    if "validation_f1" in record:
        print(f"step {record['step']:>6}  validation frame F1 {record['validation_f1']:.3f} (best {record['best_f1']:.3f})",
              file=sys.stderr, flush=True)
        return
    losses = " ".join(f"{k[5:]} {record[k]:.4f}" for k in ("loss_contour", "loss_note", "loss_onset"))
    print(f"step {record['step']:>6}  loss {record['loss']:.4f} ({losses})  |g| {record['grad_norm']:.3f}  "
          f"lr {record['learning_rate']:.2e}  {record['steps_per_second']:.2f} steps/s", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    import jax

    from amt_jax import data, training as train
    from amt_jax.training import convergence

    config = train.get_config(args.config, bins_per_semitone=args.bins_per_semitone, steps=args.steps,
                              overrides=args.config_overrides)
    splits = {split: data.load(config.dataset, split, data_dir=args.data_dir) for split in data.SPLITS}
    start = time.perf_counter()
    state = train.train(config, workdir=args.workdir, examples=splits["train"], log=_print_record,
                        validation=splits["validation"] if config.plateau is not None else None)
    train_s = time.perf_counter() - start
    scores = train.evaluate(train.model_of(config, state), validation=splits["validation"], test=splits["test"])
    for name, s in scores.items():
        print(f"{name:<9} test frame P/R/F1 {s['precision']:.3f}/{s['recall']:.3f}/{s['f1']:.3f} "
              f"(threshold {s['threshold']:.2f} chosen on validation, F1 there {s['validation_f1']:.3f})")
    result = {
        "step": int(state.step),
        **({} if config.plateau is None else {"stopped": convergence.read_stop(args.workdir)}),
        "scores": scores,
        "seconds": {"train": train_s, "evaluate": time.perf_counter() - start - train_s},
        "config": config.to_dict(),
        "data": {"dataset": config.dataset, "data_dir": str(args.data_dir),
                 "pieces": {split: len(source) for split, source in splits.items()}},
        **environment(),  # versions, device_kind, platform, device_count, jax_default_matmul_precision, host
        "device": jax.devices()[0].device_kind,
    }
    path = args.workdir / train.EVAL_FILE
    atomic_write(path, json.dumps(result, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return 0
