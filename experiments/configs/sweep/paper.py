"""``paper``: the study at accelerator scale (or a job array of them): every probe on pretrained
Basic Pitch and every trained variant of the ``full`` training grid, on the full chorale test split
(4 windows per piece) — and on MAESTRO's test split when it is built (``paper_maestro``: set
``AMT_JAX_PAPER_DATA=maestro:test``).

Command (one job per shard, one shared workdir)::

    AMT_JAX_GRID=$GRID python -m amt_jax sweep paper --workdir gs://BUCKET/paper --data-dir $DATA --shard $I/$N
    python -m experiments.figures.all --workdir gs://BUCKET/paper

Sizes: ``python -m amt_jax plan --workdir <demo or study sweep> --halfwidth H`` predicts the
crossed half-widths (draws and pieces random); with 35 pieces × 4 windows the chorale test split is the limit (the
between-piece variance dominates), so more draws than the adaptive rule asks for do not narrow the
intervals (``mc_fraction=0.25`` stops each cell once the Monte Carlo SE is a quarter of the
piece-level SE). Expected runtime: a few hours on one accelerator for Basic Pitch and 18 variants
(not measured here: no accelerator was available); divide by N with ``--shard I/N``.
"""

import importlib.util
import os
from pathlib import Path

from amt_jax.sweep import OCTAVE_BANDS, SweepConfig

_spec = importlib.util.spec_from_file_location("_trained", Path(__file__).with_name("_trained.py"))
_trained = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_trained)


def get_config() -> SweepConfig:
    data = os.environ.get("AMT_JAX_PAPER_DATA", "chorales:test")
    return SweepConfig(
        name="paper" if data == "chorales:test" else "paper_" + data.split(":")[0],
        models=("basic-pitch",) + _trained.grid_models(),
        data=data,
        n_clips=140 if data == "chorales:test" else 200,
        clips_per_piece=4,
        seed=0,
        harmonics=(2, 3, 4, 5, 6, 7, 8),
        bands=OCTAVE_BANDS,
        n_permutations=256,
        n_permutations_semitone=880,
        n_noise_samples=4096,
        noise_distributions=("flat", "per_bin"),
        noise_lags=9,
        chunk_size=8,  # draws per call: 8 × 140 windows
        stratified=False,
        mc_fraction=0.25,
        max_permutations_factor=8,
        questions=(("harmonic reliance", ("harmonic_swap",)), ("harmonic vs size-matched control", ("harmonic",))),
        control_models=(("random:basic-pitch", ("harmonic_reliance", "factorial", "resolution")),),
    )
