"""Datasets for training and evaluation: tfds builders written as ``array_record`` and read
back with ``tfds.data_source`` (random access, no TensorFlow).

- ``chorales``: Bach chorales from the music21 corpus rendered with a SoundFont
  (configs ``chorales/tinysoundfont``, the default, and ``chorales/fluidsynth``; mistuned
  renders of the same pieces ``chorales/detune10``, ``detune25``, ``detune50`` (each voice
  ±D cents) and ``chorales/vibrato``, see :mod:`amt_jax.data.tuning`; ``chorales/solo``: each voice
  rendered alone, one example per piece and voice with its F0, see :mod:`amt_jax.data.chorales.solo`).
- ``maestro``: MAESTRO v3 from a local download (zip or extracted folder).
- ``real``: a few real recordings with pitch tracks or note lists, read from PyPI source
  archives (libsoni) fetched with pip; a ``test`` split only (:mod:`amt_jax.data.real`).

``windows(source, n_clips=...)`` cuts a loaded split into model windows (:mod:`amt_jax.data.windowing`:
audio ``[n, 43844]``, targets ``[n, 88, 172]``, piece ids, programs).

``build(name, data_dir=..., ...)`` makes a dataset; ``load(name, split, data_dir=...)`` returns
a random-access :class:`Source` whose examples hand out labels pitch-major: ``frames`` and
``onsets`` ``bool [88, n_frames]`` (stored time-major ``[n_frames, 88]``), ``audio`` float32
``[n_samples]`` at 22,050 Hz, ``notes`` a :class:`~amt_jax.data.labels.Notes`, ``program``, ``id``,
``piece`` (the unit of data: ``id`` up to its first ``/``, e.g. ``bwv269`` for the solo voice ``bwv269/0``);
a mistuned config's examples add ``voice`` and ``cents`` (per note) and ``tuning`` (the
per-voice :class:`~amt_jax.data.tuning.Tuning`); a recording's add ``instruments`` (tuple of names,
one per voice) and ``f0`` (float32 ``[n_voices, n_frames]`` Hz, 0 = unvoiced). tfds is imported
only when a builder is needed.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import shutil
import time
from collections.abc import Callable

import numpy as np

from amt_jax.data.examples import SPLITS, read_tuning
from amt_jax.data.labels import Notes
from amt_jax.data.windowing import Windows, windows

DATASETS = ("chorales", "maestro", "real")
__all__ = ["DATASETS", "SPLITS", "BuildReport", "Source", "Windows", "build", "builder_class", "load", "parse_spec",
           "piece_of", "windows"]


def piece_of(example_id: str) -> str:
    """The piece an example belongs to: its id up to the first ``/`` (``"bwv269/0"`` -> ``"bwv269"``;
    an id without ``/`` is its own piece)."""
    return str(example_id).split("/", 1)[0]


def builder_class(name: str):
    """The tfds builder class of dataset ``name`` (one of :data:`DATASETS`, config allowed)."""
    base = name.split("/")[0]
    if base not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
    module = importlib.import_module(f"amt_jax.data.{base}")
    cls = getattr(module, base.capitalize())
    config = name.split("/", 1)[1] if "/" in name else None
    if config is not None and config not in (cls.builder_configs or {}):
        valid = ", ".join(cls.builder_configs or ()) or "none"
        raise ValueError(f"unknown config {config!r} of dataset {base!r}; valid configs: {valid}")
    return cls


@dataclasses.dataclass(frozen=True)
class BuildReport:
    """What :func:`build` made: examples per split, skipped pieces ``(piece, reason)``, wall time (s)."""

    name: str
    path: str
    examples: dict
    skipped: tuple
    seconds: float


def build(
    name: str,
    *,
    data_dir: str | os.PathLike,
    n_pieces: int | None = None,
    manual_dir: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
    **builder_kwargs,
) -> BuildReport:
    """Build dataset ``name`` (e.g. ``"chorales"``, ``"chorales/fluidsynth"``, ``"maestro"``) into
    ``data_dir``, replacing an earlier build of the same config.

    ``n_pieces``: pieces to build (None = all); ``manual_dir``: the MAESTRO download (zip or
    folder); ``progress``: called with one line per piece; other keyword arguments go to the
    builder (``soundfont``, ``timeout_s``). Skipped pieces are logged as warnings and listed
    in the report; ``ValueError`` when nothing usable remains.
    """
    import tensorflow_datasets as tfds

    cls = builder_class(name)
    config = name.split("/", 1)[1] if "/" in name else None
    if manual_dir is not None and not os.path.exists(manual_dir):
        raise FileNotFoundError(f"manual_dir (--manual-dir) {manual_dir} does not exist")
    if manual_dir is not None:
        cls.check_manual_dir(manual_dir)
    start = time.perf_counter()

    def make():
        return cls(data_dir=os.fspath(data_dir), config=config, n_pieces=n_pieces, progress=progress, **builder_kwargs)

    builder = make()
    if os.path.exists(builder.data_dir):  # an earlier build of this config and version: replace it
        shutil.rmtree(builder.data_dir)
        builder = make()  # a builder made over existing files keeps their (frozen) DatasetInfo
    if progress is not None:  # our one line per piece replaces tfds's progress bars
        tfds.display_progress_bar(False)
    try:
        builder.download_and_prepare(
            file_format="array_record",
            download_config=tfds.download.DownloadConfig(manual_dir=None if manual_dir is None else os.fspath(manual_dir)),
        )
    finally:
        tfds.display_progress_bar(True)
    return BuildReport(
        name=f"{builder.name}/{builder.builder_config.name}" if builder.builder_config else builder.name,
        path=os.fspath(builder.data_dir),
        examples=dict(builder.counts),
        skipped=tuple(builder.skips.skipped),
        seconds=time.perf_counter() - start,
    )


class Source:
    """Random access to one split: ``len(source)``, ``source[i]`` → example dict (see module doc).
    Its ``audio``, ``frames`` and ``onsets`` are read-only views of the stored bytes (copy before
    writing into them)."""

    def __init__(self, data_source, name: str, split: str):
        self._source = data_source
        self.name = name
        self.split = split

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: int) -> dict:
        ex = self._source[index]
        n = ex["notes"]
        out = {
            "audio": ex["audio"],
            "frames": ex["frames"].T,
            "onsets": ex["onsets"].T,
            "notes": Notes(n["onset_s"], n["offset_s"], n["pitch"], n["velocity"]),
            "program": int(ex["program"]),
            "id": ex["id"].decode() if isinstance(ex["id"], bytes) else str(ex["id"]),
        }
        out["piece"] = piece_of(out["id"])
        if "tuning" in ex:
            out["voice"], out["cents"], out["tuning"] = read_tuning(ex["tuning"])
        if "instruments" in ex:
            names = ex["instruments"].decode() if isinstance(ex["instruments"], bytes) else str(ex["instruments"])
            out["instruments"] = tuple(names.split(",")) if names else ()
            out["f0"] = np.asarray(ex["f0"], dtype=np.float32).T
        return out

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def load(name: str, split: str, *, data_dir: str | os.PathLike) -> Source:
    """Open split ``split`` of the built dataset ``name`` (config optional) in ``data_dir``."""
    import tensorflow_datasets as tfds

    cls = builder_class(name)  # validates the name and registers the builder with tfds
    if split not in cls.BUILT_SPLITS:
        raise ValueError(f"split of {name!r} must be one of {', '.join(cls.BUILT_SPLITS)}, got {split!r}")
    config = name.split("/", 1)[1] if "/" in name else None
    probe = cls(data_dir=os.fspath(data_dir), config=config)
    if not os.path.isfile(os.path.join(probe.data_dir, "dataset_info.json")):
        how = f" --config {config}" if config is not None else ""
        parent = os.path.dirname(probe.data_dir)  # holds one folder per version built
        older = sorted((v for v in (os.listdir(parent) if os.path.isdir(parent) else ())  # not tfds's incomplete.*
                        if tfds.core.Version.is_valid(v) and os.path.isfile(os.path.join(parent, v, "dataset_info.json"))),
                       key=tfds.core.Version)
        state = (f"built in {data_dir} only as version {', '.join(older)} (this amt_jax reads {probe.version}; "
                 f"the older build's folder under {parent} may be deleted)"
                 if older else f"not built in {data_dir}")
        raise FileNotFoundError(
            f"dataset {name!r} is {state}; "
            f"build it with: python -m amt_jax data build {name.split('/')[0]}{how} --data-dir {data_dir}"
        )
    return Source(tfds.data_source(name, split=split, data_dir=os.fspath(data_dir), download=False), name, split)


def parse_spec(spec: str) -> tuple[str, str]:
    """``"chorales:test"`` → ``("chorales", "test")``, ``"chorales/detune25:test"`` →
    ``("chorales/detune25", "test")``; the split defaults to ``test``."""
    name, _, split = spec.partition(":")
    splits = builder_class(name).BUILT_SPLITS
    split = split or "test"
    if split not in splits:
        raise ValueError(f"split in {spec!r} must be one of {', '.join(splits)}, got {split!r}")
    return name, split
