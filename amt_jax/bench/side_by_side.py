"""``python -m amt_jax.bench study --against REV``: whole runs of this checkout and of commit
``REV`` side by side (see :mod:`amt_jax.bench.study`), and the comparison of the cells both computed.

The sweep (and with ``--demo`` the demo) of each side runs in a fresh workdir, in its own checkout
(``REV`` in a temporary ``git worktree``), with the persistent compilation cache off and pip kept
off the network (the demo's sdists are fetched once before any timing and seeded into each
workdir); repeats alternate the order (ABBA). :func:`compare_cells` then holds the numbers to
float32 rounding: a faster run with other numbers is not a speed-up.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _worktree(repo: Path, rev: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True)  # a killed run's leftovers
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", "-f", str(where), rev],
                   check=True, capture_output=True, text=True)
    return where


def _timed_run(cmd: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(cmd)} in {cwd} exited {done.returncode}: {' | '.join(tail)}")
    return seconds


# Same draws, same numbers up to float32 rounding: |a − b| <= ATOL + RTOL · max|a| per array. The
# reference itself moves by up to 3e-6 of an array's scale between chunk sizes 4 and 8 (PESTO's
# logit-scale factorial arrays, scale ~50, by 6e-5 absolute): an absolute 1e-6 alone is below the
# rounding of the computation it checks.
RESULTS_ATOL, RESULTS_RTOL = 1e-6, 1e-5


def compare_cells(this: Path, against: Path, atol: float = RESULTS_ATOL, rtol: float = RESULTS_RTOL) -> dict:
    """The cells of two sweep workdirs (``DIR/cells/<id>.npz``) that share an id, compared array by
    array: ``n_compared`` cells, ids found on one side only, and the largest absolute difference of
    any numeric array of the same shape (``max_abs_diff``, with the cell and array where it is);
    ``mismatched``: arrays whose shapes or dtypes differ, NaN or ±inf patterns differ, or integer,
    boolean or string values differ at all. ``agree``: at least one cell compared, none on one side
    only, nothing mismatched and every float array within ``atol + rtol · max|finite values|``
    (``worst_excess``: the largest ``|difference| / (atol + rtol · scale)``, <= 1 to agree); else
    ``why`` says what failed."""
    import numpy as np

    def ids(d: Path) -> set[str]:
        return {f.stem for f in (d / "cells").glob("*.npz")}

    mine, theirs = ids(this), ids(against)
    worst, where, mismatched = 0.0, None, []
    excess, excess_where = 0.0, None
    for cell in sorted(mine & theirs):
        with np.load(this / "cells" / f"{cell}.npz") as a, np.load(against / "cells" / f"{cell}.npz") as b:
            for name in sorted(set(a.files) | set(b.files)):
                if name not in a.files or name not in b.files:
                    mismatched.append(f"{cell}:{name} (one side only)")
                    continue
                x, y = a[name], b[name]
                numeric = x.dtype.kind in "fiub"  # a float32 → float64 change is a change; strings compare by value
                if x.shape != y.shape or (x.dtype != y.dtype if numeric else x.dtype.kind != y.dtype.kind):
                    mismatched.append(f"{cell}:{name} ({x.dtype}{list(x.shape)} vs {y.dtype}{list(y.shape)})")
                elif x.dtype.kind == "f" and x.size:
                    finite = np.isfinite(x) & np.isfinite(y)
                    if not np.array_equal(np.isnan(x), np.isnan(y)):
                        mismatched.append(f"{cell}:{name} (NaN where the other is not)")
                    elif not np.array_equal(x[np.isinf(x) | np.isinf(y)], y[np.isinf(x) | np.isinf(y)]):
                        mismatched.append(f"{cell}:{name} (±inf where the other is not)")
                    u, v = x[finite].astype(np.float64), y[finite].astype(np.float64)
                    diff = float(np.max(np.abs(u - v), initial=0.0))
                    if diff > worst:
                        worst, where = diff, f"{cell}:{name}"
                    # the scale over both sides' finite values (symmetric; an inf allows nothing)
                    scale = float(max(np.max(np.abs(u), initial=0.0), np.max(np.abs(v), initial=0.0)))
                    if diff / (atol + rtol * scale) > excess:
                        excess, excess_where = diff / (atol + rtol * scale), f"{cell}:{name} (scale {scale:.3g})"
                elif not np.array_equal(x, y):  # integers, booleans and strings: exactly
                    mismatched.append(f"{cell}:{name} (differs)")
    out = {"n_compared": len(mine & theirs), "only_this": sorted(mine - theirs), "only_against": sorted(theirs - mine),
           "max_abs_diff": worst, "where": where, "mismatched": mismatched, "atol": atol, "rtol": rtol,
           "worst_excess": excess, "excess_where": excess_where}
    why = [text for bad, text in (
        (not out["n_compared"], f"no cell on both sides ({len(mine)} here, {len(theirs)} there)"),
        (out["only_this"] or out["only_against"],
         f"{len(out['only_this']) + len(out['only_against'])} cells on one side only"),
        (mismatched, f"{len(mismatched)} arrays mismatched (first: {mismatched[0] if mismatched else ''})"),
        (excess > 1, f"|difference| {excess:.3g}× the tolerance {atol:g} + {rtol:g}·scale at {excess_where}")) if bad]
    return {**out, "agree": not why, "why": "; ".join(why)}


def timed_commands(config: str, data_dir: str | None, demo: bool, overrides: list[str]) -> dict:
    """``{name: work -> argv}``: the ``python -m amt_jax`` arguments each side runs into its own fresh
    directory ``work``: the sweep of ``config`` (its cells in ``work/cells``) and, with ``demo``,
    ``./run.sh demo``'s command (its sweep's cells in ``work/sweep/cells``)."""
    commands = {f"sweep {config}": lambda work: ["sweep", config, "--workdir", str(work), "--no-progress"]
                + (["--data-dir", data_dir] if data_dir else []) + [f"--config.{o}" for o in overrides]}
    if demo:
        commands["demo"] = lambda work: ["demo", "--out", str(work), "--no-progress"]
    return commands


def seed_offline_inputs(name: str, work: Path, sdists: list[Path]) -> None:
    """Before a timed run of command ``name`` into ``work``: the demo's real-recordings step finds
    its sdists (``sdists``, fetched once before any timing) where its builder looks first
    (``OUT/real_data/downloads/sdists``), so no side's time includes pip's network."""
    if name != "demo":
        return
    target = work / "real_data" / "downloads" / "sdists"
    target.mkdir(parents=True, exist_ok=True)
    for path in sdists:
        shutil.copyfile(path, target / path.name)


def _demo_sdists() -> list[Path]:
    """The sdists the demo's real split reads, fetched (once, into the user cache) before timing;
    [] (said on stderr) when pip cannot reach them: the demo then skips that step on both sides."""
    from amt_jax.data.real import archives, sources

    try:
        return [archives.fetch_sdist(*package, cache_dir=archives.default_cache_dir())
                for package in sorted({r.package for r in sources.RECORDINGS})]
    except archives.ArchiveUnavailable as err:
        print(f"[bench study] the demo's real recordings will be skipped on both sides: {err}", file=sys.stderr)
        return []


def cells_dir(name: str, work: Path) -> Path:
    """Where the command ``name`` of :func:`timed_commands` run into ``work`` keeps its sweep's cells'
    parent (what :func:`compare_cells` reads)."""
    return work / "sweep" if name == "demo" else work


def side_by_side(rev: str, *, config: str, data_dir: str | None, repeats: int, demo: bool, overrides: list[str]) -> dict:
    """Median wall times of the same commands on this checkout and on ``rev``, alternating: the
    sweep of ``config`` and, with ``demo``, the demo; each command's first runs' cells compared."""
    repo = Path(__file__).resolve().parents[2]
    rev_sha = subprocess.run(["git", "-C", str(repo), "rev-parse", rev], check=True, capture_output=True,
                             text=True).stdout.strip()
    head_sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True).stdout.strip())
    data_dir = None if data_dir is None else str(Path(data_dir).resolve())  # each side runs in its own checkout
    commands = timed_commands(config, data_dir, demo, overrides)
    sdists = _demo_sdists() if demo else []
    results = {}
    with tempfile.TemporaryDirectory(prefix="amt_jax_bench_study_") as tmp:
        tmp = Path(tmp)
        other = _worktree(repo, rev_sha, tmp / "against")
        try:
            for c, (name, args) in enumerate(commands.items()):
                times = {"this": [], "against": []}
                for r in range(repeats):  # ABBA from 2 repeats on; with 1, REV runs first
                    order = (("against", other), ("this", repo))
                    for side, root in (order if r % 2 == 0 else order[::-1]):
                        env = {**os.environ, "PYTHONPATH": str(root), "AMT_JAX_COMPILATION_CACHE": "off",
                               "PIP_NO_INDEX": "1"}  # what was not fetched before timing fails fast, on both sides
                        env.pop("JAX_COMPILATION_CACHE_DIR", None)
                        work = tmp / f"{c}_{side}_{r}"
                        seed_offline_inputs(name, work, sdists)
                        times[side].append(_timed_run([sys.executable, "-m", "amt_jax", *args(work)], root, env))
                        print(f"[bench study] {name}: {side} run {r + 1}/{repeats}: {times[side][-1]:.1f} s",
                              file=sys.stderr, flush=True)
                this, against = statistics.median(times["this"]), statistics.median(times["against"])
                results[name] = {"this_s": times["this"], "against_s": times["against"], "median_this_s": round(this, 2),
                                 "median_against_s": round(against, 2), "ratio": round(this / against, 3),
                                 "results": compare_cells(cells_dir(name, tmp / f"{c}_this_0"),
                                                               cells_dir(name, tmp / f"{c}_against_0"))}
        finally:
            done = subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(other)],
                                  capture_output=True, text=True)
            if done.returncode:
                print(f"[bench study] could not remove the worktree {other}: {done.stderr.strip()}; "
                      f"`git worktree prune` clears it", file=sys.stderr)
    return {"this": head_sha + (" + uncommitted" if dirty else ""), "against": rev_sha, "repeats": repeats,
            "commands": results}
