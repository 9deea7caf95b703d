"""tfds builder ``maestro``: MAESTRO v3 (piano audio + aligned MIDI) from a local download."""

from amt_jax.data.maestro.maestro_dataset_builder import Maestro

__all__ = ["Maestro"]
