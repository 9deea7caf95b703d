"""The summary table of a sweep (``summary.md``, ``summary.csv``) and its findings, from saved results.

One row per finished cell whose probe gives a row (:mod:`amt_jax.sweep.probes`). The unit of
inference is the piece, and every draw is shared by all pieces, so draws are random too. Every row
reports one estimate, ``mean``: the mean over pieces of each piece's mean over draws
(``piece_mean`` is the same number), and three intervals centred on it
(:func:`amt_jax.stats.crossed_estimate`):

- ``crossed_ci_low``, ``crossed_ci_high``: draws and pieces both random (two-way crossed, t with
  Satterthwaite df) — the interval to report: where a rerun with other draws on other pieces lands;
- ``piece_ci_low``, ``piece_ci_high``: t over the pieces' means, *conditional on these draws*;
- ``ci_low``, ``ci_high``: Monte Carlo over draws, *for these pieces*.

- A cell whose probe names a control (the harmonic cell's size-matched control: same key, same
  fundamentals, as many bins) is tested against it draw for draw and clip for clip: ``difference``
  is the crossed estimate of the difference, with its crossed CI and two-sided ``p``;
  ``difference_mc_se`` is its Monte Carlo standard error. A cell whose control is not finished is
  marked ``control pending``.
- Cells without a control measure a non-negative divergence (``output_l1``): they are not tested
  against 0 (any perturbation changes the output); ``relative`` reports them as an effect size,
  the fraction of the model's whole-axis random-spectral importance. Contrast rows (reliance,
  factorial) get the same ``relative`` (and ``whole_axis``): the contrast on the model's own scale,
  so a network that barely reacts to anything (random weights) is compared fairly.
- ``q``: Benjamini–Hochberg within each question, across every model and setting of the sweep
  (``SweepConfig.questions``; by default the rows of one probe kind, e.g. the harmonic contrasts
  of every model over h). The per-instrument and per-register tables adjust within themselves.
- ``per_input_change``: importance per unit of mean |πX − X|, so families that move different
  amounts of input can be compared.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from amt_jax import stats
from amt_jax.report.results import Results, as_cell
from amt_jax.sweep import findings as findings_lib

SUMMARY_COLUMNS = ("cell", "model", "family", "setting", "question", "n_draws", "n_pieces", "mean", "crossed_ci_low",
                   "crossed_ci_high", "ci_low", "ci_high", "piece_mean", "piece_ci_low", "piece_ci_high", "relative",
                   "per_input_change", "control", "difference", "difference_ci_low", "difference_ci_high",
                   "difference_mc_se", "p", "q")
CONTROL_PENDING = "control pending"
WHOLE_AXIS = {"kind": "random_spectral", "params": {"band": "all"}}


def question_of(cell: dict, config: dict) -> str:
    """The question a row belongs to: the config's question naming the cell's kind, else the kind;
    across every model and setting of the sweep (one Benjamini–Hochberg family per question)."""
    for name, kinds in config.get("questions") or ():
        if cell["kind"] in kinds:
            return name
    return cell["kind"]


def _whole_axis(results: Results, model: str) -> float | None:
    for c, rec, _ in results.of(model, WHOLE_AXIS["kind"]):
        if c["params"] == WHOLE_AXIS["params"]:
            return _num(rec["result"].get("piece_mean", rec["result"]["importances_mean"]))
    return None


def _contrast(arrays: dict, control: dict) -> dict[str, float | None]:
    """Crossed test of ``arrays − control``, draw for draw and clip for clip
    (:func:`amt_jax.stats.crossed_estimate` of the difference matrix: draws and pieces random), and
    its Monte Carlo SE."""
    diff = stats.crossed_estimate(np.asarray(arrays["draw_clip_importances"], np.float64)
                                  - np.asarray(control["draw_clip_importances"], np.float64), arrays.get("clusters"))
    return {"difference": _num(diff["mean"]), "difference_ci_low": _num(diff["crossed_ci_low"]),
            "difference_ci_high": _num(diff["crossed_ci_high"]), "difference_mc_se": _num(diff["mc_standard_error"]),
            "p": _num(diff["p"])}


def _row(results: Results, cell: dict) -> dict[str, Any]:
    record, arrays = results.finished[cell["id"]]
    r = record["result"]
    row = {c: None for c in SUMMARY_COLUMNS}
    probe = as_cell(cell).probe
    row.update({"cell": cell["id"], "model": cell["model"], "family": cell["kind"], "setting": probe.label(cell["params"]),
                "question": question_of(cell, results.config), "n_draws": r.get("n_permutations")})
    if probe.row_values is not None:
        row.update({k: _num(v) if isinstance(v, (float, np.floating)) else v for k, v in probe.row_values(r).items()})
        whole = _whole_axis(results, cell["model"])  # the model's own scale: its whole-axis shuffle importance
        if row.get("scale") == "logit":  # a logit-scale drop is not comparable with an output-scale importance
            whole = None
        row["whole_axis"] = whole
        row["relative"] = row["difference"] / whole if whole and row.get("difference") is not None else None
        return row
    change = float(np.mean(arrays["input_change"])) if "input_change" in arrays else None
    est = _importance_estimate(arrays, r)
    row.update({
        "n_draws": int(arrays["importances"].shape[0]), "n_pieces": r.get("n_clusters"),
        "mean": est["mean"], "crossed_ci_low": est["crossed_ci_low"], "crossed_ci_high": est["crossed_ci_high"],
        "ci_low": est["ci_low"], "ci_high": est["ci_high"], "piece_mean": est["mean"],
        "piece_ci_low": est["piece_ci_low"], "piece_ci_high": est["piece_ci_high"],
        "per_input_change": est["mean"] / change if change and est["mean"] is not None else None,
    })
    control_id = results.control_id(cell)
    if probe.option("metric") == "frame_f1":  # a signed cost in F1: no divergence scale to compare with
        row["control"] = "none: the change itself, F1 with and without it (signed; interval against 0)"
        row["per_input_change"] = None
    elif control_id is None:
        whole = _whole_axis(results, cell["model"])
        row["control"] = "none (a divergence: effect size only)"
        row["relative"] = row["piece_mean"] / whole if whole and row["piece_mean"] is not None else None
    elif control_id not in results.finished:
        row["control"] = CONTROL_PENDING
    else:
        row["control"] = control_id
        row.update(_contrast(arrays, results.finished[control_id][1]))
    return row


def _importance_estimate(arrays: dict, record: dict) -> dict[str, float | None]:
    """The estimate of an importance cell (the mean over pieces of the pieces' means) with its
    crossed, piece-level (conditional on the draws) and Monte Carlo intervals, all centred on it
    (:func:`amt_jax.stats.crossed_estimate` of the draw × clip matrix; a per-pitch or pooled cell:
    its recorded piece-level numbers)."""
    draw_clip = np.asarray(arrays.get("draw_clip_importances", np.empty((0, 0, 0))), np.float64)
    if draw_clip.ndim == 2 and "draw_clip_weights" not in arrays:
        est = stats.crossed_estimate(draw_clip, arrays.get("clusters"))
        return {k: _num(est[k]) for k in ("mean", "crossed_ci_low", "crossed_ci_high", "ci_low", "ci_high",
                                          "piece_ci_low", "piece_ci_high")}
    return {"mean": _num(record.get("piece_mean")), "crossed_ci_low": _num(record.get("crossed_ci_low")),
            "crossed_ci_high": _num(record.get("crossed_ci_high")), "ci_low": None, "ci_high": None,
            "piece_ci_low": _num(record.get("clip_ci_low")), "piece_ci_high": _num(record.get("clip_ci_high"))}


def summary_rows(results: Results) -> list[dict[str, Any]]:
    """One row per finished cell whose probe gives a row (see the module docstring)."""
    rows = [_row(results, c) for c in results.cells if as_cell(c).probe.row and c["id"] in results.finished]
    for question in dict.fromkeys(r["question"] for r in rows):
        tested = [r for r in rows if r["question"] == question and r["p"] is not None]
        for row, q in zip(tested, stats.benjamini_hochberg(np.array([r["p"] for r in tested]))):
            row["q"] = float(q)
    return rows


def findings(rows: list[dict]) -> list[str]:
    """One sentence per tested row and per effect-size row, with its piece-level CI."""
    out = []
    for r in rows:
        n = r["n_pieces"]
        if r["difference"] is not None:
            lo, hi = r["difference_ci_low"], r["difference_ci_high"]
            verdict = "positive" if lo is not None and lo > 0 else "negative" if hi is not None and hi < 0 else \
                "untested (no interval)" if lo is None or hi is None else "not distinguishable from 0"
            own = "" if r.get("whole_axis") is None or r.get("relative") is None else \
                f", {_fmt(r['relative'])} of its own whole-axis shuffle"
            if r.get("contrast_difference") is not None:  # key_mass: the row tests own − sham (sweep.probes)
                sham = (f"; the contrast with the co-sounding keys, {_fmt(r['contrast_difference'])} "
                        f"{findings_lib.bracket(r, 'contrast_ci_low', 'contrast_ci_high')}, is not tested: a key_mass "
                        "output's softmax gives the key's lost mass to the others, which inflates it")
            elif r.get("sham_difference") is not None:
                sham = (f"; real − sham comb (inharmonic offsets, same keys and draws): {_fmt(r['sham_difference'])} "
                        f"{findings_lib.bracket(r, 'sham_ci_low', 'sham_ci_high')} (crossed)")
            elif r.get("output_kind") == "key_mass":  # one softmax: the other keys gain the mass the key loses
                sham = ("; a key_mass output with no sham comb: the contrast is inflated by the softmax's "
                        "renormalisation and has no control")
            else:
                sham = ""
            tests = "no test" if r["p"] is None else f"p = {_fmt(r['p'])}, q = {_fmt(r['q'])}"
            mc = "" if r["difference_mc_se"] is None else f"; Monte Carlo SE {_fmt(r['difference_mc_se'])}"
            out.append(f"{r['model']}, {r['family']} {r['setting']}: difference from {r['control']} {verdict}: "
                       f"{_fmt(r['difference'])} {findings_lib.bracket(r, 'difference_ci_low', 'difference_ci_high')} "
                       f"(crossed) over {findings_lib.pieces(r)} ({tests}{mc}){own}{sham}.")
        elif r["control"] != CONTROL_PENDING:
            rel = f", {_fmt(r['relative'])} of the whole-axis shuffle" if r["relative"] is not None else ""
            out.append(f"{r['model']}, {r['family']} {r['setting']}: importance {_fmt(r['mean'])} "
                       f"{findings_lib.bracket(r, 'crossed_ci_low', 'crossed_ci_high')} (crossed: draws and pieces random) "
                       f"over {n} pieces{rel}.")
    return out


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
    writer = csv.DictWriter(out, fieldnames=SUMMARY_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def by_program(results: Results) -> list[dict[str, Any]]:
    """Per finished importance cell whose clips record their General MIDI program: per program, the
    mean over that program's pieces and a t CI over them (each piece one program in the chorales)."""
    from amt_jax.data.programs import PROGRAMS

    names = dict(PROGRAMS)
    out = []
    for cell in results.cells:
        if cell["id"] not in results.finished:
            continue
        _, arrays = results.finished[cell["id"]]
        values = arrays.get(as_cell(cell).probe.clip_values)
        if "programs" not in arrays or values is None or values.ndim != 1:
            continue
        programs, clusters = arrays["programs"], arrays["clusters"]
        contrast = as_cell(cell).probe.row_values is not None  # a contrast has a null of 0; a divergence does not
        for program in np.unique(programs):
            mine = programs == program
            ci = stats.piece_contrast(values[mine], np.zeros(int(mine.sum())), clusters[mine]) \
                if len(np.unique(clusters[mine])) > 1 else \
                {"mean": float(np.nanmean(values[mine])), "ci_low": None, "ci_high": None, "n_clusters": 1, "p": None}
            if not contrast:
                ci = {**ci, "p": None}
            out.append({"cell": cell["id"], "kind": cell["kind"], "params": cell["params"], "model": cell["model"],
                        "program": int(program), "instrument": names.get(int(program), str(program)),
                        "n_pieces": int(ci["n_clusters"]), "mean": _num(ci["mean"]), "ci_low": _num(ci["ci_low"]),
                        "ci_high": _num(ci["ci_high"]), "p": _num(ci["p"]), "q": None})
    return _adjusted(out)


def _adjusted(rows: list[dict]) -> list[dict]:
    """``rows`` with ``q``: Benjamini–Hochberg over the rows of the table that have a ``p``, one
    family per kind (the reliance contrasts, the factorial interactions) across models and settings."""
    for kind in dict.fromkeys(r["kind"] for r in rows):
        tested = [r for r in rows if r["kind"] == kind and r["p"] is not None]
        for row, q in zip(tested, stats.benjamini_hochberg(np.array([r["p"] for r in tested]))):
            row["q"] = float(q)
    return rows


def by_register(results: Results) -> list[dict[str, Any]]:
    """Per finished reliance and factorial cell, its contrast (interaction) for the low, middle and
    high thirds of the sounding keys (``by_register`` of the cell's result), with the crossed CI and
    p against 0; ``q``: Benjamini–Hochberg within this table."""
    out = []
    for cell in results.cells:
        if cell["id"] not in results.finished:
            continue
        r = results.finished[cell["id"]][0]["result"]
        registers = (r.get("reliance") or r.get("factorial") or {}).get("by_register")
        for reg in registers or ():
            out.append({"cell": cell["id"], "model": cell["model"], "kind": cell["kind"], "params": cell["params"],
                        "register": reg["register"], "midi": f"{reg['midi_low']}–{reg['midi_high']}",
                        "n_pieces": reg["n_pieces"], "mean": _num(reg["mean"]), "ci_low": _num(reg["crossed_ci_low"]),
                        "ci_high": _num(reg["crossed_ci_high"]), "p": _num(reg["p"]), "q": None})
    return _adjusted(out)


def _section(title: str, intro: str, leading: tuple[tuple[str, str], ...], rows: list[dict]) -> list[str]:
    """A markdown section: ``title``, ``intro`` and a table of ``rows`` (the ``leading`` (header, key)
    columns, then mean, ci_low, ci_high, p, q); nothing when there are no rows."""
    if not rows:
        return []
    columns = leading + tuple((k, k) for k in ("mean", "ci_low", "ci_high", "p", "q"))
    return ["", f"## {title}", "", intro, "", "| " + " | ".join(h for h, _ in columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(_fmt(r[k]) for _, k in columns) + " |" for r in rows)]


def summary_markdown(rows: list[dict], results: Results, figures: list[str], missing: list[str]) -> str:
    config = results.config
    lines = [
        f"# Sweep `{config['name']}`",
        "",
        f"Models: {', '.join(config['models'])}; data: {config['data']} ({config['n_clips']} clips); seed {config['seed']}; "
        f"{len(results.finished)} of {len(results.cells)} cells finished.",
        "",
        "The unit of inference is the piece; every draw is shared by all pieces, so draws are random too. `mean` "
        "(= `piece_mean`): the mean over pieces of each piece's mean over draws; every interval is centred on it. "
        "`crossed_ci_low`, `crossed_ci_high`: 95 % CI with draws and pieces both random (two-way crossed; the one "
        "the findings report). `piece_ci_low`, `piece_ci_high`: t over the pieces' means, conditional on these "
        "draws (blank below 2 pieces). `ci_low`, `ci_high`: Monte Carlo over draws, for these pieces. Rows with a "
        "`control` are tested against it draw for draw (`difference` with its crossed CI, `p`; `difference_mc_se` "
        "is the Monte Carlo part); `q`: Benjamini–Hochberg within each `question`. "
        "Rows without a control measure a non-negative divergence and are not tested against 0; `relative` is their "
        "fraction of the whole-axis random-spectral importance. `per_input_change`: importance per unit mean "
        f"|πX − X|. A cell whose control is not finished is marked `{CONTROL_PENDING}`.",
        "",
        "## Findings",
        "",
        *[f"- {line}" for line in findings(rows)],
        "",
        "## Table",
        "",
        "| " + " | ".join(SUMMARY_COLUMNS) + " |",
        "|" + "---|" * len(SUMMARY_COLUMNS),
    ]
    lines += ["| " + " | ".join(_fmt(row[c]) for c in SUMMARY_COLUMNS) + " |" for row in rows]
    lines += _section("Per instrument", "Mean importance over the pieces of each program, 95 % t CI over them "
                      "(conditional on the draws; blank with one piece); contrasts (reliance, factorial) are tested against "
                      "0 (`p`), divergences are not; `q`: Benjamini–Hochberg within this table, per kind.",
                      (("cell", "cell"), ("instrument", "instrument"), ("pieces", "n_pieces")), by_program(results))
    lines += _section("By register", "The reliance contrast and the factorial interaction for the low, middle and "
                      "high thirds of the keys that sound (MIDI range), 95 % crossed CI (draws and pieces random); `q`: "
                      "Benjamini–Hochberg within this table, per kind.",
                      (("cell", "cell"), ("register", "register"), ("MIDI", "midi"), ("pieces", "n_pieces")),
                      by_register(results))
    sources = sorted({rec["environment"]["versions"].get("amt_jax_source", "unrecorded") for rec, _ in results.finished.values()})
    if len(sources) > 1:
        lines += ["", f"**Warning:** cells were computed by {len(sources)} versions of the amt_jax sources "
                  f"({', '.join(sources)}; see each cell's `environment`): rerun in a fresh workdir to compare like with like."]
    lines += ["", "## Figures", ""] + [f"- [{f}](figures/{f}.png) ([pdf](figures/{f}.pdf))" for f in figures]
    if missing:
        lines += ["", "Not drawn (cells missing or unfinished): " + ", ".join(missing) + "."]
    return "\n".join(lines) + "\n"


