"""The summary table of a sweep (``summary.md``, ``summary.csv``), from its saved results.

One row per finished cell whose probe gives a row (:mod:`amt_jax.sweep.probes`): the mean over
draws, its Monte Carlo CI, the piece-level CI over clips' pieces, and a two-sided paired t-test
against the cell's control: a cell whose probe names a control (the harmonic cell's size-matched
control, same key, so draw i of each targets the same fundamental) against that control, every
other cell against 0 (the identity permutation). A cell whose control is not finished is marked
``control pending`` (no test, left out of the adjustment). ``q`` is the Benjamini–Hochberg
adjustment over the tested rows.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from amt_jax.engine import stats
from amt_jax.report.results import Results, as_cell

SUMMARY_COLUMNS = ("cell", "model", "family", "setting", "n_draws", "mean", "ci_low", "ci_high", "clip_ci_low",
                   "clip_ci_high", "control", "difference", "p", "q")
CONTROL_PENDING = "control pending"


def summary_rows(results: Results) -> list[dict[str, Any]]:
    """One row per finished importance cell (see the module docstring)."""
    rows = []
    for cell in results.cells:
        if not as_cell(cell).probe.row or cell["id"] not in results.finished:
            continue
        record, arrays = results.finished[cell["id"]]
        draws = arrays["importances"]
        control_id = results.control_id(cell)
        difference = p = None
        if control_id is not None and control_id not in results.finished:
            control = CONTROL_PENDING  # not tested against 0: that is not this cell's question
        else:
            if control_id is not None:
                reference, control = results.finished[control_id][1]["importances"], control_id
            else:
                reference, control = np.zeros_like(draws), "0 (identity)"
            contrast = stats.paired_t(draws, reference, groups=None)
            difference, p = float(contrast["mean"][0]), float(contrast["p"][0])
        r = record["result"]
        rows.append({
            "cell": cell["id"], "model": cell["model"], "family": cell["kind"], "setting": as_cell(cell).probe.label(cell["params"]),
            "n_draws": int(draws.shape[0]), "mean": _num(r["importances_mean"]), "ci_low": _num(r["ci_low"]),
            "ci_high": _num(r["ci_high"]), "clip_ci_low": _num(r.get("clip_ci_low")),
            "clip_ci_high": _num(r.get("clip_ci_high")), "control": control, "difference": difference, "p": p,
            "q": None,
        })
    tested = [row for row in rows if row["p"] is not None]
    q = stats.benjamini_hochberg(np.array([row["p"] for row in tested])) if tested else []
    for row, qv in zip(tested, q):
        row["q"] = float(qv)
    return rows


def _num(value) -> float | None:
    """A recorded scalar as float; None for a missing, null (NaN/inf saved as null) or NaN value."""
    if value is None:
        return None
    value = float(np.asarray(value, float))
    return value if np.isfinite(value) else None


def _fmt(value) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def summary_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def summary_markdown(rows: list[dict], results: Results, figures: list[str], missing: list[str]) -> str:
    config = results.config
    lines = [
        f"# Sweep `{config['name']}`",
        "",
        f"Models: {', '.join(config['models'])}; data: {config['data']} ({config['n_clips']} clips); seed {config['seed']}; "
        f"{len(results.finished)} of {len(results.cells)} cells finished.",
        "",
        "Importance = mean increase of the output L1 change over draws; `ci_low`/`ci_high`: 95 % Monte Carlo CI "
        "(which draws were taken); `clip_ci_low`/`clip_ci_high`: 95 % cluster-bootstrap CI over clips (which clips "
        "were taken; blank with one clip). `p`: two-sided paired t-test over draws against `control` (harmonic cells: "
        "their size-matched control, same keys; others: 0, the identity permutation); `q`: Benjamini–Hochberg over "
        f"the tested rows. A harmonic cell whose control is not finished is marked `{CONTROL_PENDING}` and not tested.",
        "",
        "Caveats: output_l1 is a non-negative divergence, so the test against 0 only says that the permutation "
        "changes the output at all, not that the model relies on those bins more than on others (the harmonic vs "
        "control contrast asks that). The p-values condition on the clips: they cover the Monte Carlo uncertainty of "
        "the draws, not the sampling of the data (see the clip CI).",
        "",
        "| " + " | ".join(SUMMARY_COLUMNS) + " |",
        "|" + "---|" * len(SUMMARY_COLUMNS),
    ]
    lines += ["| " + " | ".join(_fmt(row[c]) for c in SUMMARY_COLUMNS) + " |" for row in rows]
    sources = sorted({rec["environment"]["versions"].get("amt_jax_source", "unrecorded") for rec, _ in results.finished.values()})
    if len(sources) > 1:
        lines += ["", f"**Warning:** cells were computed by {len(sources)} versions of the amt_jax sources "
                  f"({', '.join(sources)}; see each cell's `environment`): rerun in a fresh workdir to compare like with like."]
    lines += ["", "## Figures", ""] + [f"- [{f}](figures/{f}.png) ([pdf](figures/{f}.pdf))" for f in figures]
    if missing:
        lines += ["", "Not drawn (cells missing or unfinished): " + ", ".join(missing) + "."]
    return "\n".join(lines) + "\n"


