"""``python -m amt_jax evaluate --model M --data NAME:SPLIT --data-dir DIR [--json OUT.json]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from amt_jax import data
from amt_jax.models import registry
from amt_jax.transcription import evaluate
from amt_jax.io import atomic_write, environment

HELP = "Score a model on a dataset split with mir_eval (frame, note-onset and note level)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True,
        help="a model spec (basic-pitch, trained:DIR or a bare training DIR, random:SPEC, py:FILE.py:FUNCTION, "
             "oracle = the labels themselves, scores 1)",
    )
    parser.add_argument("--data", required=True, help="NAME[:SPLIT], e.g. chorales:test (split default test)")
    parser.add_argument("--data-dir", type=Path, required=True, help="tfds data directory the dataset was built in")
    parser.add_argument("--json", type=Path, default=None, help="write the scores here (replaced atomically)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N pieces")
    parser.add_argument(
        "--frame-threshold", type=float, default=None,
        help=f"activation counted as on (frame level and note decoding); default: the model's own (a trained "
        f"model's validation-chosen threshold from its eval.json, else {evaluate.FRAME_THRESHOLD})",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="model windows per batch (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    name, split = data.parse_spec(args.data)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    spec = registry.cli_spec(args.model)
    registry.check(spec)
    if args.frame_threshold is not None and not 0 < args.frame_threshold <= 1:
        raise ValueError(f"--frame-threshold must be in (0, 1], got {args.frame_threshold}")
    if args.json is not None and not (args.json.parent if str(args.json.parent) else Path(".")).is_dir():
        raise FileNotFoundError(f"output directory does not exist: {args.json.parent}")
    model = registry.load(spec)
    threshold = model.frame_threshold if args.frame_threshold is None else args.frame_threshold
    transcribe = evaluate.transcriber(model, batch_size=args.batch_size, frame_threshold=threshold)
    source = data.load(name, split, data_dir=args.data_dir)
    n = len(source) if args.limit is None else min(args.limit, len(source))
    print(f"{'piece':<24} {'frame P/R/F1':>20} {'note onset P/R/F1':>20} {'note P/R/F1':>20}")
    named = {}  # piece id -> its instruments (recordings) or program, printed after its scores

    def row(piece: str, scores: dict) -> None:
        cells = " ".join(
            f"{'-' if scores[l] is None else '/'.join(f'{scores[l][k]:.3f}' for k in ('precision', 'recall', 'f1')):>20}"
            for l in evaluate.LEVELS
        )
        print(f"{piece:<24} {cells}{named.get(piece, '')}", flush=True)

    def examples():
        for i in range(n):
            ex = source[i]
            if "instruments" in ex:
                program = "mixed" if ex["program"] < 0 else f"program {ex['program']}"
                named[ex["id"]] = f"  {', '.join(ex['instruments'])} ({program})"
            yield ex

    result = evaluate.evaluate_examples(examples(), transcribe, threshold=threshold, progress=row)
    row(f"mean of {n} pieces", result)
    noted = sum(s["note"] is not None for s in result["per_piece"].values())
    if noted < n:
        print(f"(note levels: {'mean of the ' + str(noted) if noted else 'none of the'} piece(s) labelled with notes; "
              "the others are labelled with pitch tracks)")
    if args.json is not None:
        env = environment()  # versions, device kind/platform/count, matmul precision, host
        result = {
            **result,
            "config": {
                "model": spec, "model_identity": model.identity, "data": f"{name}:{split}", "data_dir": str(args.data_dir),
                "n_pieces": n, "frame_threshold": threshold,
                "onset_tolerance_s": evaluate.ONSET_TOLERANCE_S, "offset_ratio": evaluate.OFFSET_RATIO,
                "aggregate": "mean over pieces", "versions": env["versions"],
            },
            "environment": env,
        }
        atomic_write(args.json, json.dumps(result, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
