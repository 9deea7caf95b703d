"""``demo_real``: the demo's check on real recordings — Basic Pitch's harmonic reliance (h = 4, with
its sham comb) on two windows of each of the five recordings of the ``real`` split (libsoni 1.1.0's
sdist; ``python -m amt_jax data build real``), clustered by recording. ``./run.sh demo`` runs it
(step 5) and says whether the rendered chorales' reliance finding holds there; the ``real`` config
runs every probe.

Command::

    python -m amt_jax sweep demo_real --workdir outputs/demo/sweep_real --data-dir outputs/demo/real_data
"""

from amt_jax.sweep import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        name="demo_real",
        models=("basic-pitch",),
        data="real:test",
        families=("harmonic_reliance",),
        n_clips=10,
        clips_per_piece=2,
        seed=0,
        harmonics=(4,),
        n_permutations=24,
        chunk_size=4,
        stratified=False,
        example=False,
        questions=(("harmonic reliance", ("harmonic_swap",)),),
    )
