"""Probe tones: synthesis (:mod:`~amt_jax.tones.synth`) and the per-key detection probe
(:mod:`~amt_jax.tones.probe`) that plays them to a model."""

from amt_jax.tones import probe, records, scoring, synth
from amt_jax.tones.synth import (
    CHORD_MIDI,
    CHORD_OVERLAP,
    CHORD_SUFFIX,
    CONTEXTS,
    F1_PASS,
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
    context_keys,
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
    timbre_context,
    timbre_names,
    tone_windows,
    unit_tones,
)
from amt_jax.tones.probe import ProbeTones, probe_tones
from amt_jax.tones.records import to_json, write_json, write_npz
from amt_jax.tones.scoring import ENERGY_THRESHOLDS, baseline_outputs, f1_counts

__all__ = ["CHORD_MIDI", "CHORD_OVERLAP", "CHORD_SUFFIX", "CONTEXTS", "EDGE_FRAMES", "F1_PASS", "ENVELOPES", "LEVELS_DBFS", "METRICS", "MISSING_HARMONICS", "MISSING_PREFIX", "NOISE_DBFS", "PROGRAM_PREFIX", "ENERGY_THRESHOLDS", "ProbeTones", "baseline_outputs", "f1_counts", "SILENT_RMS", "VELOCITY", "corpus_programs", "dbfs_to_rms", "harmonic_tone", "mix", "n_harmonics", "noise", "context_keys", "parse_timbre", "timbre_context", "probe", "probe_tones", "records", "scoring", "render_note", "rms_dbfs", "rng_for", "synth", "timbre_names", "to_json", "tone_windows", "unit_tones", "write_json", "write_npz"]
