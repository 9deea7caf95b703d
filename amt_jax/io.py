"""Result files: one atomic write, one record of the environment and the digests of arrays and
parameters that identify inputs, used by every command.

``atomic_write(path, data)`` writes through a temporary file in the same folder
(``.<name>.<uuid>.tmp``) and a rename, on any path ``etils.epath`` opens (local or a bucket);
the temporary is removed when the write fails. ``environment()`` records what numbers depend
on: Python and package versions, the JAX device kind/platform/count and the default matmul
precision; ``usable_cpus()`` the CPUs this process may run on, ``cpu_quota()`` the CPU limit of a
container (cgroup v2).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import uuid
from importlib import metadata
from typing import Any, Iterable

import numpy as np
from etils import epath

# Packages recorded by default (absent ones are recorded as None).
PACKAGES = (
    "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "scipy", "etils",
    "librosa", "tensorflow-datasets", "music21", "mir_eval", "onnx", "onnxruntime", "basic-pitch",
)
TEMP_SUFFIX = ".tmp"


def temporary_path(path: epath.PathLike) -> epath.Path:
    """A fresh temporary name beside ``path``: ``.<name>.<uuid>.tmp``."""
    path = epath.Path(path)
    return path.parent / f".{path.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}"


def atomic_write(path: epath.PathLike, data: bytes | str) -> None:
    """Write ``data`` (str as UTF-8) to ``path`` through a temporary in the same folder and a
    rename, so readers see the old file or the new one, never a part; the temporary is removed
    on failure (including KeyboardInterrupt)."""
    path = epath.Path(path)
    if isinstance(data, str):
        data = data.encode()
    tmp = temporary_path(path)
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def versions(packages: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """``{"python": ..., "amt_jax": ..., package: version or None}``."""
    import amt_jax

    out: dict[str, str | None] = {"python": platform.python_version(), "amt_jax": amt_jax.__version__}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def environment(packages: Iterable[str] = PACKAGES) -> dict[str, Any]:
    """``{"versions", "device_kind", "platform", "device_count", "process_count",
    "jax_default_matmul_precision", "host"}`` of this process."""
    import jax

    device = jax.devices()[0]
    return {
        "versions": versions(packages),
        "device_kind": device.device_kind,
        "platform": device.platform,
        "device_count": jax.device_count(),
        "process_count": jax.process_count(),
        "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
        "host": platform.node(),
    }


def usable_cpus() -> int:
    """The logical CPUs this process may run on (its affinity mask; ``os.cpu_count()`` where the
    platform has none). A container's CPU limit is :func:`cpu_quota`."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cpu_quota(cpu_max: str | None = None) -> float | None:
    """This process's cgroup v2 CPU limit in cores (``cpu.max``: "QUOTA PERIOD", or "max PERIOD"
    for none); None when unlimited or unreadable. ``cpu_max``: that text (read from
    /sys/fs/cgroup/cpu.max when None)."""
    if cpu_max is None:
        try:
            with open("/sys/fs/cgroup/cpu.max") as f:
                cpu_max = f.read()
        except OSError:
            return None
    quota, _, period = cpu_max.strip().partition(" ")
    try:
        return None if quota in ("max", "") else int(quota) / int(period)
    except ValueError:  # no period, or not numbers
        return None


def array_digest(*arrays) -> str:
    """SHA-256 (16 hex digits) of arrays' dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        digest.update(f"{a.dtype.str}{a.shape}".encode() + a.tobytes())
    return digest.hexdigest()[:16]


def params_digest(params) -> str:
    """SHA-256 (16 hex digits) of a parameter tree: every leaf's path, dtype, shape and bytes."""
    import jax

    digest = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        digest.update(jax.tree_util.keystr(path).encode() + array_digest(leaf).encode())
    return digest.hexdigest()[:16]


def finite(value):
    """``value`` (nested dicts, lists, numpy scalars) with every NaN/inf float replaced by None and
    numpy scalars as Python numbers, for strict JSON."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return finite(value.tolist())
    return value


def strict_json(value, indent: int = 1) -> str:
    """Strict JSON (no NaN/Infinity: they become null) of ``value``."""
    return json.dumps(finite(value), indent=indent, allow_nan=False)
