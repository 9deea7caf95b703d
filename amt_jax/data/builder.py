"""What amt_jax's tfds builders share: the piece-count check, the skip log, split counts, info.

Imported only by the builder packages (it imports tensorflow_datasets).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import tensorflow_datasets as tfds

from amt_jax.data.examples import SPLITS, SkipLog, features

MIN_PIECES = len(SPLITS)  # one piece per split


class TranscriptionBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of the ``chorales`` and ``maestro`` builders (same example schema).

    Subclasses set ``HOMEPAGE``; their module docstring is the dataset description.
    ``BUILT_SPLITS``: the splits a build makes (each must hold a piece); ``RECORDED``: examples
    carry the ``instruments`` and ``f0`` entries of recordings.
    """

    HOMEPAGE = ""
    BUILT_SPLITS = SPLITS
    RECORDED = False

    @classmethod
    def check_manual_dir(cls, manual_dir) -> None:
        """Raise ``FileNotFoundError`` (one line naming ``manual_dir`` and what is missing) when
        ``manual_dir`` cannot serve this builder; called before a build. Default: nothing to check."""

    @property
    def _tuned(self) -> bool:
        """Whether examples carry the ``tuning`` entry (mistuned renders)."""
        return bool(getattr(self.builder_config, "tuned", False))

    def __init__(self, *, n_pieces: int | None = None, progress: Callable[[str], None] | None = None, **kwargs):
        """``n_pieces``: pieces to build (>= one per built split, 3 for most; None = all);
        ``progress``: called with one line per step."""
        least = len(self.BUILT_SPLITS)
        if n_pieces is not None and (isinstance(n_pieces, bool) or not isinstance(n_pieces, int) or n_pieces < least):
            raise ValueError(f"n_pieces must be an integer >= {least} (one piece per split) or None, got {n_pieces!r}")
        super().__init__(**kwargs)
        self.n_pieces = n_pieces
        self.progress = progress or (lambda line: None)
        self.skips = SkipLog()
        self.counts = {s: 0 for s in self.BUILT_SPLITS}

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=sys.modules[type(self).__module__].__doc__,
            features=features(tuning=self._tuned, recorded=self.RECORDED),
            metadata=tfds.core.MetadataDict(),
            homepage=self.HOMEPAGE,
        )

    def _log_download_bytes(self) -> None:
        """Quiet: tfds would print "Downloading and preparing dataset", though nothing is downloaded."""

    def _log_download_done(self) -> None:
        """Quiet: the caller reports what was built (``BuildReport``)."""

    def _check_split_not_empty(self, split: str) -> None:
        """Fail clearly when every piece of ``split`` was skipped (never an empty split)."""
        if self.counts[split] == 0:
            raise ValueError(f"{self.name}: split {split!r} has no usable piece; skipped: {self.skips.summary()}")
