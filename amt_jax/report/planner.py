"""Plan a sweep from a pilot: how many pieces and draws each cell needs for a target crossed CI
half-width (draws and pieces both random: the interval every cell reports), from the variance
components of the pilot's draw × clip matrices.

Each pilot cell's draw × clip matrix (its probe's ``draw_clip_values``: the importances, the
reliance contrast, the factorial interaction) is split into between-pieces, within-pieces,
between-draws and residual variance (:func:`amt_jax.stats.variance_components`); the half-widths
of a run with P pieces × m clips and D draws follow (:func:`amt_jax.stats.planned_halfwidth`), and
:func:`amt_jax.stats.plan_sizes` finds the fewest pieces, with draws enough that the Monte Carlo
part stays a small fraction. :func:`check_rows` checks a config's sizes against the pilot: the
half-widths they give and whether their Monte Carlo SE stays within the fraction the config states.
"""

from __future__ import annotations

import numpy as np

from amt_jax import stats
from amt_jax.report.results import Results, as_cell


def pilot_components(results: Results) -> list[tuple[dict, dict, dict]]:
    """``(cell, record, components)`` of every finished pilot cell that gives a row and has a draw ×
    clip matrix with >= 2 draws, >= 2 clips and >= 2 pieces. A cell tested against a control (the
    seed harmonic family) is planned from its difference matrix, what the summary tests."""
    out = []
    for cell in results.cells:
        if not as_cell(cell).probe.row or cell["id"] not in results.finished:
            continue
        record, arrays = results.finished[cell["id"]]
        control = results.control_id(cell)
        if control is not None:
            name = as_cell(cell).probe.draw_clip_values
            other = results.finished.get(control, (None, {}))[1]
            if arrays.get(name) is None or other.get(name) is None:
                continue
            arrays = {**arrays, name: np.asarray(arrays[name], np.float64) - np.asarray(other[name], np.float64)}
            diff = stats.crossed_estimate(arrays[name], arrays.get("clusters"))  # what the summary reports
            record = {"result": {"crossed_ci_low": diff["crossed_ci_low"], "crossed_ci_high": diff["crossed_ci_high"]}}
        comp = components(as_cell(cell).probe, arrays)
        if comp is not None:
            out.append((cell, record, comp))
    return out


def plan_rows(results: Results, *, halfwidth: float, clips_per_piece: float | None = None, mc_fraction: float = 0.25,
              confidence: float = 0.95) -> list[dict]:
    """Per finished importance cell of the pilot: its variance components, the pilot's own
    crossed half-width (predicted and observed), and the pieces and draws
    :func:`~amt_jax.stats.plan_sizes` recommends for ``halfwidth`` (with ``clips_per_piece`` clips
    per piece: the pilot's by default)."""
    rows = []
    for cell, record, comp in pilot_components(results):
        m = comp["clips_per_piece"] if clips_per_piece is None else float(clips_per_piece)
        pilot = stats.planned_halfwidth(comp, n_pieces=comp["n_pieces"], clips_per_piece=comp["clips_per_piece"],
                                        n_draws=comp["n_draws"], confidence=confidence)
        plan = stats.plan_sizes(comp, halfwidth=halfwidth, clips_per_piece=m, mc_fraction=mc_fraction,
                                confidence=confidence)
        rows.append({"cell": cell["id"], "model": cell["model"], "kind": cell["kind"], **comp,
                     "pilot_halfwidth": pilot["crossed"], "observed_halfwidth": _half(record),
                     "target_halfwidth": float(halfwidth), "recommended_clips_per_piece": m,
                     "recommended_pieces": plan["n_pieces"], "recommended_draws": plan["n_draws"],
                     "predicted_halfwidth": plan["crossed"], "predicted_mc_halfwidth": plan["mc"]})
    return rows


def check_rows(results: Results, *, n_pieces: int, clips_per_piece: float, config, mc_fraction: float | None,
               confidence: float = 0.95) -> list[dict]:
    """A config's sizes against the pilot, per pilot cell: the predicted crossed, piece-level and
    Monte Carlo half-widths of a run with ``n_pieces`` × ``clips_per_piece`` clips and the draws
    ``config`` gives that cell's kind (its probe's ``draws``), the ratio MC SE / piece SE, and
    whether it is at most the ``mc_fraction`` the config states (None: no claim)."""
    rows = []
    for cell, _, comp in pilot_components(results):
        n_draws = as_cell(cell).probe.draws(config)
        pred = stats.planned_halfwidth(comp, n_pieces=n_pieces, clips_per_piece=clips_per_piece, n_draws=n_draws,
                                       confidence=confidence)
        ratio = pred["mc_standard_error"] / pred["piece_standard_error"] if pred["piece_standard_error"] > 0 else np.inf
        rows.append({"cell": cell["id"], "kind": cell["kind"], "n_draws": int(n_draws), "crossed": pred["crossed"],
                     "piece": pred["piece"],
                     "mc": pred["mc"], "mc_ratio": float(ratio), "claim": mc_fraction,
                     "holds": None if mc_fraction is None else bool(ratio <= mc_fraction)})
    return rows


def check_table(rows: list[dict]) -> str:
    """:func:`check_rows` as a fixed-width text table."""
    head = f"{'cell':<44} {'draws':>6} {'crossed hw':>10} {'piece hw':>9} {'MC hw':>9} {'MC/piece SE':>11} {'claim':>6} {'holds':>6}"
    lines = [head, "-" * len(head)]
    for r in rows:
        claim = "-" if r["claim"] is None else f"{r['claim']:g}"
        holds = "-" if r["holds"] is None else ("yes" if r["holds"] else "NO")
        lines.append(f"{r['cell']:<44} {r['n_draws']:>6} {r['crossed']:>10.3g} {r['piece']:>9.3g} {r['mc']:>9.3g} {r['mc_ratio']:>11.3g} "
                     f"{claim:>6} {holds:>6}")
    return "\n".join(lines)


def components(probe, arrays: dict) -> dict | None:
    """Variance components of a cell's draw × clip matrix (its probe's ``draw_clip_values``; nan
    cells filled by the additive fit), or None without one of >= 2 draws, clips and pieces."""
    clusters = arrays.get("clusters")
    draw_clip = arrays.get(probe.draw_clip_values) if probe.draw_clip_values else None
    if draw_clip is None or draw_clip.ndim != 2 or min(draw_clip.shape) < 2 or clusters is None:
        return None
    measured = ~np.all(np.isnan(draw_clip), axis=0)
    if len(np.unique(clusters[measured])) < 2 or np.sum(~np.all(np.isnan(draw_clip), axis=1)) < 2:
        return None
    return {**stats.variance_components(draw_clip, clusters), "basis": "draw x clip"}


def _half(record: dict) -> float | None:
    """The crossed half-width the cell reported (a cell computed before crossed intervals: its piece-level one)."""
    r = record["result"]
    est = (r.get("reliance") or {}).get("contrast") or (r.get("factorial") or {}).get("interaction") or {}
    lo = est.get("crossed_ci_low", r.get("crossed_ci_low"))
    hi = est.get("crossed_ci_high", r.get("crossed_ci_high"))
    if lo is None or hi is None:
        lo, hi = est.get("piece_ci_low", r.get("clip_ci_low")), est.get("piece_ci_high", r.get("clip_ci_high"))
    return None if lo is None or hi is None else (float(hi) - float(lo)) / 2


def plan_table(rows: list[dict]) -> str:
    """The plan as a fixed-width text table."""
    head = f"{'cell':<44} {'pieces':>6} {'between':>9} {'within':>9} {'draws':>9} {'resid':>9} " \
           f"{'pilot hw':>9} {'→ pieces':>8} {'draws':>7} {'pred hw':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        def f(v):
            return "nan" if v is None or not np.isfinite(v) else f"{v:.3g}"

        pieces = "nan" if not np.isfinite(r["recommended_pieces"]) else str(int(r["recommended_pieces"]))
        draws = "nan" if not np.isfinite(r["recommended_draws"]) else str(int(r["recommended_draws"]))
        lines.append(f"{r['cell']:<44} {r['n_pieces']:>6} {f(r['between_pieces']):>9} {f(r['within_pieces']):>9} "
                     f"{f(r['between_draws']):>9} {f(r['residual']):>9} {f(r['pilot_halfwidth']):>9} {pieces:>8} "
                     f"{draws:>7} {f(r['predicted_halfwidth']):>9}")
    return "\n".join(lines)
