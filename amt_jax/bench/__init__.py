"""Benchmarks: ``python -m amt_jax.bench {cqt,model,importance}``.

Each benchmark measures ours and a reference side by side in one run and prints, as its
last line, one JSON object with the figures and their ratio. Speed goals live here, never
in timed tests: this machine is shared and noisy.
"""
