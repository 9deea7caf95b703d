"""``python -m amt_jax plan --workdir PILOT --halfwidth H``: pieces and draws for a target CI."""

from __future__ import annotations

import argparse

HELP = ("From a pilot sweep, the pieces and draws each cell needs for a target crossed CI half-width (table + JSON); "
        "with --config, the half-widths that config's sizes give and a check of the Monte Carlo fraction it states.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", required=True, help="a finished (or partly finished) pilot sweep workdir")
    parser.add_argument("--halfwidth", type=float, required=True,
                        help="target half-width of the crossed 95 %% CI (draws and pieces random)")
    parser.add_argument("--config", default=None,
                        help="a sweep config (name or .py) whose sizes to check against the pilot (its n_permutations, "
                             "pieces = n_clips / clips_per_piece, and claimed_mc_fraction)")
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
        print(f"\nfor a crossed half-width of {args.halfwidth:g} on every cell: {int(worst['recommended_pieces'])} pieces "
              f"× {worst['recommended_clips_per_piece']:g} clips, {int(max(r['recommended_draws'] for r in need))} draws "
              f"(the widest cell: {worst['cell']})")
    out = epath.Path(args.json) if args.json else epath.Path(args.workdir) / "plan.json"
    payload = {"pilot": str(args.workdir), "sweep": results.config.get("name"), "halfwidth": args.halfwidth,
               "mc_fraction": args.mc_fraction, "cells": rows}
    if args.config is not None:
        payload["check"] = _check(results, args.config)
    atomic_write(out, strict_json(payload))
    print(f"wrote {out}")
    return 0


def _check(results, name: str) -> dict:
    """Print and return the check of config ``name``'s sizes against the pilot."""
    from amt_jax.report.planner import check_rows, check_table
    from amt_jax.sweep import load_config

    config = load_config(name)
    m = config.clips_per_piece or 1
    pieces, draws = config.n_clips // m, config.n_permutations
    rows = check_rows(results, n_pieces=pieces, clips_per_piece=m, config=config, mc_fraction=config.claimed_mc_fraction)
    print(f"\ncheck of config {config.name!r} ({pieces} pieces × {m} clips, {draws} draws per cell; each kind's own "
          "count in the table) against this pilot:")
    print(check_table(rows))
    failed = [r["cell"] for r in rows if r["holds"] is False]
    if config.claimed_mc_fraction is not None:
        print(f"claim: Monte Carlo SE <= {config.claimed_mc_fraction:g} × piece-level SE — "
              + ("holds for every cell" if not failed else f"does NOT hold for {len(failed)} cell(s): {', '.join(failed)}"))
    return {"config": config.name, "n_pieces": pieces, "clips_per_piece": m, "n_draws": draws,
            "claimed_mc_fraction": config.claimed_mc_fraction, "cells": rows}
