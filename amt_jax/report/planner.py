"""Plan a sweep from a pilot: how many pieces and draws each cell needs for a target piece-level
CI half-width, from the variance components of the pilot's draw × clip matrices.

The pilot's per-cell draw × clip importances are split into between-pieces, within-pieces,
between-draws and residual variance (:func:`amt_jax.stats.variance_components`); the
piece-level half-width of a run with P pieces × m clips and D draws follows
(:func:`amt_jax.stats.planned_halfwidth`), and :func:`amt_jax.stats.plan_sizes`
finds the fewest pieces, with draws enough that the Monte Carlo part stays a small fraction.
"""

from __future__ import annotations

import re

import numpy as np

from amt_jax import stats
from amt_jax.report.results import Results, as_cell


def plan_rows(results: Results, *, halfwidth: float, clips_per_piece: float | None = None, mc_fraction: float = 0.25,
              confidence: float = 0.95) -> list[dict]:
    """Per finished importance cell of the pilot: its variance components, the pilot's own
    piece-level half-width, and the pieces and draws :func:`~amt_jax.stats.plan_sizes`
    recommends for ``halfwidth`` (with ``clips_per_piece`` clips per piece: the pilot's by default)."""
    rows = []
    for cell in results.cells:
        if not as_cell(cell).probe.row or cell["id"] not in results.finished:
            continue
        record, arrays = results.finished[cell["id"]]
        comp = _components(as_cell(cell).probe, arrays)
        if comp is None:
            continue
        m = comp["clips_per_piece"] if clips_per_piece is None else float(clips_per_piece)
        pilot = stats.planned_halfwidth(comp, n_pieces=comp["n_pieces"], clips_per_piece=comp["clips_per_piece"],
                                        n_draws=comp["n_draws"], confidence=confidence)
        plan = stats.plan_sizes(comp, halfwidth=halfwidth, clips_per_piece=m, mc_fraction=mc_fraction,
                                confidence=confidence)
        rows.append({"cell": cell["id"], "model": cell["model"], "kind": cell["kind"], **comp,
                     "pilot_halfwidth": pilot["piece"], "observed_halfwidth": _half(record),
                     "target_halfwidth": float(halfwidth), "recommended_clips_per_piece": m,
                     "recommended_pieces": plan["n_pieces"], "recommended_draws": plan["n_draws"],
                     "predicted_halfwidth": plan["piece"], "predicted_mc_halfwidth": plan["mc"]})
    return rows


def _components(probe, arrays: dict) -> dict | None:
    """Variance components of a cell: from its draw × clip matrix when it has a scalar one; else
    (pooled per-key probes: the reliance contrast, the factorial interaction) from the per-clip
    estimates alone, with the Monte Carlo part taken as negligible ("data only")."""
    clusters = arrays.get("clusters")
    draw_clip = arrays.get("draw_clip_importances")
    if draw_clip is not None and draw_clip.ndim == 2 and min(draw_clip.shape) >= 2 and np.all(np.isfinite(draw_clip)):
        return {**stats.variance_components(draw_clip, clusters), "basis": "draw x clip"}
    clip = arrays.get(probe.clip_values)
    if clip is None or clip.ndim != 1 or clusters is None:
        return None
    ok = np.isfinite(clip)
    ids, means = stats.cluster_means(clip[ok], clusters[ok])
    if len(ids) < 2:
        return None
    sizes = np.array([np.sum(clusters[ok] == k) for k in ids])
    return {"between_pieces": float(np.var(means, ddof=1)), "within_pieces": 0.0, "between_draws": 0.0, "residual": 0.0,
            "n_draws": _n_draws(arrays), "n_clips": int(ok.sum()), "n_pieces": int(len(ids)),
            "clips_per_piece": float(len(ids) / np.sum(1.0 / sizes)), "basis": "clip means (data only)"}


def _n_draws(arrays: dict) -> int:
    """Draws of a cell: rows of its ``importances`` (a factorial cell: of each part's ``<part>_importances``,
    e.g. ``F_importances``; never the per-clip arrays ``clip_importances`` / ``draw_clip_importances``)."""
    if "importances" in arrays:
        return int(arrays["importances"].shape[0])
    return int(min(v.shape[0] for k, v in arrays.items() if re.fullmatch(r"[A-Z]+_importances", k)))


def _half(record: dict) -> float | None:
    r = record["result"]
    est = (r.get("reliance") or {}).get("contrast") or (r.get("factorial") or {}).get("interaction")
    if est is not None:
        lo, hi = est.get("piece_ci_low"), est.get("piece_ci_high")
        return None if lo is None or hi is None else (float(hi) - float(lo)) / 2
    lo, hi = r.get("clip_ci_low"), r.get("clip_ci_high")
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
