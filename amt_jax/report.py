"""Figures and summary tables of a sweep workdir, from its saved results only.

``write_report(workdir)`` reads ``DIR/sweep.json`` and the finished cells and writes
``DIR/figures/*.{pdf,png}``, ``DIR/summary.md`` and ``DIR/summary.csv`` (each atomically).
Figures whose cells are missing (a family not in the sweep, an unfinished shard) are left
out and named in the returned report.

summary: one row per importance cell with the mean over draws, its Monte Carlo CI, the
cluster-bootstrap CI over clips (the data's uncertainty; blank with one clip), and a two-sided
paired t-test against the cell's control: a harmonic cell against its size-matched control (same
key, so draw i of each targets the same fundamental), every other cell against 0 (the identity
permutation). A harmonic cell whose control is not finished is marked ``control pending`` (no
test, left out of the adjustment). ``q`` is the Benjamini–Hochberg adjustment over the tested rows.
The tests are over draws for the given clips (they condition on the clips).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from etils import epath

from amt_jax import io as amt_io
from amt_jax import plots, stats, sweep

IMPORTANCE_KINDS = ("harmonic", "harmonic_control", "microtonal_one", "microtonal_all", "random_spectral")
SUMMARY_COLUMNS = ("cell", "model", "family", "setting", "n_draws", "mean", "ci_low", "ci_high", "clip_ci_low",
                   "clip_ci_high", "control", "difference", "p", "q")
CONTROL_PENDING = "control pending"
FIGURE_FORMATS = ("pdf", "png")


@dataclass(frozen=True)
class Results:
    """A workdir's config (dict), its cells in order, and the finished ones: id → (record, arrays)."""

    config: dict
    cells: list[dict]
    finished: dict[str, tuple[dict, dict[str, np.ndarray]]]

    def of(self, model: str, kind: str) -> list[tuple[dict, dict, dict[str, np.ndarray]]]:
        """Finished cells of ``model`` and ``kind`` in sweep order: ``(cell, record, arrays)``."""
        return [(c, *self.finished[c["id"]]) for c in self.cells
                if c["model"] == model and c["kind"] == kind and c["id"] in self.finished]


def load_results(workdir: epath.PathLike) -> Results:
    """Read the manifest and every finished cell of ``workdir``."""
    manifest = sweep.read_manifest(workdir)
    finished = {c["id"]: sweep.load_cell(workdir, c["id"]) for c in manifest["cells"] if sweep.is_done(workdir, c["id"])}
    return Results(manifest["config"], manifest["cells"], finished)


def _setting(cell: dict) -> str:
    params = cell["params"]
    if "n_harmonics" in params:
        return f"h={params['n_harmonics']}"
    if "band" in params:
        return f"semitones {params['band'][0]}-{params['band'][1]}"
    return cell["kind"].split("_")[1] if cell["kind"].startswith("microtonal") else ""


def summary_rows(results: Results) -> list[dict[str, Any]]:
    """One row per finished importance cell (see the module docstring)."""
    rows = []
    for cell in results.cells:
        if cell["kind"] not in IMPORTANCE_KINDS or cell["id"] not in results.finished:
            continue
        record, arrays = results.finished[cell["id"]]
        draws = arrays["importances"]
        control_id = cell["id"].replace("__harmonic_", "__harmonic_control_") if cell["kind"] == "harmonic" else None
        difference = p = None
        if control_id is not None and control_id not in results.finished:
            control = CONTROL_PENDING  # not tested against 0: that is not this cell's question
        else:
            if control_id is not None:
                reference, control = results.finished[control_id][1]["importances"], control_id
            else:
                reference, control = np.zeros_like(draws), "0 (identity)"
            contrast = stats.paired_contrast(draws, reference, groups=None)
            difference, p = float(contrast["mean"][0]), float(contrast["p"][0])
        r = record["result"]
        rows.append({
            "cell": cell["id"], "model": cell["model"], "family": cell["kind"], "setting": _setting(cell),
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


# --------------------------------------------------------------------------- figures


def _new_figure(n_rows: int = 1, n_cols: int = 1, *, size=(6.4, 4.0)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * n_cols, size[1] * n_rows), layout="constrained")
    return fig, fig.subplots(n_rows, n_cols, squeeze=False)


def _mean_ci(record: dict) -> tuple[float, float, float]:
    r = record["result"]
    return tuple(float(np.asarray(r[k], float)) for k in ("importances_mean", "ci_low", "ci_high"))  # null -> nan


def figure_harmonic(results: Results):
    """Harmonic importance vs h beside the size-matched control, one line pair per model; None if no cells."""
    fig, axes = _new_figure()
    drawn = False
    for model in results.config["models"]:
        pairs = [(c, rec, results.finished.get(c["id"].replace("__harmonic_", "__harmonic_control_")))
                 for c, rec, _ in results.of(model, "harmonic")]
        pairs = [(c, rec, ctl[0]) for c, rec, ctl in pairs if ctl is not None]
        if not pairs:
            continue
        h = [c["params"]["n_harmonics"] for c, _, _ in pairs]
        m, lo, hi = np.array([_mean_ci(rec) for _, rec, _ in pairs]).T
        cm, clo, chi = np.array([_mean_ci(ctl) for _, _, ctl in pairs]).T
        plots.harmonic_vs_control(h, m, lo, hi, control_mean=cm, control_ci_low=clo, control_ci_high=chi,
                                  label=model if len(results.config["models"]) > 1 else "", ax=axes[0, 0])
        drawn = True
    axes[0, 0].set_title("Harmonic permutations vs size-matched control (95 % CI)")
    return fig if drawn else None


def figure_microtonal(results: Results):
    """Importance per semitone (scope one) and, with several B, the scope-all importance vs B."""
    per_semitone = [(m, results.of(m, "microtonal_one")) for m in results.config["models"]]
    per_semitone = [(m, cells[0]) for m, cells in per_semitone if cells]
    vs_b = {}
    for model in results.config["models"]:
        for _, rec, _ in results.of(model, "microtonal_all"):
            vs_b.setdefault(rec["result"]["bins_per_semitone"], (model, rec))
    if not per_semitone and not vs_b:
        return None
    panels = 1 + (len(vs_b) >= 2)
    fig, axes = _new_figure(1, panels)
    for model, (_, rec, arrays) in per_semitone:
        by = stats.group_summary(arrays["importances"], arrays["group_ids"], confidence=rec["result"]["confidence"])
        plots.importance_per_semitone(by["group"], by["mean"], by["ci_low"], by["ci_high"],
                                      label=f"{model} (B={rec['result']['bins_per_semitone']})", ax=axes[0, 0])
    axes[0, 0].set_title("Shuffling the bins of one semitone (95 % CI)")
    if panels == 2:
        bs = sorted(vs_b)
        m, lo, hi = np.array([_mean_ci(vs_b[b][1]) for b in bs]).T
        plots.importance_bars([f"B={b}\n{vs_b[b][0]}" for b in bs], m, lo, hi, xlabel="bins per semitone", ax=axes[0, 1])
        axes[0, 1].set_title("All semitones shuffled, vs B")
    return fig


def figure_random_spectral(results: Results):
    """Random-spectral importance per band, one panel per model."""
    models = [(m, results.of(m, "random_spectral")) for m in results.config["models"]]
    models = [(m, cells) for m, cells in models if cells]
    if not models:
        return None
    fig, axes = _new_figure(1, len(models))
    for ax, (model, cells) in zip(axes[0], models):
        labels = [f"{c['params']['band'][0]}–{c['params']['band'][1]}" for c, _, _ in cells]
        m, lo, hi = np.array([_mean_ci(rec) for _, rec, _ in cells]).T
        plots.importance_bars(labels, m, lo, hi, xlabel="band (semitones above the lowest key)", ax=ax)
        ax.set_title(f"Random spectral permutation per band — {model}")
    return fig


def figure_edge(results: Results, model: str):
    """Output power per pitch under noise and the reverse-correlation weight map of ``model``."""
    cells = results.of(model, "noise")
    if not cells:
        return None
    _, rec, arrays = cells[0]
    fig, axes = _new_figure(1, 2)
    plots.output_power(arrays["output_power"], arrays["output_power_ci_low"], arrays["output_power_ci_high"], ax=axes[0, 0])
    axes[0, 0].set_title(f"Output under noise input — {model}")
    plots.weight_map(arrays["weights"], bins_per_semitone=rec["result"]["bins_per_semitone"],
                     center_offset=rec["result"].get("center_offset", 0), ax=axes[0, 1])
    axes[0, 1].set_title("Reverse-correlation weights [F × P]")
    return fig


def figure_example(results: Results):
    """X, πX of a harmonic draw and the model's output before and after."""
    cells = [c for c in results.cells if c["kind"] == "example" and c["id"] in results.finished]
    if not cells:
        return None
    rec, a = results.finished[cells[0]["id"]]
    moved = np.flatnonzero(a["idx"] != np.arange(len(a["idx"])))
    fig, axes = _new_figure(2, 2, size=(6.0, 3.6))
    h = cells[0]["params"]["n_harmonics"]
    plots.spectrogram(a["x"], title="X (features of one clip)", ax=axes[0, 0])
    r = rec["result"]
    plots.spectrogram(a["x_perm"], title=f"πX: harmonics 1–{h} of bin {r['group']} shuffled "
                      f"(largest effect of {r['n_draws']} draws)",
                      marked_bins=moved, ax=axes[0, 1])
    plots.piano_roll(a["y"], title=f"model output Y(X) — {cells[0]['model']}", ax=axes[1, 0])
    plots.piano_roll(a["y_perm"], title=f"Y(πX): mean |ΔY| = {r['output_l1']:.3g}", ax=axes[1, 1])
    return fig


def _save_figure(fig, directory: epath.Path, name: str) -> None:
    for fmt in FIGURE_FORMATS:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=120)
        amt_io.atomic_write(directory / f"{name}.{fmt}", buf.getvalue())


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote: figure names (``DIR/figures/<name>.{pdf,png}``), the
    figures it could not draw, the summary rows and the paths of summary.md/.csv."""

    figures: list[str]
    missing: list[str]
    rows: list[dict]
    summary_md: epath.Path
    summary_csv: epath.Path


def write_report(workdir: epath.PathLike) -> Report:
    """Draw every figure the finished cells allow and write the summary tables."""
    workdir = epath.Path(workdir)
    results = load_results(workdir)
    makers = [("harmonic", lambda: figure_harmonic(results)), ("microtonal", lambda: figure_microtonal(results)),
              ("random_spectral", lambda: figure_random_spectral(results))]
    multi = len(results.config["models"]) > 1
    for model in results.config["models"]:
        name = f"edge_frequencies_{sweep.model_slug(model)}" if multi else "edge_frequencies"
        makers.append((name, lambda model=model: figure_edge(results, model)))
    makers.append(("example", lambda: figure_example(results)))
    directory = workdir / "figures"
    directory.mkdir(parents=True, exist_ok=True)
    drawn, missing = [], []
    for name, make in makers:
        fig = make()
        if fig is None:
            missing.append(name)
            continue
        _save_figure(fig, directory, name)
        drawn.append(name)
    rows = summary_rows(results)
    md, cs = workdir / "summary.md", workdir / "summary.csv"
    amt_io.atomic_write(cs, summary_csv(rows))
    amt_io.atomic_write(md, summary_markdown(rows, results, drawn, missing))
    return Report(drawn, missing, rows, md, cs)
