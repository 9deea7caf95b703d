"""Figures and summary tables of a sweep workdir, from its saved results only.

``write_report(workdir)`` reads ``DIR/sweep.json`` and the finished cells and writes
``DIR/figures/*.{pdf,png}``, ``DIR/summary.md`` and ``DIR/summary.csv`` (each atomically).
Figures whose cells are missing (a family not in the sweep, an unfinished shard) are left out and
named in the returned report. Modules: :mod:`~amt_jax.report.results`, :mod:`~amt_jax.report.summary`,
:mod:`~amt_jax.report.figures` (captions: :mod:`~amt_jax.report.captions`), :mod:`~amt_jax.report.plots`; the
page ``DIR/report.html``: :mod:`~amt_jax.report.html`, one section per question of
:mod:`~amt_jax.report.questions`.
"""

from __future__ import annotations

from dataclasses import dataclass

from etils import epath

from amt_jax import io as amt_io
from amt_jax.report.figures import FIGURES, save_figure

OPTIONAL_FIGURES = ("per_instrument", "registers")  # drawn when the data allow (programs; reliance cells), never "missing"
from amt_jax.report.results import Results, load_results
from amt_jax.report.summary import SUMMARY_COLUMNS, summary_csv, summary_markdown, summary_rows


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
    from amt_jax.sweep.probes import PROBES

    workdir = epath.Path(workdir)
    results = load_results(workdir)
    directory = workdir / "figures"
    directory.mkdir(parents=True, exist_ok=True)
    drawn, missing = [], []
    names = dict.fromkeys(PROBES[kind].figure for kind in results.kinds() if PROBES[kind].figure)
    for name in [*names, *(n for n in OPTIONAL_FIGURES if n not in names)]:
        figures = FIGURES[name](results)
        if not figures and name in names:
            missing.append(name)
        for file_name, fig in figures:
            save_figure(fig, directory, file_name)
            drawn.append(file_name)
    rows = summary_rows(results)
    md, cs = workdir / "summary.md", workdir / "summary.csv"
    amt_io.atomic_write(cs, summary_csv(rows))
    amt_io.atomic_write(md, summary_markdown(rows, results, drawn, missing))
    return Report(drawn, missing, rows, md, cs)
