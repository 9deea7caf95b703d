"""``python -m amt_jax evaluate --model M --data NAME:SPLIT --data-dir DIR [--json OUT.json]``.

Note models (sigmoids over keys) are scored with ``mir_eval.multipitch`` and ``mir_eval.transcription``
(:mod:`amt_jax.transcription.evaluate`); pitch trackers (``Model.tracks_pitch``, e.g. ``pesto``) with
``mir_eval.melody`` on pieces with one voiced pitch track (:mod:`amt_jax.transcription.melody`), e.g.
``--data chorales/solo:test``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from amt_jax import data
from amt_jax.constants import SAMPLE_RATE
from amt_jax.models import registry
from amt_jax.transcription import evaluate, melody
from amt_jax.io import atomic_write, environment

HELP = ("Score a model on a dataset split with mir_eval (frame, note-onset and note level; pitch trackers: "
        "raw pitch and chroma accuracy, overall accuracy, voicing)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True,
        help="a model spec (basic-pitch, pesto, trained:DIR or a bare training DIR, random:SPEC, py:FILE.py:FUNCTION, "
             "oracle = the labels themselves, scores 1)",
    )
    parser.add_argument("--data", required=True, help="NAME[:SPLIT], e.g. chorales:test or chorales/solo:test for pitch "
                        "trackers (split default test)")
    parser.add_argument("--data-dir", type=Path, required=True, help="tfds data directory the dataset was built in")
    parser.add_argument("--json", type=Path, default=None, help="write the scores here (replaced atomically)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N pieces (pitch trackers: in "
                        "piece-id order, every voice of each)")
    parser.add_argument(
        "--frame-threshold", type=float, default=None,
        help=f"activation counted as on (frame level and note decoding); default: the model's own (a trained "
        f"model's validation-chosen threshold from its eval.json, else {evaluate.FRAME_THRESHOLD})",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="model windows per batch (default %(default)s)")
    parser.add_argument(
        "--voicing-threshold", type=float, default=None,
        help=f"pitch trackers: confidence at or above which a frame counts as voiced (default {melody.VOICING_THRESHOLD})",
    )
    parser.add_argument(
        "--step-ms", type=float, default=None,
        help=f"pitch trackers: frame step, rounded to whole samples of the audio (default {melody.STEP_MS:g} ms)",
    )


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
    if args.voicing_threshold is not None:
        melody.check_threshold(args.voicing_threshold)
    if args.step_ms is not None:
        melody.step_hop(args.step_ms)
    model = registry.load(spec)
    if model.tracks_pitch:
        return _run_melody(args, model, spec, name, split)
    for flag, value in (("--voicing-threshold", args.voicing_threshold), ("--step-ms", args.step_ms)):
        if value is not None:
            raise ValueError(f"{flag} applies to pitch trackers; model {spec!r} transcribes notes")
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
        result = {**result, **_config(args, spec, model, name, split, n, frame_threshold=threshold,
                                      onset_tolerance_s=evaluate.ONSET_TOLERANCE_S, offset_ratio=evaluate.OFFSET_RATIO)}
        atomic_write(args.json, json.dumps(result, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def _config(args, spec: str, model, name: str, split: str, n: int, **extra) -> dict:
    """The JSON's ``config`` and ``environment`` entries."""
    env = environment()  # versions, device kind/platform/count, matmul precision, host
    return {
        "config": {"model": spec, "model_identity": model.identity, "data": f"{name}:{split}", "data_dir": str(args.data_dir),
                   "n_pieces": n, **extra, "aggregate": "mean over pieces", "versions": env["versions"]},
        "environment": env,
    }


MELODY_HEADER = ("raw pitch", "raw chroma", "overall", "voicing recall", "false alarm")


def _melody_row(label: str, scores: dict, note: str = "") -> None:
    cells = " ".join(f"{scores[m]:>{len(h)}.3f}" for m, h in zip(melody.METRICS, MELODY_HEADER))
    print(f"{label:<28} {cells}{note}", flush=True)


def _id_order(example_id: str) -> tuple:
    """Sort key: by piece, then voice number (``bwv1/2`` before ``bwv1/10``), then id."""
    voice = example_id.split("/", 1)[1] if "/" in example_id else ""
    return data.piece_of(example_id), (0, int(voice)) if voice.isdigit() else (1, 0), example_id


def _run_melody(args: argparse.Namespace, model, spec: str, name: str, split: str) -> int:
    """Score a pitch tracker with mir_eval.melody: a row per voice, a row per piece, the mean over pieces."""
    if args.frame_threshold is not None:
        raise ValueError(f"--frame-threshold applies to note models; model {spec!r} is a pitch tracker "
                         "(use --voicing-threshold)")
    threshold = melody.VOICING_THRESHOLD if args.voicing_threshold is None else args.voicing_threshold
    step_ms = melody.STEP_MS if args.step_ms is None else args.step_ms
    track, hop_s = melody.pitch_tracker(model, sample_rate=SAMPLE_RATE, step_ms=step_ms)
    source = data.load(name, split, data_dir=args.data_dir)
    ids = sorted(((source[i]["id"], i) for i in range(len(source))), key=lambda p: _id_order(p[0]))
    pieces = sorted({data.piece_of(i) for i, _ in ids})[: args.limit]
    order = [i for example_id, i in ids if data.piece_of(example_id) in set(pieces)]
    print(f"{'piece / voice':<28} {' '.join(MELODY_HEADER)}   (voiced: confidence >= {threshold:g}; "
          f"{1000 * hop_s:.3f} ms frames)")

    programs = {}  # piece -> its program (solo voices share their piece's), printed on its row

    def show(example: dict, scores) -> None:
        programs[data.piece_of(example["id"])] = "mixed" if example["program"] < 0 else f"program {example['program']}"
        names = ", ".join(example.get("instruments") or ())
        if isinstance(scores, str):
            print(f"{example['id']:<28} does not apply: {scores}; skipped", flush=True)
        else:
            _melody_row(example["id"], scores, f"  {names}" if names else "")

    result = melody.evaluate_tracks((source[i] for i in order), track, hop_s=hop_s, threshold=threshold, progress=show)
    print()
    for piece, scores in result["per_piece"].items():
        _melody_row(piece, scores, f"  mean of {len(scores['voices'])} voice(s), {programs[piece]}")
    _melody_row(f"mean of {result['n_pieces']} pieces", result["melody"])
    if result["skipped"]:
        print(f"({len(result['skipped'])} example(s) skipped: melody metrics need exactly one voiced pitch track)")
    if args.json is not None:
        extra = {"voicing_threshold": threshold, "step_ms": 1000 * hop_s, "cent_tolerance": melody.CENT_TOLERANCE,
                 "reference_resampling": "mir_eval.melody.to_cent_voicing(hop=step)"}
        atomic_write(args.json, json.dumps({**result, **_config(args, spec, model, name, split, result["n_pieces"], **extra)},
                                           indent=2))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
