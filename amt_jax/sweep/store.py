"""A sweep's files: the manifest, one atomic JSON + NPZ per cell, and the checks a resume makes.

Layout of a workdir (any path ``etils.epath`` opens: local or a bucket)::

    DIR/sweep.json          the config and its cell ids (identical for every shard)
    DIR/cells/<id>.npz      per-draw arrays (importances, group ids, draw × clip, ...)
    DIR/cells/<id>.json     summary, cell config, seed and key, inputs provenance, versions, device kind

Each file is written to a temporary name and renamed; the NPZ first, the JSON last, so a cell is
finished exactly when its JSON exists (the JSON is the commit marker). Temporaries left by a killed
run (``.<name>.<uuid>.tmp``) are never read and are removed when the shard owning them starts
again, once older than :data:`STALE_TEMPORARY_SECONDS` (a live twin of the same shard may be
writing younger ones). A finished cell is reused only if it was computed under what this run would
compute (:func:`differences`).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from typing import Any, Iterable

import numpy as np
from etils import epath

from amt_jax import io as amt_io
from amt_jax.sweep.cells import Cell
from amt_jax.sweep.config import SweepConfig

MANIFEST = "sweep.json"
CELLS_DIR = "cells"
STALE_TEMPORARY_SECONDS = 3600  # a temporary older than this is a killed run's, not a live twin's


def source_digest() -> str:
    """SHA-256 (16 hex digits) of the package sources that shape the numbers (all of ``amt_jax``
    but the CLI, benchmarks, plots and report), so results of different code can be told apart."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    skip = {"commands", "bench", "report"}
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] not in skip:
            digest.update(str(rel).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cell_environment() -> dict[str, Any]:
    """What a cell's numbers were computed on: :func:`amt_jax.io.environment` (versions, device kind/platform/count, matmul precision, host)
    with the source digest among the versions."""
    env = amt_io.environment()
    env["versions"]["amt_jax_source"] = source_digest()
    return env



def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def cell_paths(workdir: epath.PathLike, cell_id: str) -> tuple[epath.Path, epath.Path]:
    """``(json, npz)`` paths of a cell."""
    d = epath.Path(workdir) / CELLS_DIR
    return d / f"{cell_id}.json", d / f"{cell_id}.npz"


def is_done(workdir: epath.PathLike, cell_id: str) -> bool:
    """A cell is finished when its JSON (written last) and NPZ exist."""
    js, npz = cell_paths(workdir, cell_id)
    return js.exists() and npz.exists()


def save_cell(workdir: epath.PathLike, cell: Cell, record: dict, arrays: dict[str, np.ndarray]) -> None:
    """NPZ, then JSON (the commit marker), each atomically."""
    js, npz = cell_paths(workdir, cell.id)
    amt_io.atomic_write(npz, _npz_bytes(arrays))
    amt_io.atomic_write(js, amt_io.strict_json(record))


def read_record(workdir: epath.PathLike, cell_id: str) -> dict:
    """The JSON record of a finished cell (NaN/inf stored as null)."""
    return json.loads(cell_paths(workdir, cell_id)[0].read_text())


def load_cell(workdir: epath.PathLike, cell_id: str) -> tuple[dict, dict[str, np.ndarray]]:
    """``(record, arrays)`` of a finished cell."""
    js, npz = cell_paths(workdir, cell_id)
    record = json.loads(js.read_text())
    with npz.open("rb") as f:
        arrays = dict(np.load(io.BytesIO(f.read())))
    return record, arrays


def read_manifest(workdir: epath.PathLike) -> dict:
    """``{"config": ..., "cells": [...]}`` of a workdir; FileNotFoundError if it holds no sweep."""
    path = epath.Path(workdir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{workdir} holds no sweep ({MANIFEST} missing); run: python -m amt_jax sweep CONFIG --workdir {workdir}")
    return json.loads(path.read_text())


DOCUMENTATION_FIELDS = ("claimed_mc_fraction",)  # config fields that change no result: a rerun may update them


def check_manifest(workdir: epath.Path, config: SweepConfig) -> bool:
    """True if ``workdir`` holds this config's manifest, False if none; ValueError naming the fields
    if it holds another. A config that differs only in :data:`DOCUMENTATION_FIELDS` is this one:
    the manifest takes the new values."""
    path = workdir / MANIFEST
    if not path.exists():
        return False
    old = json.loads(path.read_text())
    before, now = old.get("config") or {}, config.to_dict()
    diffs = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    if diffs and not set(diffs) <= set(DOCUMENTATION_FIELDS):
        raise ValueError(
            f"{workdir} holds sweep {before.get('name')!r} with a different config "
            f"({', '.join(d for d in diffs if d not in DOCUMENTATION_FIELDS)} differ); "
            "use another --workdir (or delete this one)"
        )
    if diffs:
        amt_io.atomic_write(path, json.dumps({**old, "config": now}, indent=1))
    return True


def write_manifest(workdir: epath.Path, config: SweepConfig, cells: list[Cell]) -> None:
    """Write the manifest (config and every cell of the sweep), or update its cell list when the
    probe table now expands the same config to other cells (a kind added since: the report lists
    the manifest's cells, so a resumed sweep's new cells would otherwise be computed but not shown)."""
    listed = [c.to_dict() for c in cells]
    if check_manifest(workdir, config):
        old = json.loads((workdir / MANIFEST).read_text())
        if old.get("cells") == listed:
            return
    manifest = {"config": config.to_dict(), "cells": listed}
    amt_io.atomic_write(workdir / MANIFEST, json.dumps(manifest, indent=1))


def remove_stale_temporaries(workdir: epath.Path, cells: Iterable[Cell], *,
                              older_than: float = STALE_TEMPORARY_SECONDS) -> list[epath.Path]:
    """Delete temporaries of this shard's cells left by a killed run: those last modified more
    than ``older_than`` seconds ago (a live twin instance of the shard may be writing newer ones).
    Returns the deleted paths."""
    removed, now = [], time.time()
    for cell in cells:
        for tmp in (workdir / CELLS_DIR).glob(f".{cell.id}.*.tmp"):
            try:
                if now - tmp.stat().mtime > older_than:
                    tmp.unlink()
                    removed.append(tmp)
            except FileNotFoundError:  # renamed or removed meanwhile by its writer
                pass
    return removed


def differences(record: dict, cell: Cell, seed: int, fingerprint: str | None) -> list[str]:
    """What differs between a finished cell's record and what this run would compute for it
    (``fingerprint`` None: not compared)."""
    diffs = []
    recorded, now = record.get("cell", {}), json.loads(json.dumps(cell.to_dict()))  # as saved (tuples as lists)
    for k in now:
        if recorded.get(k) != now[k]:
            diffs.append(f"{k}: recorded {recorded.get(k)!r}, now {now[k]!r}")
    if record.get("seed") != seed:
        diffs.append(f"sweep seed: recorded {record.get('seed')!r}, now {seed!r}")
    if cell.kind == "cross_method" and "baseline" not in record.get("result", {}):
        diffs.append("attribution baseline: recorded none (a flat 0 for every model, before explain.baselines)")
    if fingerprint is not None:
        old = record.get("inputs", {}).get("fingerprint")
        if old is None:
            diffs.append("no inputs fingerprint recorded (computed by an older amt_jax)")
        elif old != fingerprint:
            diffs.append(f"inputs fingerprint (model weights or data): recorded {old!r}, now {fingerprint!r}")
    return diffs


def refusal(workdir, cell: Cell, diffs: list[str]) -> ValueError:
    return ValueError(f"finished cell {cell.id} in {workdir} was computed under a different config "
                      f"({'; '.join(diffs)}); run in a fresh --workdir (or delete {workdir})")
