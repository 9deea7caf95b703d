"""``python -m amt_jax train --config NAME --workdir DIR [--data-dir DIR] [--steps N] [--bins-per-semitone B]
[--config.FIELD=VALUE ...]``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from amt_jax import interrupt, validate
from amt_jax.commands import config_args
from amt_jax.io import atomic_write, environment

SAFE_POINTS = True  # Ctrl-C / SIGTERM stop it between units of work (amt_jax.interrupt)
HELP = "Train a Basic Pitch variant (resumes from DIR), then score it and the CQT-energy baseline on held-out frames."

DEFAULT_DATA_DIR = Path(os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")).expanduser()  # tfds' default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True,
                        help="named config: tiny (small heads, 250 steps) or default (Basic Pitch's recipe), "
                             "see experiments/configs/train/; or a .py file defining get_config()")
    parser.add_argument("--workdir", type=Path, required=True,
                        help="checkpoints, metrics.jsonl and eval.json go here; an earlier run there is resumed")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="tfds data directory holding the built dataset (default: $TFDS_DATA_DIR, else ~/tensorflow_datasets)")
    parser.add_argument("--steps", type=int, default=None, help="total training steps (default: the config's)")
    parser.add_argument("--bins-per-semitone", type=int, choices=(1, 3, 5), default=None,
                        help="CQT bins per semitone B (default: the config's)")
    config_args.add_override_argument(parser)


def _show(bar, record: dict) -> None:
    """A training record on the progress bar (losses) or as a line above it (resume, validation, stop)."""
    if "resumed_from" in record:
        bar.n = bar.last_print_n = bar.initial = record["resumed_from"]
        bar.write(f"resumed from step {record['resumed_from']}", file=sys.stderr)
    elif "stopped" in record:
        stop = record["stopped"]
        bar.write(f"stopped at step {stop['step']} ({stop['reason']}; best validation frame F1 {stop['best_f1']:.3f} "
                  f"at step {stop['best_step']})", file=sys.stderr)
    elif "validation_f1" in record:
        bar.write(f"step {record['step']}: validation frame F1 {record['validation_f1']:.3f} (best {record['best_f1']:.3f})",
                  file=sys.stderr)
    else:
        bar.set_postfix_str(f"loss {record['loss']:.4f}, |g| {record['grad_norm']:.3f}, lr {record['learning_rate']:.2e}")


def _train(config, args, splits):
    """Train with a bar on stderr: steps done of the total, rate and time left."""
    from tqdm.auto import tqdm

    from amt_jax import training as train

    with tqdm(total=config.steps, desc="train", unit="step", file=sys.stderr, dynamic_ncols=True) as bar:
        return train.train(config, workdir=args.workdir, examples=splits["train"], log=lambda r: _show(bar, r),
                           validation=splits["validation"] if config.plateau is not None else None,
                           progress=lambda step: bar.update(step - bar.n))


def run(args: argparse.Namespace) -> int:
    import jax

    from amt_jax import data, training as train
    from amt_jax.training import convergence

    if args.steps is not None:
        validate.at_least("--steps", args.steps, 1)
    config = train.get_config(args.config, bins_per_semitone=args.bins_per_semitone, steps=args.steps,
                              overrides=args.config_overrides)
    splits = {split: data.load(config.dataset, split, data_dir=args.data_dir) for split in data.SPLITS}
    start = time.perf_counter()
    state = _train(config, args, splits)
    train_s = time.perf_counter() - start
    interrupt.check()  # a signal during the last step: stop before the (long) evaluation
    n_test = len(splits["test"])
    print(f"evaluating the model and the CQT-energy baseline on {n_test} test piece{'' if n_test == 1 else 's'}",
          file=sys.stderr, flush=True)
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
    print(f"wrote {path}")
    return 0
