"""``python -m amt_jax.bench cache [--config tiny] [--data-dir DIR] [--json OUT]``: what the CLI's
persistent compilation cache buys — the same sweep run three times in fresh processes, side by
side in one run: with the cache switched off, with an empty cache (it compiles and writes), and
with that cache warm (it reads). Prints each wall time, the warm / off ratio, and whether the three
runs' per-draw arrays agree (max |difference|; the cache holds compiled code, never results).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _run(config: str, workdir: Path, data_dir: str | None, cache: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env["AMT_JAX_COMPILATION_CACHE"] = cache
    cmd = [sys.executable, "-m", "amt_jax", "sweep", config, "--workdir", str(workdir), "--no-progress"]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _max_difference(a: Path, b: Path) -> float:
    """Largest |difference| between the two workdirs' cell arrays (NaN where both are NaN counts 0);
    ``inf`` when their cells, array names, shapes or NaN positions differ."""
    names = sorted(p.name for p in (a / "cells").glob("*.npz"))
    if names != sorted(p.name for p in (b / "cells").glob("*.npz")):
        return float("inf")
    worst = 0.0
    for name in names:
        with np.load(a / "cells" / name) as x, np.load(b / "cells" / name) as y:
            if sorted(x.files) != sorted(y.files):
                return float("inf")
            for key in x.files:
                u, v = np.asarray(x[key]), np.asarray(y[key])
                if u.shape != v.shape or u.dtype != v.dtype:
                    return float("inf")
                if u.dtype.kind != "f":
                    if not np.array_equal(u, v):
                        return float("inf")
                    continue
                if not np.array_equal(np.isnan(u), np.isnan(v)):
                    return float("inf")
                if u.size:
                    worst = max(worst, float(np.max(np.abs(np.where(np.isnan(u), 0.0, u - v)))))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amt_jax.bench cache", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="tiny", help="sweep config (default %(default)s)")
    parser.add_argument("--data-dir", default=None, help="data directory, for configs on audio")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="amt_jax-bench-cache-") as tmp:
        root = Path(tmp)
        cache = root / "cache"
        seconds = {"off": _run(args.config, root / "off", args.data_dir, "off"),
                   "cold": _run(args.config, root / "cold", args.data_dir, str(cache)),
                   "warm": _run(args.config, root / "warm", args.data_dir, str(cache))}
        diff = max(_max_difference(root / "off", root / name) for name in ("cold", "warm"))
    record = {"config": args.config, "seconds": seconds, "warm_over_off": seconds["warm"] / seconds["off"],
              "cold_over_off": seconds["cold"] / seconds["off"], "max_abs_difference": diff}
    print(f"sweep {args.config}: cache off {seconds['off']:.1f} s, empty cache {seconds['cold']:.1f} s, warm cache "
          f"{seconds['warm']:.1f} s; warm / off = {record['warm_over_off']:.2f}, empty / off = {record['cold_over_off']:.2f}; "
          f"per-draw arrays agree within {diff:.2g}")
    if args.json:
        args.json.write_text(json.dumps(record, indent=2))
    return 0
