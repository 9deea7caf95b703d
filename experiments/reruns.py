"""How much do the draws move a result? The study's reliance and factorial cells on Basic Pitch,
run with the study's root seed and with ``--seeds`` others (each seed draws other keys and
partners), printed side by side: every rerun's estimate beside the first run's crossed interval
(draws and pieces random) and its piece-only interval (conditional on its draws), and the reruns'
standard deviation beside the first run's Monte Carlo SE.

The reruns keep the pieces, so they differ by the draws alone: their SD should be about the Monte
Carlo SE, and an interval that covers new pieces as well (crossed) holds same-piece reruns more
often than its nominal rate; the piece-only interval, which leaves the draws' variance out, is the
one that can miss them.

Command (the full chorale corpus, ``python -m amt_jax data build chorales --data-dir $DATA``;
about 2 minutes per seed on 2 CPU cores)::

    python -m experiments.reruns --data-dir $DATA --workdir $OUT/reruns [--seeds 1,2,3,4,5] [--config study]

Each seed is its own sweep workdir (``$OUT/reruns/seed<K>``), so a rerun resumes; the table is
also written to ``$OUT/reruns/reruns.json``.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
from etils import epath

from amt_jax import io as amt_io
from amt_jax import sweep
from amt_jax.report.results import load_results

FAMILIES = ("harmonic_reliance", "factorial")


def _estimate(record: dict) -> dict:
    r = record["result"]
    return (r.get("reliance") or {}).get("contrast") or r["factorial"]["interaction"]


def run(config_name: str, data_dir: str, workdir: str, seeds: tuple[int, ...], model: str = "basic-pitch") -> list[dict]:
    """Run the config's reliance and factorial cells for ``model`` with its own seed and ``seeds``;
    one row per cell: the first run's estimate and intervals and every rerun's estimate."""
    base = sweep.load_config(config_name)
    runs = {}
    for seed in (base.seed, *seeds):
        config = dataclasses.replace(base, name=f"{base.name}_seed{seed}", models=(model,), families=FAMILIES,
                                     control_models=(), example=False, seed=seed, reliance_variants=())
        out = epath.Path(workdir) / f"seed{seed}"
        sweep.run_sweep(config, workdir=out, data_dir=data_dir, progress=False, log=lambda _: None)
        runs[seed] = load_results(out)
    first = runs[base.seed]
    rows = []
    for cell in first.cells:
        est = _estimate(first.finished[cell["id"]][0])
        reruns = [_estimate(runs[s].finished[cell["id"]][0])["mean"] for s in seeds]
        inside = lambda lo, hi: sum(lo <= m <= hi for m in reruns)  # noqa: E731
        rows.append({"cell": cell["id"], "mean": est["mean"], "mc_se": est.get("mc_standard_error"),
                     "rerun_sd": float(np.std(reruns, ddof=1)) if len(reruns) > 1 else None,
                     "crossed": [est["crossed_ci_low"], est["crossed_ci_high"]],
                     "piece": [est["piece_ci_low"], est["piece_ci_high"]], "reruns": dict(zip(seeds, reruns)),
                     "inside_crossed": inside(est["crossed_ci_low"], est["crossed_ci_high"]),
                     "inside_piece": inside(est["piece_ci_low"], est["piece_ci_high"])})
    return rows


def _f(value) -> str:
    return "nan" if value is None else f"{value:.3g}"


def table(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        reruns = ", ".join(f"{m:.4g}" for m in r["reruns"].values())
        n = len(r["reruns"])
        lines.append(f"{r['cell']}: {r['mean']:.4g}, crossed [{r['crossed'][0]:.4g}, {r['crossed'][1]:.4g}] holds "
                     f"{r['inside_crossed']}/{n} reruns, piece-only [{r['piece'][0]:.4g}, {r['piece'][1]:.4g}] holds "
                     f"{r['inside_piece']}/{n}; reruns: {reruns} (SD {_f(r['rerun_sd'])}, first run's Monte Carlo SE "
                     f"{_f(r['mc_se'])})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--seeds", default="1,2,3,4,5", help="root seeds of the reruns (default %(default)s)")
    parser.add_argument("--config", default="study", help="the sweep config whose cells to rerun (default %(default)s)")
    parser.add_argument("--model", default="basic-pitch", help="the model spec (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        seeds = tuple(int(s) for s in args.seeds.split(","))
    except ValueError:
        parser.error(f"--seeds must be comma-separated ints, got {args.seeds!r}")
    rows = run(args.config, args.data_dir, args.workdir, seeds, args.model)
    print(table(rows))
    amt_io.atomic_write(epath.Path(args.workdir) / "reruns.json", amt_io.strict_json({"config": args.config, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
