"""What a sweep's cells measure: a model (from the registry), its features, the labels of the
frames, and which piece each clip comes from.

Data: ``synthetic`` (harmonic combs on the model's own axis: :func:`amt_jax.data.synthetic.synthetic`,
each clip its own piece) or ``NAME:SPLIT`` of a built dataset: ``n_clips`` model windows (Basic Pitch's windowing of
each piece, :func:`amt_jax.transcription.inference.window_audio`) evenly spaced over the split's
non-silent windows, through the model's own frontend; the labels of each window's frames (the
nearest label frame), the piece (example) each window comes from, and its program (instrument).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from amt_jax.constants import HOP_LENGTH, MIDI_OFFSET, SAMPLE_RATE, WINDOW_FRAMES
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


@dataclass(frozen=True)
class Clips:
    """Model windows of a dataset split: ``audio [n, S]``, ``targets [n, 88, 172]`` (frame labels),
    ``clusters [n]`` (piece index), ``programs [n]``, and ``where``: (piece id, window index) per clip."""

    audio: np.ndarray
    targets: np.ndarray
    clusters: np.ndarray
    programs: np.ndarray
    where: list[tuple[str, int]]


def window_targets(frames: np.ndarray, window: int) -> np.ndarray:
    """Labels ``[88, 172]`` of the frames of Basic Pitch window ``window`` of a piece whose frame
    labels are ``frames [88, T]``: each window frame takes the nearest label frame (0 outside the piece)."""
    from amt_jax.transcription import inference

    start = window * inference.WINDOW_HOP_SAMPLES - inference.PAD_SAMPLES  # first sample of the window
    idx = np.round((start + HOP_LENGTH * np.arange(WINDOW_FRAMES)) / HOP_LENGTH).astype(int)
    ok = (idx >= 0) & (idx < frames.shape[1])
    out = np.zeros((frames.shape[0], WINDOW_FRAMES), np.float32)
    out[:, ok] = frames[:, idx[ok]]
    return out


def _choose(kept: np.ndarray, n: int) -> np.ndarray:
    """``n`` entries of ``kept`` evenly spaced (first and last included)."""
    return kept[np.round(np.linspace(0, len(kept) - 1, n)).astype(int)]


def check_data(data: str, data_dir) -> None:
    """One-line ValueError or FileNotFoundError unless dataset split ``data`` (``NAME:SPLIT``) is
    built in ``data_dir`` (``--data-dir``): a sweep checks it before its progress starts."""
    from amt_jax import data as data_lib

    if data_dir is None:
        raise ValueError(f"data {data!r} needs a data directory (--data-dir)")
    data_lib.load(*data_lib.parse_spec(data), data_dir=data_dir)


def audio_windows(data: str, *, data_dir, n_clips: int, clips_per_piece: int | None = None) -> Clips:
    """``n_clips`` model windows of a dataset split's non-silent windows: evenly spaced over all
    windows with RMS at least half the split's median, or (``clips_per_piece`` = m) m evenly spaced
    windows from each of ``n_clips / m`` pieces evenly spaced over the split, among each piece's
    windows with RMS at least half the piece's own median (a quiet instrument keeps its windows).
    Streams the split: one example's windows at a time for the RMS, then only the chosen ones."""
    from amt_jax import data as data_lib
    from amt_jax.transcription import inference

    if data_dir is None:
        raise ValueError(f"data {data!r} needs a data directory (--data-dir)")
    name, split = data_lib.parse_spec(data)
    source = data_lib.load(name, split, data_dir=data_dir)
    where, rms = [], []
    for i in range(len(source)):
        windows = inference.window_audio(source[i]["audio"])
        rms.append(np.sqrt(np.mean(windows**2, axis=1)))
        where += [(i, j) for j in range(len(windows))]
    if clips_per_piece is not None:
        kept = [w for r in rms for w in (r >= 0.5 * np.median(r))]  # per piece: drop its near-silent windows
        chosen = _per_piece(data, [w for w, k in zip(where, kept) if k], n_clips // clips_per_piece, clips_per_piece)
        return _read_clips(source, chosen)
    rms = np.concatenate(rms) if rms else np.zeros(0, np.float32)
    kept = np.flatnonzero(rms >= 0.5 * np.median(rms)) if len(rms) else rms.astype(int)  # drop near-silent windows
    if len(kept) < n_clips:
        raise ValueError(f"n_clips={n_clips} but {data} has only {len(kept)} non-silent model windows")
    chosen = [where[k] for k in _choose(kept, n_clips)]
    return _read_clips(source, chosen)


def _per_piece(data: str, kept: list[tuple[int, int]], n_pieces: int, m: int) -> list[tuple[int, int]]:
    """m windows from each of ``n_pieces`` pieces evenly spaced over those with >= m non-silent
    windows: the windows at the centres of m equal parts of the piece's non-silent windows."""
    by_piece: dict[int, list[int]] = {}
    for i, j in kept:
        by_piece.setdefault(i, []).append(j)
    eligible = np.array([i for i, js in by_piece.items() if len(js) >= m])
    if len(eligible) < n_pieces:
        raise ValueError(f"{n_pieces} pieces of {m} non-silent windows each wanted (n_clips / clips_per_piece), but "
                         f"{data} has only {len(eligible)} such pieces")
    def centred(js: list[int]) -> list[int]:  # m windows at the centres of m equal parts (no edge window)
        return [js[int((k + 0.5) * len(js) / m)] for k in range(m)]

    return [(int(i), int(j)) for i in _choose(eligible, n_pieces) for j in centred(by_piece[int(i)])]


def _read_clips(source, chosen: list[tuple[int, int]]) -> Clips:
    """The chosen (example, window) pairs, in example order, reading each example once."""
    from amt_jax.transcription import inference

    audio, targets, clusters, programs, ids, cache = [], [], [], [], [], {}
    for i, j in chosen:
        if i not in cache:  # chosen windows come in example order: keep only the current example
            example = source[i]
            cache = {i: (inference.window_audio(example["audio"]), example)}
        windows, example = cache[i]
        audio.append(windows[j])
        frames = example.get("frames")  # [88, T] (amt_jax.data.load)
        targets.append(None if frames is None else window_targets(np.asarray(frames), j))
        clusters.append(i)
        programs.append(int(example.get("program", -1)))
        ids.append((example.get("id", str(i)), j))
    targets = np.stack(targets) if all(t is not None for t in targets) else None
    return Clips(np.stack(audio), targets, np.asarray(clusters), np.asarray(programs), ids)
