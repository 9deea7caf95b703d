"""The grid's answers: held-out F1 per variant and the retraining contrasts, at the piece level.

A variant's (B, stack) F1 and a contrast ``a − b`` (e.g. B = 3 − B = 1, full − fund stack; seed s
paired with seed s, same batches) are matrices ``[n_seeds, n_pieces]`` of per-seed, per-piece
values. The reported interval (``crossed``) treats seeds and test pieces both as random,
:func:`amt_jax.stats.crossed_ci`: it says what retraining with new seeds and scoring on new
pieces would give. Beside it: the interval over pieces of the seed-averaged values with the
trained models held fixed (``mean, ci_low, ci_high``, :func:`amt_jax.stats.cluster_ci` /
``piece_contrast``: t over pieces) and the *seed spread* (``seeds``: per-seed means over pieces,
their standard deviation and a t interval over seeds, S − 1 df). With one seed only the models-fixed
interval exists (``crossed`` is None).

Contrasts: ``B=<b2> − B=<b1>`` for consecutive B within each stack and pooled over stacks (each
piece's value averaged over them), and ``full − fund`` within each B and pooled over B.

Each variant's row also gives its trainable parameter count and widths (Flax's count of the run
configs' architecture, :func:`amt_jax.training.capacity.count_parameters`; equal across variants
up to 2 % in a capacity-matched grid, 0.3 % in ``matched``) and, per seed, the step its training ended at and why
(``budget``, or ``plateau`` with a plateau criterion).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from etils import epath

from amt_jax import io as amt_io
from amt_jax import stats
from amt_jax.training import capacity
from amt_jax.training.grid import MANIFEST, GridConfig, check_finished, expand, is_done
from amt_jax.training.grid_eval import LEVELS

REPORT_FILE = "report.json"


def load_scores(workdir: epath.PathLike) -> tuple[GridConfig, dict[tuple[int, str], dict[int, dict]], list[str], list[str]]:
    """``(config, {(B, stack): {seed: {piece id: {level: f1}}}}, finished ids, missing ids)`` of a grid workdir."""
    config, scores, _, finished, missing = load_runs(workdir)
    return config, scores, finished, missing


def load_runs(workdir: epath.PathLike) -> tuple[GridConfig, dict, dict, list[str], list[str]]:
    """:func:`load_scores` with, after the scores, ``{(B, stack): {seed: {"step", "stopped"}}}``:
    the step each finished run's training ended at and why (``stopped``: ``budget``/``plateau``
    for runs with a plateau criterion, else None)."""
    workdir = epath.Path(workdir)
    path = workdir / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{workdir} holds no training grid ({MANIFEST} missing); run: "
                                f"python -m amt_jax grid run CONFIG --workdir {workdir}")
    config = GridConfig.from_dict(json.loads(path.read_text())["config"])
    scores: dict[tuple[int, str], dict[int, dict]] = {}
    ends: dict[tuple[int, str], dict[int, dict]] = {}
    finished, missing = [], []
    for run in expand(config):
        if not is_done(workdir, run):
            missing.append(run.id)
            continue
        record = check_finished(workdir, run)  # same config and onset thresholds as the grid's
        scores.setdefault(run.variant, {})[run.seed] = {
            piece: {level: s[level]["f1"] for level in LEVELS} for piece, s in record["per_piece"].items()}
        ends.setdefault(run.variant, {})[run.seed] = {"step": record.get("step"),
                                                      "stopped": record.get("stopped", {}).get("reason")}
        finished.append(run.id)
    return config, scores, ends, finished, missing


def _matrix(runs: dict[int, dict], pieces: Sequence[str], level: str) -> np.ndarray:
    """F1 ``[n_seeds, n_pieces]`` (seeds sorted)."""
    return np.array([[runs[s][p][level] for p in pieces] for s in sorted(runs)], np.float64)


def _seed_spread(per_seed: np.ndarray, confidence: float) -> dict:
    """Per-seed means over pieces [S], their std (ddof 1) and a t interval over seeds (S − 1 df)."""
    n = len(per_seed)
    std = float(np.std(per_seed, ddof=1)) if n > 1 else float("nan")
    low, high = stats.t_interval(np.mean(per_seed), std / np.sqrt(n), n - 1, confidence=confidence) if n > 1 else (np.nan, np.nan)
    return {"per_seed": per_seed.tolist(), "std": std, "ci_low": float(low), "ci_high": float(high), "n_seeds": n}


def _summary(values: dict) -> dict:
    return {k: (float(v) if np.ndim(v) == 0 else np.asarray(v).tolist()) for k, v in values.items()}


def variant_row(runs: dict[int, dict], pieces: Sequence[str], level: str, confidence: float) -> dict:
    """A variant's mean F1 with its piece-level interval (t over seed-averaged pieces) and seed spread."""
    f1 = _matrix(runs, pieces, level)
    return {**_summary(stats.cluster_ci(f1.mean(axis=0), confidence=confidence)),
            "seeds": _seed_spread(f1.mean(axis=1), confidence), "crossed": _crossed(f1, confidence)}


def _crossed(values: np.ndarray, confidence: float) -> dict | None:
    return stats.crossed_ci(values, confidence=confidence) if values.shape[0] >= 2 else None


def contrast(a: Sequence[dict[int, dict]], b: Sequence[dict[int, dict]], pieces: Sequence[str], level: str,
             confidence: float) -> dict:
    """``a − b`` where a and b are lists of variants (each {seed: scores}) averaged per piece and seed:
    piece-level :func:`~amt_jax.stats.piece_contrast` over seed-averaged values, seed spread beside
    (seeds common to all variants, paired by number)."""
    seeds = sorted(set.intersection(*(set(v) for v in (*a, *b))))
    if not seeds:
        raise ValueError("contrast needs at least one seed finished in every variant, got none")

    def cube(variants):  # [n_variants, n_seeds, n_pieces] -> mean over variants: [n_seeds, n_pieces]
        return np.mean([_matrix({s: v[s] for s in seeds}, pieces, level) for v in variants], axis=0)

    fa, fb = cube(a), cube(b)
    out = _summary(stats.piece_contrast(fa.mean(axis=0), fb.mean(axis=0), confidence=confidence))
    return {**out, "seeds": _seed_spread((fa - fb).mean(axis=1), confidence), "crossed": _crossed(fa - fb, confidence)}


def _contrast_specs(config: GridConfig, variants) -> list[tuple[str, list, list]]:
    """(name, a variants, b variants) of every contrast whose variants are present."""
    specs = []
    bs, stacks = config.bins_per_semitone, config.stacks
    for lo, hi in zip(bs, bs[1:]):
        for stack in (*stacks, None):
            within = [stack] if stack is not None else list(stacks)
            name = f"B={hi} − B={lo}" + (f" ({stack})" if stack else " (pooled over stacks)")
            specs.append((name, [(hi, s) for s in within], [(lo, s) for s in within]))
    if {"full", "fund"} <= set(stacks):
        for b in (*bs, None):
            within = [b] if b is not None else list(bs)
            name = "full − fund" + (f" (B={b})" if b is not None else " (pooled over B)")
            specs.append((name, [(x, "full") for x in within], [(x, "fund") for x in within]))
    return [(n, a, b) for n, a, b in specs if all(v in variants for v in (*a, *b))]


def grid_report(workdir: epath.PathLike, *, confidence: float = 0.95) -> dict:
    """The report of a grid workdir (finished runs only): ``{"variants": [...], "contrasts": [...],
    "pieces", "finished", "missing", "config", "environment"}``; every row holds one entry per level
    (``frame``, ``note_onset``) with ``mean, standard_error, ci_low, ci_high, n_clusters`` (pieces,
    models fixed), ``seeds`` (spread) and ``crossed`` (seeds and pieces random,
    :func:`~amt_jax.stats.crossed_ci`; None with one seed), contrasts also ``t, p``."""
    config, scores, ends, finished, missing = load_runs(workdir)
    if not scores:
        raise ValueError(f"{workdir} holds no finished run yet (missing: {', '.join(missing)})")
    piece_sets = {tuple(sorted(p)) for runs in scores.values() for p in runs.values()}
    if len(piece_sets) != 1:
        raise ValueError(f"runs in {workdir} were scored on different test pieces ({len(piece_sets)} sets); rescore them")
    pieces = list(piece_sets.pop())
    models = {run.variant: run.config.model for run in expand(config)}
    variants = [{"bins_per_semitone": b, "stack": s, "n_seeds": len(scores[(b, s)]),
                 "parameters": capacity.count_parameters(models[(b, s)]), "widths": list(capacity.widths(models[(b, s)])),
                 "steps": {str(seed): e["step"] for seed, e in sorted(ends[(b, s)].items())},
                 "stopped": {str(seed): e["stopped"] for seed, e in sorted(ends[(b, s)].items())},
                 **{level: variant_row(scores[(b, s)], pieces, level, confidence) for level in LEVELS}}
                for b in config.bins_per_semitone for s in config.stacks if (b, s) in scores]
    counts = [v["parameters"] for v in variants]
    contrasts = [{"contrast": name, "a": [list(v) for v in a], "b": [list(v) for v in b],
                  **{level: contrast([scores[v] for v in a], [scores[v] for v in b], pieces, level, confidence)
                     for level in LEVELS}}
                 for name, a, b in _contrast_specs(config, scores)]
    return {"grid": config.name, "confidence": confidence, "levels": list(LEVELS), "n_pieces": len(pieces),
            "pieces": pieces, "finished": finished, "missing": missing, "variants": variants, "contrasts": contrasts,
            "parameters": {"min": min(counts), "max": max(counts), "spread": capacity.spread(counts),
                           "target": config.target_parameters},
            "unit": "crossed: seeds and test pieces random; mean/ci_*: test pieces, trained models fixed", "config": config.to_dict(),
            "environment": amt_io.environment()}


def _cell(row: dict, sign: str = "", p: bool = False) -> str:
    """``mean [crossed CI] (p) | models fixed [CI]`` (crossed: seeds and pieces random)."""
    fixed = f"[{row['ci_low']:{sign}.3f}, {row['ci_high']:{sign}.3f}]"
    c = row.get("crossed")
    if c is None:
        return f"{row['mean']:{sign}.3f} {fixed}" + (f" (p {row['p']:.2g})" if p else "") + " (one seed)"
    return (f"{c['mean']:{sign}.3f} [{c['ci_low']:{sign}.3f}, {c['ci_high']:{sign}.3f}]"
            + (f" (p {c['p']:.2g})" if p else "") + f" | fixed {fixed}")


def _steps(v: dict) -> str:
    """The steps the variant's runs ended at (a range over seeds) and how many stopped on a plateau."""
    steps = [s for s in v.get("steps", {}).values() if s is not None]
    if not steps:
        return "?"
    text = f"{min(steps)}" if min(steps) == max(steps) else f"{min(steps)}–{max(steps)}"
    plateau = sum(r == "plateau" for r in v.get("stopped", {}).values())
    return text + (f" ({plateau}p)" if plateau else "")


def format_report(report: dict) -> str:
    """Plain-text tables: variants (trainable parameters, training steps, mean F1 [interval over
    seeds and pieces] | [models fixed]) and contrasts (ΔF1 [CI] (p) | [models fixed])."""
    pct = int(round(100 * report["confidence"]))
    p = report.get("parameters")
    lines = [f"grid {report['grid']}: {len(report['finished'])} runs finished, {len(report['missing'])} missing; "
             f"{report['n_pieces']} test pieces; mean [{pct} % interval over seeds and pieces, both random] "
             f"(p) | fixed [{pct} % interval over pieces, trained models held fixed]"]
    if p:
        target = "" if p["target"] is None else f", matched to {p['target']}"
        lines.append(f"parameters {p['min']:,}–{p['max']:,} (spread {100 * p['spread']:.1f} %{target}); steps: where "
                     "each variant's runs ended (Np: N stopped on a validation plateau)")
    lines.append("")
    head = "".join(f"{level + ' F1 [CI] | fixed [CI]':<46}" for level in report["levels"])
    lines += [f"{'variant':<14}{'seeds':>6}{'params':>9}{'steps':>15}  {head}"]
    for v in report["variants"]:
        cells = "".join(f"{_cell(v[level]):<46}" for level in report["levels"])
        params = f"{v['parameters']:,}" if "parameters" in v else "?"
        lines.append(f"{'B=' + str(v['bins_per_semitone']) + ' ' + v['stack']:<14}{v['n_seeds']:>6}{params:>9}"
                     f"{_steps(v):>15}  {cells}")
    lines += ["", f"{'contrast':<34}" + "".join(f"{'Δ' + level + ' F1 [CI] (p) | fixed [CI]':<62}" for level in report["levels"])]
    for c in report["contrasts"]:
        cells = "".join(f"{_cell(c[level], '+', p=True):<62}" for level in report["levels"])
        lines.append(f"{c['contrast']:<34}{cells}")
    return "\n".join(lines)


def write_report(workdir: epath.PathLike, *, confidence: float = 0.95, path: epath.PathLike | None = None) -> dict:
    """:func:`grid_report`, written atomically (strict JSON) to ``path`` (default ``DIR/report.json``)."""
    report = grid_report(workdir, confidence=confidence)
    amt_io.atomic_write(epath.Path(workdir) / REPORT_FILE if path is None else path, amt_io.strict_json(report))
    return report

