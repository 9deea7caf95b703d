"""F1 against mistuning: each model on the same test pieces rendered in tune, with every voice
detuned by ±10/25/50 cents, and with vibrato (the ``chorales`` configs ``tinysoundfont``,
``detune10``, ``detune25``, ``detune50``, ``vibrato``: same pieces, splits, programs and labels;
labels stay on the written key), and the change against in tune per piece.

The control of every Δ row is the same model on the same pieces in tune: the renderings differ by
the pitch bend alone. A model is a registry spec; ``--grid DIR`` adds every finished run of a
training grid (``python -m amt_jax grid run ...``), grouped into variants (B, stack) over their
seeds. A single model's interval is t over pieces (n_pieces − 1 df); a variant with ≥ 2 seeds also
gets the crossed interval (seeds and pieces both random, :func:`amt_jax.stats.crossed_ci`), which
says what retraining with new seeds and scoring new pieces would give.

Frame F1 is ``mir_eval.multipitch`` at the model's own threshold; note-onset F1 is
``mir_eval.transcription`` without offsets, after Basic Pitch's note decoding
(:mod:`amt_jax.transcription.evaluate`). A grid run is decoded exactly as the grid scores it
(:func:`amt_jax.training.grid_eval.piece_scores`, at the frame and onset thresholds its validation
pieces chose, from its ``eval.json``), so its in-tune row equals the grid's own test scores.

Command (the renderings built in one data directory: ``python -m amt_jax data build chorales
--config detune25 --data-dir $DATA``, about 4 min each for all 349 pieces on 2 cores)::

    python -m experiments.tuning --data-dir $DATA --out $OUT/tuning [--models basic-pitch ...] [--grid $GRID]

Scores per (model, rendering) are written atomically to ``$OUT/tuning/scores/`` as they finish,
so a rerun resumes; the table is printed and written to ``$OUT/tuning/tuning.json`` and
``tuning.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

RENDERINGS = ("tinysoundfont", "detune10", "detune25", "detune50", "vibrato")
IN_TUNE = RENDERINGS[0]
LEVELS = ("frame", "note_onset")
LABELS = {"tinysoundfont": "in tune", "detune10": "±10 cents", "detune25": "±25 cents", "detune50": "±50 cents",
          "vibrato": "vibrato 5–6 Hz, ±20–50 cents"}
_SEED = re.compile(r"_s(\d+)$")


def variant_of(spec: str) -> tuple[str, int | None]:
    """``(variant name, seed)``: a grid run ``trained:…/runs/b3_full_s1`` → ``("b3_full", 1)``; any
    other spec is its own variant with seed None."""
    if spec.startswith("trained:"):
        name = Path(spec[len("trained:"):]).name
        m = _SEED.search(name)
        if m:
            return name[: m.start()], int(m.group(1))
    return spec, None


def grid_specs(grid: str | Path) -> list[str]:
    """``trained:<run dir>`` of every finished run (its ``eval.json`` written) under ``grid/runs``."""
    runs = sorted(p for p in (Path(grid) / "runs").glob("*") if (p / "eval.json").is_file())
    if not runs:
        raise FileNotFoundError(f"--grid {grid}: no finished run under {Path(grid) / 'runs'}")
    return [f"trained:{p}" for p in runs]


def grid_run(spec: str) -> dict | None:
    """A grid run's ``eval.json`` (its validation-chosen ``thresholds``, its ``config``) for a
    ``trained:DIR`` spec whose DIR has one; None otherwise (other models are decoded at their
    own frame threshold and Basic Pitch's default onset threshold)."""
    if not spec.startswith("trained:"):
        return None
    path = Path(spec[len("trained:"):]) / "eval.json"
    return json.loads(path.read_text()) if path.is_file() else None


def agreement_with_grid(record: dict, *, tolerance: float = 1e-6) -> float | None:
    """A grid run's in-tune scores against its ``eval.json``'s test scores (same pieces, same
    decoding): the max |Δ F1| over pieces and levels; None for other models or other pieces;
    ValueError when it exceeds ``tolerance`` (the two paths should agree up to float rounding)."""
    run = grid_run(record["spec"])
    if run is None or record["rendering"] != IN_TUNE or set(record["per_piece"]) != set(run["per_piece"]):
        return None
    diffs = [abs(record["per_piece"][p][level] - run["per_piece"][p][level]["f1"])
             for p in record["per_piece"] for level in LEVELS if record["per_piece"][p][level] is not None]
    worst = max(diffs, default=0.0)
    if worst > tolerance:
        raise ValueError(f"{record['spec']}: in-tune F1 differs from its eval.json by {worst:.3g} (> {tolerance})")
    return worst


def _slug(spec: str) -> str:
    name, seed = variant_of(spec)
    short = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[-40:]
    return f"{short}{'' if seed is None else f'_s{seed}'}-{hashlib.sha1(spec.encode()).hexdigest()[:8]}"


def score(spec: str, rendering: str, *, data_dir: Path, split: str, out: Path, limit: int | None = None,
          model=None) -> dict:
    """Per-piece F1 of ``spec`` on ``chorales/<rendering>:<split>`` (cached in ``out/scores``);
    ``model``: ``registry.load(spec)`` already loaded (loaded here when None)."""
    from amt_jax import data
    from amt_jax import io as amt_io
    from amt_jax.models import registry
    from amt_jax.transcription import evaluate

    path = out / "scores" / f"{_slug(spec)}__{rendering}.json"
    model = registry.load(spec) if model is None else model
    run = grid_run(spec)
    if path.exists():  # reused only for the same model (weights), data, split, pieces and thresholds
        record = json.loads(path.read_text())
        same = {"spec": spec, "split": split, "limit": limit, "data_dir": str(data_dir),
                "identity": json.loads(json.dumps(model.identity, default=str)),
                "onset_threshold": None if run is None else float(run["thresholds"]["onset_threshold"])}
        if all(record.get(k) == v for k, v in same.items()):
            return record
    source = data.load(f"chorales/{rendering}", split, data_dir=data_dir)
    examples = (source[i] for i in range(len(source) if limit is None else min(limit, len(source))))
    t0 = time.perf_counter()
    if run is None:
        scores = evaluate.evaluate_examples(examples, evaluate.transcriber(model), threshold=model.frame_threshold)
        thresholds = {"frame_threshold": float(model.frame_threshold)}
    else:  # a grid run: decoded as the grid scores it, at the thresholds its validation pieces chose
        from amt_jax.training import grid_eval

        examples = list(examples)
        thresholds = {k: float(run["thresholds"][k]) for k in ("frame_threshold", "onset_threshold")}
        posts = grid_eval.posteriorgrams(model, examples, window_samples=run["config"]["window_samples"],
                                         batch_size=run["config"]["eval_batch_size"])
        scores = {"per_piece": {ex["id"]: grid_eval.piece_scores(post, ex, **thresholds) for post, ex in zip(posts, examples)}}
    record = {
        "spec": spec, "rendering": rendering, "split": split, "limit": limit, "data_dir": str(data_dir),
        "frame_threshold": thresholds["frame_threshold"], "onset_threshold": thresholds.get("onset_threshold"),
        "identity": model.identity,
        "seconds": time.perf_counter() - t0, "environment": amt_io.environment(),
        "per_piece": {piece: {level: (None if s[level] is None else s[level]["f1"]) for level in LEVELS}
                      for piece, s in scores["per_piece"].items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    amt_io.atomic_write(path, json.dumps(record, indent=1, default=str))
    return record


def _interval(values: np.ndarray, confidence: float) -> dict:
    """``values [n_seeds, n_pieces]`` → mean, t interval over seed-averaged pieces and, with ≥ 2
    seeds, the crossed interval."""
    from amt_jax import stats

    fixed = stats.cluster_ci(values.mean(axis=0), confidence=confidence)
    out = {"mean": float(values.mean()), "ci_low": float(fixed["ci_low"]), "ci_high": float(fixed["ci_high"]),
           "n_seeds": int(values.shape[0]), "n_pieces": int(values.shape[1]), "crossed": None}
    if values.shape[0] >= 2:
        crossed = stats.crossed_ci(values, confidence=confidence)
        out["crossed"] = {k: float(crossed[k]) for k in ("ci_low", "ci_high", "df")}
    return out


def summarize(records: Sequence[dict], *, confidence: float = 0.95) -> dict:
    """Per variant and rendering: each level's F1 and its change against the same pieces in tune.

    ``records``: :func:`score` outputs. Pieces are those every record of the variant scored (a
    ValueError if a rendering's pieces differ from in tune's: the renderings share pieces by
    construction). Returns ``{variant: {"seeds": [...], "renderings": {r: {level: {"f1": …,
    "delta": … | None}}}}}``.
    """
    by_variant: dict[str, dict[int | None, dict[str, dict]]] = {}
    for r in records:
        name, seed = variant_of(r["spec"])
        by_variant.setdefault(name, {}).setdefault(seed, {})[r["rendering"]] = r["per_piece"]
    out = {}
    for name, seeds in by_variant.items():
        order = sorted(seeds, key=lambda s: -1 if s is None else s)
        renderings = [r for r in RENDERINGS if all(r in seeds[s] for s in order)]
        if IN_TUNE not in renderings:
            raise ValueError(f"{name}: no in-tune scores ({IN_TUNE}) for every seed, the control of every Δ")
        pieces = sorted(seeds[order[0]][IN_TUNE])
        rows = {}
        for rendering in renderings:
            for s in order:
                if sorted(seeds[s][rendering]) != pieces:
                    raise ValueError(f"{name} seed {s}: {rendering} scored other pieces than {IN_TUNE}")
            rows[rendering] = {}
            for level in LEVELS:
                keep = [p for p in pieces if all(seeds[s][r][p][level] is not None for s in order for r in (rendering, IN_TUNE))]
                f1 = np.array([[seeds[s][rendering][p][level] for p in keep] for s in order], np.float64)
                ref = np.array([[seeds[s][IN_TUNE][p][level] for p in keep] for s in order], np.float64)
                rows[rendering][level] = {"f1": _interval(f1, confidence),
                                          "delta": None if rendering == IN_TUNE else _interval(f1 - ref, confidence)}
        out[name] = {"seeds": order, "renderings": rows}
    return out


def _fmt(v: dict, sign: bool = False) -> str:
    f = "{:+.3f}" if sign else "{:.3f}"
    text = f"{f.format(v['mean'])} [{f.format(v['ci_low'])}, {f.format(v['ci_high'])}]"
    if v["crossed"] is not None:
        text += f" ⟨{f.format(v['crossed']['ci_low'])}, {f.format(v['crossed']['ci_high'])}⟩"
    return text.replace("-", "−")


def format_table(summary: dict) -> str:
    """A markdown table: variant × rendering, F1 and Δ against in tune per level."""
    lines = ["| model | rendering | frame F1 | Δ frame F1 | note-onset F1 | Δ note-onset F1 |", "|---|---|---|---|---|---|"]
    for name, v in summary.items():
        seeds = [s for s in v["seeds"] if s is not None]
        label = name + (f" (seeds {', '.join(map(str, seeds))})" if seeds else "")
        for rendering, row in v["renderings"].items():
            cells = []
            for level in LEVELS:
                cells.append(_fmt(row[level]["f1"]))
                cells.append("—" if row[level]["delta"] is None else _fmt(row[level]["delta"], sign=True))
            lines.append(f"| {label} | {LABELS[rendering]} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("[…]: 95 % t interval over pieces (seed-averaged); ⟨…⟩: crossed, seeds and pieces both random "
                 "(≥ 2 seeds). Δ: against the same pieces (and seeds) in tune.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for scores/, tuning.json and tuning.md")
    parser.add_argument("--models", nargs="*", default=["basic-pitch"], help="registry specs (default basic-pitch)")
    parser.add_argument("--grid", type=Path, default=None, help="a training grid's workdir: add its finished runs")
    parser.add_argument("--renderings", nargs="+", default=list(RENDERINGS), help=f"chorales configs (default: {' '.join(RENDERINGS)})")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N pieces")
    args = parser.parse_args(argv)
    bad = [r for r in args.renderings if r not in RENDERINGS]
    if bad:
        parser.error(f"--renderings: unknown {bad[0]!r}; valid: {', '.join(RENDERINGS)}")
    if IN_TUNE not in args.renderings:
        parser.error(f"--renderings must include {IN_TUNE} (the in-tune control of every Δ)")
    if args.limit is not None and args.limit < 2:
        parser.error(f"--limit must be >= 2 (an interval over pieces), got {args.limit}")
    if not args.data_dir.is_dir():
        parser.error(f"--data-dir {args.data_dir} does not exist")
    from amt_jax.models import registry

    specs = [registry.cli_spec(s) for s in args.models] + (grid_specs(args.grid) if args.grid else [])
    for s in specs:
        registry.check(s)
    if not specs:
        parser.error("no model: give --models or --grid")
    records = []
    for spec in specs:
        model = registry.load(spec)  # once per model, not per rendering
        for rendering in args.renderings:
            r = score(spec, rendering, data_dir=args.data_dir, split=args.split, out=args.out, limit=args.limit,
                      model=model)
            frame = np.mean([v["frame"] for v in r["per_piece"].values()])
            print(f"{variant_of(spec)[0]} {variant_of(spec)[1] if variant_of(spec)[1] is not None else ''} {rendering}: "
                  f"frame F1 {frame:.3f} over {len(r['per_piece'])} pieces ({r['seconds']:.0f} s)", flush=True)
            records.append(r)
            if rendering == IN_TUNE:
                check = agreement_with_grid(r)
                if check is not None:
                    print(f"  in tune vs the grid's own test scores (eval.json): max |Δ F1| {check:.2e}", flush=True)
    summary = summarize(records)
    table = format_table(summary)
    print(table)
    from amt_jax import io as amt_io

    amt_io.atomic_write(args.out / "tuning.json", json.dumps({"summary": summary, "specs": specs, "split": args.split,
                                                              "renderings": args.renderings}, indent=1))
    amt_io.atomic_write(args.out / "tuning.md", table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
