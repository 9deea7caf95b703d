"""``demo``: pretrained Basic Pitch on windows of the rendered chorales' test split, all four families.

Command (``./run.sh demo`` runs it inside ``python -m amt_jax demo``, after building the data)::

    python -m amt_jax sweep demo --workdir outputs/demo/sweep --data-dir outputs/demo/data

Expected runtime: ≈ 2–5 min for the sweep on 2 CPU cores (13 cells of 7–20 s: 4 clips ×
192–384 draws of Basic Pitch windows, a few s of compilation each); ``python -m amt_jax demo``
as a whole measured 2.4 min on a quiet machine (4.8 min for the sweep alone with the cores
shared by other jobs).

Expected outcome (measured, seed 0, one test chorale): every family moves Basic Pitch's note
output (p < 1e-15 against the identity). Harmonic importance rises with h (0.0007, 0.0024,
0.0052 for h = 2, 4, 8) but stays *below* its size-matched control (difference ≈ −0.0008 to
−0.0015, p < 1e-6): shuffling a note's own harmonics disturbs Basic Pitch less than moving as
many random bins. Shuffling within every semitone matters (0.010); per semitone the
importance peaks where the chorale's notes and partials lie (MIDI 60–110). The middle band
(semitones 36–72 above A0) matters most (0.037, vs 0.013 low and 0.025 high). Under noise
(with the clips' per-bin mean and spread), output is highest for the keys the clips play.
With 4 clips from one piece the data uncertainty is large: read it as a demonstration of the
pipeline, not as a finding.
"""

from amt_jax.sweep import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        name="demo",
        models=("basic-pitch",),
        data="chorales:test",
        n_clips=4,
        seed=0,
        harmonics=(2, 4, 8),
        bands=((0, 36), (36, 72), (72, 103)),  # 3-octave bands: low, middle, top of the 309-bin axis
        n_permutations=192,
        n_permutations_semitone=384,
        n_noise_samples=256,
        chunk_size=32,
    )
