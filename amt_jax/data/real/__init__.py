"""tfds builder ``real``: real recordings with pitch tracks or note lists, from PyPI source archives."""

from amt_jax.data.real.real_dataset_builder import Real

__all__ = ["Real"]
