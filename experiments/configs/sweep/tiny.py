"""``tiny``: every family on two planted models (B = 3 and B = 1 bins per semitone), synthetic features.

Command::

    python -m amt_jax sweep tiny --workdir /tmp/tiny && python -m amt_jax figures --workdir /tmp/tiny

Expected runtime: small cells (``amt_jax.sweep.expand`` lists them), mostly XLA compilation:
measured (2026-12-03) 41 s on 2 CPU cores shared with other jobs (88 s before the cells of every h and
comb shared their compiled programs), 8–12 s once the persistent compilation cache holds the programs.
No data, no weights, no network. CI runs it (kill/resume test, figures).

Expected outcome (measured, seed 0): microtonal importance ≈ 0.031 for B = 3 and exactly 0
for B = 1 (a one-bin semitone cannot be shuffled); every random-spectral band matters
(0.05–0.20, p < 1e-30); harmonic importance rises with h (B = 3: 0.0005 → 0.0026), but at 32
draws it is not distinguishable from its size-matched control (p ≈ 0.15–0.9): the planted
models are linear in the harmonic bins, and 6–10 notes per clip leave few bins a random
control could miss. The noise weight map [F × P] shows each key's planted fundamental on
the diagonal.
"""

from amt_jax.sweep import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        name="tiny",
        models=("planted-b3", "planted-b1"),
        data="synthetic",
        n_clips=4,
        seed=0,
        harmonics=(2, 4),
        bands=((0, 24), (24, 48)),
        n_permutations=32,
        n_permutations_semitone=96,
        n_noise_samples=64,
        chunk_size=32,
    )
