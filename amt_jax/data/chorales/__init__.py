"""tfds builder ``chorales``: Bach chorales of the music21 corpus rendered with a SoundFont."""

from amt_jax.data.chorales.chorales_dataset_builder import PROGRAMS, Chorales

__all__ = ["Chorales", "PROGRAMS"]
