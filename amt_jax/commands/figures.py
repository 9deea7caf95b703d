"""``python -m amt_jax figures --workdir DIR``: figures and summary tables from a sweep's saved results."""

from __future__ import annotations

import argparse

HELP = ("Draw the figures (DIR/figures/*.pdf, *.png) and summary.md/.csv of a sweep workdir from its saved results "
        "(--html: and DIR/report.html).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", required=True, help="a sweep workdir (local path or bucket)")
    parser.add_argument("--html", action="store_true",
                        help="also write DIR/report.html: one self-contained page (findings, table, figures, A/B audio)")
    parser.add_argument("--sonify-steps", type=int, default=300,
                        help="most gradient steps per example resynthesis on the page (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from amt_jax import report, validate

    validate.positive_int("--sonify-steps", args.sonify_steps)
    result = report.write_report(args.workdir)
    print(f"wrote {len(result.figures)} figures to {args.workdir}/figures/: {', '.join(result.figures)}")
    if result.missing:
        print(f"not drawn (cells missing or unfinished): {', '.join(result.missing)}")
    print(f"summary ({len(result.rows)} rows): {result.summary_md} and {result.summary_csv}")
    if args.html:
        from amt_jax.report import html

        print(f"page: {html.write_html(args.workdir, n_steps=args.sonify_steps)}")
    return 0
