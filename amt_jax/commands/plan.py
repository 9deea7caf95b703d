"""``python -m amt_jax plan --workdir PILOT --halfwidth H``: pieces and draws for a target CI."""

from __future__ import annotations

import argparse

HELP = "From a pilot sweep, the pieces and draws each cell needs for a target piece-level CI half-width (table + JSON)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", required=True, help="a finished (or partly finished) pilot sweep workdir")
    parser.add_argument("--halfwidth", type=float, required=True, help="target half-width of the piece-level 95 %% CI")
    parser.add_argument("--clips-per-piece", type=float, default=None,
                        help="clips per piece of the planned run (default: the pilot's)")
    parser.add_argument("--mc-fraction", type=float, default=0.25,
                        help="Monte Carlo SE at most this fraction of the piece-level SE (default %(default)s)")
    parser.add_argument("--json", default=None, help="write the plan here (default: PILOT/plan.json)")


def run(args: argparse.Namespace) -> int:
    from etils import epath

    from amt_jax import validate
    from amt_jax.io import atomic_write, strict_json
    from amt_jax.report.planner import plan_rows, plan_table
    from amt_jax.report.results import load_results

    validate.positive("--halfwidth", args.halfwidth)
    validate.positive("--mc-fraction", args.mc_fraction)
    if args.clips_per_piece is not None:
        validate.positive("--clips-per-piece", args.clips_per_piece)
    results = load_results(args.workdir)
    rows = plan_rows(results, halfwidth=args.halfwidth, clips_per_piece=args.clips_per_piece, mc_fraction=args.mc_fraction)
    if not rows:
        raise ValueError(f"--workdir {args.workdir} holds no finished importance cell with >= 2 draws and >= 2 clips to plan from")
    print(plan_table(rows))
    need = [r for r in rows if r["recommended_pieces"] == r["recommended_pieces"]]
    if need:
        worst = max(need, key=lambda r: r["recommended_pieces"])
        print(f"\nfor a piece-level half-width of {args.halfwidth:g} on every cell: {int(worst['recommended_pieces'])} pieces "
              f"× {worst['recommended_clips_per_piece']:g} clips, {int(max(r['recommended_draws'] for r in need))} draws "
              f"(the widest cell: {worst['cell']})")
    out = epath.Path(args.json) if args.json else epath.Path(args.workdir) / "plan.json"
    payload = {"pilot": str(args.workdir), "sweep": results.config.get("name"), "halfwidth": args.halfwidth,
               "mc_fraction": args.mc_fraction, "cells": rows}
    atomic_write(out, strict_json(payload))
    print(f"wrote {out}")
    return 0
