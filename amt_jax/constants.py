"""Derived constants, in one place. Units are in the names (``_HZ``, ``_S``) or the docstrings."""

import math

# --- audio / framing (Basic Pitch ICASSP 2022 conventions) ---
SAMPLE_RATE = 22050  # Hz
HOP_LENGTH = 256  # samples per frame
FRAMES_PER_SECOND = SAMPLE_RATE / HOP_LENGTH  # 86.13 frames/s
AUDIO_WINDOW_S = 2  # seconds of audio per model window (nominal)
WINDOW_SAMPLES = AUDIO_WINDOW_S * SAMPLE_RATE - HOP_LENGTH  # 43,844 samples per window
WINDOW_FRAMES = WINDOW_SAMPLES // HOP_LENGTH + 1  # 172 frames per window
OVERLAP_FRAMES = 30  # frames of overlap between consecutive windows in whole-file inference
OVERLAP_SAMPLES = OVERLAP_FRAMES * HOP_LENGTH  # 7,680
WINDOW_HOP_SAMPLES = WINDOW_SAMPLES - OVERLAP_SAMPLES  # 36,164

# --- keyboard ---
MIDI_OFFSET = 21  # MIDI number of A0, the lowest piano key
N_PITCHES = 88  # P: piano keys A0..C8
FMIN_HZ = 27.5  # A0
SEMITONES_PER_OCTAVE = 12

# --- Basic Pitch CQT (nnAudio CQT2010v2) ---
BP_BINS_PER_SEMITONE = 3
BP_BINS_PER_OCTAVE = SEMITONES_PER_OCTAVE * BP_BINS_PER_SEMITONE  # 36
BP_MAX_HARMONIC = 8  # the harmonic stack reaches 2**3 above the top key
BP_N_SEMITONES = min(
    math.ceil(SEMITONES_PER_OCTAVE * math.log2(BP_MAX_HARMONIC)) + N_PITCHES,  # 124
    math.floor(SEMITONES_PER_OCTAVE * math.log2((SAMPLE_RATE / 2) / FMIN_HZ)),  # 103
)
BP_N_BINS = BP_N_SEMITONES * BP_BINS_PER_SEMITONE  # F = 309
BP_CONTOUR_BINS = N_PITCHES * BP_BINS_PER_SEMITONE  # 264
BP_HARMONICS = (0.5, 1, 2, 3, 4, 5, 6, 7)


def midi_to_hz(midi: float) -> float:
    """Equal-tempered frequency in Hz of a (fractional) MIDI number (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((midi - 69) / 12)


def hz_to_midi(hz):
    """Fractional MIDI number of a frequency (float or numpy array, Hz > 0); inverse of :func:`midi_to_hz`."""
    import numpy as np

    return 69.0 + 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / 440.0)
