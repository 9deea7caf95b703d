"""What a sweep's cells measure: a model (from the registry), its features, the labels of the
frames, and which piece each clip comes from.

Data: ``synthetic`` (harmonic combs on the model's own axis: :func:`amt_jax.data.synthetic.synthetic`,
each clip its own piece) or ``NAME:SPLIT`` of a built dataset: ``n_clips`` model windows (Basic Pitch's windowing of
each piece, :func:`amt_jax.data.windows`) evenly spaced over the split's
non-silent windows, through the model's own frontend; the labels of each window's frames (the
nearest label frame), the piece (example) each window comes from, and its program (instrument).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from amt_jax.constants import HOP_LENGTH, MIDI_OFFSET, SAMPLE_RATE
from amt_jax.data.windowing import Windows
from amt_jax.io import array_digest
from amt_jax.models import registry
from amt_jax.sweep.config import SweepConfig
from amt_jax.sweep.context import Inputs


def fingerprint(model_id: dict, data_id: dict) -> str:
    """Digest of what a cell's numbers depend on besides its own config: the model's weights and the
    exact data (not paths, not the feature digest: features computed on other hardware may differ
    in the last bits)."""
    content = {"model": {k: v for k, v in model_id.items() if k not in ("dir",)},
               "data": {k: v for k, v in data_id.items() if k not in ("data_dir", "features_sha256")}}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def _provenance(model_id: dict, data_id: dict, features: np.ndarray) -> dict:
    return {"model": model_id, "data": data_id, "features_shape": list(features.shape),
            "fingerprint": fingerprint(model_id, data_id)}


def load_inputs(spec: str, config: SweepConfig, *, data_dir=None) -> Inputs:
    """The model ``spec`` and its features for ``config`` (loads weights and data)."""
    import jax

    model = registry.load(spec, seed=config.seed)
    model.require_keys("the sweep")
    if config.data == "synthetic":  # harmonic combs on the model's own axis, any model
        from amt_jax.data.synthetic import synthetic

        m = config.clips_per_piece
        clips = synthetic(n_clips=config.n_clips, layout=model.layout, seed=config.seed, clips_per_piece=m)
        data_id = {"data": "synthetic", "seed": config.seed, "n_clips": config.n_clips,
                   "features_sha256": array_digest(clips.features), "synthetic_sha256": array_digest(clips.features)}
        clusters = np.arange(config.n_clips) // (m or 1)
        return Inputs(model, clips.features, clips.targets, clusters,
                      provenance=_provenance(model.identity, data_id, clips.features))
    if not model.reads_audio:
        raise ValueError(f"model {spec!r} reads synthetic features only (it has no frontend), got data={config.data!r}")
    frontend = model.frontend_on(SAMPLE_RATE, HOP_LENGTH, f"data={config.data!r} (the corpus's windows and frames)")
    clips = audio_windows(config.data, data_dir=data_dir, n_clips=config.n_clips, clips_per_piece=config.clips_per_piece)
    features = np.asarray(jax.jit(frontend)(clips.audio), np.float32)
    targets = None if clips.targets is None else model_keys(clips.targets, model.layout, spec)
    data_id = {"data": config.data, "data_dir": None if data_dir is None else str(data_dir), "n_clips": config.n_clips,
               "windows": [list(w) for w in clips.where], "audio_sha256": array_digest(clips.audio),
               "features_sha256": array_digest(features)}
    return Inputs(model, features, targets, clips.clusters, clips.programs,
                  _provenance(model.identity, data_id, features))


def model_keys(targets: np.ndarray, layout, spec: str) -> np.ndarray:
    """The corpus's labels ``[n, 88, T]`` (MIDI 21..108) of the model's keys: ``[n, P, T]``, key p
    MIDI ``layout.lowest_midi + p``; ValueError (one line) for keys the corpus does not label."""
    rows = layout.midi(np.arange(layout.n_pitches)) - MIDI_OFFSET
    if rows.min() < 0 or rows.max() >= targets.shape[1]:
        raise ValueError(f"model {spec!r} has keys MIDI {rows.min() + MIDI_OFFSET}..{rows.max() + MIDI_OFFSET}; the "
                         f"corpus labels MIDI {MIDI_OFFSET}..{MIDI_OFFSET + targets.shape[1] - 1}")
    return targets if len(rows) == targets.shape[1] and rows[0] == 0 else targets[:, rows]


Clips = Windows  # the sweep's name for a split's model windows


def check_data(data: str, data_dir) -> None:
    """One-line ValueError or FileNotFoundError unless dataset split ``data`` (``NAME:SPLIT``) is
    built in ``data_dir`` (``--data-dir``): a sweep checks it before its progress starts."""
    from amt_jax import data as data_lib

    if data_dir is None:
        raise ValueError(f"data {data!r} needs a data directory (--data-dir)")
    data_lib.load(*data_lib.parse_spec(data), data_dir=data_dir)


def audio_windows(data: str, *, data_dir, n_clips: int, clips_per_piece: int | None = None) -> Windows:
    """``n_clips`` model windows of dataset split ``data`` (``NAME:SPLIT``) in ``data_dir``: see
    :func:`amt_jax.data.windows` (the same choice, streamed)."""
    from amt_jax import data as data_lib

    if data_dir is None:
        raise ValueError(f"data {data!r} needs a data directory (--data-dir)")
    name, split = data_lib.parse_spec(data)
    return data_lib.windows(data_lib.load(name, split, data_dir=data_dir), n_clips=n_clips,
                            clips_per_piece=clips_per_piece, name=data)
