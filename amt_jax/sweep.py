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
never read and are removed when the shard owning them starts again, once older than
:data:`STALE_TEMPORARY_SECONDS` (a live twin of the same shard may be writing younger ones).

A finished cell is reused only if it was computed under what this run would compute: its
recorded cell (model, kind, parameters, draws, seed, key tag), the sweep seed, and the inputs
fingerprint (the model's weights digest and the exact data: the synthetic features, or the
chosen audio windows) must equal this run's; otherwise the runner raises a ValueError naming
the cell and what differs (use a fresh workdir). The paths (``data_dir``, a trained model's
directory) and the feature digest are recorded but not compared: moving the same data is
fine, and features computed on other hardware may differ in the last bits.

Multi-host (``jax.distributed.initialize()`` first): every process runs every cell of its
shard (an importance cell's draws are sharded over all hosts' devices) and only process 0
writes files; the workdir must be one shared path (a bucket) all hosts see alike.

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
import math
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
from etils import epath

from amt_jax import io as amt_io
from amt_jax import validate

FAMILIES = ("harmonic", "microtonal", "random_spectral", "noise")
MANIFEST = "sweep.json"
CELLS_DIR = "cells"
STALE_TEMPORARY_SECONDS = 3600  # a temporary older than this is a killed run's, not a live twin's
EXAMPLE_DRAWS = 32  # harmonic draws tried for the example; the one changing the output most is shown
OCTAVE_BANDS = tuple((12 * k, 12 * k + 12) for k in range(9))  # semitone bands, 9 octaves from the lowest key


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
      bands: random-spectral bands as half-open ranges of semitones (0 = the lowest key), in bins
        :func:`semitone_bins` (the semitone groups of ``permutations.microtonal``), clipped to the
        model's axis; bands wholly outside it are skipped.
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
    provenance: dict = field(default_factory=dict)  # model, data, digests; "fingerprint" is compared on resume


def semitone_bins(p_lo: int, p_hi: int, *, bins_per_semitone: int, center_offset: int, n_bins: int) -> tuple[int, int]:
    """Half-open bin range ``(lo, hi)`` of semitones ``p_lo .. p_hi − 1``, clipped to ``[0, n_bins]``.

    Semitone p covers the B bins from ``p·B + center_offset − B//2`` (the rule of
    ``permutations.microtonal``'s groups; Basic Pitch, c = 0, B = 3: semitone p = bins 3p−1..3p+1).
    ``lo >= hi`` when the range lies wholly outside the axis.
    """
    b = bins_per_semitone
    start = center_offset - b // 2
    lo = min(max(p_lo * b + start, 0), n_bins)
    hi = min(max(p_hi * b + start, 0), n_bins)
    return lo, hi


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


def _fingerprint(model: dict, data: dict) -> str:
    """Digest of what a cell's numbers depend on besides its own config: the model's weights and
    the exact data (not paths, not the feature digest; see the module docstring)."""
    content = {"model": {k: v for k, v in model.items() if k not in ("dir",)},
               "data": {k: v for k, v in data.items() if k not in ("data_dir", "features_sha256")}}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


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


def _audio_windows(data: str, *, data_dir, n_clips: int) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """``n_clips`` model windows ``[n_clips, S]`` evenly spaced over the non-silent windows of a
    dataset split (RMS at least half the median), and their ``(example id, window index)``.

    Streams the split: one example's windows at a time for the RMS, then only the chosen ones."""
    from amt_jax import data as data_lib
    from amt_jax import inference

    if data_dir is None:
        raise ValueError(f"data {data!r} needs a data directory (--data-dir)")
    name, split = data_lib.parse_spec(data)
    source = data_lib.load(name, split, data_dir=data_dir)
    where, rms = [], []
    for i in range(len(source)):
        windows = inference.window_audio(source[i]["audio"])
        rms.append(np.sqrt(np.mean(windows**2, axis=1)))
        where += [(i, j) for j in range(len(windows))]
    rms = np.concatenate(rms) if rms else np.zeros(0, np.float32)
    kept = np.flatnonzero(rms >= 0.5 * np.median(rms)) if len(rms) else rms.astype(int)  # drop near-silent windows
    if len(kept) < n_clips:
        raise ValueError(f"n_clips={n_clips} but {data} has only {len(kept)} non-silent model windows")
    chosen = [where[k] for k in kept[np.round(np.linspace(0, len(kept) - 1, n_clips)).astype(int)]]
    out, ids, cache = [], [], {}
    for i, j in chosen:
        if i not in cache:  # chosen windows come in example order: keep only the current example
            example = source[i]
            cache = {i: (inference.window_audio(example["audio"]), example.get("id", str(i)))}
        windows, example_id = cache[i]
        out.append(windows[j])
        ids.append((example_id, j))
    return np.stack(out), ids


def load_inputs(model: str, config: SweepConfig, *, data_dir=None) -> Inputs:
    """The model and features of ``model`` for ``config`` (loads weights and data)."""
    import jax

    kind, arg = parse_model(model)
    if kind == "planted":
        if config.data != "synthetic":
            raise ValueError(f"model {model!r} reads synthetic features only, got data={config.data!r}")
        params = planted_model(bins_per_semitone=arg, seed=config.seed)
        features = synthetic_features(n_clips=config.n_clips, bins_per_semitone=arg, seed=config.seed)
        model_id = {"kind": "planted", "bins_per_semitone": arg, "seed": config.seed, "params_sha256": params_digest(params)}
        data_id = {"data": "synthetic", "seed": config.seed, "n_clips": config.n_clips,
                   "features_sha256": array_digest(features), "synthetic_sha256": array_digest(features)}
        return Inputs(planted_apply, params, features, None, arg, params["w"].shape[0], 0,
                      _provenance(model_id, data_id, features))
    if config.data == "synthetic":
        raise ValueError(f"model {model!r} needs an audio dataset (data='NAME:SPLIT'), got data='synthetic'")
    if kind == "basic-pitch":
        from amt_jax import onnx_weights, pretrained

        m = pretrained.basic_pitch()
        bins_per_semitone, center_offset = m.frontend_config.bins_per_octave // 12, 0  # bin 0 = A0
        model_id = {"kind": "basic-pitch", "onnx_sha256": onnx_weights.onnx_digest()}
    else:
        from amt_jax import train

        m = train.load_trained(arg)
        bins_per_semitone = m.config.model.bins_per_semitone
        center_offset = bins_per_semitone // 2  # train.cqt_kwargs puts pitch p on bin p·B + B // 2
        model_id = {"kind": "trained", "dir": os.path.abspath(arg), "step": getattr(m, "step", None)}
    model_id["params_sha256"] = params_digest(m.params)
    windows, where = _audio_windows(config.data, data_dir=data_dir, n_clips=config.n_clips)
    features = np.asarray(jax.jit(m.frontend)(windows), np.float32)
    n_pitches = int(jax.eval_shape(m.apply, m.params, features[:1])["note"].shape[1])
    data_id = {"data": config.data, "data_dir": None if data_dir is None else str(data_dir), "n_clips": config.n_clips,
               "windows": [list(w) for w in where], "audio_sha256": array_digest(windows),
               "features_sha256": array_digest(features)}
    return Inputs(m.apply, m.params, features, "note", bins_per_semitone, n_pitches, center_offset,
                  _provenance(model_id, data_id, features))


def _provenance(model_id: dict, data_id: dict, features: np.ndarray) -> dict:
    return {"model": model_id, "data": data_id, "features_shape": list(features.shape),
            "fingerprint": _fingerprint(model_id, data_id)}


# --------------------------------------------------------------------------- computing a cell


def _family(cell: Cell, inputs: Inputs):
    from amt_jax import permutations

    params = dict(cell.params)
    b, f = inputs.bins_per_semitone, inputs.features.shape[1]
    if cell.kind in ("harmonic", "harmonic_control", "example"):
        make = permutations.harmonic_control if cell.kind == "harmonic_control" else permutations.harmonic
        f0_range = _bins(inputs, 0, inputs.n_pitches)  # first bin of the lowest key's group .. end of the last key's
        return make(n_bins=f, bins_per_octave=12 * b, n_harmonics=params["n_harmonics"], f0_range=f0_range)
    if cell.kind in ("microtonal_one", "microtonal_all"):
        return permutations.microtonal(n_bins=f, bins_per_semitone=b, center_offset=inputs.center_offset,
                                       scope=cell.kind.split("_")[1])
    return permutations.random_spectral(n_bins=f, band=_bins(inputs, *params["band"]))


def _bins(inputs: Inputs, p_lo: int, p_hi: int) -> tuple[int, int]:
    return semitone_bins(p_lo, p_hi, bins_per_semitone=inputs.bins_per_semitone, center_offset=inputs.center_offset,
                         n_bins=inputs.features.shape[1])


def band_in_axis(cell: Cell, inputs: Inputs) -> bool:
    """False for a random-spectral band wholly outside the model's frequency axis."""
    if cell.kind != "random_spectral":
        return True
    lo, hi = _bins(inputs, *dict(cell.params)["band"])
    return lo < hi


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
               "group": int(groups[best]), "output_l1": float(change[best]), **_layout(inputs)}
    return summary, arrays


def compute_cell(
    cell: Cell, inputs: Inputs, *, chunk_size: int, progress: Callable[[int, int], None] | None = None
) -> tuple[dict, dict[str, np.ndarray]]:
    """Run one cell: ``(summary dict, arrays for the NPZ)``. With several devices, the draws of an
    importance cell are sharded over all of them (results equal up to float rounding).
    ``progress(draws_done, draws_planned)`` is called after every chunk of an importance cell."""
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
        summary = {**resp.config, **_layout(inputs), "output_power_mean": float(power.mean()),
                   "output_power_max": float(power.max()), "output_power_argmax": int(power.argmax())}
        return summary, arrays
    family = _family(cell, inputs)
    if cell.kind == "example":
        return _example(family, inputs, key, n_draws=cell.n)
    mesh = Mesh(np.array(jax.devices()), ("draws",)) if jax.device_count() > 1 else None
    result = importance.permutation_importance(
        inputs.apply_fn, inputs.params, inputs.features, family=family, n_permutations=cell.n, key=key,
        chunk_size=min(chunk_size, cell.n), output=inputs.output, mesh=mesh, progress=progress,
    )
    return {**result.summary(), **_layout(inputs)}, result.arrays()


def _layout(inputs: Inputs) -> dict[str, int]:
    """The frequency layout a cell's result is read with (plots, per-semitone tables)."""
    return {"bins_per_semitone": inputs.bins_per_semitone, "center_offset": inputs.center_offset,
            "n_bins": int(inputs.features.shape[1]), "n_pitches": inputs.n_pitches}


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
    """:func:`amt_jax.io.environment` (versions, device kind/platform/count, matmul precision, host)
    with the source digest among the versions."""
    env = amt_io.environment()
    env["versions"]["amt_jax_source"] = source_digest()
    return env



def _finite(value):
    """``value`` with every NaN/inf float replaced by None (strict JSON)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


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
    amt_io.atomic_write(js, json.dumps(_finite(record), indent=1, allow_nan=False))


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


def _check_manifest(workdir: epath.Path, config: SweepConfig) -> bool:
    """True if ``workdir`` holds this config's manifest, False if none; ValueError if another."""
    path = workdir / MANIFEST
    if not path.exists():
        return False
    old = json.loads(path.read_text())
    if old.get("config") != config.to_dict():
        raise ValueError(
            f"{workdir} holds sweep {old.get('config', {}).get('name')!r} with a different config; "
            "use another --workdir (or delete this one)"
        )
    return True


def _write_manifest(workdir: epath.Path, config: SweepConfig, cells: list[Cell]) -> None:
    if not _check_manifest(workdir, config):
        manifest = {"config": config.to_dict(), "cells": [c.to_dict() for c in cells]}
        amt_io.atomic_write(workdir / MANIFEST, json.dumps(manifest, indent=1))


def _remove_stale_temporaries(workdir: epath.Path, cells: Iterable[Cell], *,
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


def _differences(record: dict, cell: Cell, seed: int, fingerprint: str | None) -> list[str]:
    """What differs between a finished cell's record and what this run would compute for it
    (``fingerprint`` None: not compared)."""
    diffs = []
    recorded, now = record.get("cell", {}), json.loads(json.dumps(cell.to_dict()))  # as saved (tuples as lists)
    for k in now:
        if recorded.get(k) != now[k]:
            diffs.append(f"{k}: recorded {recorded.get(k)!r}, now {now[k]!r}")
    if record.get("seed") != seed:
        diffs.append(f"sweep seed: recorded {record.get('seed')!r}, now {seed!r}")
    if fingerprint is not None:
        old = record.get("inputs", {}).get("fingerprint")
        if old is None:
            diffs.append("no inputs fingerprint recorded (computed by an older amt_jax)")
        elif old != fingerprint:
            diffs.append(f"inputs fingerprint (model weights or data): recorded {old!r}, now {fingerprint!r}")
    return diffs


def _refuse(workdir, cell: Cell, diffs: list[str]) -> ValueError:
    return ValueError(f"finished cell {cell.id} in {workdir} was computed under a different config "
                      f"({'; '.join(diffs)}); run in a fresh --workdir (or delete {workdir})")


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
    m, lo, hi = (float(np.asarray(r[k], float)) for k in ("importances_mean", "ci_low", "ci_high"))  # null (NaN) -> nan
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

    Models and data are loaded only for models with cells in this shard (a finished cell's
    inputs fingerprint is checked against them before it is reused; ValueError if it differs).
    Only process 0 writes files (multi-host: see the module docstring).
    """
    import jax
    from tqdm.auto import tqdm

    workdir = epath.Path(workdir)
    cells = expand(config)
    mine = shard_cells(cells, shard)
    writer = jax.process_index() == 0
    _check_manifest(workdir, config)
    inputs: dict[str, Inputs] = {}

    def inputs_of(model: str) -> Inputs:
        if model not in inputs:
            inputs[model] = load_inputs(model, config, data_dir=data_dir)
        return inputs[model]

    # Finished cells, decided once up front (the same on every host), each checked against this run.
    finished = {}
    for cell in mine:
        if is_done(workdir, cell.id):
            finished[cell.id] = read_record(workdir, cell.id)
            diffs = _differences(finished[cell.id], cell, config.seed, None)  # cheap checks before loading anything
            if diffs:
                raise _refuse(workdir, cell, diffs)
    for cell in mine:
        if cell.id in finished:
            diffs = _differences(finished[cell.id], cell, config.seed, inputs_of(cell.model).provenance["fingerprint"])
            if diffs:
                raise _refuse(workdir, cell, diffs)
    if writer:
        (workdir / CELLS_DIR).mkdir(parents=True, exist_ok=True)
        _write_manifest(workdir, config, cells)
        _remove_stale_temporaries(workdir, mine)
    env = environment()
    statuses = []
    bar = tqdm(mine, desc=f"sweep {config.name} {shard[0]}/{shard[1]}", unit="cell", disable=not progress)
    for n, cell in enumerate(bar, 1):
        bar.set_postfix_str(cell.id, refresh=True)
        prefix = f"[{n}/{len(mine)}] {cell.id}:"
        if cell.id in finished:
            statuses.append(CellStatus(cell, "skipped", 0.0, f"{prefix} finished earlier — {summary_line(cell, finished[cell.id])}"))
        elif not band_in_axis(cell, inputs_of(cell.model)):
            statuses.append(CellStatus(cell, "out_of_axis", 0.0, f"{prefix} band outside the model's axis, skipped"))
        else:
            start = time.perf_counter()
            with tqdm(total=cell.n, desc=f"  {cell.id}", unit="draw", leave=False, disable=not progress) as draws:
                result, arrays = compute_cell(
                    cell, inputs[cell.model], chunk_size=config.chunk_size,
                    progress=lambda done, planned: (setattr(draws, "total", planned), draws.update(done - draws.n)),
                )
            seconds = time.perf_counter() - start
            record = {"sweep": config.name, "cell": cell.to_dict(), "seed": config.seed, "result": result,
                      "inputs": inputs[cell.model].provenance, "config": config.to_dict(), "environment": env,
                      "seconds": seconds, "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            if writer:
                save_cell(workdir, cell, record, arrays)
            statuses.append(CellStatus(cell, "done", seconds, f"{prefix} {summary_line(cell, record)} ({seconds:.1f} s)"))
        (bar.write if progress else log)(statuses[-1].line)
    bar.close()
    return statuses
