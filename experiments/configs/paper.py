"""``paper``: the full study, sized for an accelerator (or a job array of them).

Command (MAESTRO v3 downloaded to ``$MAESTRO``; one job per shard, one shared workdir)::

    python -m amt_jax data build maestro --data-dir $DATA --manual-dir $MAESTRO
    python -m amt_jax sweep paper --workdir gs://BUCKET/paper --data-dir $DATA --shard $I/$N
    python -m amt_jax figures --workdir gs://BUCKET/paper

Expected runtime: ≈ 4.4 M Basic Pitch window forwards (0.96 GFLOP each, ≈ 4.2 PFLOP in all):
tens of minutes to ~1 h on one A100 / TPU v4 chip at realistic convolution throughput (not
measured here), divided by N with ``--shard I/N``; ≈ 70 h on 2 CPU cores (≈ 56 ms per window).

Expected outcome: per-h paired contrasts of harmonic vs size-matched control with CIs of a
few 1e-4 and BH-adjusted q (the demo, on one chorale, found harmonic importance *below* its
control for Basic Pitch: this config says whether that holds on MAESTRO); microtonal
importance per semitone across the keyboard from ≈ 200 draws per semitone; per-octave band
importance; the noise response's output power per key and weight map [309 × 88].

Trained variants (``python -m amt_jax train``) join as ``trained:<workdir>`` entries of
``TRAINED_VARIANTS``; with two or more bins-per-semitone values the figures add the
microtonal importance vs B panel.
"""

from amt_jax.sweep import OCTAVE_BANDS, SweepConfig

TRAINED_VARIANTS: tuple[str, ...] = ()


def get_config() -> SweepConfig:
    return SweepConfig(
        name="paper",
        models=("basic-pitch",) + TRAINED_VARIANTS,
        data="maestro:test",
        n_clips=64,
        seed=0,
        harmonics=(2, 3, 4, 5, 6, 7, 8),
        bands=OCTAVE_BANDS,
        n_permutations=2000,
        n_permutations_semitone=20000,
        n_noise_samples=20000,
        chunk_size=16,  # draws per call: 16 × 64 clips = 1,024 windows (≈ 5 GB of activations)
    )
