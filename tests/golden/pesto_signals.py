"""The test signals of the PESTO goldens, made from recipes (numpy only: the golden script runs
them in a separate torch venv, the tests in ours; the same recipe gives the same audio to float32
rounding, checked through each signal's stored RMS)."""

from __future__ import annotations

import numpy as np

NOISE_DB = -60.0  # white noise under every signal (keeps no VQT bin at float32 rounding level)


def _harmonic_tone(midi_track: np.ndarray, sr: int, seed: int) -> np.ndarray:
    """1/k-amplitude harmonics (below 0.45·sr) of an f0 track given as MIDI per sample, plus noise."""
    f0 = 440.0 * 2.0 ** ((midi_track - 69.0) / 12.0)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = np.zeros_like(f0)
    for k in range(1, 41):
        y += np.where(k * f0 < 0.45 * sr, np.sin(k * phase) / k, 0.0)
    y *= 0.3 / np.abs(y).max()
    noise = np.random.default_rng(seed).standard_normal(len(y)) * 10 ** (NOISE_DB / 20) * 0.3
    return (y + noise).astype(np.float32)


def vibrato_melody(sr: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(audio [n], midi [n])``: five notes of 0.4 s (A3 C4 E4 G4 D4) with ±1 % vibrato at 5.5 Hz."""
    notes = np.array([57, 60, 64, 67, 62], float)
    n_note = int(0.4 * sr)
    t = np.arange(n_note * len(notes)) / sr
    midi = np.repeat(notes, n_note) + 12 * np.log2(1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    return _harmonic_tone(midi, sr, seed), midi


def glide(sr: int, lo: float, hi: float, seconds: float = 1.5, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(audio [n], midi [n])``: a linear glide in MIDI from ``lo`` to ``hi``."""
    midi = np.linspace(lo, hi, int(seconds * sr))
    return _harmonic_tone(midi, sr, seed), midi


SIGNALS = {
    # name: (sample rate, recipe)
    "vibrato_16k": (16000, lambda sr: vibrato_melody(sr)),
    "vibrato_22k": (22050, lambda sr: vibrato_melody(sr)),
    "low_16k": (16000, lambda sr: glide(sr, 21.0, 33.0)),  # A0 up to A1: below and into the encoder's range
    "high_44k": (44100, lambda sr: glide(sr, 86.0, 100.0)),  # D6 to E7: the top of the encoder's range and past it
}
FRAME_STRIDE = 4  # features and activations are stored for every 4th frame


def signal(name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """``(audio float32 [n], midi float64 [n], sample rate)`` of a named signal."""
    sr, recipe = SIGNALS[name]
    audio, midi = recipe(sr)
    return audio, midi, sr


# A real sung recording (vocadito track 10, CC BY 4.0, 44.1 kHz, 9.1 s) from basic-pitch 0.4.0's
# sdist; not in this repository: the golden script and the test read it from the sdist's tarball
# named by this environment variable (the test skips without it).
SDIST_ENV = "AMT_JAX_BASIC_PITCH_SDIST"
SDIST_SHA256 = "6f48ac4b909c990fd59460622137a03b857c829bb1f3e65c71708da576ab68e5"
RECORDING = ("vocadito_10", "basic_pitch-0.4.0/tests/resources/vocadito_10.wav")
RECORDING_STRIDE = 8  # its features and activations are stored for every 8th frame


def recording(tarball) -> tuple[np.ndarray, int]:
    """``(audio float32 [n], sample rate)`` of :data:`RECORDING` read from the sdist ``tarball``
    (ValueError if the tarball is not basic-pitch 0.4.0's sdist)."""
    import hashlib
    import io
    import tarfile

    import soundfile

    data = open(tarball, "rb").read()
    if hashlib.sha256(data).hexdigest() != SDIST_SHA256:
        raise ValueError(f"{tarball} is not basic-pitch 0.4.0's sdist (sha256 differs)")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        wav = tar.extractfile(RECORDING[1]).read()
    audio, sr = soundfile.read(io.BytesIO(wav), dtype="float32")
    return audio, sr
