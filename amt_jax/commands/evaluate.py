"""``python -m amt_jax evaluate --model M --data NAME:SPLIT --data-dir DIR [--json OUT.json]``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from amt_jax import data, evaluate
from amt_jax.io import atomic_write, environment

HELP = "Score a model on a dataset split with mir_eval (frame, note-onset and note level)."

# Registration point: a named model goes in MODEL_NAMES and resolve_model; a directory given as
# --model is a training workdir, loaded by amt_jax.train.load_trained (see _checkpoint_model).
MODEL_NAMES = ("basic-pitch", "oracle")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True,
        help=f"{', '.join(MODEL_NAMES)} (oracle = the labels themselves, scores 1), or a checkpoint directory",
    )
    parser.add_argument("--data", required=True, help="NAME[:SPLIT], e.g. chorales:test (split default test)")
    parser.add_argument("--data-dir", type=Path, required=True, help="tfds data directory the dataset was built in")
    parser.add_argument("--json", type=Path, default=None, help="write the scores here (replaced atomically)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N pieces")
    parser.add_argument(
        "--frame-threshold", type=float, default=None,
        help=f"activation counted as on (frame level and note decoding); default: the threshold a trained "
        f"model's eval.json records, else {evaluate.FRAME_THRESHOLD}",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="model windows per batch (default %(default)s)")


def resolve_model(spec: str, *, batch_size: int = 8, frame_threshold: float = evaluate.FRAME_THRESHOLD):
    """``model(example) -> evaluate.Transcription`` for a model name or training workdir."""
    if spec == "oracle":
        return evaluate.reference
    if spec == "basic-pitch":
        from amt_jax import pretrained

        return _posteriorgram_model(pretrained.basic_pitch(), batch_size=batch_size, frame_threshold=frame_threshold)
    if os.path.isdir(spec):
        from amt_jax import train

        model = train.load_trained(spec)
        return _posteriorgram_model(model, batch_size=batch_size, frame_threshold=frame_threshold)
    raise ValueError(f"unknown model {spec!r}; valid models: {', '.join(MODEL_NAMES)}, or a training workdir")


def default_threshold(spec: str) -> float:
    """The frame threshold for ``spec``: the validation-chosen one a training workdir's
    ``eval.json`` records (trained variants are calibrated differently), else Basic Pitch's."""
    from amt_jax.commands.train import EVAL_FILE

    path = Path(spec) / EVAL_FILE
    if os.path.isdir(spec) and path.is_file():
        return float(json.loads(path.read_text())["scores"]["model"]["threshold"])
    return evaluate.FRAME_THRESHOLD


def _posteriorgram_model(model, *, batch_size: int, frame_threshold: float):
    """Whole-file inference + Basic Pitch note decoding for any model with note/onset outputs."""
    from amt_jax import inference, notes
    from amt_jax.data.labels import make_notes

    def transcribe(example: dict):
        post = inference.transcribe_audio(example["audio"], model=model, batch_size=batch_size)
        events = notes.decode_notes(post["note"], post["onset"], frame_threshold=frame_threshold)
        est = make_notes(
            [max(n.start_s, 0.0) for n in events], [max(n.end_s, 0.0) for n in events],
            [n.pitch for n in events], [min(127, max(1, round(127 * n.amplitude))) for n in events],
        )
        return evaluate.transcription(post["note"], est, times=notes.frame_times(post["note"].shape[1]))

    return transcribe


def run(args: argparse.Namespace) -> int:
    name, split = data.parse_spec(args.data)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    threshold = default_threshold(args.model) if args.frame_threshold is None else args.frame_threshold
    if not 0 < threshold <= 1:
        raise ValueError(f"--frame-threshold must be in (0, 1], got {threshold}")
    if args.json is not None and not (args.json.parent if str(args.json.parent) else Path(".")).is_dir():
        raise FileNotFoundError(f"output directory does not exist: {args.json.parent}")
    model = resolve_model(args.model, batch_size=args.batch_size, frame_threshold=threshold)
    source = data.load(name, split, data_dir=args.data_dir)
    n = len(source) if args.limit is None else min(args.limit, len(source))
    print(f"{'piece':<24} {'frame P/R/F1':>20} {'note onset P/R/F1':>20} {'note P/R/F1':>20}")

    def row(piece: str, scores: dict) -> None:
        cells = " ".join(f"{'/'.join(f'{scores[l][k]:.3f}' for k in ('precision', 'recall', 'f1')):>20}" for l in evaluate.LEVELS)
        print(f"{piece:<24} {cells}", flush=True)

    result = evaluate.evaluate_examples(
        (source[i] for i in range(n)), model, threshold=threshold, progress=row
    )
    row(f"mean of {n} pieces", result)
    if args.json is not None:
        env = environment()  # versions, device kind/platform/count, matmul precision, host
        result = {
            **result,
            "config": {
                "model": args.model, "data": f"{name}:{split}", "data_dir": str(args.data_dir),
                "n_pieces": n, "frame_threshold": threshold,
                "onset_tolerance_s": evaluate.ONSET_TOLERANCE_S, "offset_ratio": evaluate.OFFSET_RATIO,
                "aggregate": "mean over pieces", "versions": env["versions"],
            },
            "environment": env,
        }
        atomic_write(args.json, json.dumps(result, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
