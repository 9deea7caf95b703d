"""The oracle (``oracle``): the labels themselves, for evaluation only (it scores 1). It has no
``apply``: nothing can be perturbed or explained on it."""

from __future__ import annotations

import re

from amt_jax.models.model import Model, Output


def load(match: re.Match, seed: int, load_spec) -> Model:
    return Model(match.string, None, None, None, {"kind": "oracle"}, outputs=(Output(None),), output=None,
                 frame_threshold=0.5)

