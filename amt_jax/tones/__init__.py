"""Probe tones: synthesis (:mod:`~amt_jax.tones.synth`) and the per-key detection probe
(:mod:`~amt_jax.tones.probe`) that plays them to a model."""

from amt_jax.tones import probe, synth
from amt_jax.tones.synth import (
    EDGE_FRAMES,
    ENVELOPES,
    LEVELS_DBFS,
    METRICS,
    MISSING_HARMONICS,
    MISSING_PREFIX,
    NOISE_DBFS,
    PROGRAM_PREFIX,
    SILENT_RMS,
    VELOCITY,
    corpus_programs,
    dbfs_to_rms,
    harmonic_tone,
    mix,
    n_harmonics,
    noise,
    parse_timbre,
    render_note,
    rms_dbfs,
    rng_for,
    timbre_names,
    tone_windows,
    unit_tones,
)
from amt_jax.tones.probe import (
    ProbeTones,
    probe_tones,
    to_json,
    write_json,
    write_npz,
)

__all__ = ["EDGE_FRAMES", "ENVELOPES", "LEVELS_DBFS", "METRICS", "MISSING_HARMONICS", "MISSING_PREFIX", "NOISE_DBFS", "PROGRAM_PREFIX", "ProbeTones", "SILENT_RMS", "VELOCITY", "corpus_programs", "dbfs_to_rms", "harmonic_tone", "mix", "n_harmonics", "noise", "parse_timbre", "probe", "probe_tones", "render_note", "rms_dbfs", "rng_for", "synth", "timbre_names", "to_json", "tone_windows", "unit_tones", "write_json", "write_npz"]
