"""Figure ``harmonic``; its caption is ``amt_jax.report.captions.CAPTIONS["harmonic"]`` (the report page prints the same)."""

import sys

from amt_jax.report.captions import CAPTIONS
from experiments.figures import main

CAPTION = CAPTIONS["harmonic"]

if __name__ == "__main__":
    sys.exit(main("harmonic", CAPTION))
