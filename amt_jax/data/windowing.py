"""Model windows of a loaded split: what Basic Pitch-style models read (audio ``[B, 43844]`` at
22,050 Hz), with each window's frame labels ``[88, 172]``, its piece and its program.

Basic Pitch's windowing (``basic_pitch.inference`` 0.4.0): 3,840 zeros (half the 30-frame overlap)
are prepended; windows of 43,844 samples start every 36,164 samples while the start is inside the
padded signal, the last one zero-padded (:func:`window_audio`). :func:`windows` chooses ``n_clips``
non-silent windows of a split (:func:`amt_jax.data.load`) and reads only those::

    from amt_jax import data
    w = data.windows(data.load("chorales", "test", data_dir=DIR), n_clips=16, clips_per_piece=2)
    w.audio, w.targets, w.piece_ids, w.programs   # [16, 43844], [16, 88, 172], [16], [16]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from amt_jax import validate
from amt_jax.constants import HOP_LENGTH, OVERLAP_SAMPLES, WINDOW_FRAMES, WINDOW_HOP_SAMPLES, WINDOW_SAMPLES

PAD_SAMPLES = OVERLAP_SAMPLES // 2  # 3,840 zeros prepended to the audio


def check_n_samples(n_samples: int) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 0:
        raise ValueError(f"n_samples must be an integer >= 0, got {n_samples!r}")


def n_windows(n_samples: int) -> int:
    """Number of model windows for ``n_samples`` samples of audio (at least 1)."""
    check_n_samples(n_samples)
    return -(-(n_samples + PAD_SAMPLES) // WINDOW_HOP_SAMPLES)


def window_view(audio: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` windows [count, 43844] of the zero-padded audio, as a read-only view."""
    padded = np.zeros((count - 1) * WINDOW_HOP_SAMPLES + WINDOW_SAMPLES, dtype=np.float32)
    padded[PAD_SAMPLES : PAD_SAMPLES + audio.shape[0]] = audio
    return np.lib.stride_tricks.sliding_window_view(padded, WINDOW_SAMPLES)[::WINDOW_HOP_SAMPLES]


def window_audio(audio: np.ndarray) -> np.ndarray:
    """Cut mono audio [n_samples] (22,050 Hz) into model windows [n_windows, 43844] (float32)."""
    audio = np.asarray(audio, dtype=np.float32)
    validate.exact_rank("audio", audio, 1, "[n_samples]")
    return window_view(audio, n_windows(audio.shape[0])).copy()


def window_targets(frames: np.ndarray, window: int) -> np.ndarray:
    """Labels ``[88, 172]`` of the frames of window ``window`` of a piece whose frame labels are
    ``frames [88, T]``: each window frame takes the nearest label frame (0 outside the piece)."""
    start = window * WINDOW_HOP_SAMPLES - PAD_SAMPLES  # first sample of the window
    idx = np.round((start + HOP_LENGTH * np.arange(WINDOW_FRAMES)) / HOP_LENGTH).astype(int)
    ok = (idx >= 0) & (idx < frames.shape[1])
    out = np.zeros((frames.shape[0], WINDOW_FRAMES), np.float32)
    out[:, ok] = frames[:, idx[ok]]
    return out


@dataclass(frozen=True)
class Windows:
    """Model windows of a split: ``audio [n, 43844]``, ``targets [n, 88, 172]`` (frame labels; None
    when the examples have none), ``piece_ids [n]`` (the index in the split of the piece's first example: the
    cluster of piece-level intervals), ``programs [n]`` (General MIDI program, -1 unknown) and ``where``:
    (piece name, window index) per window."""

    audio: np.ndarray
    targets: np.ndarray | None
    piece_ids: np.ndarray
    programs: np.ndarray
    where: list[tuple[str, int]]

    @property
    def clusters(self) -> np.ndarray:
        """``piece_ids`` (the name the estimators' ``clusters=`` argument uses)."""
        return self.piece_ids


def _choose(kept: np.ndarray, n: int) -> np.ndarray:
    """``n`` entries of ``kept`` evenly spaced (first and last included)."""
    return kept[np.round(np.linspace(0, len(kept) - 1, n)).astype(int)]


def windows(source: Sequence[dict], *, n_clips: int, clips_per_piece: int | None = None, name: str = "the split") -> Windows:
    """``n_clips`` model windows of a split's non-silent windows: evenly spaced over all windows
    with RMS at least half the split's median, or (``clips_per_piece`` = m) m evenly spaced windows
    from each of ``n_clips / m`` pieces evenly spaced over the split, among each piece's windows
    with RMS at least half the piece's own median (a quiet instrument keeps its windows).
    Streams the split: one example's windows at a time for the RMS, then only the chosen ones.
    ``source``: random-access examples (``data.load``); ``name`` names it in errors."""
    validate.positive_int("n_clips", n_clips)
    where, rms = [], []
    for i in range(len(source)):
        cut = window_audio(source[i]["audio"])
        rms.append(np.sqrt(np.mean(cut**2, axis=1)))
        where += [(i, j) for j in range(len(cut))]
    if clips_per_piece is not None:
        validate.positive_int("clips_per_piece", clips_per_piece)
        kept = [w for r in rms for w in (r >= 0.5 * np.median(r))]  # per piece: drop its near-silent windows
        chosen = _per_piece(name, [w for w, k in zip(where, kept) if k], n_clips // clips_per_piece, clips_per_piece)
        return _read(source, chosen)
    rms = np.concatenate(rms) if rms else np.zeros(0, np.float32)
    kept = np.flatnonzero(rms >= 0.5 * np.median(rms)) if len(rms) else rms.astype(int)  # drop near-silent windows
    if len(kept) < n_clips:
        raise ValueError(f"n_clips={n_clips} but {name} has only {len(kept)} non-silent model windows")
    return _read(source, [where[k] for k in _choose(kept, n_clips)])


def _per_piece(name: str, kept: list[tuple[int, int]], n_pieces: int, m: int) -> list[tuple[int, int]]:
    """m windows from each of ``n_pieces`` pieces evenly spaced over those with >= m non-silent
    windows: the windows at the centres of m equal parts of the piece's non-silent windows."""
    by_piece: dict[int, list[int]] = {}
    for i, j in kept:
        by_piece.setdefault(i, []).append(j)
    eligible = np.array([i for i, js in by_piece.items() if len(js) >= m])
    if len(eligible) < n_pieces:
        raise ValueError(f"{n_pieces} pieces of {m} non-silent windows each wanted (n_clips / clips_per_piece), but "
                         f"{name} has only {len(eligible)} such pieces")

    def centred(js: list[int]) -> list[int]:  # m windows at the centres of m equal parts (no edge window)
        return [js[int((k + 0.5) * len(js) / m)] for k in range(m)]

    return [(int(i), int(j)) for i in _choose(eligible, n_pieces) for j in centred(by_piece[int(i)])]


def _read(source, chosen: list[tuple[int, int]]) -> Windows:
    """The chosen (example, window) pairs, in example order, reading each example once; clustered by
    piece (``example["piece"]``: the voices of a ``chorales/solo`` piece are one cluster)."""
    audio, targets, clusters, programs, ids, cache, pieces = [], [], [], [], [], {}, {}
    for i, j in chosen:
        if i not in cache:  # chosen windows come in example order: keep only the current example
            example = source[i]
            cache = {i: (window_audio(example["audio"]), example)}
        cut, example = cache[i]
        audio.append(cut[j])
        frames = example.get("frames")  # [88, T] (amt_jax.data.load)
        targets.append(None if frames is None else window_targets(np.asarray(frames), j))
        clusters.append(pieces.setdefault(str(example.get("piece", i)), i))  # a piece's examples share its cluster
        programs.append(int(example.get("program", -1)))
        ids.append((example.get("id", str(i)), j))
    targets = np.stack(targets) if all(t is not None for t in targets) else None
    return Windows(np.stack(audio), targets, np.asarray(clusters), np.asarray(programs), ids)
