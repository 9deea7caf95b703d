"""The paper's figures, one script per figure, each reading a sweep's saved results only.

    python -m experiments.figures.harmonic_reliance --workdir outputs/demo/sweep   # one figure
    python -m experiments.figures.all --workdir outputs/demo/sweep                 # all + figures.md

Each script draws ``OUT/<name>.pdf`` and ``.png`` (``OUT`` = ``WORKDIR/paper_figures`` unless
``--out``) with the figure function of :mod:`amt_jax.report.figures`; ``all`` also writes
``OUT/figures.md``: per figure its caption, the command that draws it and the result files (cells)
behind it. Nothing is recomputed. A script with its own ``draw`` (``methods``: the cross-method
evidence in ``WORKDIR/cross_method.json``) reads its own result file.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Drawn:
    """What one figure script wrote: its files, caption, command and the cells behind it."""

    name: str
    files: list[str]
    caption: str
    command: str
    sources: list[str]


def sources(results, name: str) -> list[str]:
    """The cell files a figure reads: the finished cells whose probe names this figure (any cell
    with per-clip programs for the per-instrument figure; the reliance and factorial cells for the
    register figure)."""
    from amt_jax.report.results import as_cell

    out = []
    for cell in results.cells:
        if cell["id"] not in results.finished:
            continue
        probe = as_cell(cell).probe
        if (probe.figure == name or (name == "per_instrument" and "programs" in results.finished[cell["id"]][1])
                or (name == "registers" and cell["kind"] in ("harmonic_swap", "factorial"))):
            out += [f"cells/{cell['id']}.json", f"cells/{cell['id']}.npz"]
    return out


def save(name: str, caption: str, workdir: str, out: str | None, figures, sources: list[str]) -> Drawn:
    """Save ``figures`` (``[(file name, matplotlib figure)]``) as PDF and PNG into ``out`` (default
    ``WORKDIR/paper_figures``): what figure script ``name`` drew, with its command and sources."""
    from etils import epath

    from amt_jax.report.figures import save_figure

    directory = epath.Path(out) if out else epath.Path(workdir) / "paper_figures"
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for file_name, fig in figures:
        save_figure(fig, directory, file_name)
        files += [str(directory / f"{file_name}.pdf"), str(directory / f"{file_name}.png")]
    return Drawn(name, files, caption, command(name, workdir, out), sources)


def command(name: str, workdir: str, out: str | None = None) -> str:
    """The command line that draws figure ``name``."""
    return f"python -m experiments.figures.{name} --workdir {workdir}" + (f" --out {out}" if out else "")


def draw(name: str, caption: str, workdir: str, out: str | None = None) -> Drawn:
    """Draw figure ``name`` from ``workdir``'s saved results into ``out`` (PDF and PNG)."""
    from amt_jax.report import load_results
    from amt_jax.report.figures import FIGURES

    results = load_results(workdir)
    return save(name, caption, workdir, out, FIGURES[name](results), sources(results, name))


def main(name: str, caption: str, argv: list[str] | None = None, *, drawer=draw) -> int:
    """The command line of one figure script (``drawer``: how it draws, :func:`draw` for a sweep's figures)."""
    parser = argparse.ArgumentParser(prog=f"python -m experiments.figures.{name}", description=caption)
    parser.add_argument("--workdir", required=True, help="a sweep workdir (local path or bucket)")
    parser.add_argument("--out", default=None, help="output directory (default: WORKDIR/paper_figures)")
    args = parser.parse_args(argv)
    try:
        drawn = drawer(name, caption, args.workdir, args.out)
    except (ValueError, FileNotFoundError) as exc:
        print(f"experiments.figures.{name}: error: {exc}", file=sys.stderr)
        return 2
    if not drawn.files:
        print(f"experiments.figures.{name}: error: {args.workdir} holds no results for this figure", file=sys.stderr)
        return 2
    print("\n".join(drawn.files))
    return 0
