"""Audio files -> mono float32 at 22,050 Hz, with one-line errors for unusable files."""

from __future__ import annotations

import os
import warnings

import audioread
import librosa
import numpy as np
import soundfile

from amt_jax import validate
from amt_jax.constants import SAMPLE_RATE

# What librosa raises for undecodable input (soundfile first, then audioread as a fallback).
_DECODE_ERRORS = (soundfile.LibsndfileError, soundfile.SoundFileRuntimeError, audioread.DecodeError, EOFError, RuntimeError)


def load_audio(path: str | os.PathLike, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Read any file librosa reads (wav, flac, mp3, ogg, ...), at any rate, mono or multichannel.

    Decoded and resampled exactly as Basic Pitch does (``librosa.load(path, sr=sr, mono=True)``:
    channels averaged, soxr_hq resampling).

    Args:
        path: audio file.
        sr: output sample rate in Hz.

    Returns:
        audio [n_samples] float32 at ``sr`` Hz, n_samples >= 1.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a directory.
        ValueError: the file is empty, cannot be decoded, holds no samples or non-finite samples.
    """
    validate.positive_int("sr", sr)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"audio file not found: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"expected an audio file, got a directory: {path}")
    if os.path.getsize(path) == 0:
        raise ValueError(f"audio file is empty (0 bytes): {path}")
    try:
        with warnings.catch_warnings():  # librosa warns before falling back to audioread
            warnings.simplefilter("ignore")
            audio, _ = librosa.load(path, sr=sr, mono=True)
    except _DECODE_ERRORS as exc:
        detail = " ".join(str(exc).split()) or "unsupported format or corrupt data"
        raise ValueError(f"cannot decode audio file {path}: {detail}") from exc
    if audio.size == 0:
        raise ValueError(f"audio file holds no samples: {path}")
    validate.finite(f"audio decoded from {path}", audio)
    return np.ascontiguousarray(audio, dtype=np.float32)
