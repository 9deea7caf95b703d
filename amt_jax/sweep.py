"""Sweep runner: a :class:`SweepConfig` expands into cells, each cell runs through the engine
and is saved atomically, so a sweep survives preemption and splits over a job array.

Layout of a workdir (any path ``etils.epath`` opens: local or a bucket)::

    DIR/sweep.json          the config and its cell ids (identical for every shard)
    DIR/cells/<id>.npz      per-draw arrays (importances, group ids, ...)
    DIR/cells/<id>.json     summary, cell config, seed and key, package versions, device kind

Each file is written to a temporary name and renamed; the NPZ first, the JSON last, so a
cell is finished exactly when its JSON exists (the JSON is the commit marker). A rerun skips
finished cells and recomputes the others from their own key: cell ``c`` uses
``fold_in(PRNGKey(seed), tag(c))`` and draw ``i`` inside it ``fold_in(cell_key, i)``, so a
resumed sweep gives the same per-draw results as an uninterrupted one. ``shard=(i, n)``
runs cells ``i, i + n, ...``. Temporaries left by a killed run (``.<name>.<uuid>.tmp``) are
never read and are removed when the shard owning them starts again.

Models (``SweepConfig.models``): ``planted-b<B>`` (a fixed linear map + sigmoid planted on
the first harmonics of each key, ``B`` bins per semitone, features synthetic), ``basic-pitch``
(:func:`amt_jax.pretrained.basic_pitch`) and ``trained:<dir>`` (``amt_jax.train.load_trained``).
Data: ``synthetic`` (planted models only) or ``NAME:SPLIT`` of a built dataset (model windows
of its audio, through the model's frontend). The metric is the label-free ``output_l1`` on
the note output. The noise cell draws noise with the per-bin mean and spread of the cell's
features, clipped to their range.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import platform
import re
import time
import uuid
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Iterable

import numpy as np
from etils import epath

from amt_jax import validate

FAMILIES = ("harmonic", "microtonal", "random_spectral", "noise")
MANIFEST = "sweep.json"
CELLS_DIR = "cells"
VERSIONED_PACKAGES = ("jax", "jaxlib", "flax", "numpy", "scipy", "etils", "ml-collections")
EXAMPLE_DRAWS = 32  # harmonic draws tried for the example; the one changing the output most is shown
OCTAVE_BANDS = tuple((12 * k, 12 * k + 12) for k in range(9))  # semitone bands, 9 octaves from the axis bottom


# --------------------------------------------------------------------------- config and cells


@dataclass(frozen=True)
class SweepConfig:
    """A grid of permutation-importance cells.

    Attributes:
      name: the config's name (recorded in results).
      models: model specs, see the module docstring; the first one also gets the example cell.
      data: ``"synthetic"`` or ``"NAME:SPLIT"`` (e.g. ``"chorales:test"``).
      n_clips: clips (model windows) every cell is measured on.
      seed: root PRNG seed of the sweep.
      families: subset of :data:`FAMILIES` to run.
      harmonics: numbers of harmonics h; each gets a harmonic cell and its size-matched control.
      bands: random-spectral bands as half-open semitone ranges above the axis bottom
        (clipped to the model's axis; bands wholly above it are skipped).
      n_permutations: draws of the harmonic, control, random-spectral and microtonal-all cells.
      n_permutations_semitone: draws of the microtonal-one cell (spread over all semitones).
      n_noise_samples: noise inputs of the edge-case (noise response) cell.
      chunk_size: draws per jitted call.
      example: save one example (X, πX of a harmonic draw, outputs) for the first model.
    """

    name: str
    models: tuple[str, ...]
    data: str = "synthetic"
    n_clips: int = 4
    seed: int = 0
    families: tuple[str, ...] = FAMILIES
    harmonics: tuple[int, ...] = (2, 3, 4, 6, 8)
    bands: tuple[tuple[int, int], ...] = OCTAVE_BANDS
    n_permutations: int = 64
    n_permutations_semitone: int = 256
    n_noise_samples: int = 256
    chunk_size: int = 32
    example: bool = True

    def __post_init__(self):
        if not self.models:
            raise ValueError("models must name at least one model, got ()")
        for m in self.models:
            parse_model(m)
        for name in ("n_clips", "n_permutations", "n_permutations_semitone", "n_noise_samples", "chunk_size"):
            validate.positive_int(name, getattr(self, name))
        for f in self.families:
            validate.one_of("families", f, FAMILIES)
        for h in self.harmonics:
            validate.positive_int("harmonics", h)
        for band in self.bands:
            if not (len(band) == 2 and 0 <= band[0] < band[1]):
                raise ValueError(f"bands must be semitone ranges (lo, hi) with 0 <= lo < hi, got {band!r}")
        if self.data != "synthetic" and ":" not in self.data:
            raise ValueError(f"data must be 'synthetic' or 'NAME:SPLIT', got {self.data!r}")
        if not self.harmonics and ("harmonic" in self.families or self.example):
            raise ValueError("harmonics must hold at least one h when the harmonic family or the example is on, got ()")
        if "noise" in self.families and self.n_noise_samples < 2:
            raise ValueError(f"n_noise_samples must be >= 2 for the noise cell, got {self.n_noise_samples}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (tuples as lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclass(frozen=True)
class Cell:
    """One unit of work: a model, a kind, its parameters and its number of draws (or noise samples).

    Kinds: ``harmonic`` and ``harmonic_control`` (``n_harmonics``), ``microtonal_one``,
    ``microtonal_all``, ``random_spectral`` (``band``), ``noise``, ``example`` (``n_harmonics``).
    """

    model: str
    kind: str
    params: tuple[tuple[str, Any], ...]
    n: int
    seed: int

    @property
    def id(self) -> str:
        """File-safe id, e.g. ``basic-pitch__harmonic_h4`` or ``planted-b3__random_spectral_0-12``."""
        short = {"n_harmonics": "h"}
        suffix = "".join(f"_{short.get(k, '')}{'-'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in self.params)
        return f"{model_slug(self.model)}__{self.kind}{suffix}"

    @property
    def pair_id(self) -> str:
        """Cells with the same pair id share their key (a harmonic cell and its control)."""
        kind = "harmonic" if self.kind == "harmonic_control" else self.kind
        return f"{self.model}|{kind}|{self.params}"

    def key_tag(self) -> int:
        """Stable 31-bit tag of this cell's key: ``fold_in(PRNGKey(seed), tag)``."""
        return int(hashlib.sha256(self.pair_id.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "model": self.model, "kind": self.kind, "params": dict(self.params), "n": self.n,
                "seed": self.seed, "key_tag": self.key_tag()}


def model_slug(model: str) -> str:
    """File-safe short name of a model spec (``trained:/a/b3`` → ``trained-b3``)."""
    if model.startswith("trained:"):
        model = "trained-" + model.split(":", 1)[1].rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9.-]+", "-", model)


def parse_model(model: str) -> tuple[str, Any]:
    """``("planted", B)``, ``("basic-pitch", None)`` or ``("trained", path)``; ValueError otherwise."""
    if model == "basic-pitch":
        return "basic-pitch", None
    if model.startswith("trained:") and len(model) > len("trained:"):
        return "trained", model.split(":", 1)[1]
    match = re.fullmatch(r"planted-b([1-9][0-9]*)", model)
    if match:
        return "planted", int(match.group(1))
    raise ValueError(f"unknown model {model!r}; valid: basic-pitch, planted-b<B> (e.g. planted-b3), trained:<dir>")


def expand(config: SweepConfig) -> list[Cell]:
    """All cells of ``config`` in a fixed order (the order shards split)."""
    cells = []

    def add(model, kind, n, **params):
        cells.append(Cell(model, kind, tuple(params.items()), n, config.seed))

    for model in config.models:
        if "harmonic" in config.families:
            for h in config.harmonics:
                add(model, "harmonic", config.n_permutations, n_harmonics=h)
                add(model, "harmonic_control", config.n_permutations, n_harmonics=h)
        if "microtonal" in config.families:
            add(model, "microtonal_one", config.n_permutations_semitone)
            add(model, "microtonal_all", config.n_permutations)
        if "random_spectral" in config.families:
            for band in config.bands:
                add(model, "random_spectral", config.n_permutations, band=tuple(band))
        if "noise" in config.families:
            add(model, "noise", config.n_noise_samples)
    if config.example:
        add(config.models[0], "example", EXAMPLE_DRAWS, n_harmonics=max(config.harmonics))
    ids = [c.id for c in cells]
    if len(set(ids)) != len(ids):
        raise ValueError(f"config {config.name!r} gives duplicate cell ids (models with the same short name?): {ids}")
    return cells


def _experiments_registry():
    """The ``experiments`` package of this repository, imported by path (any working directory)."""
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "experiments"
    loaded = sys.modules.get("experiments")
    if loaded is not None and Path(getattr(loaded, "__file__", "")).resolve().parent == root:
        return loaded
    if not (root / "__init__.py").is_file():
        raise FileNotFoundError(f"the experiments registry {root} is missing; pass a config file (.py) instead")
    spec = importlib.util.spec_from_file_location("experiments", root / "__init__.py", submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["experiments"] = module
    spec.loader.exec_module(module)
    return module


def load_config(name: str) -> SweepConfig:
    """A registered config (``tiny``, ``demo``, ``paper``; see ``experiments/``) or a ``.py``
    file defining ``get_config()``."""
    import importlib.util

    if name.endswith(".py"):
        path = epath.Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"config file {name} does not exist")
        spec = importlib.util.spec_from_file_location(f"_sweep_config_{path.stem}", str(path))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        config = module.get_config()
    else:
        config = _experiments_registry().get_config(name)
    if not isinstance(config, SweepConfig):
        raise ValueError(f"config {name!r}: get_config() must return an amt_jax.sweep.SweepConfig, got {type(config).__name__}")
    return config


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` → ``(I, N)`` with ``0 <= I < N``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not int(match.group(1)) < int(match.group(2)):
        raise ValueError(f"shard must be I/N with 0 <= I < N (e.g. 0/4), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def shard_cells(cells: list[Cell], shard: tuple[int, int]) -> list[Cell]:
    """Cells ``i, i + n, i + 2n, ...`` of ``cells`` for ``shard = (i, n)``."""
    i, n = shard
    return cells[i::n]


# --------------------------------------------------------------------------- models and inputs


@dataclass(frozen=True)
class Inputs:
    """What a cell needs: ``apply_fn(params, x [B, F, T])``, params, features ``[n_clips, F, T]``."""

    apply_fn: Callable
    params: Any
    features: np.ndarray
    output: str | None
    bins_per_semitone: int
    n_pitches: int
    center_offset: int  # bin of the lowest key's centre (pitch p sits on bin p·B + center_offset)


PLANTED_OCTAVES = 4
PLANTED_HARMONICS = 4
PLANTED_FRAMES = 32


def planted_apply(params: dict, x):
    """The planted model: ``sigmoid(gain · (W x − bias))``, ``x [..., F, T]`` → ``[..., P, T]``."""
    import jax
    import jax.numpy as jnp

    return jax.nn.sigmoid(params["gain"] * (jnp.einsum("pf,...ft->...pt", params["w"], x) - params["bias"]))


def planted_model(*, bins_per_semitone: int, seed: int = 0) -> dict:
    """Params of the planted model (F = 48·B bins): key p reads bins ``p·B + round(12B·log2 k)``,
    k = 1..4, weight 1/k, plus a small fixed random map; 4 octaves, P = 48 keys."""
    b = bins_per_semitone
    n_pitches, n_bins = 12 * PLANTED_OCTAVES, 12 * PLANTED_OCTAVES * b
    rng = np.random.default_rng(seed)
    w = 0.05 * rng.standard_normal((n_pitches, n_bins)) / np.sqrt(n_bins)
    for p in range(n_pitches):
        for k in range(1, PLANTED_HARMONICS + 1):
            f = p * b + int(round(12 * b * np.log2(k)))
            if f < n_bins:
                w[p, f] += 1.0 / k
    return {"w": w.astype(np.float32), "gain": np.float32(8.0), "bias": np.float32(0.6)}


def synthetic_features(*, n_clips: int, bins_per_semitone: int, seed: int = 0) -> np.ndarray:
    """Planted-model features ``[n_clips, F, 32]`` in [0, 1]: 6–10 random keys per clip with
    4-harmonic combs (amplitude 1/k, half spilled to the neighbouring bins) over noise."""
    b = bins_per_semitone
    n_bins = 12 * PLANTED_OCTAVES * b
    rng = np.random.default_rng(seed)
    x = 0.05 * rng.random((n_clips, n_bins, PLANTED_FRAMES))
    for c in range(n_clips):
        for p in rng.integers(0, 12 * PLANTED_OCTAVES, size=rng.integers(6, 11)):
            t0, t1 = sorted(rng.integers(0, PLANTED_FRAMES, size=2))
            for k in range(1, PLANTED_HARMONICS + 1):
                f = p * b + int(round(12 * b * np.log2(k)))
                for df, a in ((0, 1.0), (-1, 0.5), (1, 0.5)):
                    if 0 <= f + df < n_bins:
                        x[c, f + df, t0 : t1 + 1] += a / k
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def _audio_features(frontend: Callable, data: str, *, data_dir, n_clips: int) -> np.ndarray:
    """``n_clips`` model windows evenly spaced over the non-silent windows of a dataset split
    (RMS at least half the median), through ``frontend``."""
    import jax

    from amt_jax import data as data_lib
    from amt_jax import inference

    if data_dir is None:
        raise ValueError(f"data {data!r} needs a data directory (--data-dir)")
    name, split = data_lib.parse_spec(data)
    source = data_lib.load(name, split, data_dir=data_dir)
    windows = np.concatenate([inference.window_audio(ex["audio"]) for ex in source])
    rms = np.sqrt(np.mean(windows**2, axis=1))
    windows = windows[rms >= 0.5 * np.median(rms)]  # drop near-silent windows (ends, padding)
    if len(windows) < n_clips:
        raise ValueError(f"n_clips={n_clips} but {data} has only {len(windows)} non-silent model windows")
    chosen = windows[np.round(np.linspace(0, len(windows) - 1, n_clips)).astype(int)]
    return np.asarray(jax.jit(frontend)(chosen), np.float32)


def load_inputs(model: str, config: SweepConfig, *, data_dir=None) -> Inputs:
    """The model and features of ``model`` for ``config`` (loads weights and data)."""
    import jax

    kind, arg = parse_model(model)
    if kind == "planted":
        if config.data != "synthetic":
            raise ValueError(f"model {model!r} reads synthetic features only, got data={config.data!r}")
        params = planted_model(bins_per_semitone=arg, seed=config.seed)
        features = synthetic_features(n_clips=config.n_clips, bins_per_semitone=arg, seed=config.seed)
        return Inputs(planted_apply, params, features, None, arg, params["w"].shape[0], 0)
    if config.data == "synthetic":
        raise ValueError(f"model {model!r} needs an audio dataset (data='NAME:SPLIT'), got data='synthetic'")
    if kind == "basic-pitch":
        from amt_jax import pretrained

        m = pretrained.basic_pitch()
        bins_per_semitone, center_offset = m.frontend_config.bins_per_octave // 12, 0  # bin 0 = A0
    else:
        from amt_jax import train

        m = train.load_trained(arg)
        bins_per_semitone = m.config.model.bins_per_semitone
        center_offset = bins_per_semitone // 2  # train.cqt_kwargs puts pitch p on bin p·B + B // 2
    features = _audio_features(m.frontend, config.data, data_dir=data_dir, n_clips=config.n_clips)
    n_pitches = int(jax.eval_shape(m.apply, m.params, features[:1])["note"].shape[1])
    return Inputs(m.apply, m.params, features, "note", bins_per_semitone, n_pitches, center_offset)


# --------------------------------------------------------------------------- computing a cell


def _family(cell: Cell, inputs: Inputs):
    from amt_jax import permutations

    params = dict(cell.params)
    b, f = inputs.bins_per_semitone, inputs.features.shape[1]
    if cell.kind in ("harmonic", "harmonic_control", "example"):
        make = permutations.harmonic_control if cell.kind == "harmonic_control" else permutations.harmonic
        f0_hi = min(f, inputs.n_pitches * b + inputs.center_offset)
        return make(n_bins=f, bins_per_octave=12 * b, n_harmonics=params["n_harmonics"], f0_range=(0, f0_hi))
    if cell.kind in ("microtonal_one", "microtonal_all"):
        return permutations.microtonal(n_bins=f, bins_per_semitone=b, center_offset=inputs.center_offset,
                                       scope=cell.kind.split("_")[1])
    lo, hi = params["band"]
    return permutations.random_spectral(n_bins=f, band=(lo * b, min(hi * b, f)))


def band_in_axis(cell: Cell, inputs: Inputs) -> bool:
    """False for a random-spectral band wholly above the model's frequency axis."""
    return cell.kind != "random_spectral" or dict(cell.params)["band"][0] * inputs.bins_per_semitone < inputs.features.shape[1]


def _example(family, inputs: Inputs, key, *, n_draws: int) -> tuple[dict, dict[str, np.ndarray]]:
    """The first clip X, and of ``n_draws`` harmonic draws the πX changing the model's
    output most (a random f0 often misses every note), with outputs before and after."""
    import jax

    from amt_jax import importance

    idx, groups = jax.jit(jax.vmap(family.sample))(jax.vmap(lambda i: jax.random.fold_in(key, i))(np.arange(n_draws)))
    idx, groups = np.asarray(idx), np.asarray(groups)
    x = inputs.features[0]

    def note(v):
        y = inputs.apply_fn(inputs.params, v)
        return np.asarray(y if inputs.output is None else y[inputs.output])

    y = note(x[None])[0]
    y_perm = note(x[idx])  # [draws, P, T]
    change = np.mean(np.abs(y_perm - y), axis=(1, 2))
    best = int(np.argmax(change))
    arrays = {"x": x, "x_perm": x[idx[best]], "y": y, "y_perm": y_perm[best], "idx": idx[best], "output_l1": change}
    summary = {"family": importance._family_config(family), "draw": best, "n_draws": n_draws,
               "group": int(groups[best]), "output_l1": float(change[best]), "bins_per_semitone": inputs.bins_per_semitone}
    return summary, arrays


def compute_cell(cell: Cell, inputs: Inputs, *, chunk_size: int) -> tuple[dict, dict[str, np.ndarray]]:
    """Run one cell: ``(summary dict, arrays for the NPZ)``. With several devices, the draws of an
    importance cell are sharded over all of them (results equal up to float rounding)."""
    import jax
    from jax.sharding import Mesh

    from amt_jax import importance

    key = jax.random.fold_in(jax.random.PRNGKey(cell.seed), cell.key_tag())
    if cell.kind == "noise":
        x = inputs.features
        resp = importance.noise_response(
            inputs.apply_fn, inputs.params, shape=x.shape[1:], n_samples=cell.n, key=key,
            mean=x.mean(axis=(0, 2)), std=np.maximum(x.std(axis=(0, 2)), 1e-3),
            value_range=(float(x.min()), float(x.max()) + 1e-6), output=inputs.output,
            chunk_size=min(chunk_size, cell.n), n_batches=min(20, cell.n),
        )
        arrays = {f.name: np.asarray(getattr(resp, f.name)) for f in dataclasses.fields(resp) if f.name != "config"}
        power = arrays["output_power"]
        summary = {**resp.config, "bins_per_semitone": inputs.bins_per_semitone, "output_power_mean": float(power.mean()),
                   "output_power_max": float(power.max()), "output_power_argmax": int(power.argmax())}
        return summary, arrays
    family = _family(cell, inputs)
    if cell.kind == "example":
        return _example(family, inputs, key, n_draws=cell.n)
    mesh = Mesh(np.array(jax.devices()), ("draws",)) if jax.device_count() > 1 else None
    result = importance.permutation_importance(
        inputs.apply_fn, inputs.params, inputs.features, family=family, n_permutations=cell.n, key=key,
        chunk_size=min(chunk_size, cell.n), output=inputs.output, mesh=mesh,
    )
    return {**result.summary(), "bins_per_semitone": inputs.bins_per_semitone}, result.arrays()


# --------------------------------------------------------------------------- files


def source_digest() -> str:
    """SHA-256 (16 hex digits) of the package sources that shape the numbers (all of ``amt_jax``
    but the CLI, benchmarks, plots and report), so results of different code can be told apart."""
    from pathlib import Path

    root = Path(__file__).resolve().parent
    skip = {"commands", "bench"}
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] not in skip and rel.name not in ("plots.py", "report.py"):
            digest.update(str(rel).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def environment() -> dict[str, Any]:
    """Package versions, source digest, Python, and the JAX device kind/platform/count."""
    import jax

    import amt_jax

    versions = {"amt_jax": amt_jax.__version__, "amt_jax_source": source_digest(), "python": platform.python_version()}
    for pkg in VERSIONED_PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    device = jax.devices()[0]
    return {"versions": versions, "device_kind": device.device_kind, "platform": device.platform,
            "device_count": jax.device_count(), "host": platform.node()}


def atomic_write(path: epath.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = epath.Path(path)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
    atomic_write(npz, _npz_bytes(arrays))
    atomic_write(js, json.dumps(record, indent=1, allow_nan=True).encode())


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


def _write_manifest(workdir: epath.Path, config: SweepConfig, cells: list[Cell]) -> None:
    manifest = {"config": config.to_dict(), "cells": [c.to_dict() for c in cells]}
    path = workdir / MANIFEST
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("config") != manifest["config"]:
            raise ValueError(
                f"{workdir} holds sweep {old.get('config', {}).get('name')!r} with a different config; "
                "use another --workdir (or delete this one)"
            )
        return
    atomic_write(path, json.dumps(manifest, indent=1).encode())


def _remove_stale_temporaries(workdir: epath.Path, cells: Iterable[Cell]) -> None:
    """Delete temporaries of this shard's cells left by a killed run."""
    for cell in cells:
        for tmp in (workdir / CELLS_DIR).glob(f".{cell.id}.*.tmp"):
            tmp.unlink()


# --------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class CellStatus:
    """What happened to a cell: ``"done"`` (computed now), ``"skipped"`` (finished earlier) or
    ``"out_of_axis"`` (a band above the model's axis)."""

    cell: Cell
    status: str
    seconds: float
    line: str


def summary_line(cell: Cell, record: dict) -> str:
    """One line describing a finished cell's result."""
    r = record["result"]
    if cell.kind == "noise":
        return f"mean output {r['output_power_mean']:.4g}, max {r['output_power_max']:.4g} at pitch {r['output_power_argmax']}"
    if cell.kind == "example":
        return f"f0 bin {r['group']}, mean |Y(πX) − Y(X)| = {r['output_l1']:.4g}"
    m, lo, hi = (float(np.asarray(r[k])) for k in ("importances_mean", "ci_low", "ci_high"))
    return f"importance {m:.4g} [{lo:.4g}, {hi:.4g}] over {r['n_permutations']} draws"


def run_sweep(
    config: SweepConfig,
    *,
    workdir: epath.PathLike,
    shard: tuple[int, int] = (0, 1),
    data_dir=None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[CellStatus]:
    """Run (or resume) this shard's cells of ``config`` into ``workdir``; returns their statuses.

    Models and data are loaded only if some cell of theirs is unfinished.
    """
    from tqdm.auto import tqdm

    workdir = epath.Path(workdir)
    cells = expand(config)
    mine = shard_cells(cells, shard)
    (workdir / CELLS_DIR).mkdir(parents=True, exist_ok=True)
    _write_manifest(workdir, config, cells)
    _remove_stale_temporaries(workdir, mine)
    env = environment()
    inputs: dict[str, Inputs] = {}
    statuses = []
    bar = tqdm(mine, desc=f"sweep {config.name} {shard[0]}/{shard[1]}", unit="cell", disable=not progress)
    for n, cell in enumerate(bar, 1):
        bar.set_postfix_str(cell.id, refresh=True)
        prefix = f"[{n}/{len(mine)}] {cell.id}:"
        if is_done(workdir, cell.id):
            record, _ = load_cell(workdir, cell.id)
            statuses.append(CellStatus(cell, "skipped", 0.0, f"{prefix} finished earlier — {summary_line(cell, record)}"))
        else:
            if cell.model not in inputs:
                inputs[cell.model] = load_inputs(cell.model, config, data_dir=data_dir)
            if not band_in_axis(cell, inputs[cell.model]):
                statuses.append(CellStatus(cell, "out_of_axis", 0.0, f"{prefix} band above the model's axis, skipped"))
            else:
                start = time.perf_counter()
                result, arrays = compute_cell(cell, inputs[cell.model], chunk_size=config.chunk_size)
                seconds = time.perf_counter() - start
                record = {"sweep": config.name, "cell": cell.to_dict(), "seed": config.seed, "result": result,
                          "config": config.to_dict(), "environment": env, "seconds": seconds,
                          "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                save_cell(workdir, cell, record, arrays)
                statuses.append(CellStatus(cell, "done", seconds, f"{prefix} {summary_line(cell, record)} ({seconds:.1f} s)"))
        (bar.write if progress else log)(statuses[-1].line)
    bar.close()
    return statuses
