"""Regenerate the figures and summary tables of a sweep from its saved results (no computation).

Usage, from the repository root::

    python -m experiments.figures --workdir outputs/demo/sweep   # same as: python -m amt_jax figures --workdir ...

Writes ``DIR/figures/*.{pdf,png}``, ``DIR/summary.md`` and ``DIR/summary.csv``; a thin wrapper
over :func:`amt_jax.report.write_report`, whose plot functions live in :mod:`amt_jax.plots`.
"""

from __future__ import annotations

import argparse
import sys

from amt_jax import report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="a sweep workdir (local path or bucket)")
    args = parser.parse_args(argv)
    try:
        result = report.write_report(args.workdir)
    except (ValueError, FileNotFoundError) as exc:
        print(f"experiments.figures: error: {exc}", file=sys.stderr)
        return 2
    for name in result.figures:
        print(f"{args.workdir}/figures/{name}.pdf (.png)")
    print(result.summary_md)
    print(result.summary_csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
