"""``python -m amt_jax evaluate --model M --data NAME:SPLIT --data-dir DIR [--json OUT.json]``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

from amt_jax import data, evaluate

HELP = "Score a model on a dataset split with mir_eval (frame, note-onset and note level)."

# Registration point: a named model goes in MODEL_NAMES and resolve_model; a directory given as
# --model is a trained checkpoint, loaded by amt_jax.train.load_checkpoint (see _checkpoint_model).
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
    parser.add_argument("--frame-threshold", type=float, default=evaluate.FRAME_THRESHOLD, help="activation counted as on, frame level (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8, help="model windows per batch (default %(default)s)")


def resolve_model(spec: str, *, batch_size: int = 8):
    """``model(example) -> evaluate.Transcription`` for a model name or checkpoint directory."""
    if spec == "oracle":
        return evaluate.reference
    if spec == "basic-pitch":
        from amt_jax import pretrained

        return _posteriorgram_model(pretrained.basic_pitch(), batch_size=batch_size)
    if os.path.isdir(spec):
        return _checkpoint_model(Path(spec), batch_size=batch_size)
    raise ValueError(f"unknown model {spec!r}; valid models: {', '.join(MODEL_NAMES)}, or a checkpoint directory")


def _checkpoint_model(path: Path, *, batch_size: int):
    """A trained model: ``amt_jax.train.load_checkpoint(path)`` must give an object with
    ``frontend``, ``apply``, ``params`` like ``pretrained.basic_pitch()`` (note/onset outputs)."""
    try:
        from amt_jax import train
    except ImportError:
        raise ValueError(f"cannot load checkpoint {path}: amt_jax.train is not available") from None
    if not hasattr(train, "load_checkpoint"):
        raise ValueError(f"cannot load checkpoint {path}: amt_jax.train has no load_checkpoint(path)")
    return _posteriorgram_model(train.load_checkpoint(path), batch_size=batch_size)


def _posteriorgram_model(model, *, batch_size: int):
    """Whole-file inference + Basic Pitch note decoding for any model with note/onset outputs."""
    from amt_jax import inference, notes
    from amt_jax.data.labels import make_notes

    def transcribe(example: dict):
        post = inference.transcribe_audio(example["audio"], model=model, batch_size=batch_size)
        events = notes.decode_notes(post["note"], post["onset"])
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
    if not 0 < args.frame_threshold <= 1:
        raise ValueError(f"--frame-threshold must be in (0, 1], got {args.frame_threshold}")
    if args.json is not None and not (args.json.parent if str(args.json.parent) else Path(".")).is_dir():
        raise FileNotFoundError(f"output directory does not exist: {args.json.parent}")
    model = resolve_model(args.model, batch_size=args.batch_size)
    source = data.load(name, split, data_dir=args.data_dir)
    n = len(source) if args.limit is None else min(args.limit, len(source))
    print(f"{'piece':<24} {'frame P/R/F1':>20} {'note onset P/R/F1':>20} {'note P/R/F1':>20}")

    def row(piece: str, scores: dict) -> None:
        cells = " ".join(f"{'/'.join(f'{scores[l][k]:.3f}' for k in ('precision', 'recall', 'f1')):>20}" for l in evaluate.LEVELS)
        print(f"{piece:<24} {cells}", flush=True)

    result = evaluate.evaluate_examples(
        (source[i] for i in range(n)), model, threshold=args.frame_threshold, progress=row
    )
    row(f"mean of {n} pieces", result)
    if args.json is not None:
        result = {
            **result,
            "config": {
                "model": args.model, "data": f"{name}:{split}", "data_dir": str(args.data_dir),
                "n_pieces": n, "frame_threshold": args.frame_threshold,
                "onset_tolerance_s": evaluate.ONSET_TOLERANCE_S, "offset_ratio": evaluate.OFFSET_RATIO,
                "aggregate": "mean over pieces", "versions": _versions(),
            },
        }
        tmp = args.json.with_name(f".{args.json.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(result, indent=2))
            os.replace(tmp, args.json)
        finally:
            if tmp.exists():
                tmp.unlink()
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def _versions() -> dict:
    from importlib import metadata

    import amt_jax

    return {
        "python": platform.python_version(), "amt_jax": amt_jax.__version__,
        **{pkg: metadata.version(pkg) for pkg in ("jax", "mir_eval", "numpy", "tensorflow-datasets")},
    }
