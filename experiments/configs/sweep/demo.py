"""``demo``: pretrained Basic Pitch on 16 windows of 8 test pieces (2 each) of the rendered chorales:
every probe — the seed families, harmonic reliance, the missing-fundamental factorial, semitone
pooling, flat noise — with piece-level intervals over the 8 pieces; and the harmonic-reliance probe
on Basic Pitch's architecture with random weights (``random:basic-pitch``), the control that tells
architecture from learning.

Command (``./run.sh demo`` runs it inside ``python -m amt_jax demo``, after building 80 chorales,
whose test split holds 8 pieces)::

    python -m amt_jax sweep demo --workdir outputs/demo/sweep --data-dir outputs/demo/data

Expected runtime and outcome: see ``python -m amt_jax demo`` (the README's findings table gives the
numbers measured, with the date and the machine). The Monte Carlo intervals are narrow; the
piece-level ones, over 8 pieces, are what a claim about "music like this" can rest on.
"""

from amt_jax.sweep import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        name="demo",
        models=("basic-pitch",),
        data="chorales:test",
        n_clips=16,
        clips_per_piece=2,
        seed=0,
        harmonics=(2, 4, 8),
        bands=((0, 36), (36, 72), (72, 103)),  # 3-octave bands: low, middle, top of the 309-bin axis
        n_permutations=32,
        n_permutations_semitone=88,
        n_noise_samples=128,
        chunk_size=8,
        stratified=False,
        questions=(("harmonic reliance", ("harmonic_swap",)), ("harmonic vs size-matched control", ("harmonic",))),
        control_models=(("random:basic-pitch", ("harmonic_reliance", "random_spectral")),),  # architecture or learning?
    )
