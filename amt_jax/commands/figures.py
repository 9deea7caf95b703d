"""``python -m amt_jax figures --workdir DIR``: figures and summary tables from a sweep's saved results."""

from __future__ import annotations

import argparse

HELP = "Draw the figures (DIR/figures/*.pdf, *.png) and summary.md/.csv of a sweep workdir from its saved results."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", required=True, help="a sweep workdir (local path or bucket)")


def run(args: argparse.Namespace) -> int:
    from amt_jax import report

    result = report.write_report(args.workdir)
    print(f"wrote {len(result.figures)} figures to {args.workdir}/figures/: {', '.join(result.figures)}")
    if result.missing:
        print(f"not drawn (cells missing or unfinished): {', '.join(result.missing)}")
    print(f"summary ({len(result.rows)} rows): {result.summary_md} and {result.summary_csv}")
    return 0
