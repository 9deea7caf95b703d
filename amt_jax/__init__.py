"""amt_jax: which spectral features do automatic music transcription models rely on?

Data flow (one module per stage)::

    audio --cqt--> X[..., F, T] --permutations--> X[..., idx, :] --model--> Y[..., P, T]
          --metrics--> per-clip score --importance--> ImportanceResult --sweep--> results --plots--> figures

Submodules are imported lazily (``from amt_jax import cqt``) so the CLI starts fast.
"""

__version__ = "0.1.0"
