"""``study``: the study on 2 CPU cores — every probe on pretrained Basic Pitch and on PESTO (a
monophonic, self-supervised pitch estimator, read as each key's probability mass; and, with
``$AMT_JAX_GRID`` set, the seed-0 trained variants of the training grid), on the full chorale test
split (35 pieces, one window each, clustered by piece; each piece one of 7 programs, so the
per-instrument table has 5 pieces per program), with the reliance, factorial and random-spectral probes also on each
model's architecture with random weights. PESTO hears the four-voice mixture and reports one pitch
per frame: the mass its probed key loses moves onto the other keys, so its reliance contrast with
the co-sounding keys is inflated by their gain; read its key's own drop (``diagonal``) beside the
sham comb's (README: "PESTO beside Basic Pitch").

Command (the full corpus: ``python -m amt_jax data build chorales --data-dir $DATA``, 349 pieces)::

    AMT_JAX_GRID=$GRID python -m amt_jax sweep study --workdir $OUT --data-dir $DATA
    python -m experiments.figures.all --workdir $OUT

Sizes chosen with ``python -m amt_jax plan`` on the demo as the pilot: 35 pieces reach crossed
half-widths of a tenth to a seventh of the reliance contrast and of the whole-axis importance.
The earlier claim that 24 draws keep the Monte Carlo SE below a quarter of the piece-level SE does
not hold: ``python -m amt_jax plan --workdir <this study> --halfwidth 0.02 --config study``
(2026-12-02) predicts Monte Carlo / piece-level SE of 0.3–0.9 for the reliance, factorial and
random-spectral cells and 1.7–9.5 for the seed harmonic and per-semitone cells. The crossed
intervals reported include that part; more draws would narrow them (``claimed_mc_fraction`` is
left unset: no claim). Each clip draws its own sounding key (``stratified=False``); the reliance
cells also run the width-1 and attenuation variants at the largest h, and every reliance cell its
sham comb. Measured (2026-12-02, 2 CPU cores shared with other jobs): 27 min for Basic Pitch and
its random-weights control (2026-12-02); numbers in the README's "Findings of the study config".
The whole config (Basic Pitch, PESTO and both random-weights controls, 69 cells; without
``$AMT_JAX_GRID``) took 63 min on 2 cores shared with a cross-method run (2026-12-04, commit
``c59e440``); Basic Pitch's numbers came out as the run without PESTO printed them."""

import importlib.util
from pathlib import Path

from amt_jax.sweep import SweepConfig

_spec = importlib.util.spec_from_file_location("_trained", Path(__file__).with_name("_trained.py"))
_trained = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_trained)


def get_config() -> SweepConfig:
    return SweepConfig(
        name="study",
        models=("basic-pitch", "pesto") + _trained.grid_models(seeds=(0,)),
        data="chorales:test",
        n_clips=35,
        clips_per_piece=1,
        seed=0,
        harmonics=(2, 4, 8),
        bands=((0, 36), (36, 72), (72, 103)),
        n_permutations=24,
        n_permutations_semitone=88,
        n_noise_samples=128,
        noise_lags=9,
        chunk_size=4,
        stratified=False,
        reliance_variants=("width1", "attenuate"),
        questions=(("harmonic reliance", ("harmonic_swap",)), ("harmonic vs size-matched control", ("harmonic",))),
        control_models=(("random:basic-pitch", ("harmonic_reliance", "factorial", "random_spectral")),
                        ("random:pesto", ("harmonic_reliance", "factorial", "random_spectral"))),
    )
